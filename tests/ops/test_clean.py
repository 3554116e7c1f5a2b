"""``winback clean`` (winback.maintenance): generated state goes, durable records and the
merchant's files stay; ``everything=True`` removes data/ and the warehouse too; a held
run lock makes clean refuse and change nothing."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from tests.ops.conftest import lock_held_elsewhere
from winback.config import Settings
from winback.exports import history
from winback.locking import RunLockedError, lock_path_for
from winback.maintenance import DURABLE_TABLES, CleanError, clean, plan_clean
from winback.reminders.ledger import LEDGER_DDL

LEDGER = "reminders.reminder_ledger"
T0 = dt.datetime(2026, 6, 30, 8, 0)

GENERATED = (
    "warehouse/published.duckdb",
    "warehouse/dbt_target",
    "warehouse/data_docs",
    "warehouse/gx",
    "warehouse/dbt_docs",
    "warehouse/.dbt_docs.tmp-1a2b",
    "mlflow/mlflow.db",
    "mlflow/artifacts",
    ".prefect",
    "reports",
    "exports",
    "dbt_project/target",
    "dbt_project/logs",
    "data/demo/orders.csv",
    "data/demo/customers.parquet",
    "data/demo/truth",
)


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A project folder with every kind of state, as the default settings place it."""
    monkeypatch.chdir(tmp_path)
    for name in list(os.environ):
        if name.upper().startswith("WINBACK_"):
            monkeypatch.delenv(name)
    monkeypatch.delenv("PREFECT_HOME", raising=False)
    files = {
        "data/demo/orders.csv": "order_id,customer_id\no1,c1\n",
        "data/demo/customers.parquet": "not really parquet",
        "data/demo/truth/world.json": "{}",
        "data/demo/truth/customers_truth.parquet": "x",
        "data/demo/assumptions/offers.csv": "offer_code,cost\nTEN,10\n",  # merchant's
        "data/my_shop/orders.csv": "order_id,customer_id\nm1,k1\n",
        "data/notes.txt": "my notes",
        "warehouse/dbt_target/abc123/manifest.json": "{}",
        "warehouse/data_docs/index.html": "<html/>",
        "warehouse/gx/great_expectations.yml": "",
        "warehouse/dbt_docs/index.html": "<html/>",
        "warehouse/.dbt_docs.tmp-1a2b/index.html": "<html/>",
        "logs/run_failures.jsonl": "{}\n",
        "mlflow/mlflow.db": "sqlite",
        "mlflow/artifacts/1/model.pkl": "model",
        ".prefect/prefect.db": "db",
        "reports/campaign_2026-06-30.html": "<html/>",
        "exports/winback/2026-06-30/email.csv": "contact_id\nx\n",
        "dbt_project/target/manifest.json": "{}",
        "dbt_project/logs/dbt.log": "log",
        "winback.toml": "",
    }
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    con = duckdb.connect(str(tmp_path / "warehouse" / "winback.duckdb"))
    try:
        con.execute("create schema reminders")
        con.execute(LEDGER_DDL)
        con.execute(
            f"insert into {LEDGER} values "
            "('o1', 'c1', 'scheduled', ?, 'email', 'b2c', 't1', 'en', 'Please pay', ?, ?, null), "
            "('o2', 'c2', 'cancelled', ?, 'sms', 'b2b', 't2', 'de', 'Bitte zahlen', ?, ?, 'paid')",
            [T0, T0, T0, T0, T0, T0],
        )
        con.execute("create schema history")
        con.execute(history.DDL)
        con.execute(
            f"insert into {history.TABLE} select 'wb-' || i, 'c' || i, 'camp', ?, 'email', "
            "'TEN', 'treatment', 1, ?, ? from range(3) t(i)",
            [T0, T0.date(), T0],
        )
        con.execute("create schema marts")
        con.execute("create table marts.churn_scores as select 'c1' as customer_id, 0.5 as p")
    finally:
        con.close()
    published = duckdb.connect(str(tmp_path / "warehouse" / "published.duckdb"))
    published.execute("create table t as select 1 as x")
    published.close()
    return tmp_path


