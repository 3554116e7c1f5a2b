"""Why a customer scores high: SHAP values from LightGBM, turned into readable reasons."""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.sparse as sp

from winback.models.features import model_input
from winback.models.training import booster_of

# Phrases for the features a merchant meets most; others get a generic text.
REASON_PHRASES: dict[str, str] = {
    "recency_days": "long time since the last purchase",
    "recency_vs_cadence": "overdue by own purchase rhythm",
    "indicator_overdue": "overdue by own purchase rhythm",
    "purchase_count_trend_90d": "buying less often than before",
    "indicator_falling_frequency": "buying less often than before",
    "monetary_trend_90d": "spending less than before",
    "indicator_falling_value": "spending less than before",
    "purchase_count": "few purchases so far",
    "purchase_count_365d": "few purchases in the last year",
    "purchase_count_90d": "no or few purchases in the last 90 days",
    "purchase_count_prev_90d": "buying pattern changed since last quarter",
    "monetary_lifetime": "low lifetime spend",
    "monetary_365d": "low spend in the last year",
    "monetary_90d": "low spend in the last 90 days",
    "avg_order_value": "order value typical of churners",
    "median_gap_days": "long gaps between purchases",
    "gap_days_stddev": "irregular purchase rhythm",
    "tenure_days": "customer tenure typical of churners",
    "discounted_purchase_share": "buys mostly on discount",
    "refund_count": "has returned orders",
    "abandoned_unpaid_order_count": "leaves orders unpaid",
    "cart_adds_90d": "carts that no longer turn into orders",
    "indicator_intent_not_converting": "carts and inquiries that no longer turn into orders",
    "email_opens_90d": "stopped opening emails",
    "days_since_email_open": "stopped opening emails",
    "indicator_disengaged": "no longer opens emails or answers calls",
    "calls_unanswered_180d": "no longer answers calls",
    "site_visits_90d": "visits the shop less",
    "days_since_site_visit": "has not visited the shop for a while",
    "participations_180d": "stopped taking part in activities",
    "indicator_stopped_participating": "stopped taking part in activities",
    "open_tickets": "has an unresolved complaint",
    "indicator_unresolved_dispute": "has an unresolved complaint",
    "disputes_product": "had a product-quality dispute",
    "disputes_logistics": "had a delivery dispute",
    "disputes_attitude": "had a service-attitude dispute",
    "disputes_price": "had a price dispute",
    "avg_ticket_satisfaction": "unhappy with customer service",
    "last_nps": "low satisfaction score (NPS)",
    "churn_risk_score": "several warning signs at once",
    "lapse_status": "lapse status",
    "winback_contacts_90d": "contacted often without effect",
}


def readable_reason(feature: str, value: object) -> str:
    """A phrase for one feature pushing the risk up; unknown features still read well."""
    phrase = REASON_PHRASES.get(feature)
    if phrase is None:
        phrase = f"{feature.replace('_', ' ')} points to churn"
    if isinstance(value, str) and value:
        return f"{phrase} ({value})"
    return phrase


def shap_values(
    model: object,
    features: pd.DataFrame,
    columns: list[str],
    *,
    chunk_rows: int = 50_000,
    threads: int = 0,
) -> pd.DataFrame:
    """Per-customer SHAP contributions (log-odds of the uncalibrated booster; the
    calibrator is monotone, so the order of reasons is the same).

    Exact TreeSHAP, computed ``chunk_rows`` rows at a time (LightGBM's output is
    rows × (features + 1) doubles, so chunks bound the memory) with ``threads`` OpenMP
    threads (0: LightGBM's default, all cores).
    """
    booster = booster_of(model).booster_
    x = model_input(features, columns)
    out = np.empty((len(x), len(columns)), dtype="float64")
    for start in range(0, len(x), chunk_rows):
        part = booster.predict(
            x.iloc[start : start + chunk_rows], pred_contrib=True, num_threads=threads
        )
        out[start : start + chunk_rows] = np.asarray(part)[:, : len(columns)]
    return pd.DataFrame(out, columns=columns, index=features.index)


