"""One test per reminder rule (R15–R21, consent, at most once) on hand-made shops that
go through real ingestion and real dbt (``scenarios.py`` names a customer per case)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest

from tests.reminders import scenarios
from tests.reminders.conftest import ReminderRun
from winback.config import ReminderSettings

Decide = Callable[..., ReminderRun]


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory, decide: Decide) -> ReminderRun:
    root = tmp_path_factory.mktemp("rules")
    return decide(scenarios.rule_shop(root / "shop"), root / "wh.duckdb", scenarios.AT)


@pytest.fixture(scope="module")
def continuous_run(tmp_path_factory: pytest.TempPathFactory, decide: Decide) -> ReminderRun:
    root = tmp_path_factory.mktemp("continuous")
    settings = ReminderSettings(
        continuous_shipping=True, continuous_delay_min_hours=2, continuous_delay_max_hours=4
    )
    return decide(
        scenarios.continuous_shop(root / "shop"),
        root / "wh.duckdb",
        scenarios.CONTINUOUS_AT,
        settings,
    )


def skipped(run: ReminderRun, order_id: str, reason: str, rule: str) -> None:
    row = run.decision(order_id)
    assert (row["decision"], row["reason_code"], row["rule_id"]) == ("skip", reason, rule)
    assert order_id in set(run.skips["order_id"])
    assert order_id not in set(run.reminders["order_id"])


def reminded(run: ReminderRun, order_id: str) -> pd.Series:
    row = run.reminders.set_index("order_id").loc[order_id]
    assert run.decision(order_id)["decision"] == "remind"
    return row


def at(text: str) -> pd.Timestamp:
    return pd.Timestamp(text)


def test_every_pending_order_is_reminded_or_skipped_once(run: ReminderRun) -> None:
    decided = set(run.reminders["order_id"]) | set(run.skips["order_id"])
    assert len(decided) == len(run.reminders) + len(run.skips) == len(run.decisions)
    assert "O_after_at" not in decided  # placed after --at the same day: invisible
    assert not set(run.reminders["order_id"]) & set(run.skips["order_id"])


def test_r15_another_order_paid_the_same_shop_day_skips(run: ReminderRun) -> None:
    skipped(run, "O_r15", "paid_same_day", "R15")
    skipped(run, "O_r15_tz", "paid_same_day", "R15")  # 18:00Z the day before = same Shanghai day
    reminded(run, "O_r15_prev")  # paid the previous shop day: not R15


def test_r16_only_the_latest_unpaid_order_is_reminded(run: ReminderRun) -> None:
    skipped(run, "O_r16_a", "newer_unpaid_order", "R16")
    skipped(run, "O_r16_b", "newer_unpaid_order", "R16")
    reminded(run, "O_r16_c")
    skipped(run, "O_r16_paid", "newer_order_paid", "R16")


def test_r17_distribution_orders_are_skipped(run: ReminderRun) -> None:
    skipped(run, "O_r17", "distribution_order", "R17")


def test_r18_reminder_in_the_window_before_the_next_cutoff(run: ReminderRun) -> None:
    new = reminded(run, "O_new")
    assert new["remind_at"] == at("2026-06-30 02:00")  # 10:00 Shanghai, before the 11:00 cut-off
    assert new["timing_rule"] == "shipping_cutoff"
    assert "11:00" in new["rendered_text"]


def test_r18_never_at_night_in_the_customers_time_zone(run: ReminderRun) -> None:
    london = reminded(run, "O_london")
    assert london["remind_at"] == at("2026-06-30 08:00")  # 02:00Z is 03:00 in London
    assert london["remind_at_local"] == at("2026-06-30 09:00")
    kolkata = reminded(run, "O_kolkata")
    assert kolkata["remind_at"] == at("2026-06-30 02:30")  # 08:00 IST, inside the window
    skipped(run, "O_new_york", "no_daytime_window", "R18")  # both windows at night there


def test_r18_continuous_shipping_preferred_hour_and_next_morning(
    continuous_run: ReminderRun,
) -> None:
    assert reminded(continuous_run, "K_plain")["remind_at"] == at("2026-06-30 06:30")
    assert reminded(continuous_run, "K_pref")["remind_at"] == at("2026-06-30 08:00")
    assert reminded(continuous_run, "K_pref_night")["remind_at"] == at("2026-06-30 06:30")
    night = reminded(continuous_run, "K_night")
    assert night["timing_rule"] == "next_morning"
    assert night["remind_at_local"] == at("2026-06-30 08:00")  # Los Angeles morning


def test_r18_orders_pending_too_long_are_not_reminded(run: ReminderRun) -> None:
    skipped(run, "O_stale", "order_too_old", "R18")


def test_r19_flash_sale_reminded_early_and_passed_deadlines_never(run: ReminderRun) -> None:
    flash = reminded(run, "O_r19_flash")
    assert flash["remind_at"] == at("2026-06-30 01:30")  # at once, before the 02:00Z window
    assert flash["remind_at"] < flash["pay_deadline_at"]
    implicit = reminded(run, "O_r19_implicit")  # no deadline given: closes 30 min after
    assert implicit["remind_at"] == at("2026-06-30 01:35")
    assert implicit["pay_deadline_at"] == at("2026-06-30 01:55")
    deadline = reminded(run, "O_r19_deadline")
    assert deadline["remind_at"] == at("2026-06-30 01:35")  # 15 min before it closes
    assert deadline["timing_rule"] == "payment_deadline"
    skipped(run, "O_r19_passed", "deadline_passed", "R19")


def test_r20_customer_type_decides_channel_and_whether_to_remind(run: ReminderRun) -> None:
    new = reminded(run, "O_new")
    assert (new["customer_type"], new["channel"]) == ("new", "chat")  # help first
    assert reminded(run, "O_new_phone")["channel"] == "phone"
    skipped(run, "O_r20_second", "second_purchase_without_offer", "R20")
    gold = reminded(run, "O_r20_second_gold")
    assert gold["customer_type"] == "second_time"
    assert "gold" in gold["rendered_text"]
    loyal = reminded(run, "O_r20_loyal_premium")
    assert (loyal["customer_type"], loyal["channel"]) == ("loyal", "sms")  # preferred channel
    # A purchase paid only after --at does not count yet: still a new customer.
    assert reminded(run, "O_r20_pit")["customer_type"] == "new"


def test_r20_promotion_lets_second_time_buyers_be_reminded(tmp_path: Path, decide: Decide) -> None:
    settings = ReminderSettings(promotion_available=True, promotion_text="满199减20")
    promo = decide(
        scenarios.rule_shop(tmp_path / "shop"), tmp_path / "wh.duckdb", scenarios.AT, settings
    )
    row = reminded(promo, "O_r20_second")
    assert "满199减20" in row["rendered_text"]


def test_r21_template_by_customer_type_style_and_language(run: ReminderRun) -> None:
    new = reminded(run, "O_new")
    assert (new["template_id"], new["language"]) == ("new__playful", "zh")
    assert "小可爱" in new["rendered_text"]  # playful tone for a cute product
    loyal = reminded(run, "O_r20_loyal_premium")
    assert loyal["template_id"] == "loyal__premium"
    assert "精心包装" in loyal["rendered_text"]
    london = reminded(run, "O_london")
    assert london["language"] == "en"
    assert "little friend" in london["rendered_text"]


def test_consent_and_do_not_contact_are_respected(run: ReminderRun) -> None:
    skipped(run, "O_dnc", "do_not_contact", "consent")
    skipped(run, "O_no_consent", "no_consented_channel", "consent")


def test_reminded_at_most_once_and_reruns_change_nothing(tmp_path: Path, decide: Decide) -> None:
    data = scenarios.rule_shop(tmp_path / "shop")
    first = decide(data, tmp_path / "wh.duckdb", scenarios.AT)
    again = decide(data, tmp_path / "wh.duckdb", scenarios.AT)
    pd.testing.assert_frame_equal(again.reminders, first.reminders)
    pd.testing.assert_frame_equal(again.skips, first.skips)
    pd.testing.assert_frame_equal(again.ledger, first.ledger)

    # Later the same day: what was due has been sent and is never reminded again.
    later = decide(data, tmp_path / "wh.duckdb", scenarios.AT + dt.timedelta(hours=1))
    sent = first.reminders[
        first.reminders["remind_at"] <= pd.Timestamp(scenarios.AT + dt.timedelta(hours=1))
    ]
    assert len(sent) > 5
    assert not set(sent["order_id"]) & set(later.reminders["order_id"])
    assert set(sent["order_id"]) <= set(
        later.skips.query("reason_code == 'already_reminded'")["order_id"]
    )
    assert later.ledger["order_id"].is_unique
    assert len(later.ledger) == len(first.ledger)


def test_scheduled_reminder_is_cancelled_when_a_rule_now_says_skip(
    tmp_path: Path, decide: Decide
) -> None:
    data = scenarios.rule_shop(tmp_path / "shop")
    first = decide(data, tmp_path / "wh.duckdb", scenarios.AT)
    assert reminded(first, "O_new")["remind_at"] == at("2026-06-30 02:00")
    # Before 02:00Z the customer pays another order: R15 now applies.
    orders = pd.read_csv(data / "orders.csv")
    extra = scenarios.paid("O_new_repaid", "c_new", "2026-06-30T01:40:00Z")
    pd.concat([orders, pd.DataFrame([extra])]).to_csv(data / "orders.csv", index=False)
    later = decide(data, tmp_path / "wh.duckdb", dt.datetime(2026, 6, 30, 1, 45))
    skipped(later, "O_new", "paid_same_day", "R15")
    row = later.ledger.set_index("order_id").loc["O_new"]
    assert (row["status"], row["cancel_reason"]) == ("cancelled", "paid_same_day")
