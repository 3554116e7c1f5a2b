"""The steps of one payment-reminder run, as plain functions the flow orchestrates.

decide (dbt: rules R15–R20 in SQL) → render (Jinja2 texts, R21) → record (texts and
ledger, one transaction) → build the published tables (dbt) → summarise. Nothing here
imports Prefect.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import pandas as pd

from winback.config import Settings
from winback.reminders import ledger
from winback.reminders.render import render_reminders
from winback.transform import SCHEDULED_RUN_EXCLUDES, run_dbt

# dbt's unit tests (transform.SCHEDULED_RUN_EXCLUDES) run in the test suite
# (tests/reminders/test_flow.py), not every 15 minutes (they were ~1.4 s of each scheduled
# run over 100k pending orders).
# Decide: every reminder rule, from the staged shop tables and the ledger.
DECIDE = ["build", "--select", "+int_payment_reminders_decided", *SCHEDULED_RUN_EXCLUDES]
# After the texts and the ledger are written: the ledger and texts staged again, and the
# published tables (marts/reminders) with their contracts and tests.
PUBLISH = [
    "build",
    "--select",
    "path:models/staging/reminders",
    "path:models/marts/reminders",
    *SCHEDULED_RUN_EXCLUDES,
]
UNIT_TESTS = ["test", "--select", "test_type:unit,tag:reminders"]


@dataclass
class DecisionSummary:
    """Counts of one run's decisions, for the artifact, the CLI and tests."""

    at: dt.datetime
    pending_orders: int
    reminders: int
    skips_by_reason: dict[str, int] = field(default_factory=dict)
    reminders_by_type: dict[str, int] = field(default_factory=dict)
    reminders_by_channel: dict[str, int] = field(default_factory=dict)

    def to_markdown(self) -> str:
        """The run's summary as the Prefect artifact shows it."""
        lines = [
            f"## Payment reminders at {self.at:%Y-%m-%d %H:%M} UTC",
            "",
            f"- pending orders decided: {self.pending_orders:,}",
            f"- reminders scheduled: {self.reminders:,}",
            f"- skipped: {sum(self.skips_by_reason.values()):,}",
            "",
            "| decision | reason | orders |",
            "|---|---|---:|",
            f"| remind | | {self.reminders:,} |",
        ]
        lines += [f"| skip | {r} | {n:,} |" for r, n in self.skips_by_reason.items()]
        if self.reminders_by_type:
            lines += ["", "| customer type | reminders |", "|---|---:|"]
            lines += [f"| {t} | {n:,} |" for t, n in self.reminders_by_type.items()]
        if self.reminders_by_channel:
            lines += ["", "| channel | reminders |", "|---|---:|"]
            lines += [f"| {c} | {n:,} |" for c, n in self.reminders_by_channel.items()]
        lines += [
            "",
            "Tables: `marts.payment_reminders`, `marts.payment_reminder_skips`, "
            "`marts.payment_reminder_outcomes`; ledger `reminders.reminder_ledger`.",
        ]
        return "\n".join(lines)


def decide(settings: Settings, at: dt.datetime) -> int:
    """Build the reminder decisions (and their tests) for a run at ``at``; node count."""
    return len(run_dbt(DECIDE, settings, at.date(), reminder_at=at))


def render(decisions: pd.DataFrame, settings: Settings) -> pd.DataFrame:
    """The decisions with a ``rendered_text`` column (null for skips)."""
    out = decisions.copy()
    out["rendered_text"] = render_reminders(decisions, settings.reminders, settings.shop)
    return out


def record(settings: Settings, decisions: pd.DataFrame, at: dt.datetime) -> ledger.PublishCounts:
    """Texts and ledger in one transaction, then the published tables built by dbt."""
    counts = ledger.publish(settings.warehouse, decisions, at)
    run_dbt(PUBLISH, settings, at.date(), reminder_at=at)
    return counts


def summarise(decisions: pd.DataFrame, at: dt.datetime) -> DecisionSummary:
    """Counts per decision, skip reason, customer type and channel."""
    reminders = decisions[decisions["decision"] == "remind"]
    skips = decisions[decisions["decision"] == "skip"]

    def counts(series: pd.Series) -> dict[str, int]:
        return {str(k): int(v) for k, v in series.value_counts().sort_index().items()}

    return DecisionSummary(
        at=at,
        pending_orders=len(decisions),
        reminders=len(reminders),
        skips_by_reason=counts(skips["rule_id"].fillna("") + " " + skips["reason_code"]),
        reminders_by_type=counts(reminders["customer_type"]),
        reminders_by_channel=counts(reminders["channel"]),
    )


def run_once(settings: Settings, at: dt.datetime) -> tuple[DecisionSummary, ledger.PublishCounts]:
    """decide → render → record for raw data already loaded (tests, benchmark)."""
    decide(settings, at)
    decisions = render(ledger.read_decisions(settings.warehouse), settings)
    counts = record(settings, decisions, at)
    return summarise(decisions, at), counts


def utc_naive(at: dt.datetime | None) -> dt.datetime:
    """``at`` as a naive UTC timestamp to the second (now when None; naive means UTC)."""
    if at is None:
        at = dt.datetime.now(dt.UTC)
    if at.tzinfo is not None:
        at = at.astimezone(dt.UTC).replace(tzinfo=None)
    return at.replace(microsecond=0)
