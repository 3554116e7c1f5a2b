"""End to end: the payment_reminders flow and CLI (Prefect, ingestion, dbt, Jinja2)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
import pytest
from prefect.artifacts import Artifact
from typer.testing import CliRunner

from tests.reminders import scenarios
from tests.shops import settings_for
from winback.cli import app
from winback.flows.payment_reminders import payment_reminders
from winback.ingest import load_data_dir
from winback.reminders.pipeline import DECIDE, UNIT_TESTS
from winback.transform import run_dbt
from winback.warehouse import connect

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("prefect_server")]


def published(workspace: Path) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    with connect(workspace / "warehouse" / "winback.duckdb") as con:
        return (
            con.execute("select * from marts.payment_reminders order by order_id").df(),
            con.execute("select * from marts.payment_reminder_skips order by order_id").df(),
            con.execute("select * from reminders.reminder_ledger order by order_id").df(),
        )


def test_flow_decides_every_pending_order_and_reruns_change_nothing(workspace: Path) -> None:
    data = scenarios.rule_shop(workspace / "shop")
    at = scenarios.AT.replace(tzinfo=dt.UTC)

    result = payment_reminders(data_dir=str(data), at=at)

    reminders, skips, ledger = published(workspace)
    assert result.at == scenarios.AT
    assert result.summary.pending_orders == len(reminders) + len(skips) == 25
    assert result.published.reminders == len(reminders) == 12
    assert set(ledger["order_id"]) == set(reminders["order_id"])
    assert reminders["rendered_text"].str.len().gt(20).all()
    artifact = Artifact.get("payment-reminders")
    assert artifact is not None and "paid_same_day" in str(artifact.data)

    payment_reminders(data_dir=str(data), at=at)  # same --at: nothing changes
    for before, after in zip((reminders, skips, ledger), published(workspace), strict=True):
        pd.testing.assert_frame_equal(after, before)

    # Measurement: a later run sees the due reminders as sent; one order then got paid.
    orders = pd.read_csv(data / "orders.csv")
    orders.loc[orders["order_id"] == "O_new", ["status", "paid_ts"]] = [
        "paid",
        "2026-06-30T02:30:00Z",
    ]
    orders.to_csv(data / "orders.csv", index=False)
    payment_reminders(data_dir=str(data), at=dt.datetime(2026, 6, 30, 3, 0))
    with connect(workspace / "warehouse" / "winback.duckdb") as con:
        outcomes = con.execute(
            "select sum(reminders_sent), sum(paid_after_reminder) from marts.payment_reminder_outcomes"
        ).fetchone()
    assert outcomes is not None
    sent, paid_after = outcomes
    assert sent == (reminders["remind_at"] <= pd.Timestamp("2026-06-30 03:00")).sum()
    assert paid_after == 1


def test_scheduled_runs_skip_the_dbt_unit_tests_which_the_suite_runs(workspace: Path) -> None:
    """The rules' SQL is unit-tested here (R15-R20 fixtures in intermediate/reminders/_int_reminders__models.yml),
    not on every 15-minute run."""
    data = scenarios.rule_shop(workspace / "shop")
    settings = settings_for(workspace / "warehouse" / "winback.duckdb", data_dir=data)
    load_data_dir(settings.warehouse.path, data, scenarios.AT.date())
    at = scenarios.AT
    decided = run_dbt(DECIDE, settings, at.date(), reminder_at=at)
    assert decided and not [n for n in decided if n.resource_type == "unit_test"]
    unit = run_dbt(UNIT_TESTS, settings, at.date(), reminder_at=at)
    assert len(unit) >= 3
    assert {n.resource_type for n in unit} == {"unit_test"}
    assert {n.status for n in unit} == {"pass"}


def test_cli_payment_reminders(workspace: Path) -> None:
    data = scenarios.rule_shop(workspace / "shop")
    result = CliRunner().invoke(
        app, ["payment-reminders", "--data-dir", str(data), "--at", "2026-06-30T09:30:00+08:00"]
    )
    assert result.exit_code == 0, result.output
    assert "Payment reminders at 2026-06-30 01:30 UTC done" in result.output
    assert "reminders: 12" in result.output


def test_cli_rejects_a_bad_timestamp(workspace: Path) -> None:
    result = CliRunner().invoke(app, ["payment-reminders", "--at", "yesterday"])
    assert result.exit_code != 0
    assert "ISO 8601" in result.output
