"""dbt docs build, and every column of every mart is described."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

from tests.shops import settings_for, write_orders_only_shop
from winback.ingest import load_data_dir
from winback.transform import dbt_target_dir, run_dbt

AS_OF = dt.date(2026, 6, 30)


def test_docs_generate_and_every_mart_column_is_described(tmp_path: Path) -> None:
    write_orders_only_shop(tmp_path / "data", n_customers=50)
    warehouse = tmp_path / "wh.duckdb"
    load_data_dir(warehouse, tmp_path / "data", AS_OF)
    settings = settings_for(warehouse)
    run_dbt(["build"], settings, AS_OF)
    run_dbt(["docs", "generate"], settings, AS_OF)

    target = dbt_target_dir(settings)
    manifest = json.loads((target / "manifest.json").read_text())
    catalog = json.loads((target / "catalog.json").read_text())
    marts = [
        node
        for node in manifest["nodes"].values()
        if node["resource_type"] == "model" and node["fqn"][1] == "marts"
    ]
    assert {m["name"] for m in marts} >= {"customer_features", "churn_rate_monthly"}
    for model in marts:
        built = catalog["nodes"][model["unique_id"]]["columns"]
        described = {name for name, col in model["columns"].items() if col.get("description")}
        missing = set(built) - described
        assert not missing, f"{model['name']} has undescribed columns: {sorted(missing)}"
        assert model["description"], f"{model['name']} has no description"
