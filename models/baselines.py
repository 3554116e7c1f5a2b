"""Baselines every run is compared with, on the same validation snapshot as the model.

- ``cadence``: the rule a merchant would write by hand: how overdue the customer is by
  their own purchase rhythm (recency / median gap; one-time buyers against the shop's
  median gap). The score is turned into a probability by isotonic regression fitted on
  the calibration snapshot, as the model's is.
- ``bgnbd``: BG/NBD's probability of no purchase within the horizon (includes P(alive)),
  fitted without labels on the validation snapshot's own history.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.isotonic import IsotonicRegression

from winback.models.btyd import fit_btyd, purchase_history
from winback.models.training import TrainingFrame, labels

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
