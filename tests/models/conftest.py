"""One feature mart built by the real dbt project from a small orders-only shop."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
import pytest

from tests.shops import settings_for, write_orders_only_shop

AS_OF = dt.date(2026, 6, 15)


def build_features(data_dir: Path, warehouse: Path, as_of: dt.date | None) -> pd.DataFrame:
    """Load ``data_dir`` and run dbt into ``warehouse``; the whole feature mart."""
    from winback.ingest import load_data_dir
    from winback.transform import FEATURE_BUILD, run_dbt
    from winback.warehouse import read_customer_features

    settings = settings_for(warehouse, data_dir=data_dir, as_of=as_of)
    report = load_data_dir(settings.warehouse.path, settings.data_dir, settings.as_of)
    run_dbt(FEATURE_BUILD, settings, report.as_of)
    return read_customer_features(settings.warehouse)


@pytest.fixture(scope="session")
def shop_features(tmp_path_factory: pytest.TempPathFactory) -> pd.DataFrame:
    root = tmp_path_factory.mktemp("model_shop")
    write_orders_only_shop(root / "shop", n_customers=1500, seed=3)
    return build_features(root / "shop", root / "winback.duckdb", AS_OF)
