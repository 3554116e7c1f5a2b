"""The frame the feature gate validates: the scoring snapshot whole, a seeded sample of
the older snapshots, and only the columns the suite reads (a wider frame cost gigabytes
of copies inside Great Expectations at a million customers, issue 19)."""

from __future__ import annotations

import great_expectations.expectations as gxe
import pandas as pd

from winback.expectations import customer_features as features_suite
from winback.expectations.runner import ValidationReport, run_suite


def test_it_holds_the_checked_columns_of_every_scoring_row_and_a_history_sample(
    shop_features: pd.DataFrame,
) -> None:
    suite = features_suite.build_suite(previous_scored_customers=10)
    frame = features_suite.validation_frame(shop_features, suite, max_history_rows=50, seed=3)

    checked = features_suite.checked_columns(suite)
    assert {"customer_id", "tenure_days", "churn_label", "is_scoring_snapshot"} <= set(checked)
    assert sorted(frame.columns) == sorted(checked)
    assert len(frame.columns) < len(shop_features.columns) / 2

    scoring = shop_features["is_scoring_snapshot"].astype(bool)
    history = shop_features[~scoring].sample(n=50, random_state=3)
    assert list(frame.index) == [*shop_features.index[scoring], *history.index]
    kept = [c for c in checked if c not in ("churn_label", "is_scoring_snapshot")]
    pd.testing.assert_frame_equal(frame[kept], shop_features.loc[frame.index, kept])
    expected_label = shop_features.loc[frame.index, "is_churned"].astype("Float64").astype(float)
    assert frame["churn_label"].equals(expected_label)
    assert frame["is_scoring_snapshot"].tolist() == [1] * int(scoring.sum()) + [0] * 50


def validate(features: pd.DataFrame, suite: list[gxe.Expectation]) -> ValidationReport:
    """The feature gate's suite on the frame it would validate."""
    frame = features_suite.validation_frame(features, suite)
    return run_suite(frame, features_suite.TABLE, features_suite.SUITE_NAME, suite)


def test_the_narrow_frame_still_fails_on_a_bad_value_and_on_a_missing_column(
    shop_features: pd.DataFrame,
) -> None:
    suite = features_suite.build_suite()
    broken = shop_features.copy()
    broken.loc[broken.index[0], "recency_days"] = -5
    report = validate(broken, suite)
    assert not report.success
    assert [f.column for f in report.failures] == ["recency_days"]

    missing = [*suite, gxe.ExpectColumnValuesToNotBeNull(column="no_such_column")]
    report = validate(shop_features, missing)
    assert not report.success
    assert "no_such_column" in [f.column for f in report.failures]
