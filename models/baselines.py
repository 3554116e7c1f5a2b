"""Baselines every run is compared with, on the same validation snapshot as the model.

- ``cadence``: the rule a merchant would write by hand: how overdue the customer is by
  their own purchase rhythm (recency / median gap; one-time buyers against the shop's
  median gap). The score is turned into a probability by isotonic regression fitted on
  the calibration snapshot, as the model's is.
- ``bgnbd``: BG/NBD's probability of no purchase within the horizon (includes P(alive)),
  fitted without labels on the validation snapshot's own history.

:class:`LabelFreeChurnModel` is the BG/NBD baseline as a model that can be registered
and score a snapshot: what a shop whose labels carry no signal is scored with (nearly
every customer bought once, so nearly every labelled snapshot churned; issue 17).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.isotonic import IsotonicRegression

from winback.config import ModelParams
from winback.models.btyd import (
    bgnbd_from_parameters,
    bgnbd_parameters,
    fit_btyd,
    purchase_history,
)
from winback.models.evaluation import evaluate
from winback.models.features import model_input
from winback.models.training import TrainedModel, TrainingFrame, labels, sample_metrics

BASELINES = ("cadence", "bgnbd")


def overdue_ratio(snapshot: pd.DataFrame) -> np.ndarray:
    """Days since the last purchase over the customer's own median gap (R1, R14)."""
    gap = snapshot["median_gap_days"].astype("float64")
    fallback = gap.median() if gap.notna().any() else 30.0
    gap = gap.fillna(fallback).clip(lower=1.0)
    return (snapshot["recency_days"].astype("float64") / gap).to_numpy()


def cadence_baseline(frame: TrainingFrame) -> np.ndarray:
    """Churn probability on the validation snapshot from the overdue ratio alone."""
    calibrator = IsotonicRegression(out_of_bounds="clip", y_min=0.0, y_max=1.0)
    calibrator.fit(overdue_ratio(frame.calibration), labels(frame.calibration))
    return np.asarray(calibrator.predict(overdue_ratio(frame.valid)), dtype="float64")


def bgnbd_baseline(frame: TrainingFrame, horizon_days: int, penalizer: float) -> np.ndarray:
    """BG/NBD P(no purchase within the horizon) on the validation snapshot."""
    model = fit_btyd(frame.valid, penalizer)
    return model.p_no_purchase_within(purchase_history(frame.valid), horizon_days)


def baseline_probabilities(
    frame: TrainingFrame, horizon_days: int, penalizer: float
) -> dict[str, np.ndarray]:
    """Each baseline's churn probabilities on the validation snapshot."""
    return {
        "cadence": cadence_baseline(frame),
        "bgnbd": bgnbd_baseline(frame, horizon_days, penalizer),
    }


# What BG/NBD reads of a snapshot (``purchase_history``).
LABEL_FREE_COLUMNS = ("tenure_days", "recency_days", "purchase_count", "avg_order_value")


class LabelFreeChurnModel(ClassifierMixin, BaseEstimator):
    """Churn probability without learning from labels: BG/NBD's P(no purchase within
    ``horizon_days``) (R1: a customer is lost when the purchases stop), with population
    parameters fitted on the snapshot given to :meth:`fit`. The labels given to ``fit``
    are used only for the fallback: if BG/NBD cannot be fitted, every customer gets the
    labelled churn rate (smoothed by half a customer each way).

    A scikit-learn estimator of plain attributes, so MLflow logs and loads it like the
    LightGBM model, and :meth:`contributions` gives the reasons a tree's SHAP values
    would (occlusion: how much each input moves the probability away from the value it
    has at the snapshot's median)."""

    def __init__(self, horizon_days: int = 90, penalizer: float = 0.001) -> None:
        self.horizon_days = horizon_days
        self.penalizer = penalizer

    def fit(self, x: pd.DataFrame, y: np.ndarray | None = None) -> LabelFreeChurnModel:
        columns = list(LABEL_FREE_COLUMNS)
        self.feature_names_in_ = np.asarray(columns, dtype=object)
        self.n_features_in_ = len(columns)
        self.classes_ = np.array([0, 1])
        y = np.asarray([] if y is None else y, dtype="float64")
        self.base_rate_ = float((y.sum() + 0.5) / (len(y) + 1.0))
        self.bgnbd_parameters_: list[float] = []
        # With nearly no repeat buyers the dropout parameters run to the edge of their
        # range and a penalised fit may stop short; the unpenalised one is tried next.
        for penalizer in dict.fromkeys((self.penalizer, 0.0)):
            try:
                self.bgnbd_parameters_ = bgnbd_parameters(fit_btyd(x, penalizer))
                break
            except ValueError:  # did not converge even with the largest penalty
                continue
        self.reference_ = [float(x[c].astype("float64").median()) for c in columns]
        return self

    @property
    def uses_bgnbd(self) -> bool:
        return bool(self.bgnbd_parameters_)

    def churn_probability(self, x: pd.DataFrame) -> np.ndarray:
        if not self.uses_bgnbd:
            return np.full(len(x), self.base_rate_)
        model = bgnbd_from_parameters(self.bgnbd_parameters_)
        return model.p_no_purchase_within(purchase_history(x), self.horizon_days)

    def predict_proba(self, x: pd.DataFrame) -> np.ndarray:
        p = self.churn_probability(x)
        return np.column_stack([1.0 - p, p])

    def predict(self, x: pd.DataFrame) -> np.ndarray:
        return (self.churn_probability(x) >= 0.5).astype(int)

    def contributions(self, x: pd.DataFrame) -> pd.DataFrame:
        """Per customer and input, the churn probability minus what it would be with that
        input at the snapshot's median (positive: the input raises the risk)."""
        p = self.churn_probability(x)
        out = {}
        for column, reference in zip(self.feature_names_in_, self.reference_, strict=True):
            moved = x.copy()
            moved[column] = reference
            out[str(column)] = p - self.churn_probability(moved)
        return pd.DataFrame(out, index=x.index)


def train_label_free(frame: TrainingFrame, params: ModelParams, horizon_days: int) -> TrainedModel:
    """The label-free baseline as a trained model: BG/NBD fitted on the validation
    snapshot (as the ``bgnbd`` baseline is) and evaluated there like the LightGBM model."""
    model = LabelFreeChurnModel(horizon_days, params.bgnbd_penalizer)
    model.fit(frame.valid, labels(frame.valid))
    columns = [str(c) for c in model.feature_names_in_]
    probabilities = model.churn_probability(model_input(frame.valid, columns))
    metrics = evaluate(labels(frame.valid), probabilities, params.profit, params.calibration_bins)
    metrics |= sample_metrics(frame)
    return TrainedModel(
        model=model,
        booster=None,
        features=columns,
        metrics=metrics,
        best_iteration=0,
        calibration_method="none",
        valid_probabilities=probabilities,
        frame=frame,
    )
