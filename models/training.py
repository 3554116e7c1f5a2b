"""Train the churn-propensity model on point-in-time snapshots, then calibrate it.

Snapshot roles (never a random split; see ``split_by_snapshot``):
- validation: the newest labelled snapshot. Every metric, baseline and the champion
  comparison is computed here and nowhere else.
- calibration: the labelled snapshot before it. Early stopping picks the number of
  rounds on it and the probability calibrator is fitted on it, so the calibrator never
  sees the rows its quality is reported on.
- training: all older labelled snapshots, stacked.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd
from scipy.special import expit
from sklearn.calibration import CalibratedClassifierCV
from sklearn.frozen import FrozenEstimator

from winback.config import ModelParams, TrainParams
from winback.models.evaluation import evaluate
from winback.models.features import LABEL_COLUMN, LABEL_RATE_BOUNDS, feature_columns, model_input
from winback.models.snapshots import (
    NotEnoughHistoryError,
    SnapshotPlan,
    SnapshotSummary,
    as_date,
    plan_snapshots,
    summarise_snapshots,
)
from winback.stages import report_progress

__all__ = [
    "NotEnoughHistoryError",
    "SnapshotPlan",
    "SnapshotSummary",
    "TrainParams",
    "TrainedModel",
    "TrainingFrame",
    "plan_snapshots",
    "split_by_snapshot",
    "train",
]


@dataclass
class TrainingFrame:
    """Labelled snapshots split by time: train < calibration < validation."""

    train: pd.DataFrame
    calibration: pd.DataFrame
    valid: pd.DataFrame
    features: list[str]
    plan: SnapshotPlan

    @property
    def train_dates(self) -> list[str]:
        return [d.isoformat() for d in self.plan.train_dates]

    @property
    def calibration_date(self) -> str:
        return self.plan.require_roles()[0].isoformat()

    @property
    def valid_date(self) -> str:
        return self.plan.require_roles()[1].isoformat()


@dataclass
class TrainedModel:
    """A fitted, calibrated model with what it was trained on and how it did on validation."""

    @property
    def kind(self) -> str:
        """``lightgbm``, or ``label_free_bgnbd`` for the baseline a shop whose labels
        carry no signal is scored with."""
        return "lightgbm" if self.booster is not None else "label_free_bgnbd"

    model: CalibratedClassifierCV  # or the label-free baseline (``baselines``), booster None
    booster: lgb.LGBMClassifier | None
    features: list[str]
    metrics: dict[str, float]
    best_iteration: int
    calibration_method: str
    valid_probabilities: np.ndarray
    frame: TrainingFrame


def _rows(features: pd.DataFrame, mask: np.ndarray) -> pd.DataFrame:
    """``features[mask]``; a slice (no copy) when the selected rows are one block, as
    each snapshot is in a frame ordered by as-of date (a million-customer read is
    gigabytes, and the training, calibration and validation parts are nearly all of it)."""
    positions = np.flatnonzero(mask)
    if len(positions) and positions[-1] - positions[0] + 1 == len(positions):
        return features.iloc[positions[0] : positions[-1] + 1]
    return features[mask]


def split_by_snapshot(features: pd.DataFrame, plan: SnapshotPlan | None = None) -> TrainingFrame:
    """The training, calibration and validation parts of ``features`` by ``plan`` (by
    default the plan of the frame itself, read whole).

    Validating on a later snapshot than any training row is what the model faces in
    production (it scores a date after all its training labels).
    """
    plan = plan or plan_snapshots(summarise_snapshots(features), max_train_rows=len(features) + 1)
    calibration_date, valid_date = plan.require_roles()
    labelled = features["is_label_observed"].astype(bool).to_numpy()
    as_of = features["as_of_date"]
    # Each distinct value of the date column once, as a date (not once per row).
    dates = {value: as_date(value) for value in as_of[labelled].unique()}

    def dated(wanted: set[dt.date]) -> np.ndarray:
        values = [value for value, day in dates.items() if day in wanted]
        return labelled & as_of.isin(values).to_numpy()

    return TrainingFrame(
        train=_rows(features, dated(set(plan.train_dates))),
        calibration=_rows(features, dated({calibration_date})),
        valid=_rows(features, dated({valid_date})),
        features=feature_columns(features),
        plan=plan,
    )


def labels(frame: pd.DataFrame) -> np.ndarray:
    """The churn label as 0/1."""
    return frame[LABEL_COLUMN].astype(int).to_numpy()


@dataclass(frozen=True)
class LabelSignal:
    """Whether the churn labels of a training frame can teach a model anything.

    ``degenerate``: the labelled churn rate is outside ``LABEL_RATE_BOUNDS`` (valid data,
    e.g. nearly every customer bought once). ``learnable``: each of the training,
    calibration and validation parts holds at least the minimum count of both churners
    and customers who bought again, so a model can be fitted, calibrated and judged."""

    churn_rate: float
    degenerate: bool
    learnable: bool
    minority_counts: dict[str, int]

    def describe(self) -> str:
        counts = ", ".join(f"{part} {count:,}" for part, count in self.minority_counts.items())
        return (
            f"{self.churn_rate:.1%} of the labelled snapshots churned "
            f"(the rarer outcome per part: {counts})"
        )


def label_signal(frame: TrainingFrame, min_minority_labels: int) -> LabelSignal:
    """How much the labels of ``frame`` say (see :class:`LabelSignal`)."""
    parts = {"training": frame.train, "calibration": frame.calibration, "validation": frame.valid}
    minority = {}
    churned = total = 0
    for name, part in parts.items():
        y = labels(part)
        ones = int(y.sum())
        minority[name] = min(ones, len(y) - ones)
        churned += ones
        total += len(y)
    rate = churned / total if total else float("nan")
    low, high = LABEL_RATE_BOUNDS
    return LabelSignal(
        churn_rate=rate,
        degenerate=not low <= rate <= high,
        learnable=min(minority.values()) >= min_minority_labels,
        minority_counts=minority,
    )


def _report_round(env: Any) -> None:
    """LightGBM callback: the boosting round, for the run's heartbeat."""
    report_progress(f"boosting round {env.iteration + 1} of at most {env.end_iteration}")


