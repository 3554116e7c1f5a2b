"""Synthetic shops full of unpaid orders, for the reminder property tests and benchmark.

Vectorised and seeded: every reminder scenario the rules care about appears in bulk —
several unpaid orders per customer (R16), payments the same day (R15), distribution
orders (R17), customers around the world (R18), flash sales with and without deadlines
and passed deadlines (R19), new, second-time and loyal customers with and without
member tiers (R20), style tags (R21), missing consents and do-not-contact, orders
placed after the run and orders paid only after it.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd

TIMEZONES = np.array(
    [
        "Asia/Shanghai",
        "Asia/Shanghai",
        "Asia/Shanghai",
        "Asia/Hong_Kong",
        "Europe/London",
        "America/New_York",
        "America/Los_Angeles",
        "Asia/Kolkata",
        "Not/A_Zone",
        "",
    ]
)
CHANNELS = np.array(["", "sms", "email", "push", "chat", "phone", "none"])
TIERS = np.array(["", "", "none", "silver", "gold"])
STYLES = np.array(["cute", "premium", "practical", "", "retro"])


def write_pending_shop(
    out_dir: Path,
    *,
    n_pending: int,
    at: dt.datetime,
    seed: int = 0,
    n_customers: int | None = None,
    fmt: str = "parquet",
) -> Path:
    """Write customers, products, orders and order_items for a run at ``at`` (naive UTC).

    About ``n_pending`` orders are unpaid at ``at``; history orders make customers
    second-time or loyal buyers.
    """
    rng = np.random.default_rng(seed)
    n_customers = n_customers or max(10, int(n_pending * 0.7))
    at_ts = pd.Timestamp(at)
    cust_ids = np.char.add("C", np.arange(n_customers).astype(str))
    customers = pd.DataFrame(
        {
            "customer_id": cust_ids,
            "member_tier": rng.choice(TIERS, n_customers),
            "consent_email": rng.random(n_customers) < 0.7,
            "consent_sms": rng.random(n_customers) < 0.6,
            "consent_phone": rng.random(n_customers) < 0.3,
            "consent_push": rng.random(n_customers) < 0.6,
            "preferred_channel": rng.choice(CHANNELS, n_customers),
            "preferred_contact_hour": np.where(
                rng.random(n_customers) < 0.4, rng.integers(0, 24, n_customers), -1
            ),
            "do_not_contact": rng.random(n_customers) < 0.03,
            "timezone": rng.choice(TIMEZONES, n_customers),
        }
    )
    products = pd.DataFrame(
        {
            "product_id": [f"P{i}" for i in range(50)],
            "category": rng.choice(["toys", "watches", "kitchen", "books"], 50),
            "style_tag": rng.choice(STYLES, 50),
        }
    )

    # History: 0–4 purchases per customer in the 60 days before at, some on at's day.
    n_hist_per = rng.choice([0, 0, 1, 1, 2, 3, 4], n_customers)
    hist_cust = np.repeat(cust_ids, n_hist_per)
    n_hist = len(hist_cust)
    hist_offset = np.where(
        rng.random(n_hist) < 0.1,
        rng.uniform(0, 20, n_hist),  # hours before at: same or previous day
        rng.uniform(24, 24 * 60, n_hist),
    )
    hist_ts = at_ts - pd.to_timedelta(hist_offset, unit="h")
    hist_paid = hist_ts + pd.to_timedelta(rng.uniform(0, 30, n_hist), unit="min")
    history = pd.DataFrame(
        {
            "order_id": np.char.add("H", np.arange(n_hist).astype(str)),
            "customer_id": hist_cust,
            "order_ts": hist_ts,
            "status": "paid",
            "paid_ts": hist_paid,
            "source": "own",
            "flash_sale": False,
            "pay_deadline_ts": pd.NaT,
        }
    )
    # Payments after at have not happened yet at at: the order is unpaid then.
    late = hist_paid > at_ts
    history.loc[late, "paid_ts"] = at_ts + pd.Timedelta(minutes=5)

    # Unpaid orders: skewed to a few customers (several per customer, R16), mostly in the
    # last 3 days, a few older, a few after at (same day: invisible to the run).
    pend_cust = cust_ids[np.minimum(rng.zipf(1.6, n_pending) - 1, n_customers - 1)]
    pend_cust = np.where(rng.random(n_pending) < 0.6, rng.choice(cust_ids, n_pending), pend_cust)
    age_h = np.where(
        rng.random(n_pending) < 0.9, rng.exponential(10, n_pending), rng.uniform(0, 120, n_pending)
    )
    after = rng.random(n_pending) < 0.02
    pend_ts = at_ts - pd.to_timedelta(age_h, unit="h")
    end_of_day = at_ts.normalize() + pd.Timedelta(hours=23, minutes=59)
    pend_ts = pend_ts.where(~after, np.minimum(at_ts + pd.Timedelta(minutes=1), end_of_day))
    flash = rng.random(n_pending) < 0.12
    deadline = pd.Series(pd.NaT, index=range(n_pending), dtype="datetime64[ns]")
    flash_with_deadline = flash & (rng.random(n_pending) < 0.8)
    deadline[flash_with_deadline] = (pend_ts + pd.Timedelta(minutes=30))[flash_with_deadline]
    normal_deadline = ~flash & (rng.random(n_pending) < 0.08)
    deadline[normal_deadline] = (
        pend_ts + pd.to_timedelta(rng.uniform(1, 30, n_pending), unit="h")
    )[normal_deadline]
    pending = pd.DataFrame(
        {
            "order_id": np.char.add("U", np.arange(n_pending).astype(str)),
            "customer_id": pend_cust,
            "order_ts": pend_ts,
            "status": "pending",
            "paid_ts": pd.NaT,
            "source": np.where(rng.random(n_pending) < 0.1, "distribution", "own"),
            "flash_sale": flash,
            "pay_deadline_ts": deadline.to_numpy(),
        }
    )
    orders = pd.concat([history, pending], ignore_index=True)
    orders["amount"] = np.round(rng.gamma(2, 60, len(orders)), 2)
    orders["preferred_contact_hour"] = None
    orders = orders.drop(columns="preferred_contact_hour")
    items = pd.DataFrame(
        {
            "order_id": orders["order_id"],
            "product_id": rng.choice(products["product_id"].to_numpy(), len(orders)),
            "quantity": rng.integers(1, 3, len(orders)),
            "unit_price": orders["amount"],
        }
    )
    customers["preferred_contact_hour"] = customers["preferred_contact_hour"].astype("Int64")
    customers.loc[customers["preferred_contact_hour"] < 0, "preferred_contact_hour"] = pd.NA
    for frame in (customers, products):
        for col in frame.columns:
            if frame[col].dtype == object:
                frame[col] = frame[col].replace("", None)
    out_dir.mkdir(parents=True, exist_ok=True)
    tables = {"customers": customers, "products": products, "orders": orders, "order_items": items}
    for name, frame in tables.items():
        if fmt == "parquet":
            frame.to_parquet(out_dir / f"{name}.parquet", index=False)
        else:
            frame.to_csv(out_dir / f"{name}.csv", index=False)
    return out_dir
