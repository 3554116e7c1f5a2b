"""Reminder texts from Jinja2 templates (R20, R21).

Templates live in ``templates/<language>/<customer_type>__<style_family>.j2``; dbt picks
the template id from the customer type at order time (R20) and the style of the
basket's main product (R21). Every text helps the customer finish the purchase; none
pressures them (tests check the rendered texts for pressure words).
"""

from __future__ import annotations

from decimal import Decimal
from functools import cache
from numbers import Real
from pathlib import Path

import jinja2
import pandas as pd

from winback.config import ReminderSettings, ShopSettings

TEMPLATE_DIR = Path(__file__).parent / "templates"
LANGUAGES = ("zh", "en")
CUSTOMER_TYPES = ("new", "second_time", "loyal")
STYLE_FAMILIES = ("playful", "premium", "practical", "general")


@cache
def environment(directory: Path = TEMPLATE_DIR) -> jinja2.Environment:
    """One Jinja2 environment per template folder (the reminders' by default; the
    win-back messages' in ``winback.exports.render``): undefined variables fail loudly,
    texts are plain."""
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(directory),
        undefined=jinja2.StrictUndefined,
        autoescape=False,
        lstrip_blocks=True,
        keep_trailing_newline=False,
    )


def template_path(language: str, template_id: str) -> str:
    """The template file of one language and template id (``new__playful``)."""
    return f"{language}/{template_id}.j2"


def present(value: object) -> object | None:
    """None for SQL nulls that arrive as NaN/NaT/NA in pandas."""
    if value is None:
        return None
    try:
        return None if pd.isna(value) else value
    except (TypeError, ValueError):  # lists and other non-scalars are present
        return value


def _local_hhmm(value: object, timezone: str) -> str | None:
    value = present(value)
    if value is None:
        return None
    local = pd.Timestamp(value).tz_localize("UTC").tz_convert(timezone)
    return local.strftime("%H:%M")


def _amount(value: object) -> float:
    """An order amount as it arrives from the decisions frame (a float, or a Decimal)."""
    if not isinstance(value, Real | Decimal):
        raise TypeError(f"order amount {value!r} is not a number")
    return float(value)


def reminder_context(
    row: dict[str, object], settings: ReminderSettings, shop: ShopSettings | None = None
) -> dict[str, object]:
    """Template variables for one decided reminder (a row of the decisions model)."""
    shop = shop or ShopSettings()
    member_tier = present(row.get("member_tier"))
    return {
        "shop_name": shop.name,
        "order_id": row["order_id"],
        "amount": f"{shop.currency_symbol}{_amount(row['amount']):,.2f}",
        "product_category": present(row.get("product_category")),
        "customer_type": row["customer_type"],
        "member_tier": None if member_tier is None else str(member_tier),
        "promotion_text": settings.promotion_text if settings.promotion_available else "",
        "ship_cutoff_local": present(row.get("ship_cutoff_local")),
        # Deadlines are shown in the customer's own time.
        "deadline_local": _local_hhmm(row.get("deadline_at"), str(row["customer_timezone"])),
        "channel": row["channel"],
    }


def render_reminder(language: str, template_id: str, context: dict[str, object]) -> str:
    """Render one reminder text: one line per sentence group, empty lines dropped."""
    text = environment().get_template(template_path(language, template_id)).render(**context)
    lines = [" ".join(line.split()) for line in text.strip().splitlines()]
    return "\n".join(line for line in lines if line)


def render_reminders(
    decisions: pd.DataFrame, settings: ReminderSettings, shop: ShopSettings | None = None
) -> pd.Series:
    """Texts for every ``remind`` row, aligned with ``decisions``' index.

    A reminder kept from the ledger keeps the text it was scheduled with (idempotence).
    """
    texts: dict[object, str] = {}
    reminders = decisions[decisions["decision"] == "remind"]
    for index, row in zip(reminders.index, reminders.to_dict("records"), strict=True):
        kept = row.get("ledger_rendered_text")
        if isinstance(kept, str) and kept:
            texts[index] = kept
            continue
        texts[index] = render_reminder(
            str(row["language"]),
            str(row["template_id"]),
            reminder_context(row, settings, shop),
        )
    return pd.Series(texts, dtype="object").reindex(decisions.index)
