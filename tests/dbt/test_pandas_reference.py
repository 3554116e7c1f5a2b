"""The benchmark's plain-pandas reference computes exactly the product's tables.

`make bench` compares the product's feature build with the way a notebook would compute
the same thing (issue 9), from the same parquet files to the same table; the comparison
means something only if both produce the same table. Here both run on small demo shops
and must agree row by row: the whole ``marts.customer_features`` (every column, every
snapshot of the grid), the order features alone (``int_customers_orders_aggregated``)
and the snapshot grid. Integers, strings, booleans and dates must be equal, floats equal
to 1e-9 relative, and nulls where the product has them.
"""

from __future__ import annotations

import datetime as dt
import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import NamedTuple

import duckdb
import numpy as np
import pandas as pd
import pytest

from tests.shops import settings_for
from winback.config import Settings
from winback.demo import ShopSpec, generate_shop
from winback.ingest import load_data_dir
from winback.transform import run_dbt

ROOT = Path(__file__).resolve().parents[2]
KEY = ["customer_id", "as_of_date"]

# (shop, settings overrides, snapshots in the grid). The default settings on a 3-year shop
# as of its last day; and a 1-year shop as of a day off the snapshot calendar with a
# longer grid (14), whose 2 oldest snapshots lack min_history_days of orders and drop out.
SHOPS: dict[str, tuple[ShopSpec, dict[str, object], int]] = {
    "default": (ShopSpec(n_customers=600, seed=11, fmt="parquet"), {}, 12),
    "short_history": (
        ShopSpec(
            n_customers=300, seed=3, as_of=dt.date(2026, 3, 17), history_years=1, fmt="parquet"
        ),
        {"features": {"snapshot_count": 14}},
        12,
    ),
}


def _reference() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "pandas_reference", ROOT / "benchmarks" / "pandas_reference.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


class Built(NamedTuple):
    shop: Path
    warehouse: Path
    settings: Settings
    as_of: pd.Timestamp
    snapshots: int


@pytest.fixture(scope="module", params=sorted(SHOPS))
def built(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Built:
    """A small parquet demo shop, loaded and built by the product (a first build)."""
    spec, overrides, snapshots = SHOPS[request.param]
    tmp_path = tmp_path_factory.mktemp(f"pandas_reference_{request.param}")
    shop = tmp_path / "shop"
    generate_shop(spec, shop)
    warehouse = tmp_path / "wh.duckdb"
    report = load_data_dir(warehouse, shop)
    # the reference reads the files as they are: nothing may be quarantined
    assert all(t.rows_quarantined == 0 for t in report.tables.values()), report.tables
    settings = settings_for(warehouse, **overrides)
    run_dbt(["build", "--select", "+customer_features"], settings, report.as_of)
    return Built(shop, warehouse, settings, pd.Timestamp(report.as_of), snapshots)


def _product(built: Built, sql: str) -> pd.DataFrame:
    with duckdb.connect(str(built.warehouse)) as con:
        return con.execute(sql).df()


def _assert_same_table(product: pd.DataFrame, reference: pd.DataFrame) -> None:
    """Same columns, the same keys once each, and per column the same values: exact but
    for floats (1e-9 relative), nulls in the same rows, integers as integers."""
    assert list(reference.columns) == list(product.columns)
    for frame in (product, reference):
        frame["as_of_date"] = pd.to_datetime(frame["as_of_date"]).astype("datetime64[us]")
        assert not frame.duplicated(KEY).any()
    merged = product.merge(reference, on=KEY, how="outer", suffixes=("_dbt", "_pd"), indicator=True)
    assert (merged["_merge"] == "both").all(), merged["_merge"].value_counts().to_dict()
    for column in product.columns:
        if column in KEY:
            continue
        dbt, pd_ = merged[f"{column}_dbt"], merged[f"{column}_pd"]
        known = dbt.notna().to_numpy()
        assert (pd_.notna().to_numpy() == known).all(), f"{column}: nulls differ"
        x, y = dbt.to_numpy(dtype=object)[known], pd_.to_numpy(dtype=object)[known]
        if pd.api.types.is_float_dtype(product[column]):
            same = np.isclose(x.astype("float64"), y.astype("float64"), rtol=1e-9, atol=0.0)
        else:
            if pd.api.types.is_integer_dtype(product[column]):
                kind = reference[column].dtype
                assert pd.api.types.is_integer_dtype(kind), f"{column}: {kind} is not an integer"
            same = x == y
        assert same.all(), f"{column}: {(~same).sum()} rows differ"


def test_pandas_reference_equals_the_dbt_customer_features(built: Built) -> None:
    product = _product(built, "select * from marts.customer_features")
    module = _reference()
    params = module.Params.from_settings(built.settings)
    reference = module.build_customer_features(built.shop, built.as_of, params)

    assert len(product) > 1000
    assert product["as_of_date"].nunique() == built.snapshots
    assert set(product["is_churned"].dropna()) == {True, False}
    assert product["is_churned"].isna().any()
    assert set(product["lapse_status"]) == {"active", "cooling", "at_risk", "lapsed", "lost"}
    _assert_same_table(product, reference)


def test_pandas_reference_equals_the_dbt_order_features(built: Built) -> None:
    product = _product(
        built, "select * exclude (as_of_end_at) from intermediate.int_customers_orders_aggregated"
    )
    module = _reference()
    params = module.Params.from_settings(built.settings)
    reference = module.build(built.shop, built.as_of, params)

    assert len(product) > 1000
    _assert_same_table(product, reference)


def test_pandas_reference_lays_out_the_product_snapshot_grid(built: Built) -> None:
    product = _product(
        built,
        "select as_of_date, is_scoring_snapshot, is_label_observed "
        "from intermediate.int_snapshot_dates order by as_of_date",
    )
    module = _reference()
    params = module.Params.from_settings(built.settings)
    orders = module.read_orders(built.shop)
    grid = module.snapshot_grid(built.as_of, orders["ordered_at"].min(), params)

    assert len(product) == built.snapshots
    product["as_of_date"] = pd.to_datetime(product["as_of_date"]).astype("datetime64[us]")
    grid = grid[list(product.columns)].astype({"as_of_date": "datetime64[us]"})
    pd.testing.assert_frame_equal(grid, product, check_dtype=False)
