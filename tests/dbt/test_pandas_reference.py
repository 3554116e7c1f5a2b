"""The benchmark's plain-pandas reference computes exactly the product's order features.

`make bench` reports how the product's order-feature models compare with the way a
notebook would compute them (issue 9); the comparison means something only if both
produce the same table. Here both run on the same demo shop and must agree row by row.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from tests.shops import settings_for
from winback.demo import ShopSpec, generate_shop
from winback.ingest import load_data_dir
from winback.transform import run_dbt

ROOT = Path(__file__).resolve().parents[2]


def _reference() -> object:
    spec = importlib.util.spec_from_file_location(
        "pandas_reference", ROOT / "benchmarks" / "pandas_reference.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_pandas_reference_equals_the_dbt_order_features(tmp_path: Path) -> None:
    shop = generate_shop(ShopSpec(n_customers=600, seed=11, fmt="parquet"), tmp_path / "shop")
    del shop
    warehouse = tmp_path / "wh.duckdb"
    report = load_data_dir(warehouse, tmp_path / "shop")
    settings = settings_for(warehouse)
    run_dbt(["run", "--select", "+int_customers_orders_aggregated"], settings, report.as_of)
    with duckdb.connect(str(warehouse)) as con:
        product = con.execute(
            "select * exclude (as_of_end_at) from intermediate.int_customers_orders_aggregated"
        ).df()

    reference = _reference().build(tmp_path / "shop", pd.Timestamp(report.as_of))  # type: ignore[attr-defined]

    key = ["as_of_date", "customer_id"]
    product["as_of_date"] = pd.to_datetime(product["as_of_date"])
    reference["as_of_date"] = pd.to_datetime(reference["as_of_date"])
    assert len(product) > 1000
    assert sorted(reference.columns) == sorted(product.columns)
    merged = product.merge(reference, on=key, how="outer", suffixes=("_dbt", "_pd"), indicator=True)
    assert (merged["_merge"] == "both").all(), merged["_merge"].value_counts().to_dict()
    for column in product.columns:
        if column in key:
            continue
        a, b = merged[f"{column}_dbt"], merged[f"{column}_pd"]
        if pd.api.types.is_datetime64_any_dtype(a):
            same = (a == b) | (a.isna() & b.isna())
        else:
            x, y = a.astype("float64").to_numpy(), b.astype("float64").to_numpy()
            same = np.isclose(x, y, rtol=1e-9, atol=1e-6) | (np.isnan(x) & np.isnan(y))
        assert same.all(), f"{column}: {(~same).sum()} rows differ"