def durable_rows(warehouse: Path) -> dict[str, list[tuple[object, ...]]]:
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        return {
            LEDGER: con.execute(f"select * from {LEDGER} order by order_id").fetchall(),
            history.TABLE: con.execute(
                f"select * from {history.TABLE} order by contact_id"
            ).fetchall(),
        }
    finally:
        con.close()


def tables(warehouse: Path) -> set[str]:
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        rows = con.execute("select schema_name || '.' || table_name from duckdb_tables()")
        return {name for (name,) in rows.fetchall()}
    finally:
        con.close()


def test_the_durable_tables_are_the_ledger_the_export_history_and_run_failures() -> None:
    assert {LEDGER, history.TABLE, "meta.run_failures"} <= set(DURABLE_TABLES)


def test_clean_removes_generated_state_and_keeps_the_ledger_and_merchant_files(
    project: Path,
) -> None:
    warehouse = project / "warehouse" / "winback.duckdb"
    before = durable_rows(warehouse)

    plan = plan_clean(Settings(), project)
    assert plan.warehouse_action == "rewrite"
    assert plan.preserved_tables == {LEDGER: 2, history.TABLE: 3}
    assert not plan.deleted_durable_tables
    assert {project / name for name in GENERATED} <= set(plan.remove_paths)
    kept = {path for path, _ in plan.keep}
    assert {project / "data/my_shop", project / "data/notes.txt", warehouse} <= kept
    assert project / "data/demo/assumptions" in kept
    assert "reminders.reminder_ledger (2 rows)" in plan.describe()

    report = clean(Settings(), project)

    assert report.warehouse_action == "rewrite"
    assert report.preserved_tables == {LEDGER: 2, history.TABLE: 3}
    assert durable_rows(warehouse) == before
    assert tables(warehouse) == {LEDGER, history.TABLE}  # marts.churn_scores is gone
    for name in GENERATED:
        assert not (project / name).exists(), name
    assert (project / "data/my_shop/orders.csv").read_text() == "order_id,customer_id\nm1,k1\n"
    assert not (project / "mlflow").exists()  # left empty, so pruned
    assert (project / "data/notes.txt").exists()
    assert (project / "data/demo/assumptions/offers.csv").exists()
    assert (project / "winback.toml").exists()
    assert (project / "logs/run_failures.jsonl").exists()
    assert (project / "dbt_project").is_dir()  # only its target/ and logs/ went
    assert not warehouse.with_name(warehouse.name + ".wal").exists()
    assert lock_path_for(warehouse).exists()  # the lock file stays
    assert report.freed_bytes > 0

    # The ledger keeps its DDL: constraints still hold.
    con = duckdb.connect(str(warehouse))
    try:
        with pytest.raises(duckdb.ConstraintException):
            con.execute(f"insert into {LEDGER} (order_id) values ('o3')")
    finally:
        con.close()

    # A second clean has nothing left to remove and keeps the records.
    again = clean(Settings(), project)
    assert again.removed == []
    assert durable_rows(warehouse) == before


def test_clean_all_removes_data_and_the_whole_warehouse(project: Path) -> None:
    plan = plan_clean(Settings(), project, everything=True)
    assert plan.deleted_durable_tables == {LEDGER: 2, history.TABLE: 3}
    assert "DELETES the durable records" in plan.describe()

    report = clean(Settings(), project, everything=True)

    assert report.warehouse_action == "remove"
    assert not (project / "data").exists()
    assert not (project / "warehouse" / "winback.duckdb").exists()
    for name in GENERATED:
        assert not (project / name).exists(), name
    assert (project / "winback.toml").exists()


def test_everything_must_be_an_explicit_true(project: Path) -> None:
    with pytest.raises(TypeError):
        clean(Settings(), project, everything="yes")  # type: ignore[arg-type]
    assert (project / "data/demo/orders.csv").exists()


