"""Issue 19: a night does not run again the data tests of files it kept from an earlier
load. The staging views' tests (unique keys, relationships, accepted values) read the
loaded files alone; when tonight's files are those they passed on, their result is
known. A changed file, a changed project or a full refresh runs them again."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd

from tests.shops import settings_for
from winback import incremental
from winback.demo import ShopSpec, generate_shop
from winback.ingest import load_data_dir

EVENTS_KEY = "unique_stg_shop__events_event_id"
ORDERS_KEY = "unique_stg_shop__orders_order_id"
ITEMS_TO_ORDERS = "relationships_stg_shop__order_items_order_id__order_id__ref_stg_shop__orders_"
ENRICHED_KEY = "unique_int_orders_enriched_order_id"  # a model's test: always run


def night(
    warehouse: Path, shop: Path, as_of: dt.date, full_refresh: bool = False
) -> tuple[set[str], incremental.SnapshotBuildSummary]:
    """Load and build as the nightly does: the data tests the build ran, its summary."""
    load_data_dir(warehouse, shop, as_of, reuse=not full_refresh)
    nodes, summary = incremental.build_features(
        settings_for(warehouse), as_of, full_refresh=full_refresh
    )
    return {n.name for n in nodes if n.resource_type == "test"}, summary


def test_data_tests_of_unchanged_files_are_not_run_again(tmp_path: Path) -> None:
    shop = tmp_path / "shop"
    generate_shop(ShopSpec(n_customers=300, seed=31, fmt="csv"), shop)
    warehouse = tmp_path / "winback.duckdb"
    # From the shop's last day on: no later row of any file enters on a later night.
    as_of = load_data_dir(warehouse, shop).as_of
    file_tests = {EVENTS_KEY, ORDERS_KEY, ITEMS_TO_ORDERS}

    first, summary = night(warehouse, shop, as_of)
    assert file_tests | {ENRICHED_KEY} <= first and summary.reused_tests == 0

    # The next day on the same files: their tests are known to pass; the models' run.
    second, summary = night(warehouse, shop, as_of + dt.timedelta(days=1))
    assert not file_tests & second and ENRICHED_KEY in second
    assert summary.reused_tests >= len(file_tests)
    assert "data tests of unchanged files not run again" in summary.describe()

    # The orders file corrected: the tests reading orders run again, the others do not.
    orders = pd.read_csv(shop / "orders.csv", dtype=str, keep_default_na=False)
    orders.loc[0, "amount"] = f"{float(orders.loc[0, 'amount']) + 1:.2f}"
    orders.to_csv(shop / "orders.csv", index=False)
    third, _ = night(warehouse, shop, as_of + dt.timedelta(days=2))
    assert {ORDERS_KEY, ITEMS_TO_ORDERS} <= third and EVENTS_KEY not in third

    # A full refresh runs every test.
    refreshed, summary = night(warehouse, shop, as_of + dt.timedelta(days=2), full_refresh=True)
    assert file_tests <= refreshed and summary.reused_tests == 0
