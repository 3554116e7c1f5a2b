"""The shipped deployments carry the schedules the data team relies on."""

from __future__ import annotations

import pytest

from winback.config import Settings, ShopSettings
from winback.flows.serve import deployments


def test_nightly_at_two_and_reminders_every_fifteen_minutes_in_shop_time(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("WINBACK_SCHEDULE__NIGHTLY_CRON", raising=False)
    nightly, reminders, backfill = deployments(
        Settings(shop=ShopSettings(timezone="Europe/Berlin"))
    )
    assert backfill.name == "backfill" and not backfill.schedules
    assert nightly.name == "nightly" and reminders.name == "payment-reminders"
    (night,) = nightly.schedules
    (quarter,) = reminders.schedules
    assert night.schedule.cron == "0 2 * * *"
    assert quarter.schedule.cron == "*/15 * * * *"
    assert night.schedule.timezone == quarter.schedule.timezone == "Europe/Berlin"


def test_the_nightly_time_is_configurable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WINBACK_SCHEDULE__NIGHTLY_CRON", "30 3 * * *")
    nightly, *_ = deployments()
    assert nightly.schedules[0].schedule.cron == "30 3 * * *"