def test_a_warehouse_without_durable_rows_is_removed(project: Path) -> None:
    warehouse = project / "warehouse" / "winback.duckdb"
    con = duckdb.connect(str(warehouse))
    con.execute(f"delete from {LEDGER}")
    con.execute(f"drop table {history.TABLE}")
    con.close()

    report = clean(Settings(), project)

    assert report.warehouse_action == "remove"
    assert not warehouse.exists()
    assert (project / "data/my_shop/orders.csv").exists()


def test_a_data_folder_without_the_demo_marker_is_the_merchants(project: Path) -> None:
    (project / "data/demo/truth/world.json").unlink()

    clean(Settings(), project)

    assert (project / "data/demo/orders.csv").exists()
    assert (project / "data/demo/truth/customers_truth.parquet").exists()


def test_an_unreadable_warehouse_stops_the_default_clean(project: Path) -> None:
    warehouse = project / "warehouse" / "winback.duckdb"
    warehouse.write_bytes(b"not a duckdb file" * 512)

    with pytest.raises(CleanError, match="nothing was removed"):
        clean(Settings(), project)

    assert (project / "reports").exists()
    assert (project / "data/demo/orders.csv").exists()


def test_paths_outside_the_project_are_kept_except_the_warehouses_generated_siblings(
    project: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    elsewhere = tmp_path_factory.mktemp("elsewhere")
    warehouse = elsewhere / "wh" / "winback.duckdb"
    warehouse.parent.mkdir()
    (project / "warehouse" / "winback.duckdb").rename(warehouse)
    (warehouse.parent / "dbt_target").mkdir()
    (warehouse.parent / "someone_elses.txt").write_text("x")
    (elsewhere / "reports").mkdir()
    settings = Settings(
        warehouse={"path": warehouse},
        decisions={"report_dir": elsewhere / "reports"},
        export={"dir": project / "data"},  # a setting that would delete merchant files
    )

    plan = plan_clean(settings, project)
    kept = dict(plan.keep)
    assert "outside the project folder" in kept[elsewhere / "reports"]
    assert "which is kept" in kept[project / "data"]

    clean(settings, project)

    assert not (warehouse.parent / "dbt_target").exists()
    assert (warehouse.parent / "someone_elses.txt").exists()
    assert (elsewhere / "reports").exists()
    assert (project / "data/my_shop/orders.csv").exists()
    assert tables(warehouse) == {LEDGER, history.TABLE}
    assert (project / "reports").exists()  # not the configured report folder: not touched


def test_clean_refuses_while_a_run_holds_the_lock(project: Path) -> None:
    warehouse = project / "warehouse" / "winback.duckdb"
    before = durable_rows(warehouse)
    with lock_held_elsewhere(warehouse):
        with pytest.raises(RunLockedError, match="nightly"):
            clean(Settings(), project)
        with pytest.raises(RunLockedError):
            clean(Settings(), project, everything=True)

    for name in GENERATED:
        assert (project / name).exists(), name
    assert tables(warehouse) == {LEDGER, history.TABLE, "marts.churn_scores"}
    assert durable_rows(warehouse) == before


def test_rows_only_in_the_write_ahead_log_are_kept(project: Path) -> None:
    warehouse = project / "warehouse" / "winback.duckdb"
    # A process that dies before its checkpoint leaves the new rows in winback.duckdb.wal.
    subprocess.run(
        [
            sys.executable,
            "-c",
            "import os, sys, duckdb\n"
            "con = duckdb.connect(sys.argv[1])\n"
            "con.execute(\"set checkpoint_threshold = '1GB'\")\n"
            f"con.execute(\"update {LEDGER} set status = 'cancelled' where order_id = 'o1'\")\n"
            "os._exit(0)",
            str(warehouse),
        ],
        check=True,
    )
    wal = warehouse.with_name(warehouse.name + ".wal")
    assert wal.exists()

    report = clean(Settings(), project)

    assert report.preserved_tables == {LEDGER: 2, history.TABLE: 3}
    assert not wal.exists()
    rows = durable_rows(warehouse)[LEDGER]
    assert [row[2] for row in rows] == ["cancelled", "cancelled"]
