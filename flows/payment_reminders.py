"""The payment_reminders flow (every 15 minutes): load → decide (dbt) → render → publish.

Every order pending at ``at`` is either scheduled for a reminder or skipped with a
reason code (rules R15–R21 in ``dbt_project/models/reminders``). The ledger makes each
order reminded at most once, so rerunning for the same ``at`` changes nothing.

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
from prefect.context import FlowRunContext

from winback.config import Settings
from winback.flows.retry import is_transient
from winback.ingest import LoadReport, load_data_dir
from winback.locking import run_lock
from winback.publish import PublishReport
from winback.publish import publish as publish_snapshot
from winback.reminders import ReminderSettings, ledger, pipeline
from winback.reminders.settings import utc_naive


@dataclass
class PaymentRemindersResult:
    """What one run decided, for the CLI and tests."""

    at: dt.datetime
    load: LoadReport
    summary: pipeline.DecisionSummary
    published: ledger.PublishCounts
    warehouse_path: Path
    snapshot: PublishReport


@task(retries=2, retry_delay_seconds=5, retry_condition_fn=is_transient, cache_policy=NO_CACHE)
def load_raw(settings: Settings, as_of: dt.date) -> LoadReport:
    """Validate the data directory into raw + quarantine for the run's day (retried I/O)."""
    report = load_data_dir(settings.warehouse_path, settings.data_dir, as_of)
    get_run_logger().info(
        "loaded as of %s, quarantined %s rows", report.as_of, report.rows_quarantined
    )
    return report


@task(cache_policy=NO_CACHE)
def decide(settings: Settings, reminder_settings: ReminderSettings, at: dt.datetime) -> None:
    """dbt build of the reminder models (rules R15–R20) and their tests."""
    nodes = pipeline.decide(settings, reminder_settings, at)
    get_run_logger().info("dbt built %d nodes for reminders at %s", nodes, at)


@task(cache_policy=NO_CACHE)
def render(settings: Settings, reminder_settings: ReminderSettings) -> pd.DataFrame:
    """The decisions with their reminder texts (R21)."""
    return pipeline.render(ledger.read_decisions(settings.warehouse_path), reminder_settings)


@task(cache_policy=NO_CACHE)
def publish(settings: Settings, decisions: pd.DataFrame, at: dt.datetime) -> ledger.PublishCounts:
    """Reminders, skips and ledger in one transaction."""
    return ledger.publish(settings.warehouse_path, decisions, at)


@task(retries=2, retry_delay_seconds=5, retry_condition_fn=is_transient, cache_policy=NO_CACHE)
def publish_for_analysts(settings: Settings, at: dt.datetime) -> PublishReport:
    """Swap in a new published file with the fresh reminder tables (atomic rename)."""
    context = FlowRunContext.get()
    run_id = str(context.flow_run.id) if context and context.flow_run else f"reminders-{at}"
    return publish_snapshot(
        settings.warehouse_path,
        settings.published_file(),
        flow="payment_reminders",
        run_id=run_id,
        as_of=at.isoformat(),
    )


def settings_for_run(data_dir: str | None) -> Settings:
    """Settings from the environment with this run's data directory, paths made absolute."""
    overrides: dict[str, object] = {}
    if data_dir is not None:
        overrides["data_dir"] = Path(data_dir)
    return Settings(**overrides).resolved()  # type: ignore[arg-type]


@flow(name="payment_reminders", log_prints=True)
def payment_reminders(
    data_dir: str | None = None, at: dt.datetime | None = None
) -> PaymentRemindersResult:
    """Decide every order pending at ``at`` (default now; naive means UTC).

    Unset parameters come from the ``WINBACK_*`` and ``WINBACK_REMINDER_*`` settings.
    """
    settings = settings_for_run(data_dir)
    reminder_settings = ReminderSettings()
    at = utc_naive(at)
    with run_lock(settings.warehouse_path, "payment_reminders", settings.lock_timeout_seconds):
        load = load_raw(settings, at.date())
        decide(settings, reminder_settings, at)
        decisions = render(settings, reminder_settings)
        counts = publish(settings, decisions, at)
        snapshot = publish_for_analysts(settings, at)
    summary = pipeline.summarise(decisions, at)
    create_markdown_artifact(
        key="payment-reminders",
        markdown=summary.to_markdown()
        + f"\n\n- ledger: {counts.ledger_scheduled:,} newly scheduled, "
        f"{counts.ledger_cancelled:,} cancelled\n- rows quarantined: {load.rows_quarantined:,}"
        f"\n- published for analysts: `{snapshot.published_path}`",
        description="Payment reminder decisions",
    )
    return PaymentRemindersResult(at, load, summary, counts, settings.warehouse_path, snapshot)
