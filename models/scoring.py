"""Score customers with a fitted churn model: probability, risk band, reasons, value."""

from __future__ import annotations

from typing import Protocol

import numpy as np
import pandas as pd

from winback.models.explain import reason_codes, shap_values
from winback.models.features import model_input
from winback.models.params import ModelParams
from winback.models.value import future_value


class ProbabilisticClassifier(Protocol):
    def predict_proba(self, x: pd.DataFrame) -> np.ndarray: ...


def risk_band(probabilities: np.ndarray, params: ModelParams) -> np.ndarray:
    """Band name per probability (cut points from ``params``)."""
    index = np.searchsorted(np.asarray(params.risk_band_edges), probabilities, side="right")
    return np.asarray(params.risk_band_names, dtype=object)[index]


def score(
    model: ProbabilisticClassifier,
    features: pd.DataFrame,
    columns: list[str],
    params: ModelParams | None = None,
) -> pd.DataFrame:
    """Churn probability, risk band, top reasons, P(alive), 12-month expected value and
    next order date per customer of ``features`` (one snapshot)."""
    params = params or ModelParams()
    probabilities = model.predict_proba(model_input(features, columns))[:, 1].astype("float64")
    reasons = reason_codes(shap_values(model, features, columns), features, params.reason_count)
    value = future_value(features, params.value_horizon_days, params.bgnbd_penalizer)
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
