"""Train the churn-propensity model on point-in-time snapshots (time-based validation)."""

from __future__ import annotations

from dataclasses import dataclass

import lightgbm as lgb
import numpy as np
import pandas as pd
from pydantic import BaseModel, Field
from sklearn.metrics import roc_auc_score

from winback.models.features import LABEL_COLUMN, feature_columns, model_input


class TrainParams(BaseModel):
    """LightGBM settings; every run logs them to MLflow."""

    n_estimators: int = Field(400, description="Most boosting rounds (early stopping picks fewer).")
    learning_rate: float = Field(0.05, description="Shrinkage per round.")
    num_leaves: int = Field(31, description="Leaves per tree.")
    min_child_samples: int = Field(50, description="Fewest rows in a leaf.")
    subsample: float = Field(0.8, description="Row share per bagging round.")
    subsample_freq: int = Field(1, description="Bagging every k rounds.")
    colsample_bytree: float = Field(0.8, description="Feature share per tree.")
    reg_lambda: float = Field(1.0, description="L2 regularisation.")
    early_stopping_rounds: int = Field(30, description="Stop after this many rounds without gain.")
    n_jobs: int = Field(2, description="Threads (the machines have 2 cores).")
    seed: int = Field(42, description="Seed for bagging and feature sampling.")


@dataclass
class TrainingFrame:
    """Labelled snapshots split by time: validation is the newest labelled snapshot."""

    train: pd.DataFrame
    valid: pd.DataFrame
    features: list[str]
    train_dates: list[str]
    valid_date: str


@dataclass
class TrainedModel:
    """A fitted model with what it was trained on and how it did on validation."""

    model: lgb.LGBMClassifier
    features: list[str]
    metrics: dict[str, float]
    best_iteration: int
    frame: TrainingFrame


class NotEnoughHistoryError(ValueError):
    """The data is too short for a labelled snapshot."""


def split_by_snapshot(features: pd.DataFrame) -> TrainingFrame:
    """Stack the labelled snapshots; hold out the newest one for validation.

    Never a random split: validating on a later snapshot than any training row is what
    the model faces in production (it scores a date after all its training labels).
    """
    labelled = features[features["is_label_observed"].astype(bool)]
    dates = sorted(labelled["as_of_date"].astype(str).unique())
    if len(dates) < 2:
        raise NotEnoughHistoryError(
            f"need at least 2 labelled snapshots, found {len(dates)}: the data must span "
            "the churn horizon plus two snapshot intervals. Shorten --horizon-days or "
            "WINBACK_SNAPSHOT_CADENCE_DAYS, or bring a longer order history."
        )
    as_text = labelled["as_of_date"].astype(str)
    return TrainingFrame(
        train=labelled[as_text < dates[-1]],
        valid=labelled[as_text == dates[-1]],
        features=feature_columns(features),
        train_dates=dates[:-1],
        valid_date=dates[-1],
    )


def train(frame: TrainingFrame, params: TrainParams) -> TrainedModel:
    """Fit LightGBM with early stopping on the validation snapshot."""
    x_train = model_input(frame.train, frame.features)
    y_train = frame.train[LABEL_COLUMN].astype(int)
    x_valid = model_input(frame.valid, frame.features)
    y_valid = frame.valid[LABEL_COLUMN].astype(int)
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
        x_train,
        y_train,
        eval_X=(x_valid,),
        eval_y=(y_valid,),
        eval_metric="auc",
        callbacks=[lgb.early_stopping(params.early_stopping_rounds, verbose=False)],
    )
    probabilities = model.predict_proba(x_valid)[:, 1]
    return TrainedModel(
        model=model,
        features=frame.features,
        metrics=evaluate(y_valid.to_numpy(), probabilities),
        best_iteration=int(model.best_iteration_ or params.n_estimators),
        frame=frame,
    )


def evaluate(y_true: np.ndarray, probabilities: np.ndarray) -> dict[str, float]:
    """Validation metrics (scikit-learn)."""
    return {
        "roc_auc": float(roc_auc_score(y_true, probabilities)),
        "churn_rate": float(np.mean(y_true)),
        "mean_probability": float(np.mean(probabilities)),
    }
