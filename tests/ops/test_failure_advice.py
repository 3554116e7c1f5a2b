"""What a failure screen tells a person to do (winback.failures.describe)."""

from __future__ import annotations

from winback.failures import DEFAULT_WHAT_TO_DO, WHAT_TO_DO, describe
from winback.transform import DbtBuildError


def test_out_of_memory_names_the_memory_setting_whatever_the_step() -> None:
    exc = DbtBuildError(
        "dbt build failed:\n  - model int_customers_engagement_aggregated: error: "
        "Out of Memory Error: could not allocate block of size 256.0 KiB (2.7 GiB/2.7 GiB used)"
    )
    record = describe(exc, "nightly", step="build_features")
    assert "WINBACK_WAREHOUSE__DUCKDB_MEMORY_LIMIT" in record.what_to_do
    assert "Nothing was published" in record.what_to_do
    screen = record.screen("Nightly run")
    assert screen.startswith("✗ Nightly run failed: DbtBuildError (step build_features)")
    assert "int_customers_engagement_aggregated" in screen


def test_other_failures_keep_their_own_advice() -> None:
    dbt = describe(DbtBuildError("model x: error: division by zero"), "nightly")
    assert dbt.what_to_do == WHAT_TO_DO["DbtBuildError"]
    assert describe(RuntimeError("boom"), "nightly").what_to_do == DEFAULT_WHAT_TO_DO
