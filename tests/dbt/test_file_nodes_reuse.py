"""Issue 19: a night does not build again the models, nor run again the data tests, whose
result follows from files it kept from an earlier load (the staging views of the raw
tables, the enriched orders, their tests: unique keys, relationships, accepted values).
When tonight's files are those they were built and passed on, their tables and results
are known. A changed file, a changed project or a full refresh runs them again."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb
import pandas as pd

from tests.shops import settings_for
from winback import incremental
from winback.demo import ShopSpec, generate_shop
from winback.ingest import load_data_dir

EVENTS_KEY = "unique_stg_shop__events_event_id"
ORDERS_KEY = "unique_stg_shop__orders_order_id"
ITEMS_TO_ORDERS = "relationships_stg_shop__order_items_order_id__order_id__ref_stg_shop__orders_"
ENRICHED_KEY = "unique_int_orders_enriched_order_id"  # a test of a model of the files
ENRICHED = "int_orders_enriched"  # a table of orders, their items and the products
FEATURES = "customer_features"  # as of the run's date: built every night


def night(
    warehouse: Path, shop: Path, as_of: dt.date, full_refresh: bool = False
) -> tuple[set[str], set[str], incremental.SnapshotBuildSummary]:
    """Load and build as the nightly does: the models the build ran, its data tests, and
    its summary."""
    load_data_dir(warehouse, shop, as_of, reuse=not full_refresh)
    nodes, summary = incremental.build_features(
        settings_for(warehouse), as_of, full_refresh=full_refresh
    )
    ran = {kind: {n.name for n in nodes if n.resource_type == kind} for kind in ("model", "test")}
    # dbt's unit tests check SQL, not data: the test suite runs them (test_docs), not nights.
    assert not [n for n in nodes if n.resource_type == "unit_test"]
    return ran["model"], ran["test"], summary


def test_nodes_of_unchanged_files_are_not_run_again(tmp_path: Path) -> None:
    shop = tmp_path / "shop"
    generate_shop(ShopSpec(n_customers=300, seed=31, fmt="csv"), shop)
    warehouse = tmp_path / "winback.duckdb"
    # From the shop's last day on: no later row of any file enters on a later night.
    as_of = load_data_dir(warehouse, shop).as_of
    file_tests = {EVENTS_KEY, ORDERS_KEY, ITEMS_TO_ORDERS, ENRICHED_KEY}

    models, tests, summary = night(warehouse, shop, as_of)
    assert file_tests <= tests and {ENRICHED, FEATURES} <= models
    assert summary.reused_models == summary.reused_tests == 0

    # The next day on the same files: what follows from them is known; the rest runs.
    models, tests, summary = night(warehouse, shop, as_of + dt.timedelta(days=1))
    assert not file_tests & tests and ENRICHED not in models
    assert FEATURES in models and any(FEATURES in name for name in tests)
    assert summary.reused_tests >= len(file_tests) and summary.reused_models >= 1
    assert "data tests of unchanged files not run again" in summary.describe()

    # A table of the files gone (a warehouse restored by hand): built again.
    with duckdb.connect(str(warehouse)) as con:
        con.execute(f"drop table intermediate.{ENRICHED}")
    models, tests, _ = night(warehouse, shop, as_of + dt.timedelta(days=1))
    assert ENRICHED in models and ENRICHED_KEY in tests and EVENTS_KEY not in tests

    # The orders file corrected: what reads orders runs again, the rest does not.
    orders = pd.read_csv(shop / "orders.csv", dtype=str, keep_default_na=False)
    orders.loc[0, "amount"] = f"{float(orders.loc[0, 'amount']) + 1:.2f}"
    orders.to_csv(shop / "orders.csv", index=False)
    models, tests, _ = night(warehouse, shop, as_of + dt.timedelta(days=2))
    assert {ORDERS_KEY, ITEMS_TO_ORDERS, ENRICHED_KEY} <= tests and EVENTS_KEY not in tests
    assert ENRICHED in models and "stg_shop__events" not in models

    # A full refresh runs everything.
    models, tests, summary = night(warehouse, shop, as_of + dt.timedelta(days=2), full_refresh=True)
    assert file_tests <= tests and ENRICHED in models
    assert summary.reused_models == summary.reused_tests == 0
