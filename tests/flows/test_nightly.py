"""End to end: the real nightly flow (Prefect, dbt-duckdb, Great Expectations, MLflow)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb
import pandas as pd
import pytest
from mlflow import MlflowClient
from typer.testing import CliRunner

from tests.shops import write_one_time_buyer_shop, write_orders_only_shop
from winback.cli import app
from winback.expectations.runner import DataValidationError, validation_history
from winback.flows.nightly import nightly

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("prefect_server")]
AS_OF = dt.date(2026, 6, 15)


def scores(workspace: Path) -> pd.DataFrame:
    con = duckdb.connect(str(workspace / "warehouse" / "winback.duckdb"))
    try:
        return con.execute("select * from marts.churn_scores order by as_of_date, customer_id").df()
    finally:
        con.close()


def query(workspace: Path, sql: str, params: dict[str, object]) -> tuple:
    con = duckdb.connect(str(workspace / "warehouse" / "winback.duckdb"))
    try:
        return con.execute(sql, params).fetchone()  # type: ignore[return-value]
    finally:
        con.close()


def customers_with_purchase_before(data: Path, as_of: dt.date) -> set[str]:
    """Customers the mart scores: a purchase by the as-of date, the last one at most
    long_lost_after_days (730) before it."""
    orders = pd.read_csv(data / "orders.csv", parse_dates=["order_ts"])
    cutoff = pd.Timestamp(as_of + dt.timedelta(days=1), tz="UTC")
    before = orders[orders["order_ts"] < cutoff]
    last = before.groupby("customer_id")["order_ts"].max()
    recency = (cutoff - last).dt.days
    return set(last.index[recency <= 730])


def assert_published_mart_is_the_warehouses(workspace: Path) -> None:
    """A publish that starts from the previous file copies only the feature snapshots
    whose build changed: the analysts' mart must still be the warehouse's, row for row,
    and its record of builds the warehouse's."""
    with duckdb.connect(str(workspace / "warehouse" / "winback.duckdb")) as con:
        # (attached to this process's DuckDB instance, which the flows share: detached below)
        con.execute(f"attach '{workspace / 'warehouse' / 'published.duckdb'}' as pub (read_only)")
        try:
            assert con.execute(
                "select count(*) from (select * from marts.customer_features except all "
                "select * from pub.marts.customer_features union all (select * from "
                "pub.marts.customer_features except all select * from marts.customer_features))"
            ).fetchall() == [(0,)]
            recorded = con.execute(
                "select as_of_date, build_id from pub.meta.published_snapshots order by 1"
            ).fetchall()
            assert (
                recorded
                == con.execute(
                    "select as_of_date, build_id from meta.snapshot_builds order by 1"
                ).fetchall()
            )
            assert len({build for _, build in recorded}) > 1  # snapshots of different builds
        finally:
            con.execute("detach pub")