def fit_booster(frame: TrainingFrame, params: TrainParams) -> lgb.LGBMClassifier:
    """LightGBM on the training snapshots (as the plan read them: sampled above
    ``max_train_rows``), early-stopped on the calibration snapshot.

    Text columns arrive as pandas categories, which LightGBM splits on natively.
    """
    train = frame.train
    model = lgb.LGBMClassifier(
        n_estimators=params.n_estimators,
        learning_rate=params.learning_rate,
        num_leaves=params.num_leaves,
        min_child_samples=params.min_child_samples,
        subsample=params.subsample,
        subsample_freq=params.subsample_freq,
        colsample_bytree=params.colsample_bytree,
        reg_lambda=params.reg_lambda,
        n_jobs=params.n_jobs,
        random_state=params.seed,
        deterministic=True,
        force_row_wise=True,
        verbosity=-1,
    )
    model.fit(
        model_input(train, frame.features),
        labels(train),
        eval_X=(model_input(frame.calibration, frame.features),),
        eval_y=(labels(frame.calibration),),
        eval_metric="binary_logloss",
        callbacks=[
            lgb.early_stopping(params.early_stopping_rounds, first_metric_only=True, verbose=False),
            _report_round,
        ],
    )
    return model


def calibrate(
    booster: lgb.LGBMClassifier, calibration: pd.DataFrame, features: list[str], method: str
) -> CalibratedClassifierCV:
    """Fit a calibrator on the held-out calibration snapshot (the booster stays frozen)."""
    calibrated = CalibratedClassifierCV(FrozenEstimator(booster), method=method)
    calibrated.fit(model_input(calibration, features), labels(calibration))
    return calibrated


