"""Fixtures for the reminder tests: real ingestion and real dbt on small shops."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest

from tests.shops import settings_for
from winback.config import ReminderSettings, Settings
from winback.ingest import load_data_dir
from winback.reminders.ledger import read_decisions
from winback.reminders.pipeline import DecisionSummary, run_once
from winback.warehouse import connect


@dataclass
class ReminderRun:
    """One decided run: the decisions model and the published tables."""

    settings: Settings
    summary: DecisionSummary
    decisions: pd.DataFrame
    reminders: pd.DataFrame
    skips: pd.DataFrame
    ledger: pd.DataFrame

    def decision(self, order_id: str) -> pd.Series:
        return self.decisions.set_index("order_id").loc[order_id]


def read_run(settings: Settings, summary: DecisionSummary) -> ReminderRun:
    """Read everything a run published."""
    decisions = read_decisions(settings.warehouse)
    # Same configuration as dbt's in-process connection (DuckDB refuses a read-only one).
    with connect(settings.warehouse) as con:
        reminders = con.execute("select * from marts.payment_reminders order by order_id").df()
        skips = con.execute("select * from marts.payment_reminder_skips order by order_id").df()
        ledger = con.execute("select * from reminders.reminder_ledger order by order_id").df()
    return ReminderRun(settings, summary, decisions, reminders, skips, ledger)


def decide_shop(
    data_dir: Path,
    warehouse: Path,
    at: dt.datetime,
    reminder_settings: ReminderSettings | None = None,
    *,
    load: bool = True,
) -> ReminderRun:
    """Load ``data_dir`` for ``at``'s day (unless already loaded) and decide at ``at``."""
    settings = settings_for(
        warehouse, data_dir=data_dir, reminders=reminder_settings or ReminderSettings()
    )
    if load:
        load_data_dir(settings.warehouse.path, settings.data_dir, at.date())
    summary, _ = run_once(settings, at)
    return read_run(settings, summary)


@pytest.fixture(scope="session")
def decide() -> Callable[..., ReminderRun]:
    """The ``decide_shop`` helper as a fixture."""
    return decide_shop