def test_nightly_scores_every_customer_and_registers_a_champion(workspace: Path) -> None:
    data = workspace / "shop"
    write_orders_only_shop(data, n_customers=500)

    first = nightly(data_dir=str(data), as_of=AS_OF)

    published = scores(workspace)
    assert set(published["customer_id"]) == customers_with_purchase_before(data, AS_OF)
    assert published["customer_id"].is_unique
    assert (published["as_of_date"] == pd.Timestamp(AS_OF)).all()
    assert published["churn_probability"].between(0, 1).all()
    assert published["churn_probability"].nunique() > 10
    assert set(published["risk_band"]) <= {"low", "medium", "high", "very_high"}
    high = published[published["churn_probability"] > 0.5]
    assert high["reason_1"].notna().all()  # every risky customer gets a readable reason
    assert published["p_alive"].between(0, 1).all()
    assert (published["expected_value_12m"] >= 0).all()
    assert (published["expected_next_order_date"] > pd.Timestamp(AS_OF)).all()
    assert first.metrics["roc_auc"] > 0.7  # the shop has a real churn signal

    uri = f"sqlite:///{workspace}/mlflow/mlflow.db"
    # Name the registry too: an earlier test in this process may have set a global one.
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    champion = client.get_model_version_by_alias("winback_churn", "champion")
    assert str(champion.version) == first.model_version
    assert set(published["model_version"]) == {first.model_version}
    run = client.get_run(champion.run_id)
    assert run.data.tags["as_of_date"] == AS_OF.isoformat()
    assert run.data.metrics["roc_auc"] == pytest.approx(first.metrics["roc_auc"])

    # Decisions: every at-risk, lapsed or lost customer is either listed or excluded.
    # An orders-only shop has no consent on file, so nobody may be contacted.
    candidates, listed, contacted, excluded = query(
        workspace,
        "select (select count(*) from marts.customer_features where is_scoring_snapshot "
        "and lapse_status in ('at_risk', 'lapsed', 'lost')), "
        "(select count(*) from marts.winback_list where as_of_date = $d), "
        "(select count(*) from marts.winback_list where as_of_date = $d and is_contacted), "
        "(select count(*) from marts.winback_exclusions where as_of_date = $d)",
        {"d": AS_OF},
    )
    assert candidates > 0 and listed + excluded == candidates
    assert contacted == 0
    assert first.decisions.report_path.exists()
    # Issue 17: without consent data the candidates are still ranked and planned (R13:
    # consent 'unknown', never contacted) rather than all excluded, and the run says what
    # would make them contactable.
    unknown, needs_consent, planned, with_channel, no_consent_exclusions = query(
        workspace,
        "select count(*) filter (where consent_status = 'unknown'), "
        "count(*) filter (where action = 'needs_consent'), "
        "count(*) filter (where recommended_offer is not null and expected_profit is not null), "
        "count(*) filter (where channel is not null or contact_1_at is not null), "
        "(select count(*) from marts.winback_exclusions where as_of_date = $d "
        "and exclusion_reason = 'no_consented_channel') "
        "from marts.winback_list where as_of_date = $d",
        {"d": AS_OF},
    )
    assert listed > 0 and unknown == needs_consent == planned == listed
    assert with_channel == 0 and no_consent_exclusions == 0
    hint = first.decisions.consent_hint
    assert f"{listed:,} listed customers have no consent data" in hint
    assert "customers.csv" in hint and "consent_email" in hint
    assert hint in first.decisions.report_path.read_text(encoding="utf-8")
    # The exclusion rules whose data is missing are named, never silently passed.
    unchecked = first.decisions.unchecked_hint
    assert unchecked.startswith("exclusions not checked, their data is missing: ")
    for rules, table in [
        ("open_dispute, price_hunter, high_attention_low_spend", "tickets"),
        ("do_not_contact, no_consented_channel", "customers"),
        ("contacted_too_recently", "campaign_contacts"),
        ("chronic_late_payer", "payments"),
    ]:
        assert f"{rules} (no {table} file)" in unchecked

    # Same as-of date again: same rows, same probabilities, no duplicates. Training again
    # (not resuming with the same model) exercises the champion comparison.
    with pytest.MonkeyPatch.context() as env:
        env.setenv("WINBACK_MLFLOW__REUSE_TRAINED_MODEL", "false")
        second = nightly(data_dir=str(data), as_of=AS_OF)
    again = scores(workspace)
    assert len(again) == len(published)
    pd.testing.assert_series_equal(again["customer_id"], published["customer_id"])
    pd.testing.assert_series_equal(again["churn_probability"], published["churn_probability"])
    assert second.model_version != first.model_version  # a new run, registered anew
    # Issue 19: the orders file is unchanged, so the raw-orders gate that passed on it is
    # not run again (no second result stored); the features gate is.
    gates = validation_history(workspace / "warehouse" / "winback.duckdb")
    assert [v.suite for v in gates].count("raw_orders") == 1
    assert [v.suite for v in gates].count("customer_features") == 2
    run = client.get_run(client.get_model_version_by_alias("winback_churn", "champion").run_id)
    assert run.data.tags["promotion_decision"] == "promoted"  # same data: not worse
    assert run.data.metrics["promotion_delta_roc_auc"] == pytest.approx(0.0)
    assert {"baseline_cadence", "baseline_bgnbd", "lightgbm"} <= {
        r.data.tags["model_kind"] for r in client.search_runs([run.info.experiment_id])
    }
    artifacts = {a.path for a in client.list_artifacts(run.info.run_id, "evaluation")}
    assert {"evaluation/calibration.png", "evaluation/shap_summary.png"} <= artifacts


def test_failed_expectation_stops_the_flow_and_keeps_published_scores(workspace: Path) -> None:
    data = workspace / "shop"
    write_orders_only_shop(data, n_customers=400)
    nightly(data_dir=str(data), as_of=AS_OF)
    before = scores(workspace)

    # Truncated input: most customers vanish, which the suite's row-count gate catches.
    orders = pd.read_csv(data / "orders.csv")
    keep = sorted(orders["customer_id"].unique())[:60]
    orders[orders["customer_id"].isin(keep)].to_csv(data / "orders.csv", index=False)

    with pytest.raises(DataValidationError) as caught:
        nightly(data_dir=str(data), as_of=AS_OF)
    assert "expect_column_sum_to_be_between" in str(caught.value)
    assert "is_scoring_snapshot" in str(caught.value)
    pd.testing.assert_frame_equal(scores(workspace), before)


def test_cli_runs_on_a_directory_with_only_the_required_order_columns(workspace: Path) -> None:
    data = workspace / "merchant"
    write_orders_only_shop(data, n_customers=300, seed=11)
    assert pd.read_csv(data / "orders.csv").columns.tolist() == [
        "order_id",
        "customer_id",
        "order_ts",
        "amount",
    ]
    result = CliRunner().invoke(
        app, ["nightly", "--data-dir", str(data), "--as-of", "2026-06-01", "--horizon-days", "60"]
    )
    assert result.exit_code == 0, result.output
    assert "Nightly run as of 2026-06-01 done" in result.output
    published = scores(workspace)
    assert set(published["customer_id"]) == customers_with_purchase_before(
        data, dt.date(2026, 6, 1)
    )
    # Without campaign history there is nothing to backtest, and the CLI says why (R10).
    backtest = CliRunner().invoke(app, ["decisions", "backtest"])
    assert backtest.exit_code == 0, backtest.output
    assert "No backtest: the campaign history holds no randomized campaign" in backtest.output
    missing = CliRunner().invoke(
        app, ["decisions", "backtest", "--database", str(workspace / "nowhere.duckdb")]
    )
    assert missing.exit_code == 1 and "run `winback nightly` first" in missing.output


