"""The notebook way: the order-history features computed with plain pandas.

Exactly the columns of ``int_orders_enriched`` + ``int_customers_orders_aggregated``
(RFM, own cadence, 90/365-day windows and trends, necessary vs discretionary spend,
discount share, refunds, unpaid orders, payment delay) for the same snapshot grid (the
as-of date and every 30 days before it, 12 snapshots), read from the same parquet files,
one pandas pass per snapshot as a notebook would. ``tests/dbt/test_pandas_reference.py``
checks that it equals the product's table on a small shop, so the benchmark compares
like with like: this script against those two dbt models.

    python benchmarks/pandas_reference.py benchmarks/data/shop_100000_s7 [--as-of 2026-06-30]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import pandas as pd

PURCHASE_STATUSES = ("paid", "shipped", "delivered")


def snapshot_features(orders: pd.DataFrame, as_of: pd.Timestamp) -> pd.DataFrame:
    """Order-history features of every customer who bought by the end of ``as_of``."""
    end = as_of + pd.Timedelta(days=1)
    seen = orders[orders["ordered_at"] < end].copy()
    seen["is_visible"] = seen["is_purchase"] & (seen["paid_at"].isna() | (seen["paid_at"] < end))
    seen["days_before"] = (as_of - seen["ordered_at"].dt.normalize()).dt.days
    visible = seen[seen["is_visible"]].copy()
    in_365 = visible["days_before"] < 365
    in_90 = visible["days_before"] < 90
    in_prev_90 = (visible["days_before"] >= 90) & (visible["days_before"] < 180)
    for name, mask in (("365d", in_365), ("90d", in_90), ("prev_90d", in_prev_90)):
        visible[f"is_{name}"] = mask
        visible[f"amount_{name}"] = visible["amount"].where(mask)
    visible["essential_365d"] = visible["essential_amount"].where(in_365)
    visible["discretionary_365d"] = visible["discretionary_amount"].where(in_365)
    visible["pay_delay_paid"] = visible["pay_delay_hours"].where(visible["paid_at"].notna())
    grouped = visible.groupby("customer_id")
    features = grouped.agg(
        first_purchase_at=("ordered_at", "min"),
        last_purchase_at=("ordered_at", "max"),
        purchase_count=("order_id", "count"),
        monetary_lifetime=("amount", "sum"),
        purchase_count_365d=("is_365d", "sum"),
        monetary_365d=("amount_365d", "sum"),
        purchase_count_90d=("is_90d", "sum"),
        purchase_count_prev_90d=("is_prev_90d", "sum"),
        monetary_90d=("amount_90d", "sum"),
        monetary_prev_90d=("amount_prev_90d", "sum"),
        essential_spend_lifetime=("essential_amount", "sum"),
        discretionary_spend_lifetime=("discretionary_amount", "sum"),
        essential_spend_365d=("essential_365d", "sum"),
        discretionary_spend_365d=("discretionary_365d", "sum"),
        essential_known=("essential_amount", "count"),
        essential_known_365d=("essential_365d", "count"),
        median_gap_days=("gap_days", "median"),
        gap_days_stddev=("gap_days", "std"),
        discounted_purchase_share=("is_discounted", "mean"),
        avg_pay_delay_hours=("pay_delay_paid", "mean"),
    )
    # SQL's sum of nothing but nulls is null (pandas says 0)
    for column in ("essential_spend_lifetime", "discretionary_spend_lifetime"):
        features[column] = features[column].where(features["essential_known"] > 0)
    for column in ("essential_spend_365d", "discretionary_spend_365d"):
        features[column] = features[column].where(features["essential_known_365d"] > 0)
    features = features.drop(columns=["essential_known", "essential_known_365d"])
    all_orders = seen.groupby("customer_id").agg(
        refund_count=("is_refunded", "sum"),
        abandoned_unpaid_order_count=("is_abandoned_unpaid", "sum"),
        order_count_all_statuses=("order_id", "count"),
    )
    features = features.join(all_orders, how="left")
    features["as_of_date"] = as_of
    return features.reset_index()


def build(
    data_dir: Path, as_of: pd.Timestamp | None = None, snapshots: int = 12, cadence_days: int = 30
) -> pd.DataFrame:
    """Read the parquet files and build every snapshot's features."""
    orders = pd.read_parquet(
        data_dir / "orders.parquet",
        columns=[
            "order_id",
            "customer_id",
            "order_ts",
            "amount",
            "status",
            "paid_ts",
            "discount_amount",
        ],
    ).rename(columns={"order_ts": "ordered_at", "paid_ts": "paid_at"})
    orders["ordered_at"] = pd.to_datetime(orders["ordered_at"], utc=True).dt.tz_localize(None)
    orders["paid_at"] = pd.to_datetime(orders["paid_at"], utc=True).dt.tz_localize(None)
    status = orders["status"].fillna("paid")
    orders["is_purchase"] = status.isin(PURCHASE_STATUSES)
    orders["is_refunded"] = status == "refunded"
    orders["is_abandoned_unpaid"] = status.isin(["closed", "cancelled"]) & orders["paid_at"].isna()
    orders["is_discounted"] = orders["discount_amount"].fillna(0) > 0
    # Minutes between order and payment as SQL's datediff counts them (minute boundaries).
    orders["pay_delay_hours"] = (
        (orders["paid_at"].dt.floor("min") - orders["ordered_at"].dt.floor("min"))
        / pd.Timedelta(minutes=1)
        / 60.0
    )
    # Necessary vs discretionary spend per order from its items (R3).
    items = pd.read_parquet(
        data_dir / "order_items.parquet",
        columns=["order_id", "product_id", "quantity", "unit_price"],
    )
    products = pd.read_parquet(
        data_dir / "products.parquet", columns=["product_id", "is_essential"]
    )
    items = items.merge(products, on="product_id", how="inner")
    items["line"] = items["quantity"].fillna(1) * items["unit_price"]
    essential = items["is_essential"].fillna(False).astype(bool)
    items["essential_amount"] = items["line"].where(essential, 0.0)
    items["discretionary_amount"] = items["line"].where(~essential, 0.0)
    split = items.groupby("order_id")[["essential_amount", "discretionary_amount"]].sum()
    orders = orders.merge(split, left_on="order_id", right_index=True, how="left")
    # Gap since the customer's previous purchase (point-in-time safe: earlier orders only).
    orders = orders.sort_values(["customer_id", "ordered_at", "order_id"])
    purchases = orders[orders["is_purchase"]]
    day = purchases["ordered_at"].dt.normalize()
    orders["gap_days"] = (day - day.groupby(purchases["customer_id"]).shift()).dt.days
    if as_of is None:
        as_of = orders["ordered_at"].max().normalize()
    first_day = orders["ordered_at"].min().normalize()
    frames = []
    for k in range(snapshots):
        snapshot = as_of - pd.Timedelta(days=cadence_days * k)
        # the product keeps the scoring snapshot and those with 60 days of history before
        if k == 0 or snapshot >= first_day + pd.Timedelta(days=60):
            frames.append(snapshot_features(orders, snapshot))
    return pd.concat(frames, ignore_index=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("data_dir", type=Path)
    parser.add_argument("--as-of", help="as-of date (default: the day of the last order)")
    args = parser.parse_args()
    start = time.perf_counter()
    features = build(args.data_dir, pd.Timestamp(args.as_of) if args.as_of else None)
    seconds = time.perf_counter() - start
    print(json.dumps({"seconds": seconds, "rows": len(features)}))


if __name__ == "__main__":
    main()
