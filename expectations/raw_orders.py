"""Expectation suite on the loaded raw data (gates the nightly flow before dbt).

The loader already quarantines rows that break the contract; this suite catches a load
that is technically valid but mostly rejected or empty (a broken export), so a bad file
never turns into published scores.
"""

from __future__ import annotations

import great_expectations.expectations as gxe
import pandas as pd

SUITE_NAME = "raw_orders"
TABLE = "raw.orders"


def build_suite(max_quarantined_share: float) -> list[gxe.Expectation]:
    """Expectations on ``raw.orders`` joined with its load's quarantine share."""
    return [
        gxe.ExpectTableRowCountToBeBetween(min_value=1),
        gxe.ExpectColumnValuesToNotBeNull(column="order_id"),
        gxe.ExpectColumnValuesToBeUnique(column="order_id"),
        gxe.ExpectColumnValuesToNotBeNull(column="customer_id"),
        gxe.ExpectColumnValuesToNotBeNull(column="order_ts"),
        gxe.ExpectColumnValuesToNotBeNull(column="amount"),
        gxe.ExpectColumnValuesToBeBetween(column="amount", min_value=0),
        gxe.ExpectColumnMaxToBeBetween(column="quarantined_share", max_value=max_quarantined_share),
    ]


def validation_frame(orders: pd.DataFrame, rows_read: int, rows_quarantined: int) -> pd.DataFrame:
    """The loaded orders plus the load's quarantined share (one value on every row)."""
    frame = orders[["order_id", "customer_id", "order_ts", "amount"]].copy()
    share = rows_quarantined / rows_read if rows_read else 0.0
    frame["quarantined_share"] = float(share)
    return frame