def test_a_shop_of_one_time_buyers_gets_a_list_and_a_clear_warning(workspace: Path) -> None:
    """Issue 17: every customer bought once, so every labelled snapshot churned. Valid
    data, not broken data: the run warns, says what it scored with and why, and still
    scores everyone and lists the candidates."""
    data = workspace / "one_time"
    write_one_time_buyer_shop(data, n_customers=1500)
    as_of = dt.date(2026, 6, 30)
    result = CliRunner().invoke(
        app, ["nightly", "--data-dir", str(data), "--as-of", as_of.isoformat()]
    )
    assert result.exit_code == 0, result.output
    output = result.output
    assert "⚠ marts.customer_features: expect_column_mean_to_be_between on column churn_label" in (
        output
    )
    assert "observed 1" in output
    assert "⚠ degenerate labels: 100.0% of the labelled snapshots churned" in output
    assert "the labels carry no signal to learn: scored with the label-free BG/NBD" in output

    published = scores(workspace)
    assert set(published["customer_id"]) == customers_with_purchase_before(data, as_of)
    assert published["churn_probability"].between(0, 1).all()
    candidates, listed, excluded, ranked = query(
        workspace,
        "select (select count(*) from marts.customer_features where is_scoring_snapshot "
        "and lapse_status in ('at_risk', 'lapsed', 'lost')), "
        "(select count(*) from marts.winback_list where as_of_date = $d), "
        "(select count(*) from marts.winback_exclusions where as_of_date = $d), "
        "(select count(distinct priority_rank) from marts.winback_list where as_of_date = $d "
        "and recommended_offer is not null)",
        {"d": as_of},
    )
    assert candidates > 0 and listed > 0 and listed + excluded == candidates
    assert ranked == listed

    uri = f"sqlite:///{workspace}/mlflow/mlflow.db"
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    champion = client.get_model_version_by_alias("winback_churn", "champion")
    run = client.get_run(champion.run_id)
    assert run.data.tags["model_kind"] == "label_free_bgnbd"
    assert "carry no signal" in run.data.tags["label_warning"]


def test_cli_failure_names_the_file_and_what_to_do(workspace: Path) -> None:
    data = workspace / "merchant"
    data.mkdir()
    (data / "orders.csv").write_text("order_id,customer_id,amount\nO1,C1,5\n", encoding="utf-8")
    result = CliRunner().invoke(app, ["nightly", "--data-dir", str(data)])
    assert result.exit_code == 1
    assert "orders.csv" in result.output
    assert "required column(s) missing: order_ts" in result.output
    assert "What to do" in result.output


def test_an_earlier_date_run_after_a_later_one_uses_a_model_trained_up_to_it(
    workspace: Path,
) -> None:
    """Point in time: a backfill or rerun of an older date, after a newer date has run,
    is scored by a version trained on data up to that date, never by the newer model
    (which has seen the older date's answers); the newer date keeps its champion."""
    data = workspace / "shop"
    write_orders_only_shop(data, n_customers=400, seed=5)
    later_date, earlier_date = AS_OF, dt.date(2026, 4, 15)
    uri = f"sqlite:///{workspace}/mlflow/mlflow.db"
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)

    later = nightly(data_dir=str(data), as_of=later_date)
    earlier = nightly(data_dir=str(data), as_of=earlier_date)
    # (this publish started from the previous file and replaced the recomputed snapshots)
    assert_published_mart_is_the_warehouses(workspace)

    scored_by = client.get_model_version("winback_churn", earlier.model_version)
    assert dt.date.fromisoformat(scored_by.tags["as_of_date"]) <= earlier_date
    assert earlier.model_version != later.model_version
    rows = scores(workspace)
    assert set(rows.loc[rows["as_of_date"] == pd.Timestamp(earlier_date), "model_version"]) == {
        earlier.model_version
    }
    assert set(rows.loc[rows["as_of_date"] == pd.Timestamp(later_date), "model_version"]) == {
        later.model_version
    }
    # Compared with the champion of its own date (none trained that early): promoted for
    # that date, while the alias stays with the newest date's champion.
    assert earlier.training.decision.promote
    assert str(client.get_model_version_by_alias("winback_churn", "champion").version) == (
        later.model_version
    )
    # The newer date run again afterwards: its own version scores it again (reused).
    again = nightly(data_dir=str(data), as_of=later_date)
    assert again.model_reused and again.model_version == later.model_version
    assert_published_mart_is_the_warehouses(workspace)
