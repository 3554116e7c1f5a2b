"""Expectation suite for ``marts.customer_features`` (gates the nightly flow)."""

from __future__ import annotations

import great_expectations.expectations as gxe
import numpy as np
import pandas as pd
from great_expectations.expectations.metadata_types import FailureSeverity

from winback.models.features import LABEL_RATE_BOUNDS

SUITE_NAME = "customer_features"
TABLE = "marts.customer_features"
# A run whose scoring snapshot has fewer than half the customers of the last published
# run almost always means truncated input, not a business change.
MIN_ROW_RATIO_VS_PREVIOUS = 0.5


def build_suite(
    previous_scored_customers: int | None = None, *, labelled: bool = True
) -> list[gxe.Expectation]:
    """Expectations on the whole feature table (every snapshot).

    ``previous_scored_customers`` is how many customers the last published run scored;
    the scoring snapshot must keep at least half of them. ``labelled``: whether the rows
    read hold labels (a night that reuses a trained version reads the unlabelled scoring
    snapshot alone; its label rate was checked when the version was trained).
    """
    suite: list[gxe.Expectation] = []
    for column in ("customer_id", "as_of_date", "recency_days", "purchase_count"):
        suite.append(gxe.ExpectColumnValuesToNotBeNull(column=column))
    suite.append(gxe.ExpectCompoundColumnsToBeUnique(column_list=["customer_id", "as_of_date"]))
    suite.append(gxe.ExpectColumnValuesToBeBetween(column="recency_days", min_value=0))
    suite.append(gxe.ExpectColumnValuesToBeBetween(column="purchase_count", min_value=1))
    for column in ("monetary_lifetime", "monetary_365d", "avg_order_value"):
        suite.append(gxe.ExpectColumnValuesToBeBetween(column=column, min_value=0))
    suite.append(
        gxe.ExpectColumnPairValuesAToBeGreaterThanB(
            column_A="tenure_days", column_B="recency_days", or_equal=True
        )
    )
    suite.append(
        gxe.ExpectColumnPairValuesAToBeGreaterThanB(
            column_A="monetary_lifetime", column_B="monetary_365d", or_equal=True
        )
    )
    suite.append(
        gxe.ExpectColumnValuesToBeInSet(
            column="lapse_status", value_set=["active", "cooling", "at_risk", "lapsed", "lost"]
        )
    )
    suite.append(
        gxe.ExpectColumnValuesToBeBetween(column="churn_risk_score", min_value=0, max_value=8)
    )
    for column in ("discounted_purchase_share", "late_invoice_share"):
        suite.append(gxe.ExpectColumnValuesToBeBetween(column=column, min_value=0, max_value=1))
    suite.append(gxe.ExpectColumnValuesToBeBetween(column="recency_vs_cadence", min_value=0))
    # Null shares: spend is known for every purchase; age may be missing, not mostly wrong.
    suite.append(gxe.ExpectColumnValuesToNotBeNull(column="monetary_lifetime"))
    suite.append(
        gxe.ExpectColumnValuesToBeBetween(
            column="age_years", min_value=10, max_value=110, mostly=0.99
        )
    )
    # Label rate bounds: a horizon in which (nearly) nobody or everybody buys again is
    # valid but degenerate data (e.g. a shop of one-time buyers). A warning, not a gate:
    # training checks whether the labels still carry a signal and says what it scored
    # with (``training.label_signal``); the run still produces the list (issue 17).
    low, high = LABEL_RATE_BOUNDS
    if labelled:
        suite.append(
            gxe.ExpectColumnMeanToBeBetween(
                column="churn_label",
                min_value=low,
                max_value=high,
                severity=FailureSeverity.WARNING,
            )
        )
    if previous_scored_customers:
        suite.append(
            gxe.ExpectColumnSumToBeBetween(
                column="is_scoring_snapshot",
                min_value=int(previous_scored_customers * MIN_ROW_RATIO_VS_PREVIOUS),
            )
        )
    return suite


# Older snapshots are validated on a seeded sample above this many rows: they were
# validated in full by the runs that built them, and the whole-table checks that need
# every row (uniqueness, not-null keys) are dbt tests on the full mart.
MAX_HISTORY_ROWS = 300_000


def checked_columns(expectations: list[gxe.Expectation]) -> list[str]:
    """The columns ``expectations`` read (``column``, ``column_A``/``column_B``,
    ``column_list``), each once, in order of first use."""
    names: dict[str, None] = {}
    for expectation in expectations:
        kwargs = expectation.configuration.kwargs
        for key in ("column", "column_A", "column_B"):
            if key in kwargs:
                names[kwargs[key]] = None
        for name in kwargs.get("column_list") or ():
            names[name] = None
    return list(names)


def validation_frame(
    features: pd.DataFrame,
    expectations: list[gxe.Expectation],
    max_history_rows: int = MAX_HISTORY_ROWS,
    seed: int = 0,
) -> pd.DataFrame:
    """What ``expectations`` check of the feature table: every row of the scoring
    snapshot and at most ``max_history_rows`` rows of the older snapshots, in the columns
    the suite reads (with the numeric helpers ``churn_label`` and ``is_scoring_snapshot``).

    Only the checked columns are copied: GX's pandas engine copies the frame it is given
    for some expectations (a column pair drops its null rows from the whole frame), so a
    frame of every feature column cost gigabytes at a million customers. A column the
    suite names that the table lacks stays missing, and its expectation fails."""
    scoring = features["is_scoring_snapshot"].astype(bool).to_numpy()
    history = np.flatnonzero(~scoring)
    if len(history) > max_history_rows:
        # The same rows as ``features[~scoring].sample(n, random_state=seed)``.
        history = pd.Series(history).sample(n=max_history_rows, random_state=seed).to_numpy()
    rows = np.concatenate([np.flatnonzero(scoring), history])
    wanted = checked_columns(expectations)
    derived = ("churn_label", "is_scoring_snapshot")
    kept = [c for c in features.columns if c in wanted and c not in derived]
    frame = features.iloc[rows, features.columns.get_indexer(kept)]
    if "churn_label" in wanted:
        frame["churn_label"] = features["is_churned"].iloc[rows].astype("Float64").astype(float)
    if "is_scoring_snapshot" in wanted:
        frame["is_scoring_snapshot"] = scoring[rows].astype(int)
    return frame
