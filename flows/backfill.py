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
from prefect.states import State

from winback.flows.common import alert_on_failure, lock_or_skip, settings_for_run
from winback.flows.nightly import nightly
from winback.runs import NightlyResult


def as_of_dates(start: dt.date, end: dt.date, every_days: int = 1) -> list[dt.date]:
    """``start``, ``start + every_days`` … up to and including ``end``."""
    if every_days < 1:
        raise ValueError("every_days must be at least 1")
    if end < start:
        raise ValueError(f"the range ends ({end}) before it starts ({start})")
    count = (end - start).days // every_days + 1
    return [start + dt.timedelta(days=i * every_days) for i in range(count)]


@flow(
    name="backfill", log_prints=True, on_failure=[alert_on_failure], on_crashed=[alert_on_failure]
)
def backfill(
    start: dt.date,
    end: dt.date,
    every_days: int = 1,
    data_dir: str | None = None,
    horizon_days: int | None = None,
) -> list[NightlyResult] | State:
    """Run the nightly chain for every ``every_days``-th as-of date from ``start`` to
    ``end`` (inclusive). Unset parameters come from the settings. Turned away by another
    run's lock, it ends Completed, named Skipped."""
    dates = as_of_dates(start, end, every_days)
    settings = settings_for_run(data_dir, None, horizon_days)
    results: list[NightlyResult] = []
    with lock_or_skip(settings, "backfill") as skipped:
        if skipped is not None:
            return skipped
        for as_of in dates:
            # Past dates are rebuilt, not handed to senders: no export, no own history.
            # (The lock is held here, so the nightly runs are never skipped.)
            result = nightly(
                data_dir=data_dir, as_of=as_of, horizon_days=horizon_days, export=False
            )
            if isinstance(result, State):  # skipped: cannot happen under the held lock
                raise RuntimeError(f"the nightly run as of {as_of} did not run: {result}")
            results.append(result)
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
