"""Hand-made shops for the reminder rules: one customer per scenario, named for it.

The main shop is decided at ``AT`` = 2026-06-30 01:30 UTC (09:30 in the shop's
Asia/Shanghai), so the default cut-off windows are 10:00–11:00 (02:00Z) and
16:00–17:00 (08:00Z) shop time.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd

AT = dt.datetime(2026, 6, 30, 1, 30)
CONTINUOUS_AT = dt.datetime(2026, 6, 30, 5, 0)  # 13:00 shop time

ORDER_COLUMNS = [
    "order_id",
    "customer_id",
    "order_ts",
    "amount",
    "status",
    "paid_ts",
    "source",
    "flash_sale",
    "pay_deadline_ts",
]
CUSTOMER_COLUMNS = [
    "customer_id",
    "member_tier",
    "consent_email",
    "consent_sms",
    "consent_phone",
    "consent_push",
    "preferred_channel",
    "preferred_contact_hour",
    "do_not_contact",
    "timezone",
]


def order(
    order_id: str,
    customer_id: str,
    order_ts: str,
    *,
    status: str = "pending",
    paid_ts: str | None = None,
    source: str = "own",
    flash_sale: bool = False,
    deadline: str | None = None,
    amount: float = 99.0,
) -> dict[str, object]:
    """One orders.csv row (timestamps in UTC, ISO 8601 with Z)."""
    return {
        "order_id": order_id,
        "customer_id": customer_id,
        "order_ts": order_ts,
        "amount": amount,
        "status": status,
        "paid_ts": paid_ts,
        "source": source,
        "flash_sale": str(flash_sale).lower(),
        "pay_deadline_ts": deadline,
    }


def paid(order_id: str, customer_id: str, ts: str, paid_ts: str | None = None) -> dict[str, object]:
    """A paid order (paid when placed unless ``paid_ts`` says otherwise)."""
    return order(order_id, customer_id, ts, status="paid", paid_ts=paid_ts or ts)


def customer(
    customer_id: str,
    *,
    tier: str | None = None,
    email: bool = True,
    sms: bool = True,
    phone: bool = False,
    push: bool = True,
    preferred_channel: str | None = None,
    preferred_hour: int | None = None,
    dnc: bool = False,
    tz: str | None = "Asia/Shanghai",
) -> dict[str, object]:
    """One customers.csv row; consents to email, sms and push (chat) by default."""
    return {
        "customer_id": customer_id,
        "member_tier": tier,
        "consent_email": email,
        "consent_sms": sms,
        "consent_phone": phone,
        "consent_push": push,
        "preferred_channel": preferred_channel,
        "preferred_contact_hour": preferred_hour,
        "do_not_contact": dnc,
        "timezone": tz,
    }


def history(customer_id: str, n: int) -> list[dict[str, object]]:
    """``n`` paid orders in May, making the customer second-time (1) or loyal (2+)."""
    return [
        paid(f"H_{customer_id}_{i}", customer_id, f"2026-05-{i + 1:02d}T04:00:00Z")
        for i in range(n)
    ]


def write_shop(
    out_dir: Path, orders: list[dict[str, object]], customers: list[dict[str, object]]
) -> Path:
    """Write orders, customers, products and order_items (one cute item per pending order)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    frame = pd.DataFrame(orders, columns=ORDER_COLUMNS)
    frame.to_csv(out_dir / "orders.csv", index=False)
    pd.DataFrame(customers, columns=CUSTOMER_COLUMNS).to_csv(out_dir / "customers.csv", index=False)
    pd.DataFrame(
        [
            ("P_CUTE", "plush toys", "cute"),
            ("P_PREMIUM", "watches", "premium"),
            ("P_PLAIN", "kitchen", "practical"),
        ],
        columns=["product_id", "category", "style_tag"],
    ).to_csv(out_dir / "products.csv", index=False)
    items = [
        (
            o["order_id"],
            "P_PREMIUM" if "premium" in str(o["order_id"]) else "P_CUTE",
            1,
            o["amount"],
        )
        for o in orders
    ]
    pd.DataFrame(items, columns=["order_id", "product_id", "quantity", "unit_price"]).to_csv(
        out_dir / "order_items.csv", index=False
    )
    return out_dir