def train(frame: TrainingFrame, params: ModelParams) -> TrainedModel:
    """Fit, calibrate and evaluate on the validation snapshot."""
    booster = fit_booster(frame, params.lightgbm)
    method = params.calibration_method
    if method == "isotonic" and len(frame.calibration) < params.min_rows_for_isotonic:
        method = "sigmoid"
    model = calibrate(booster, frame.calibration, frame.features, method)
    x_valid = model_input(frame.valid, frame.features)
    y_valid = labels(frame.valid)
    probabilities, uncalibrated = calibrated_and_uncalibrated(model, x_valid)
    metrics = evaluate(y_valid, probabilities, params.profit, params.calibration_bins)
    raw = evaluate(y_valid, uncalibrated, params.profit)
    metrics |= {f"uncalibrated_{k}": raw[k] for k in ("roc_auc", "brier", "log_loss", "ece")}
    metrics |= sample_metrics(frame)
    return TrainedModel(
        model=model,
        booster=booster,
        features=frame.features,
        metrics=metrics,
        best_iteration=int(booster.best_iteration_ or params.lightgbm.n_estimators),
        calibration_method=method,
        valid_probabilities=probabilities,
        frame=frame,
    )


def sample_metrics(frame: TrainingFrame) -> dict[str, float]:
    """How many training rows a model saw of those the snapshots held."""
    available = frame.plan.train_rows_available
    return {
        "train_rows": float(len(frame.train)),
        "train_rows_available": float(available),
        "train_sample_share": len(frame.train) / max(available, 1),
    }


def calibrated_and_uncalibrated(
    model: CalibratedClassifierCV, x: pd.DataFrame
) -> tuple[np.ndarray, np.ndarray]:
    """Churn probability with and without the calibrator, from one pass through the
    trees (a pass over a million customers' snapshot costs ~10 s on 2 cores).

    The calibrated one is exactly ``model.predict_proba(x)[:, 1]`` (the calibrator
    applied to the booster's log-odds, as scikit-learn does); the uncalibrated one is
    the logistic function of the same log-odds, as LightGBM's ``predict_proba``
    computes it (equal up to the last bit of ``exp``)."""
    if not has_single_calibrator(model):  # an ensemble: average as sklearn does
        calibrated = np.asarray(model.predict_proba(x))[:, 1]
        return calibrated, np.asarray(booster_of(model).predict_proba(x))[:, 1]
    log_odds = np.asarray(booster_of(model).predict(x, raw_score=True), dtype="float64")
    return calibrated_from_log_odds(model, log_odds), expit(log_odds)


def has_single_calibrator(model: object) -> bool:
    """A booster with one calibrator on its log-odds (what :func:`calibrate` fits)."""
    calibrated = getattr(model, "calibrated_classifiers_", None)
    return calibrated is not None and len(calibrated) == 1


def calibrated_from_log_odds(model: CalibratedClassifierCV, log_odds: np.ndarray) -> np.ndarray:
    """The calibrated churn probability of the booster's log-odds: exactly what
    ``model.predict_proba`` returns for the rows with those log-odds."""
    calibrated = model.calibrated_classifiers_[0].calibrators[0].predict(log_odds)
    return np.asarray(calibrated, dtype="float64")


def booster_of(model: CalibratedClassifierCV | lgb.LGBMClassifier) -> lgb.LGBMClassifier:
    """The LightGBM model inside a calibrated model (or the model itself)."""
    if isinstance(model, lgb.LGBMClassifier):
        return model
    inner = model.calibrated_classifiers_[0].estimator
    return inner.estimator if isinstance(inner, FrozenEstimator) else inner


def is_tree_model(model: object) -> bool:
    """A LightGBM model (calibrated or not), as opposed to the label-free baseline."""
    return isinstance(model, lgb.LGBMClassifier | CalibratedClassifierCV)


def input_columns(model: Any) -> list[str]:
    """The feature columns a fitted model expects, in order."""
    if not is_tree_model(model):  # a scikit-learn estimator that names its inputs
        return [str(c) for c in model.feature_names_in_]
    return list(booster_of(model).feature_name_)
