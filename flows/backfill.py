"""The backfill flow: the nightly chain over a range of as-of dates, oldest first.

It holds the warehouse's run lock for the whole range (the nightly runs it starts take
the same lock re-entrantly), so no scheduled run slips in between two dates. Each date is
a nightly subflow run: it publishes for analysts at its end, so a backfill that fails on
a date leaves every earlier date published and the failed one not.
"""

from __future__ import annotations

import datetime as dt

from prefect import flow
from prefect.artifacts import create_table_artifact
from prefect.context import FlowRunContext

from winback.flows.common import settings_for_run
from winback.flows.nightly import nightly
from winback.locking import run_lock
from winback.runs import NightlyResult


def as_of_dates(start: dt.date, end: dt.date, every_days: int = 1) -> list[dt.date]:
    """``start``, ``start + every_days`` … up to and including ``end``."""
    if every_days < 1:
        raise ValueError("every_days must be at least 1")
    if end < start:
        raise ValueError(f"the range ends ({end}) before it starts ({start})")
    count = (end - start).days // every_days + 1
    return [start + dt.timedelta(days=i * every_days) for i in range(count)]


@flow(name="backfill", log_prints=True)
def backfill(
    start: dt.date,
    end: dt.date,
    every_days: int = 1,
    data_dir: str | None = None,
    horizon_days: int | None = None,
) -> list[NightlyResult]:
    """Run the nightly chain for every ``every_days``-th as-of date from ``start`` to
    ``end`` (inclusive). Unset parameters come from the settings."""
    dates = as_of_dates(start, end, every_days)
    settings = settings_for_run(data_dir, None, horizon_days)
    results: list[NightlyResult] = []
    with run_lock(settings.warehouse.path, "backfill", settings.warehouse.lock_timeout_seconds):
        for as_of in dates:
            # Past dates are rebuilt, not handed to senders: no export, no own history.
            results.append(
                nightly(data_dir=data_dir, as_of=as_of, horizon_days=horizon_days, export=False)
            )
    if FlowRunContext.get() is None:  # called as a plain function (tests)
        return results
    create_table_artifact(
        key="backfill-summary",
        table=[
            {
                "as_of": r.as_of.isoformat(),
                "customers_scored": r.scored_customers,
                "model_version": r.model_version,
                "psi_vs_previous": None if r.psi is None else round(r.psi, 4),
            }
            for r in results
        ],
        description=f"Backfill {start} … {end} every {every_days} day(s)",
    )
    return results
