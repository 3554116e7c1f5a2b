"""Small hand-rolled shops for tests that must not depend on the demo simulator."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd

from winback.config import Settings


def write_orders_only_shop(
    out_dir: Path, n_customers: int = 600, seed: int = 7, end: dt.date = dt.date(2026, 6, 30)
) -> Path:
    """An ``orders.csv`` with only the four required columns and a real churn signal.

    Each customer buys at their own rate until an exponential lifetime runs out, so the
    recency against one's own cadence predicts who buys again.
    """
    rng = np.random.default_rng(seed)
    start = pd.Timestamp(end) - pd.Timedelta(days=3 * 365)
    total_days = 3 * 365
    rows = []
    order_no = 0
    for c in range(n_customers):
        first = rng.uniform(0, total_days * 0.8)
        rate = rng.gamma(2.0, 1 / 40)  # purchases per day, mean one every ~20 days
        life = rng.exponential(400)
        t = first
        while t < min(first + life, total_days):
            order_no += 1
            ts = start + pd.Timedelta(days=float(t))
            rows.append(
                (
                    f"O{order_no:07d}",
                    f"C{c:05d}",
                    ts.isoformat() + "Z",
                    round(float(rng.gamma(2, 30)), 2),
                )
            )
            t += rng.exponential(1 / rate)
    frame = pd.DataFrame(rows, columns=["order_id", "customer_id", "order_ts", "amount"])
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "orders.csv"
    frame.to_csv(path, index=False)
    return path


def write_one_time_buyer_shop(
    out_dir: Path,
    n_customers: int = 2000,
    repeat_share: float = 0.0,
    seed: int = 3,
    end: dt.date = dt.date(2026, 6, 30),
) -> Path:
    """An ``orders.csv`` (four required columns) where nearly every customer bought once:
    first orders spread over three years, and only ``repeat_share`` of the customers buy
    a second time, 10–200 days later. Valid data whose churn label is (nearly) always 1.
    """
    rng = np.random.default_rng(seed)
    start = pd.Timestamp(end) - pd.Timedelta(days=3 * 365)
    first = rng.uniform(0, 3 * 365 - 1, n_customers)
    rows = [(f"C{c:05d}", float(first[c])) for c in range(n_customers)]
    for c in np.flatnonzero(rng.random(n_customers) < repeat_share):
        second = first[c] + rng.uniform(10, 200)
        if second < 3 * 365 - 1:
            rows.append((f"C{c:05d}", float(second)))
    frame = pd.DataFrame(
        [
            (
                f"O{k:07d}",
                customer,
                (start + pd.Timedelta(days=day)).isoformat() + "Z",
                round(float(rng.gamma(2, 30)), 2),
            )
            for k, (customer, day) in enumerate(sorted(rows, key=lambda r: r[1]))
        ],
        columns=["order_id", "customer_id", "order_ts", "amount"],
    )
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "orders.csv"
    frame.to_csv(path, index=False)
    return path


def settings_for(warehouse: Path, **overrides: object) -> Settings:
    """Settings for a test warehouse (paths absolute), with section overrides given as
    dicts, e.g. ``settings_for(path, features={"snapshot_count": 3})``."""
    return Settings(warehouse={"path": warehouse}, **overrides).resolved()  # type: ignore[arg-type]
