"""Deployments and schedules, in one place: the nightly flow, payment reminders and the
unscheduled backfill (start it from the UI or `prefect deployment run backfill/backfill`).

python -m winback.flows.serve      # (make serve) serves both against PREFECT_API_URL
"""

from __future__ import annotations

from typing import cast

from prefect import serve
from prefect.deployments.runner import RunnerDeployment
from prefect.schedules import Cron

from winback.config import Settings, load_settings
from winback.flows.backfill import backfill
from winback.flows.nightly import nightly
from winback.flows.payment_reminders import payment_reminders


def deployments(settings: Settings | None = None) -> list[RunnerDeployment]:
    """The nightly chain (default 02:00 shop time), payment reminders (every 15 min) and
    the backfill (run on demand); schedules from ``settings.schedule`` in the shop's
    time zone ``settings.shop.timezone``."""
    settings = settings or load_settings()
    timezone = settings.shop.timezone
    # Prefect's to_deployment is sync-compatible: called outside an event loop, as here,
    # it returns the deployment itself, not a coroutine (its annotation says either).
    deployments = [
        nightly.to_deployment(
            name="nightly",
            schedules=[Cron(settings.schedule.nightly_cron, timezone=timezone)],
            description="Load, dbt build, validate, train, score and publish the win-back tables.",
            tags=["winback", "nightly"],
        ),
        payment_reminders.to_deployment(
            name="payment-reminders",
            schedules=[Cron(settings.schedule.reminders_cron, timezone=timezone)],
            description="Schedule or skip a reminder for every unpaid order (R15–R21).",
            tags=["winback", "reminders"],
        ),
        backfill.to_deployment(
            name="backfill",
            description="The nightly chain over a range of as-of dates (no schedule).",
            tags=["winback", "backfill"],
        ),
    ]
    return [cast(RunnerDeployment, d) for d in deployments]


def main() -> None:  # pragma: no cover - long-running process
    serve(*deployments())


if __name__ == "__main__":  # pragma: no cover
    main()
