"""The payment_reminders flow (every 15 minutes): load → decide (dbt) → render → record
the texts and the ledger → build the published tables (dbt) → publish.

Every order pending at ``at`` is either scheduled for a reminder or skipped with a
reason code (rules R15–R21 in ``dbt_project/models/intermediate/reminders``). The ledger
makes each order reminded at most once, so rerunning for the same ``at`` changes nothing.

Like the nightly flow, it runs under the warehouse's run lock and ends by swapping in a
new published file for analysts (its tables fresh, the nightly tables carried over).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from prefect import flow, get_run_logger
from prefect.artifacts import create_markdown_artifact
from prefect.states import State

from winback.config import Settings
from winback.flows.common import (
    Steps,
    alert_on_failure,
    load_raw,
    lock_or_skip,
    publish_for_analysts,
    settings_for_run,
    step,
)
from winback.ingest import LoadReport
from winback.publish import PublishReport
from winback.reminders import ledger, pipeline


@dataclass
class PaymentRemindersResult:
    """What one run decided, for the CLI and tests."""

    at: dt.datetime
    load: LoadReport
    summary: pipeline.DecisionSummary
    published: ledger.PublishCounts
    warehouse_path: Path
    snapshot: PublishReport


@step()
def decide(settings: Settings, at: dt.datetime) -> None:
    """dbt build of the reminder decisions (rules R15–R20) and their tests."""
    nodes = pipeline.decide(settings, at)
    get_run_logger().info("dbt built %d nodes for reminders at %s", nodes, at)


@step()
def render(settings: Settings) -> pd.DataFrame:
    """The decisions with their reminder texts (R21)."""
    return pipeline.render(ledger.read_decisions(settings.warehouse), settings)


@step()
def record(settings: Settings, decisions: pd.DataFrame, at: dt.datetime) -> ledger.PublishCounts:
    """Texts and ledger in one transaction, then the published tables (dbt)."""
    return pipeline.record(settings, decisions, at)


@flow(
    name="payment_reminders",
    log_prints=True,
    on_failure=[alert_on_failure],
    on_crashed=[alert_on_failure],
)
def payment_reminders(
    data_dir: str | None = None, at: dt.datetime | None = None
) -> PaymentRemindersResult | State:
    """Decide every order pending at ``at`` (default now; naive means UTC).

    Unset parameters come from the settings (``winback config show``). Every step runs
    within its time limit (setting ``timeouts``); a run turned away by the nightly's lock
    ends Completed, named Skipped, and the next one (15 minutes later) tries again.
    """
    settings = settings_for_run(data_dir)
    at = pipeline.utc_naive(at)
    with lock_or_skip(settings, "payment_reminders") as skipped:
        if skipped is not None:
            return skipped
        run = Steps(settings, "payment_reminders")
        load = run(load_raw, settings, at.date(), "payment-reminders-load")
        run.rows = sum(t.rows_loaded for t in load.tables.values())
        run(decide, settings, at)
        decisions = run(render, settings)
        counts = run(record, settings, decisions, at)
        snapshot = run(publish_for_analysts, settings, "payment_reminders", at.isoformat())
    summary = pipeline.summarise(decisions, at)
    create_markdown_artifact(
        key="payment-reminders",
        markdown=summary.to_markdown()
        + f"\n\n- ledger: {counts.ledger_scheduled:,} newly scheduled, "
        f"{counts.ledger_cancelled:,} cancelled\n- rows quarantined: {load.rows_quarantined:,}"
        f"\n- published for analysts: `{snapshot.published_path}`",
        description="Payment reminder decisions",
    )
    return PaymentRemindersResult(at, load, summary, counts, settings.warehouse.path, snapshot)
