"""Score customers with a fitted churn model."""

from __future__ import annotations

from typing import Protocol

import numpy as np
import pandas as pd

from winback.models.features import model_input


class ProbabilisticClassifier(Protocol):
    def predict_proba(self, x: pd.DataFrame) -> np.ndarray: ...


def score(
    model: ProbabilisticClassifier, features: pd.DataFrame, columns: list[str]
) -> pd.DataFrame:
    """Churn probability per customer of ``features`` (one snapshot)."""
    probabilities = model.predict_proba(model_input(features, columns))[:, 1]
    return pd.DataFrame(
        {
            "customer_id": features["customer_id"].to_numpy(),
            "churn_probability": probabilities.astype("float64"),
        }
    )
