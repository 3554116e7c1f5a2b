"""The steps of one payment-reminder run, as plain functions the flow orchestrates.

decide (dbt: rules R15–R20 in SQL) → render (Jinja2 texts, R21) → publish (one
transaction) → summarise. Nothing here imports Prefect.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import pandas as pd

from winback.config import Settings
from winback.reminders import ledger
from winback.reminders.render import render_reminders
from winback.reminders.settings import ReminderSettings
from winback.transform import run_dbt

DBT_SELECTOR = "+tag:reminders"
# dbt's unit tests check the reminder models' SQL, not the data: they run in the test
# suite (tests/reminders/test_flow.py) and on every nightly feature build, not every
# 15 minutes (they were ~1.4 s of each scheduled run over 100k pending orders).
SCHEDULED_RUN_EXCLUDES = ["--exclude-resource-type", "unit_test"]
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


def decide(settings: Settings, reminder_settings: ReminderSettings, at: dt.datetime) -> int:
    """Build the reminder models (and their tests) for a run at ``at``; return node count."""
    ledger.ensure_ledger(settings.warehouse_path)
    nodes = run_dbt(
        ["build", "--select", DBT_SELECTOR, *SCHEDULED_RUN_EXCLUDES],
        settings,
        at.date(),
        extra_vars=reminder_settings.dbt_vars(at),
    )
    return len(nodes)


def render(decisions: pd.DataFrame, reminder_settings: ReminderSettings) -> pd.DataFrame:
    """The decisions with a ``rendered_text`` column (null for skips)."""
    out = decisions.copy()
    out["rendered_text"] = render_reminders(decisions, reminder_settings)
    return out


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


def run_once(
    settings: Settings, reminder_settings: ReminderSettings, at: dt.datetime
) -> tuple[DecisionSummary, ledger.PublishCounts]:
    """decide → render → publish for raw data already loaded (tests, benchmark)."""
    decide(settings, reminder_settings, at)
    decisions = render(ledger.read_decisions(settings.warehouse_path), reminder_settings)
    counts = ledger.publish(settings.warehouse_path, decisions, at)
    return summarise(decisions, at), counts
