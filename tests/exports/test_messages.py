"""Win-back messages (issue 17): every offer type of the shipped catalogue in both
languages, in the reminders' tone (R20/R21: help, never pressure)."""

from __future__ import annotations

import csv
import itertools
import re

import pandas as pd
import pytest

from tests.reminders.test_templates import PRESSURE
from winback.config import DBT_PROJECT_DIR, ShopSettings
from winback.exports.render import (
    LANGUAGES,
    message_context,
    offer_types_with_template,
    render_message,
    render_messages,
    template_for,
)

CATALOGUE = DBT_PROJECT_DIR / "seeds" / "winback" / "winback_offer_catalogue.csv"
CJK = re.compile(r"[\u4e00-\u9fff]")


def offers() -> list[dict[str, str]]:
    with CATALOGUE.open(encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def row(offer: dict[str, str], **overrides: object) -> dict[str, object]:
    base: dict[str, object] = {
        "channel": "email",
        "step": 1,
        "favourite_category": "tea",
        "member_tier": "gold",
        "offer_type": offer["offer_type"],
        "offer_description": offer["description"],
        "discount_depth": float(offer["discount_depth"]),
        "offer_valid_until": "2026-07-15",
    }
    return base | overrides


def test_every_offer_type_of_the_catalogue_has_its_own_template() -> None:
    for language in LANGUAGES:
        assert {o["offer_type"] for o in offers()} <= offer_types_with_template(language)


@pytest.mark.parametrize(
    ("language", "offer_code", "channel"),
    list(
        itertools.product(
            LANGUAGES, [o["offer_code"] for o in offers()], ["email", "sms", "phone", "visit"]
        )
    ),
)
def test_every_message_renders_in_its_language_without_pressure(
    language: str, offer_code: str, channel: str
) -> None:
    offer = next(o for o in offers() if o["offer_code"] == offer_code)
    text = render_message(
        language,
        offer["offer_type"],
        message_context(row(offer, channel=channel), ShopSettings(name="Tea House")),
    )
    assert not PRESSURE.search(text), text
    assert bool(CJK.search(text)) == (language == "zh"), text
    assert "Tea House" in text
    assert "\n\n" not in text and text == text.strip()
    depth = float(offer["discount_depth"])
    if depth:
        assert f"{round(depth * 100)}%" in text
    # The validity is said only where the offer gives something that could lapse.
    says_validity = "2026-07-15" in text
    assert says_validity == (offer["offer_type"] not in ("reminder", "new_arrivals"))
    if channel in ("email", "sms"):
        assert ("STOP" in text) or ("TD" in text)  # how to opt out, in every written message


def test_a_catalogue_offer_type_without_a_template_uses_its_own_description() -> None:
    offer = {"offer_type": "gift_card", "description": "A gift card for your next visit"}
    context = message_context(row({**offer, "discount_depth": "0"}), ShopSettings())
    assert template_for("en", "gift_card") == "en/_offer.j2"
    text = render_message("en", "gift_card", context)
    assert "A gift card for your next visit" in text and not PRESSURE.search(text)


def test_missing_category_and_tier_read_naturally() -> None:
    offer = next(o for o in offers() if o["offer_type"] == "member_privilege")
    context = message_context(
        row(offer, favourite_category=None, member_tier=float("nan")), ShopSettings()
    )
    text = render_message("en", "member_privilege", context)
    assert "one of our members" in text and "None" not in text and "nan" not in text


def test_a_plan_s_messages_are_each_contacts_own_rendered_once_per_context() -> None:
    """render_messages renders each distinct context once; every contact still gets the
    message its own row renders to, whichever field tells two contacts apart."""
    shop = ShopSettings(name="Tea House")
    catalogue = offers()
    base = [row(offer) | {"language": "en"} for offer in catalogue]
    variants = [
        {"language": "zh"},
        {"channel": "sms"},
        {"step": 2},
        {"favourite_category": "office_supplies"},
        {"member_tier": None},
        {"discount_depth": 0.3},
        {"offer_valid_until": "2026-08-01"},
        {"offer_description": "Something else"},
    ]
    rows = [*base, *base, *(r | change for r in base for change in variants)]
    plan = pd.DataFrame(rows, index=pd.RangeIndex(100, 100 + len(rows)))
    messages = render_messages(plan, shop)
    assert list(messages.index) == list(plan.index)
    for position, contact in enumerate(rows):
        own = render_message(
            str(contact["language"]),
            str(contact["offer_type"]),
            message_context(contact, shop),
        )
        assert messages.iloc[position] == own, contact
    assert messages.nunique() > len(base)  # the variants do change messages
