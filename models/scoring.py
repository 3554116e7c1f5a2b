"""Score customers with a fitted churn model: probability, risk band, reasons, value."""

from __future__ import annotations

from typing import Protocol

import numpy as np
import pandas as pd

from winback.config import ModelParams
from winback.models.explain import (
    leaf_indices,
    log_odds_from_leaves,
    path_attribution_matrix,
    path_contributions,
    shap_values,
    top_reasons,
)
from winback.models.features import model_input
from winback.models.training import (
    calibrated_from_log_odds,
    has_single_calibrator,
    is_tree_model,
)
from winback.models.value import future_value
from winback.stages import report_progress

# Customers explained at a time (each row's reasons depend on that row alone).
EXPLAIN_CHUNK_ROWS = 100_000


class ProbabilisticClassifier(Protocol):
    def predict_proba(self, x: pd.DataFrame) -> np.ndarray: ...


def risk_band(probabilities: np.ndarray, params: ModelParams) -> np.ndarray:
    """Band name per probability (cut points from ``params``)."""
    index = np.searchsorted(np.asarray(params.risk_band_edges), probabilities, side="right")
    return np.asarray(params.risk_band_names, dtype=object)[index]


def needs_explanation(
    features: pd.DataFrame, probabilities: np.ndarray, params: ModelParams
) -> np.ndarray:
    """Which customers get reason codes: win-back candidates (by lapse status) and anyone
    at or above ``params.explain_min_probability``. The decisions read reasons only for
    candidates; the rest are low-risk customers whose reasons nobody acts on."""
    wanted = probabilities >= params.explain_min_probability
    if "lapse_status" in features.columns:
        status = features["lapse_status"].astype(object).to_numpy()
        wanted |= np.isin(status, params.explain_lapse_statuses)
    return wanted


def value_at_stake(probabilities: np.ndarray, value: pd.DataFrame) -> np.ndarray:
    """Churn probability × 12-month revenue if the customer stays (the value model's
    expectation given alive, as the decisions value a candidate: R3). The win-back
    list is drawn from the top of this, so that is where exact reasons are spent; with
    no value estimate a customer counts by probability alone."""
    revenue = value["expected_value"].to_numpy(dtype="float64") / np.maximum(
        value["p_alive"].to_numpy(dtype="float64"), 0.05
    )
    return np.where(np.isfinite(revenue), probabilities * revenue, probabilities)


def explanation_methods(
    model: ProbabilisticClassifier,
    features: pd.DataFrame,
    probabilities: np.ndarray,
    params: ModelParams,
    priority: np.ndarray | None = None,
) -> np.ndarray:
    """How each customer's reasons are computed: ``tree_shap`` (exact TreeSHAP) for the
    ``params.exact_reason_rows`` customers :func:`needs_explanation` selects with the
    highest ``priority`` (default: churn probability; ties in row order), ``path`` (path
    attributions) for the other selected ones, ``occlusion`` for every selected customer
    of the label-free baseline, and None (no reasons) for everyone else. TreeSHAP costs
    ~2 ms per customer on 2 cores: 30 minutes at 1M."""
    priority = probabilities if priority is None else priority
    wanted = np.flatnonzero(needs_explanation(features, probabilities, params))
    methods = np.full(len(features), None, dtype=object)
    if not is_tree_model(model):  # the label-free baseline explains itself (cheap)
        methods[wanted] = "occlusion"
        return methods
    by_priority = wanted[np.argsort(-priority[wanted], kind="stable")]
    methods[by_priority[params.exact_reason_rows :]] = "path"
    methods[by_priority[: params.exact_reason_rows]] = "tree_shap"
    return methods


