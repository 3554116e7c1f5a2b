"""The notebook way: the core customer features computed with plain pandas.

The same order-history features as ``int_customers_orders_aggregated`` +
``customer_features`` (RFM, own cadence, 90-day trends, discount share) for the same
snapshot grid (the as-of date and every 30 days before it, 12 snapshots), read from the
same parquet files. It covers one feature family of the ~80 the dbt build makes, so
the ratio it gives against the dbt build understates the product's advantage.

    python benchmarks/pandas_reference.py benchmarks/data/shop_100000_s7
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
    seen = orders[orders["ordered_at"] < end]
    visible = seen[seen["is_purchase"] & (seen["paid_at"].isna() | (seen["paid_at"] < end))].copy()
    visible["days_before"] = (as_of - visible["ordered_at"].dt.normalize()).dt.days
    in_365 = visible["days_before"] < 365
    in_90 = visible["days_before"] < 90
    in_prev_90 = (visible["days_before"] >= 90) & (visible["days_before"] < 180)
    visible["amount_365d"] = visible["amount"].where(in_365, 0.0)
    visible["amount_90d"] = visible["amount"].where(in_90, 0.0)
    visible["amount_prev_90d"] = visible["amount"].where(in_prev_90, 0.0)
    visible["is_365d"] = in_365
    visible["is_90d"] = in_90
    visible["is_prev_90d"] = in_prev_90
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
        median_gap_days=("gap_days", "median"),
        gap_days_stddev=("gap_days", "std"),
        discounted_purchase_share=("is_discounted", "mean"),
    )
    features["recency_days"] = (as_of - features["last_purchase_at"].dt.normalize()).dt.days
    features["tenure_days"] = (as_of - features["first_purchase_at"].dt.normalize()).dt.days
    features["avg_order_value"] = features["monetary_lifetime"] / features["purchase_count"]
    features["recency_vs_cadence"] = features["recency_days"] / features["median_gap_days"].where(
        features["median_gap_days"] != 0
    )
    features["purchase_count_trend_90d"] = (
        features["purchase_count_90d"] - features["purchase_count_prev_90d"]
    )
    features["monetary_trend_90d"] = features["monetary_90d"] - features["monetary_prev_90d"]
    features["as_of_date"] = as_of
    return features.reset_index()


def build(data_dir: Path, snapshots: int = 12, cadence_days: int = 30) -> pd.DataFrame:
    """Read the orders parquet and build every snapshot's features."""
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
    orders["is_purchase"] = orders["status"].fillna("paid").isin(PURCHASE_STATUSES)
    orders["is_discounted"] = orders["discount_amount"].fillna(0) > 0
    # Gap since the customer's previous purchase (point-in-time safe: earlier orders only).
    orders = orders.sort_values(["customer_id", "ordered_at", "order_id"])
    purchases = orders[orders["is_purchase"]]
    day = purchases["ordered_at"].dt.normalize()
    orders["gap_days"] = (day - day.groupby(purchases["customer_id"]).shift()).dt.days
    as_of = orders["ordered_at"].max().normalize()
    frames = [
        snapshot_features(orders, as_of - pd.Timedelta(days=cadence_days * k))
        for k in range(snapshots)
    ]
    return pd.concat(frames, ignore_index=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("data_dir", type=Path)
    args = parser.parse_args()
    start = time.perf_counter()
    features = build(args.data_dir)
    seconds = time.perf_counter() - start
    print(json.dumps({"seconds": seconds, "rows": len(features)}))


if __name__ == "__main__":
    main()
