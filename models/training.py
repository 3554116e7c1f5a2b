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

from dataclasses import dataclass

import lightgbm as lgb
import numpy as np
import pandas as pd
from scipy.special import expit
from sklearn.calibration import CalibratedClassifierCV
from sklearn.frozen import FrozenEstimator

from winback.models.evaluation import evaluate
from winback.models.features import LABEL_COLUMN, feature_columns, model_input
from winback.models.params import ModelParams, TrainParams

__all__ = [
    "NotEnoughHistoryError",
    "TrainParams",
    "TrainedModel",
    "TrainingFrame",
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
    train_dates: list[str]
    calibration_date: str
    valid_date: str
    # Training rows in the mart before any sampling (None: ``train`` is all of them).
    train_rows_available: int | None = None


@dataclass
class TrainedModel:
    """A fitted, calibrated model with what it was trained on and how it did on validation."""

    model: CalibratedClassifierCV
    booster: lgb.LGBMClassifier
    features: list[str]
    metrics: dict[str, float]
    best_iteration: int
    calibration_method: str
    valid_probabilities: np.ndarray
    frame: TrainingFrame


class NotEnoughHistoryError(ValueError):
    """The data is too short for the labelled snapshots the model needs."""


def _rows(features: pd.DataFrame, mask: np.ndarray) -> pd.DataFrame:
    """``features[mask]``; a slice (no copy) when the selected rows are one block, as
    each snapshot is in a frame ordered by as-of date (a million-customer read is
    gigabytes, and the training, calibration and validation parts are nearly all of it)."""
    positions = np.flatnonzero(mask)
    if len(positions) and positions[-1] - positions[0] + 1 == len(positions):
        return features.iloc[positions[0] : positions[-1] + 1]
    return features[mask]


def split_by_snapshot(features: pd.DataFrame) -> TrainingFrame:
    """Stack the labelled snapshots: newest for validation, the one before for
    calibration and early stopping, all older ones for training.

    Validating on a later snapshot than any training row is what the model faces in
    production (it scores a date after all its training labels).
    """
    labelled = features["is_label_observed"].astype(bool).to_numpy()
    as_of = features["as_of_date"]
    # Dates as text ('2026-06-30'), converted once per snapshot rather than per row.
    text = _unique_as_text(as_of[labelled])
    dates = sorted(set(text.values()))
    if len(dates) < 3:
        raise NotEnoughHistoryError(
            f"need at least 3 labelled snapshots (train, calibrate, validate), found "
            f"{len(dates)}: the data must span the churn horizon plus three snapshot "
            "intervals. Shorten --horizon-days or WINBACK_SNAPSHOT_CADENCE_DAYS, or bring "
            "a longer order history."
        )

    def dated(wanted: set[str]) -> np.ndarray:
        values = [value for value, label in text.items() if label in wanted]
        return labelled & as_of.isin(values).to_numpy()

    return TrainingFrame(
        train=_rows(features, dated(set(dates[:-2]))),
        calibration=_rows(features, dated({dates[-2]})),
        valid=_rows(features, dated({dates[-1]})),
        features=feature_columns(features),
        train_dates=dates[:-2],
        calibration_date=dates[-2],
        valid_date=dates[-1],
    )


def _unique_as_text(values: pd.Series) -> dict[object, str]:
    """Each distinct value of a date column and its text, as ``astype(str)`` shows it."""
    unique = pd.Series(values.unique(), dtype=values.dtype)
    return dict(zip(unique.tolist(), unique.astype(str).tolist(), strict=True))


def labels(frame: pd.DataFrame) -> np.ndarray:
    """The churn label as 0/1."""
    return frame[LABEL_COLUMN].astype(int).to_numpy()


def sample_training_rows(train: pd.DataFrame, params: TrainParams) -> pd.DataFrame:
    """At most ``params.max_train_rows`` training rows: the same seeded share of every
    snapshot, so old and recent snapshots keep their weight."""
    if len(train) <= params.max_train_rows:
        return train
    share = params.max_train_rows / len(train)
    return train.groupby("as_of_date", observed=True, group_keys=False).sample(
        frac=share, random_state=params.seed
    )


def fit_booster(frame: TrainingFrame, params: TrainParams) -> lgb.LGBMClassifier:
    """LightGBM on the training snapshots (sampled above ``max_train_rows``),
    early-stopped on the calibration snapshot.

    Text columns arrive as pandas categories, which LightGBM splits on natively.
    """
    train = sample_training_rows(frame.train, params)
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
            lgb.early_stopping(params.early_stopping_rounds, first_metric_only=True, verbose=False)
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
    used = min(len(frame.train), params.lightgbm.max_train_rows)
    available = frame.train_rows_available or len(frame.train)
    metrics |= {
        "train_rows": float(used),
        "train_rows_available": float(available),
        "train_sample_share": used / max(available, 1),
    }
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
        return model.predict_proba(x)[:, 1], booster_of(model).predict_proba(x)[:, 1]
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


def booster_of(model: object) -> lgb.LGBMClassifier:
    """The LightGBM model inside a calibrated model (or the model itself)."""
    if isinstance(model, lgb.LGBMClassifier):
        return model
    inner = model.calibrated_classifiers_[0].estimator  # type: ignore[attr-defined]
    return inner.estimator if isinstance(inner, FrozenEstimator) else inner


def input_columns(model: object) -> list[str]:
    """The feature columns a fitted model expects, in order."""
    return list(booster_of(model).feature_name_)
