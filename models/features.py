"""Which columns of ``marts.customer_features`` the model reads, and in what form."""

from __future__ import annotations

import pandas as pd

KEY_COLUMNS = ("customer_id", "as_of_date")
# Snapshot bookkeeping and the label: never model inputs.
NON_FEATURE_COLUMNS = frozenset(
    {*KEY_COLUMNS, "is_scoring_snapshot", "is_label_observed", "is_churned"}
)
LABEL_COLUMN = "is_churned"
# Labelled churn rates outside these bounds are valid but degenerate data (e.g. a shop
# where nearly every customer bought once): the feature gate warns, and training checks
# whether the labels still carry a signal (``training.label_signal``).
LABEL_RATE_BOUNDS = (0.01, 0.995)


def feature_columns(features: pd.DataFrame) -> list[str]:
    """Every column of the feature mart that is not a key, flag or label, in table order.

    New feature columns added to the dbt mart become model inputs without code changes.
    """
    return [c for c in features.columns if c not in NON_FEATURE_COLUMNS]


def model_input(features: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """The model's input frame: numbers as float64 (nulls as NaN), text as categories."""
    frame = pd.DataFrame(index=features.index)
    for column in columns:
        values = features[column]
        if pd.api.types.is_bool_dtype(values) or pd.api.types.is_numeric_dtype(values):
            frame[column] = pd.to_numeric(values, errors="coerce").astype("float64")
        else:
            frame[column] = values.astype("string").astype("category")
    return frame