def _path_attribution_matrix(booster: object, width: int) -> tuple[sp.csr_matrix, np.ndarray]:
    """Per leaf of every tree, how much each split on the way from the root moved the
    prediction (value of the child taken minus value of the node), as a sparse
    (all leaves × features) matrix, and each tree's first row in it."""
    trees = booster.dump_model()["tree_info"]  # type: ignore[attr-defined]
    rows: list[int] = []
    cols: list[int] = []
    data: list[float] = []
    offsets = np.zeros(len(trees), dtype=np.int64)
    total = 0
    for t, tree in enumerate(trees):
        offsets[t] = total
        stack = [(tree["tree_structure"], [])]
        while stack:
            node, path = stack.pop()
            if "leaf_index" in node:
                for feature, delta in path:
                    rows.append(total + node["leaf_index"])
                    cols.append(feature)
                    data.append(delta)
                continue
            for side in ("left_child", "right_child"):
                child = node[side]
                value = child["leaf_value"] if "leaf_index" in child else child["internal_value"]
                stack.append(
                    (child, [*path, (node["split_feature"], value - node["internal_value"])])
                )
        total += int(tree["num_leaves"])
    matrix = sp.csr_matrix((data, (rows, cols)), shape=(total, width))
    return matrix, offsets


def leaf_indices(model: object, x: pd.DataFrame, *, chunk_rows: int = 100_000) -> np.ndarray:
    """Which leaf of every tree each row of ``x`` (the model's input) falls in: one pass
    through the trees, from which both the score (:func:`log_odds_from_leaves`) and the
    path attributions (:func:`path_contributions`) follow. Rows × trees, in the smallest
    unsigned integer type that holds a leaf number (2 bytes for LightGBM's usual sizes)."""
    booster = booster_of(model)
    dtype = np.min_scalar_type(max(int(booster.get_params()["num_leaves"]) - 1, 0))
    out = np.empty((0, 0), dtype=dtype)
    for start in range(0, len(x), chunk_rows):
        part = np.asarray(booster.predict(x.iloc[start : start + chunk_rows], pred_leaf=True))
        part = part.reshape(len(part), -1)  # trees: the iterations predict uses
        if start == 0:
            out = np.empty((len(x), part.shape[1]), dtype=dtype)
        out[start : start + len(part)] = part
    return out


def log_odds_from_leaves(model: object, leaves: np.ndarray) -> np.ndarray:
    """The booster's log-odds from each row's leaves: the leaf outputs added tree by tree
    in LightGBM's order, so the result is bit for bit ``predict(raw_score=True)``."""
    booster = booster_of(model).booster_
    total = np.zeros(len(leaves), dtype="float64")
    for tree in range(leaves.shape[1]):
        outputs = np.array(
            [
                booster.get_leaf_output(tree, leaf)
                for leaf in range(int(leaves[:, tree].max(initial=0)) + 1)
            ],
            dtype="float64",
        )
        total += outputs[leaves[:, tree]]
    return total


def path_attribution_matrix(model: object, columns: list[str]) -> tuple[sp.csr_matrix, np.ndarray]:
    """The model's leaf × feature attribution matrix and tree offsets, for
    :func:`path_contributions` calls on many chunks of customers (built once)."""
    return _path_attribution_matrix(booster_of(model).booster_, len(columns))


def path_contributions(
    model: object,
    features: pd.DataFrame,
    columns: list[str],
    *,
    chunk_rows: int = 25_000,
    attribution: tuple[sp.csr_matrix, np.ndarray] | None = None,
    leaves: np.ndarray | None = None,
) -> pd.DataFrame:
    """Per-customer path attributions (Saabas): each split on a customer's path through
    every tree credits its feature with the change in prediction it made. The same
    log-odds scale and sum as SHAP, but linear in tree depth instead of quadratic: the
    cheap path for customers whose reasons are read less (see ``scoring.score``).
    Computed as leaf memberships (``pred_leaf``) times a sparse leaf × feature matrix
    (``attribution``: :func:`path_attribution_matrix`, built here when not given;
    ``leaves``: the rows' :func:`leaf_indices`, found here when not given)."""
    booster = booster_of(model).booster_
    matrix, offsets = attribution or _path_attribution_matrix(booster, len(columns))
    if leaves is None:
        leaves = leaf_indices(model, model_input(features, columns), chunk_rows=chunk_rows)
    out = np.empty((len(features), len(columns)), dtype="float64")
    for start in range(0, len(features), chunk_rows):
        part = leaves[start : start + chunk_rows].astype(np.int64)
        n, trees = part.shape
        membership = sp.csr_matrix(
            (
                np.ones(n * trees),
                (part + offsets[None, :trees]).ravel(),
                np.arange(0, n * trees + 1, trees),
            ),
            shape=(n, matrix.shape[0]),
        )
        out[start : start + n] = (membership @ matrix).toarray()
    return pd.DataFrame(out, columns=columns, index=features.index)


