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
from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE

from winback.config import Settings
from winback.flows.common import load_raw, publish_for_analysts, settings_for_run
from winback.ingest import LoadReport
from winback.locking import run_lock
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


@task(cache_policy=NO_CACHE)
def decide(settings: Settings, at: dt.datetime) -> None:
    """dbt build of the reminder decisions (rules R15–R20) and their tests."""
    nodes = pipeline.decide(settings, at)
    get_run_logger().info("dbt built %d nodes for reminders at %s", nodes, at)


@task(cache_policy=NO_CACHE)
def render(settings: Settings) -> pd.DataFrame:
    """The decisions with their reminder texts (R21)."""
    return pipeline.render(ledger.read_decisions(settings.warehouse), settings)


@task(cache_policy=NO_CACHE)
def record(settings: Settings, decisions: pd.DataFrame, at: dt.datetime) -> ledger.PublishCounts:
    """Texts and ledger in one transaction, then the published tables (dbt)."""
    return pipeline.record(settings, decisions, at)


@flow(name="payment_reminders", log_prints=True)
def payment_reminders(
    data_dir: str | None = None, at: dt.datetime | None = None
) -> PaymentRemindersResult:
    """Decide every order pending at ``at`` (default now; naive means UTC).

    Unset parameters come from the settings (``winback config show``).
    """
    settings = settings_for_run(data_dir)
    at = pipeline.utc_naive(at)
    lock = run_lock(
        settings.warehouse.path, "payment_reminders", settings.warehouse.lock_timeout_seconds
    )
    with lock:
        load = load_raw(settings, at.date(), "payment-reminders-load")
        decide(settings, at)
        decisions = render(settings)
        counts = record(settings, decisions, at)
        snapshot = publish_for_analysts(settings, "payment_reminders", at.isoformat())
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
