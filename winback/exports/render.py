"""Win-back messages from Jinja2 templates, per offer type and language (R8-R12 in the
tone of R20/R21: help, never pressure).

Templates live in ``templates/<language>/<offer_type>.j2``; an offer type the shop's
catalogue adds without a template gets ``_offer.j2`` (its own description).
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import pandas as pd

from winback.config import ShopSettings
from winback.reminders.render import environment, present

TEMPLATE_DIR = Path(__file__).parent / "templates"
LANGUAGES = ("zh", "en")
FALLBACK = "_offer"


@cache
def offer_types_with_template(language: str) -> frozenset[str]:
    return frozenset(
        p.stem for p in (TEMPLATE_DIR / language).glob("*.j2") if not p.stem.startswith("_")
    )


def template_for(language: str, offer_type: str | None) -> str:
    """The template file of one language and offer type (the fallback if it has none)."""
    name = offer_type if offer_type in offer_types_with_template(language) else FALLBACK
    return f"{language}/{name}.j2"


def message_context(row: dict[str, object], shop: ShopSettings) -> dict[str, object]:
    """Template variables for one planned contact (a row of marts.winback_contact_plan)."""
    depth = present(row.get("discount_depth"))
    valid_until = present(row.get("offer_valid_until"))
    offer_type = present(row.get("offer_type"))
    category = present(row.get("favourite_category"))
    return {
        "shop_name": shop.name,
        "channel": row["channel"],
        "step": row["step"],
        # Category codes read as words ("office_supplies" → "office supplies").
        "favourite_category": None if category is None else str(category).replace("_", " "),
        "member_tier": present(row.get("member_tier")),
        "offer_description": present(row.get("offer_description")) or "",
        "discount_pct": None if depth is None else round(float(depth) * 100),  # type: ignore[arg-type]
        "valid_until": None
        if valid_until is None
        else pd.Timestamp(valid_until).date().isoformat(),
        # A plain reminder or new arrivals offer nothing that could lapse.
        "step_offers_something": offer_type not in (None, "reminder", "new_arrivals"),
    }


def render_message(language: str, offer_type: str | None, context: dict[str, object]) -> str:
    """One message: one line per sentence group, empty lines dropped."""
    template = environment(TEMPLATE_DIR).get_template(template_for(language, offer_type))
    lines = [" ".join(line.split()) for line in template.render(**context).strip().splitlines()]
    return "\n".join(line for line in lines if line)


# The plan's columns a message is made of (:func:`message_context`, the template's name).
MESSAGE_COLUMNS = (
    "language",
    "offer_type",
    "channel",
    "step",
    "discount_depth",
    "offer_valid_until",
    "favourite_category",
    "member_tier",
    "offer_description",
)


def render_messages(plan: pd.DataFrame, shop: ShopSettings) -> pd.Series:
    """The message of every planned contact, aligned with ``plan``'s index. A message
    depends on its contact's language, offer type and template variables alone, and
    tens of thousands of contacts share a few hundred of those: each is rendered once."""
    rows = plan[[c for c in MESSAGE_COLUMNS if c in plan.columns]].to_dict("records")
    rendered: dict[tuple[object, ...], str] = {}
    texts = []
    for row in rows:
        language, offer_type = str(row["language"]), present(row.get("offer_type"))
        context = message_context(row, shop)
        key = (language, offer_type, *context.values())
        text = rendered.get(key)
        if text is None:
            text = rendered[key] = render_message(language, offer_type, context)  # type: ignore[arg-type]
        texts.append(text)
    return pd.Series(texts, index=plan.index, dtype="object")