def rule_shop(out_dir: Path) -> Path:
    """The main scenario shop, decided at ``AT``."""
    orders = [
        # Plain new customer: reminded in the 10:00–11:00 window (02:00Z), by chat (R20).
        order("O_new", "c_new", "2026-06-30T00:30:00Z"),
        # New customer with phone consent only: help by phone (R20).
        order("O_new_phone", "c_new_phone", "2026-06-30T00:30:00Z"),
        # R15: another order paid the same shop day.
        order("O_r15", "c_r15", "2026-06-30T00:10:00Z"),
        paid("O_r15_paid", "c_r15", "2026-06-30T00:20:00Z", "2026-06-30T00:25:00Z"),
        # R15 in shop time: 29 June 18:00Z is already 30 June 02:00 in Shanghai.
        order("O_r15_tz", "c_r15_tz", "2026-06-30T00:10:00Z"),
        paid("O_r15_tz_paid", "c_r15_tz", "2026-06-29T18:00:00Z"),
        # Paid the previous shop day: not R15 (second-time buyer with a tier: reminded).
        order("O_r15_prev", "c_r15_prev", "2026-06-30T00:10:00Z"),
        paid("O_r15_prev_paid", "c_r15_prev", "2026-06-29T10:00:00Z"),
        # R16: three unpaid orders, only the latest is reminded.
        order("O_r16_a", "c_r16", "2026-06-30T00:05:00Z"),
        order("O_r16_b", "c_r16", "2026-06-30T00:40:00Z"),
        order("O_r16_c", "c_r16", "2026-06-30T00:50:00Z"),
        # R16: a newer order was placed and paid (the next shop day, so not R15).
        order("O_r16_paid", "c_r16_paid", "2026-06-29T03:00:00Z"),
        paid("O_r16_paid_new", "c_r16_paid", "2026-06-29T17:00:00Z"),
        # R17: distribution platform.
        order("O_r17", "c_r17", "2026-06-30T00:30:00Z", source="distribution"),
        # R19: flash sale closing 01:50Z: reminded at once (01:30Z), before the 02:00Z window.
        order(
            "O_r19_flash",
            "c_r19_flash",
            "2026-06-30T01:20:00Z",
            flash_sale=True,
            deadline="2026-06-30T01:50:00Z",
        ),
        # R19: flash sale whose deadline has passed.
        order(
            "O_r19_passed",
            "c_r19_passed",
            "2026-06-30T00:50:00Z",
            flash_sale=True,
            deadline="2026-06-30T01:20:00Z",
        ),
        # R19: flash sale without an explicit deadline closes 30 min after the order.
        order("O_r19_implicit", "c_r19_implicit", "2026-06-30T01:25:00Z", flash_sale=True),
        # R19: a normal order closing 01:50Z: the 02:00Z window is too late, remind 01:35Z.
        order(
            "O_r19_deadline",
            "c_r19_deadline",
            "2026-06-29T20:00:00Z",
            deadline="2026-06-30T01:50:00Z",
        ),
        # R20: second-time buyer without offer → skip; with a member tier → member message.
        order("O_r20_second", "c_r20_second", "2026-06-30T00:30:00Z"),
        order("O_r20_second_gold", "c_r20_second_gold", "2026-06-30T00:30:00Z"),
        # R20: loyal customer (3 purchases), prefers SMS; a premium product (R21).
        order("O_r20_loyal_premium", "c_r20_loyal", "2026-06-30T00:30:00Z"),
        # R20 point in time: the earlier order is paid only after AT, so at AT the
        # customer is still new (and that earlier order is itself pending and older, R16).
        order("O_r20_pit", "c_r20_pit", "2026-06-30T00:30:00Z"),
        order(
            "O_r20_pit_old",
            "c_r20_pit",
            "2026-06-20T04:00:00Z",
            status="paid",
            paid_ts="2026-06-30T05:00:00Z",
        ),
        # Consent: do-not-contact, and no consent at all.
        order("O_dnc", "c_dnc", "2026-06-30T00:30:00Z"),
        order("O_no_consent", "c_no_consent", "2026-06-30T00:30:00Z"),
        # R18 night: London is at 03:00 in the 10:00 window, 09:00 in the 16:00 one.
        order("O_london", "c_london", "2026-06-30T00:30:00Z"),
        # R18 night: in New York both windows fall at night (22:00 and 04:00): skip.
        order("O_new_york", "c_new_york", "2026-06-30T00:30:00Z"),
        # Kolkata (UTC+5:30): the 02:00–03:00Z window is 07:30–08:30, daytime from 08:00.
        order("O_kolkata", "c_kolkata", "2026-06-30T00:30:00Z"),
        # Placed after AT (same day): invisible to this run, neither reminded nor quarantined.
        order("O_after_at", "c_new", "2026-06-30T20:00:00Z"),
        # Pending for four days: too old to remind.
        order("O_stale", "c_stale", "2026-06-26T00:30:00Z"),
        *history("c_r15_prev", 0),
        *history("c_r20_second", 1),
        *history("c_r20_second_gold", 1),
        *history("c_r20_loyal", 3),
    ]
    customers = [
        customer("c_new"),
        customer("c_new_phone", email=False, sms=False, push=False, phone=True),
        customer("c_r15"),
        customer("c_r15_tz"),
        customer("c_r15_prev", tier="gold"),
        customer("c_r16"),
        customer("c_r16_paid"),
        customer("c_r17"),
        customer("c_r19_flash"),
        customer("c_r19_passed"),
        customer("c_r19_implicit"),
        customer("c_r19_deadline"),
        customer("c_r20_second"),
        customer("c_r20_second_gold", tier="gold"),
        customer("c_r20_loyal", preferred_channel="sms"),
        customer("c_r20_pit"),
        customer("c_dnc", dnc=True),
        customer("c_no_consent", email=False, sms=False, push=False),
        customer("c_london", tz="Europe/London"),
        customer("c_new_york", tz="America/New_York"),
        customer("c_kolkata", tz="Asia/Kolkata"),
        customer("c_stale"),
    ]
    return write_shop(out_dir, orders, customers)


def continuous_shop(out_dir: Path) -> Path:
    """Scenarios for continuous shipping (R18), decided at ``CONTINUOUS_AT``."""
    orders = [
        order("K_plain", "k_plain", "2026-06-30T04:30:00Z"),
        order("K_pref", "k_pref", "2026-06-30T04:30:00Z"),
        order("K_pref_night", "k_pref_night", "2026-06-30T04:30:00Z"),
        order("K_night", "k_night", "2026-06-30T04:30:00Z"),
    ]
    customers = [
        customer("k_plain"),
        # 16:00 Shanghai = 08:00Z, inside the 2–4 h window 06:30–08:30Z.
        customer("k_pref", preferred_hour=16),
        # 22:00 is a night hour: ignored.
        customer("k_pref_night", preferred_hour=22),
        # Los Angeles: 06:30–08:30Z is 23:30–01:30 local → next morning 08:00 PDT = 15:00Z.
        customer("k_night", tz="America/Los_Angeles"),
    ]
    return write_shop(out_dir, orders, customers)
