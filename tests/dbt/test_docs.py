"""dbt docs build, and every column of every mart is described; the docs site is
published whole into a fixed folder, describes every source and seed, and is served."""

from __future__ import annotations

import datetime as dt
import json
import threading
import urllib.request
from pathlib import Path

import pytest

from tests.shops import settings_for, write_orders_only_shop
from winback.config import DBT_PROJECT_DIR
from winback.docs import dbt_docs_dir, docs_server, docs_url, generate_dbt_docs, publish_folder
from winback.ingest import load_data_dir
from winback.ingest.contract import TABLES
from winback.transform import run_dbt

AS_OF = dt.date(2026, 6, 30)
DOCS_FILES = {"index.html", "manifest.json", "catalog.json"}
# Columns ingestion adds to every raw table besides the contract's.
LOAD_COLUMNS = {"_load_id", "_source_file", "_row_number", "_loaded_at"}


def test_docs_generate_and_every_mart_column_is_described(tmp_path: Path) -> None:
    write_orders_only_shop(tmp_path / "data", n_customers=50)
    warehouse = tmp_path / "wh.duckdb"
    load_data_dir(warehouse, tmp_path / "data", AS_OF)
    settings = settings_for(warehouse)
    built = run_dbt(["build"], settings, AS_OF)
    report = generate_dbt_docs(settings, AS_OF)

    # The site is in the fixed folder beside the warehouse, and only the site.
    folder = dbt_docs_dir(settings)
    assert folder == tmp_path / "dbt_docs" == report.folder
    assert {p.name for p in folder.iterdir()} == DOCS_FILES
    manifest = json.loads((folder / "manifest.json").read_text())
    catalog = json.loads((folder / "catalog.json").read_text())
    index = (folder / "index.html").read_text()
    # dbt's static page: the manifest is built in, so it opens without a server.
    assert "seed.winback.winback_channels" in index
    assert report.index_bytes == (folder / "index.html").stat().st_size

    marts = [
        node
        for node in manifest["nodes"].values()
        if node["resource_type"] == "model" and node["fqn"][1] == "marts"
    ]
    assert {m["name"] for m in marts} >= {"customer_features", "churn_rate_monthly"}
    # The scheduled runs leave dbt's unit tests out (transform.SCHEDULED_RUN_EXCLUDES):
    # here, every one of the project's runs and passes (run_dbt raises on a failure).
    unit_tests = {u["name"] for u in manifest["unit_tests"].values()}
    assert len(unit_tests) >= 7
    assert {n.name for n in built if n.resource_type == "unit_test"} == unit_tests
    for model in marts:
        built = catalog["nodes"][model["unique_id"]]["columns"]
        described = {name for name, col in model["columns"].items() if col.get("description")}
        missing = set(built) - described
        assert not missing, f"{model['name']} has undescribed columns: {sorted(missing)}"
        assert model["description"], f"{model['name']} has no description"

    # Every source and every seed (all of the project's, built or not) is described, and
    # so is every column declared for them or found in the warehouse.
    sources = manifest["sources"].values()
    seeds = [n for n in manifest["nodes"].values() if n["resource_type"] == "seed"]
    shipped = {p.stem for p in (DBT_PROJECT_DIR / "seeds").rglob("*.csv")}
    assert {s["name"] for s in seeds} == shipped
    for node in [*sources, *seeds]:
        assert node["description"].strip(), f"{node['unique_id']} has no description"
        undescribed = [n for n, col in node["columns"].items() if not col["description"].strip()]
        assert not undescribed, f"{node['unique_id']} has undescribed columns: {undescribed}"
    assert report.undescribed_sources == report.undescribed_seeds == ()
    assert report.undescribed_columns == ()
    # The shop sources declare the input contract's columns, no more and no fewer.
    shop = {s["name"]: s for s in sources if s["source_name"] == "shop"}
    assert set(shop) == {t.name for t in TABLES}
    for table in TABLES:
        declared = set(shop[table.name]["columns"])
        assert declared == {c.name for c in table.columns} | LOAD_COLUMNS, table.name
    assert report.models == len(
        [n for n in manifest["nodes"].values() if n["resource_type"] == "model"]
    )
    assert report.sources == len(manifest["sources"]) and report.seeds == len(seeds)
    assert report.tests > 0

    # A second generate replaces the folder whole: nothing of the old one is left.
    (folder / "stale.txt").write_text("from an earlier generate")
    again = generate_dbt_docs(settings, AS_OF)
    assert {p.name for p in again.folder.iterdir()} == DOCS_FILES
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".dbt_docs")] == []

    # Served as a web site.
    server = docs_server(folder, port=0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        with urllib.request.urlopen(docs_url(server) + "index.html", timeout=10) as response:
            assert response.read() == (folder / "index.html").read_bytes()
    finally:
        server.shutdown()
        server.server_close()


def test_a_failed_publish_leaves_the_previous_docs_folder(tmp_path: Path) -> None:
    source = tmp_path / "new.html"
    source.write_text("new")
    folder = tmp_path / "dbt_docs"
    folder.mkdir()
    (folder / "index.html").write_text("old")

    with pytest.raises(FileNotFoundError):
        publish_folder({"index.html": source, "catalog.json": tmp_path / "absent"}, folder)
    assert [p.name for p in folder.iterdir()] == ["index.html"]
    assert (folder / "index.html").read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dbt_docs", "new.html"]

    publish_folder({"index.html": source}, folder)
    assert (folder / "index.html").read_text() == "new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dbt_docs", "new.html"]


def test_serving_needs_generated_docs(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="generate them first"):
        docs_server(tmp_path)