def _reason_text_codes(
    name: str, features: pd.DataFrame, base_code: int, vocabulary: dict[str, int]
) -> np.ndarray | None:
    """Per-row code (into ``vocabulary``, extended as needed) of a text feature's reason
    text, which shows its value; None for numbers or when no value is shown. Each
    distinct value is phrased once (a million customers have a handful of statuses)."""
    if name not in features.columns:
        return None
    column = features[name]
    if pd.api.types.is_numeric_dtype(column) or pd.api.types.is_bool_dtype(column):
        return None
    value_codes, values = pd.factorize(column.to_numpy(dtype=object))
    if not any(isinstance(v, str) and v != "" for v in values):
        return None
    codes_of_values = [
        vocabulary.setdefault(text, len(vocabulary))
        for text in (readable_reason(name, v if isinstance(v, str) else None) for v in values)
    ]
    # a missing value (factorize code -1) reads as the plain phrase
    return np.append(np.asarray(codes_of_values, dtype=np.int64), base_code)[value_codes]


def reason_codes(
    contributions: pd.DataFrame, features: pd.DataFrame, count: int = 3
) -> pd.DataFrame:
    """The ``count`` strongest churn-raising reasons per customer, as readable text;
    features that point the same way collapse into one reason. Empty when none.

    Vectorised over customers: only the few strongest contributions per row can become
    reasons (``count`` plus one per feature whose phrase repeats another's), so the
    loop runs over those ranks, never over customers. Texts are handled as integer codes
    into one vocabulary until the end (no per-customer strings are built).
    """
    values = contributions.to_numpy(dtype="float64")
    rows, width = values.shape
    names = [str(n) for n in contributions.columns]
    vocabulary: dict[str, int] = {}
    base = np.array(
        [vocabulary.setdefault(readable_reason(n, None), len(vocabulary)) for n in names],
        dtype=np.int64,
    )
    ranks = min(width, count + width - len(vocabulary))
    order = np.argsort(-values, axis=1, kind="stable")[:, :ranks]
    ranked_values = np.take_along_axis(values, order, axis=1)
    # Text of each (customer, rank): the feature's phrase, with the value of text features.
    codes = base[order]
    for j, name in enumerate(names):
        per_row = _reason_text_codes(name, features, int(base[j]), vocabulary)
        if per_row is None:
            continue
        hit = order == j
        codes[hit] = np.broadcast_to(per_row[:, None], order.shape)[hit]
    chosen = np.full((rows, count), -1, dtype=np.int64)
    taken = np.zeros(rows, dtype=np.int64)
    everyone = np.arange(rows)
    for k in range(ranks):
        code = codes[:, k]
        fresh = (ranked_values[:, k] > 0) & (taken < count) & ~(chosen == code[:, None]).any(axis=1)
        chosen[everyone[fresh], taken[fresh]] = code[fresh]
        taken += fresh
    lookup = np.append(np.asarray(list(vocabulary), dtype=object), None)
    return pd.DataFrame(
        lookup[chosen],
        columns=[f"reason_{k + 1}" for k in range(count)],
        index=contributions.index,
    )


def feature_importance(model: object) -> pd.DataFrame:
    """Total gain per feature, largest first."""
    booster = booster_of(model)
    gain = booster.booster_.feature_importance(importance_type="gain")
    return (
        pd.DataFrame({"feature": booster.feature_name_, "gain": gain})
        .sort_values(["gain", "feature"], ascending=[False, True])
        .reset_index(drop=True)
    )
