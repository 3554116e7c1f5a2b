"""R21: every template renders in both languages, for every customer type and style,
and none of them pressures the customer."""

from __future__ import annotations

import itertools
import re

import pandas as pd
import pytest

from winback.config import ReminderSettings
from winback.reminders.render import (
    CUSTOMER_TYPES,
    LANGUAGES,
    STYLE_FAMILIES,
    TEMPLATE_DIR,
    reminder_context,
    render_reminder,
)

PRESSURE = re.compile(
    r"赶紧|赶快|马上|立即|立刻|抓紧|最后机会|错过|仅剩|再不|限时|催|"
    r"hurry|last chance|act now|immediately|don't miss|expire|only \d+ left|urgent|!|！",
    re.IGNORECASE,
)


def context(**overrides: object) -> dict[str, object]:
    row: dict[str, object] = {
        "order_id": "O1",
        "amount": 128.0,
        "customer_type": "new",
        "member_tier": "gold",
        "product_category": "plush toys",
        "ship_cutoff_local": "17:00",
        "deadline_at": pd.Timestamp("2026-06-30 01:50"),
        "customer_timezone": "Asia/Shanghai",
        "channel": "chat",
    }
    row.update(overrides)
    return reminder_context(
        row, ReminderSettings(promotion_available=True, promotion_text="满199减20")
    )


@pytest.mark.parametrize(
    ("language", "customer_type", "style"),
    list(itertools.product(LANGUAGES, CUSTOMER_TYPES, STYLE_FAMILIES)),
)
def test_r21_every_template_renders_without_pressure(
    language: str, customer_type: str, style: str
) -> None:
    assert (TEMPLATE_DIR / language / f"{customer_type}__{style}.j2").is_file()
    for channel in ("chat", "phone", "sms"):
        text = render_reminder(
            language,
            f"{customer_type}__{style}",
            context(customer_type=customer_type, channel=channel),
        )
        assert "O1" in text and "128.00" in text
        assert "None" not in text and "nan" not in text.lower()
        assert not PRESSURE.search(text), text


def test_r20_texts_follow_the_customer_type() -> None:
    new = render_reminder("en", "new__general", context())
    assert "help" in new  # help first for new customers
    second = render_reminder("zh", "second_time__general", context(customer_type="second_time"))
    assert "gold会员" in second and "满199减20" in second  # privilege or promotion
    loyal = render_reminder("en", "loyal__general", context(customer_type="loyal"))
    assert "member benefits" in loyal and "plush toys" in loyal  # status + recommendations


def test_missing_optional_values_render_cleanly() -> None:
    text = render_reminder(
        "zh",
        "loyal__practical",
        context(
            member_tier=float("nan"),
            product_category=None,
            ship_cutoff_local=float("nan"),
            deadline_at=pd.NaT,
        ),
    )
    assert "nan" not in text.lower() and "None" not in text
    assert "保留到" not in text and "前完成支付" not in text
