"""Settings of the payment reminders (environment prefix ``WINBACK_REMINDER_``).

List fields take JSON in the environment, e.g. ``WINBACK_REMINDER_CUTOFF_HOURS='[10, 16]'``.
"""

from __future__ import annotations

import datetime as dt
from typing import Self
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class ReminderSettings(BaseSettings):
    """How and when payment reminders go out (R15–R21)."""

    model_config = SettingsConfigDict(
        env_prefix="WINBACK_REMINDER_", env_file=".env", extra="ignore"
    )

    shop_timezone: str = Field(
        "Asia/Shanghai",
        description="IANA time zone of the shop: cut-off hours and 'the same day' (R15) use it; "
        "customers without a (valid) time zone are assumed to live in it.",
    )
    cutoff_hours: list[int] = Field(
        default_factory=lambda: [11, 17],
        description="Shipping cut-off hours, shop time (R18). Reminders go in the window before each.",
    )
    window_minutes: int = Field(
        60,
        ge=5,
        le=600,
        description="Length of the reminder window before each cut-off, minutes (R18).",
    )
    continuous_shipping: bool = Field(
        False,
        description="The shop ships continuously: remind some hours after the order instead of "
        "before cut-offs (R18).",
    )
    continuous_delay_min_hours: float = Field(
        2, ge=0, description="Continuous shipping: earliest reminder, hours after the order (R18)."
    )
    continuous_delay_max_hours: float = Field(
        3, gt=0, description="Continuous shipping: latest reminder, hours after the order (R18)."
    )
    min_order_age_minutes: int = Field(
        30,
        ge=0,
        description="Leave the customer this long to pay on their own before a normal reminder.",
    )
    night_start_hour: int = Field(
        21, ge=1, le=24, description="Customer-local hour the night starts: no reminder from it."
    )
    night_end_hour: int = Field(
        8, ge=0, le=23, description="Customer-local hour the night ends: reminders resume."
    )
    deadline_lead_minutes: int = Field(
        15,
        ge=1,
        description="A reminder comes at least this long before an order's payment deadline (R19).",
    )
    flash_remind_after_minutes: int = Field(
        10, ge=0, description="Flash-sale orders: remind this long after the order (R19)."
    )
    flash_close_minutes: int = Field(
        30,
        ge=1,
        description="Flash-sale orders without pay_deadline_ts close this long after the order (R19).",
    )
    max_order_age_hours: int = Field(
        72, ge=1, description="Orders pending longer than this are not reminded any more."
    )
    horizon_days: int = Field(
        3, ge=1, le=14, description="Shop days ahead in which a cut-off window is looked for (R18)."
    )
    promotion_available: bool = Field(
        False,
        description="A promotion runs that a second-time buyer can be offered (R20); without it "
        "only customers with a member tier are reminded on their second purchase.",
    )
    promotion_text: str = Field(
        "",
        description="How the running promotion is described in reminder texts (R20), "
        "e.g. '满199减20' / '10% off over ¥199'.",
    )
    shop_name: str = Field("Winback Shop", description="Shop name used in the reminder texts.")
    currency_symbol: str = Field("¥", description="Currency symbol in the reminder texts.")
    zh_timezones: list[str] = Field(
        default_factory=lambda: [
            "Asia/Shanghai",
            "Asia/Chongqing",
            "Asia/Harbin",
            "Asia/Urumqi",
            "Asia/Hong_Kong",
            "Asia/Macau",
            "Asia/Taipei",
            "PRC",
            "Asia/Singapore",
        ],
        description="Customers in these time zones get Chinese texts, everyone else English "
        "(the contract has no language column).",
    )

    @field_validator("shop_timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value

    @field_validator("cutoff_hours")
    @classmethod
    def _hours(cls, value: list[int]) -> list[int]:
        if not value or any(not 0 < h <= 24 for h in value):
            raise ValueError("cut-off hours must be 1..24 and at least one")
        return sorted(set(value))

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.night_end_hour >= self.night_start_hour:
            raise ValueError(
                "night_end_hour must come before night_start_hour (night spans midnight)"
            )
        if self.continuous_delay_min_hours >= self.continuous_delay_max_hours:
            raise ValueError("continuous_delay_min_hours must be below continuous_delay_max_hours")
        return self

    def dbt_vars(self, at: dt.datetime) -> dict[str, object]:
        """The dbt vars of ``models/reminders`` for a run at ``at`` (naive UTC)."""
        return {
            "reminder_at": at.strftime("%Y-%m-%d %H:%M:%S"),
            "reminder_shop_timezone": self.shop_timezone,
            "reminder_cutoff_hours": self.cutoff_hours,
            "reminder_window_minutes": self.window_minutes,
            "reminder_continuous_shipping": self.continuous_shipping,
            "reminder_continuous_delay_min_hours": self.continuous_delay_min_hours,
            "reminder_continuous_delay_max_hours": self.continuous_delay_max_hours,
            "reminder_min_order_age_minutes": self.min_order_age_minutes,
            "reminder_night_start_hour": self.night_start_hour,
            "reminder_night_end_hour": self.night_end_hour,
            "reminder_deadline_lead_minutes": self.deadline_lead_minutes,
            "reminder_flash_remind_after_minutes": self.flash_remind_after_minutes,
            "reminder_flash_close_minutes": self.flash_close_minutes,
            "reminder_max_order_age_hours": self.max_order_age_hours,
            "reminder_horizon_days": self.horizon_days,
            "reminder_promotion_available": self.promotion_available,
            "reminder_zh_timezones": self.zh_timezones,
        }


def utc_naive(at: dt.datetime | None) -> dt.datetime:
    """``at`` as a naive UTC timestamp to the second (now when None; naive means UTC)."""
    if at is None:
        at = dt.datetime.now(dt.UTC)
    if at.tzinfo is not None:
        at = at.astimezone(dt.UTC).replace(tzinfo=None)
    return at.replace(microsecond=0)