def explain_rows(
    model: ProbabilisticClassifier,
    features: pd.DataFrame,
    columns: list[str],
    methods: np.ndarray,
    params: ModelParams,
    *,
    leaves: np.ndarray | None = None,
) -> pd.DataFrame:
    """Reason codes of each row by its method (:func:`explanation_methods`); each row's
    reasons depend on that row alone, so any batch of rows gives the same reasons (the
    Spark engine explains partition by partition). Column ``reason_method`` says which
    method was used; rows without one have empty reasons."""
    plan = [
        (np.flatnonzero(methods == method), method) for method in ("tree_shap", "path", "occlusion")
    ]
    plan = [(rows, method) for rows, method in plan if len(rows)]
    attribution = (
        path_attribution_matrix(model, columns)
        if any(method == "path" for _, method in plan)
        else None
    )
    parts = []
    total, done = sum(len(rows) for rows, _ in plan), 0
    for rows, method in plan:
        # In chunks: the attributions, their ranking and the model's float input are
        # several copies of rows × features (gigabytes at a million customers).
        for start in range(0, len(rows), EXPLAIN_CHUNK_ROWS):
            chunk = rows[start : start + EXPLAIN_CHUNK_ROWS]
            subset = features.iloc[chunk]
            if method == "occlusion":
                contributions = model.contributions(model_input(subset, columns))  # type: ignore[attr-defined]
            elif method == "tree_shap":
                contributions = shap_values(model, subset, columns)
            else:
                contributions = path_contributions(
                    model,
                    subset,
                    columns,
                    attribution=attribution,
                    leaves=None if leaves is None else leaves[chunk],
                )
            part = top_reasons(contributions, subset, params.reason_count)
            parts.append(part.assign(reason_method=method))
            done += len(chunk)
            report_progress(f"reason codes for {done:,} of {total:,} customers ({method})")
    if not parts:
        count = range(1, params.reason_count + 1)
        return pd.DataFrame(
            index=features.index,
            columns=[
                *(f"reason_{k}" for k in count),
                *(f"reason_{k}_code" for k in count),
                "reason_method",
            ],
            dtype="string",
        )
    return pd.concat(parts).reindex(features.index)


def explain_scores(
    model: ProbabilisticClassifier,
    features: pd.DataFrame,
    columns: list[str],
    probabilities: np.ndarray,
    params: ModelParams,
    priority: np.ndarray | None = None,
    *,
    leaves: np.ndarray | None = None,
) -> pd.DataFrame:
    """Reason codes for the customers :func:`needs_explanation` selects: exact TreeSHAP
    for the ``params.exact_reason_rows`` with the highest ``priority`` (:func:`score`
    passes :func:`value_at_stake`), path attributions for the rest, and empty reasons for
    everyone else (:func:`explanation_methods`, :func:`explain_rows`)."""
    methods = explanation_methods(model, features, probabilities, params, priority)
    return explain_rows(model, features, columns, methods, params, leaves=leaves)


def churn_probability(
    model: ProbabilisticClassifier, features: pd.DataFrame, columns: list[str]
) -> tuple[np.ndarray, np.ndarray | None]:
    """The calibrated churn probability of each row of ``features`` (float64), and the
    rows' leaf indices when they gave it (a tree model with one calibrator: one pass
    through the trees gives the score and the path reasons alike). The one way a
    probability is computed: :func:`score` and the Spark engine's UDF
    (``winback.models.spark_scoring``) both call it."""
    x = model_input(features, columns)
    if has_single_calibrator(model):
        leaves = leaf_indices(model, x)
        return calibrated_from_log_odds(model, log_odds_from_leaves(model, leaves)), leaves
    return model.predict_proba(x)[:, 1].astype("float64"), None


def score(
    model: ProbabilisticClassifier,
    features: pd.DataFrame,
    columns: list[str],
    params: ModelParams | None = None,
) -> pd.DataFrame:
    """Churn probability, risk band, top reasons, P(alive), 12-month expected value and
    next order date per customer of ``features`` (one snapshot). Reason codes are
    computed for the customers :func:`needs_explanation` selects (exact ones for the
    most value at stake); the others' are empty."""
    params = params or ModelParams()
    probabilities, leaves = churn_probability(model, features, columns)
    value = future_value(features, params.value_horizon_days, params.bgnbd_penalizer)
    methods = explanation_methods(
        model, features, probabilities, params, value_at_stake(probabilities, value)
    )
    return assemble_scores(
        model, features, columns, probabilities, value, methods, params, leaves=leaves
    )


def assemble_scores(
    model: ProbabilisticClassifier,
    features: pd.DataFrame,
    columns: list[str],
    probabilities: np.ndarray,
    value: pd.DataFrame,
    methods: np.ndarray,
    params: ModelParams,
    *,
    leaves: np.ndarray | None = None,
) -> pd.DataFrame:
    """The scores of some customers (rows of ``features``) from what was decided about the
    whole snapshot: their probabilities, their value (``value.future_value`` with the
    snapshot's fitted model) and their explanation methods. Row by row, so the Spark
    engine assembles partition by partition what :func:`score` assembles at once."""
    reasons = explain_rows(model, features, columns, methods, params, leaves=leaves)
    scores = pd.DataFrame(
        {
            "customer_id": features["customer_id"].to_numpy(),
            "churn_probability": probabilities,
            "risk_band": risk_band(probabilities, params),
        }
    )
    for column in reasons.columns:
        scores[column] = reasons[column].to_numpy()
    scores["p_alive"] = value["p_alive"].to_numpy()
    scores["expected_value_12m"] = value["expected_value"].to_numpy()
    scores["expected_next_order_date"] = value["expected_next_order_date"].to_numpy()
    return scores
