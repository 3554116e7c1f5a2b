"""The dbt project is portable: the same models build on Apache Spark with the same rows.

A small demo shop is loaded by the real ingestion into DuckDB and built there with
``dbt build``. Its ``raw.*`` tables are then copied (as parquet) into a local Spark
session (dbt-spark's ``session`` method, no server, nothing downloaded), the same project
is built with ``--target spark`` and the same vars, and every model is compared with its
DuckDB twin: row counts, and the sums of its numeric columns.
"""

from __future__ import annotations

import datetime as dt
import math
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pytest

from tests.shops import settings_for
from winback.config import Settings
from winback.demo.generate import generate_shop
from winback.demo.spec import ShopSpec
from winback.ingest import load_data_dir
from winback.transform import DbtNodeResult, run_dbt

pyspark = pytest.importorskip("pyspark", reason="dbt-spark[session] is in the dev extra")
pytestmark = pytest.mark.spark  # runs under `make test`; `-m "not spark"` leaves it out

AS_OF = dt.date(2026, 6, 30)
# Schemas dbt builds into (generate_schema_name keeps them as configured).
MODEL_SCHEMAS = ("staging", "intermediate", "marts", "reference")


def spark_session(root: Path) -> Any:
    """A local two-core Spark with its warehouse and Derby metastore under ``root``."""
    from pyspark.sql import SparkSession

    root.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")  # loopback only, no hostname lookup
    return (
        SparkSession.builder.master("local[2]")
        .appName("winback-portability")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.shuffle.partitions", "4")
        .config("spark.default.parallelism", "2")
        .config("spark.driver.memory", "1g")
        .config("spark.sql.warehouse.dir", str(root / "warehouse"))
        .config("spark.local.dir", str(root / "local"))
        .config("spark.driver.extraJavaOptions", f"-Dderby.system.home={root}")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.ansi.enabled", "false")  # as the spark target sets it
        # DuckDB writes timestamps without a time zone; read them as Spark's TIMESTAMP.
        .config("spark.sql.parquet.inferTimestampNTZ.enabled", "false")
        # Spark's own in-memory catalogue: the Hive metastore (Derby) made the build ~2x slower.
        .config("spark.sql.catalogImplementation", "in-memory")
        .config("spark.ui.showConsoleProgress", "false")
        .getOrCreate()
    )


def copy_raw_tables(warehouse: Path, spark: Any, export_dir: Path) -> list[str]:
    """Every table ingestion writes (``raw.*``, including its ``raw._loads`` bookkeeping,
    and ``quarantine.rejected_rows``), as Spark tables of the same names: the dbt sources."""
    export_dir.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(warehouse))
    try:
        tables = [
            f"{schema}.{name}"
            for schema, name in con.execute(
                "select table_schema, table_name from information_schema.tables "
                "where table_schema in ('raw', 'quarantine') order by 1, 2"
            ).fetchall()
        ]
        for table in tables:
            con.execute(f"copy {table} to '{export_dir / table}.parquet' (format parquet)")
    finally:
        con.close()
    for schema in {table.split(".")[0] for table in tables}:
        spark.sql(f"create database if not exists {schema}")
    for table in tables:
        schema, name = table.split(".")
        frame = spark.read.parquet(str(export_dir / f"{table}.parquet"))
        frame.write.mode("overwrite").format("parquet").saveAsTable(f"{schema}.`{name}`")
    return tables


def duckdb_models(warehouse: Path) -> dict[str, list[tuple[str, str]]]:
    """``schema.table`` → numeric columns, for every table dbt built in DuckDB."""
    con = duckdb.connect(str(warehouse))
    try:
        rows = con.execute(
            "select table_schema || '.' || table_name, column_name, data_type "
            "from information_schema.columns where table_schema in "
            f"({', '.join(repr(s) for s in MODEL_SCHEMAS)}) "
            "order by table_schema, table_name, ordinal_position"
        ).fetchall()
    finally:
        con.close()
    models: dict[str, list[tuple[str, str]]] = {}
    for table, column, data_type in rows:
        models.setdefault(table, [])
        if data_type.split("(")[0] in {
            "BIGINT",
            "INTEGER",
            "HUGEINT",
            "DOUBLE",
            "FLOAT",
            "DECIMAL",
            "SMALLINT",
        }:
            models[table].append((column, data_type))
    return models


# Hashes are the engine's own (DuckDB's hash, Spark's xxhash64): each engine compares its
# digests only with its own (int_snapshot_inputs_digested, issue 19).
ENGINE_SPECIFIC_COLUMNS = {"row_digest"}


def profile(
    count: Any, table: str, numeric: list[tuple[str, str]], quote: str
) -> tuple[int, dict[str, float | None]]:
    """Row count and the sum of every numeric column of one table, as plain Python."""
    sums = ", ".join(f"sum(cast({quote}{c}{quote} as double))" for c, _ in numeric)
    row = count(f"select count(*){', ' + sums if sums else ''} from {table}")
    return int(row[0]), {c: row[i + 1] for i, (c, _) in enumerate(numeric)}


@pytest.fixture(scope="module")
def duckdb_build(tmp_path_factory: pytest.TempPathFactory) -> tuple[Settings, Path]:
    root = tmp_path_factory.mktemp("portability")
    generate_shop(ShopSpec(n_customers=300, seed=23, as_of=AS_OF), root / "data")
    warehouse = root / "duckdb" / "winback.duckdb"
    load_data_dir(warehouse, root / "data", AS_OF)
    settings = settings_for(warehouse)
    run_dbt(["build"], settings, AS_OF)
    return settings, root


@pytest.fixture(scope="module")
def spark(duckdb_build: tuple[Settings, Path]) -> Iterator[Any]:
    _, root = duckdb_build
    session = spark_session(root / "spark")
    try:
        yield session
    finally:
        session.stop()
        # py4j keeps the JVM for the process; forget the session so nothing reuses it.
        from pyspark.sql import SparkSession

        SparkSession._instantiatedSession = None  # type: ignore[attr-defined]
        SparkSession._activeSession = None  # type: ignore[attr-defined]


def test_project_builds_on_spark_with_the_same_rows(
    duckdb_build: tuple[Settings, Path], spark: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings, root = duckdb_build
    copy_raw_tables(settings.warehouse.path, spark, root / "raw_parquet")

    # Same vars (run_dbt derives them from the same settings and as-of date); the target
    # folder sits beside a Spark "warehouse" path of its own so the two runs never mix.
    monkeypatch.setenv("WINBACK_SPARK_SCHEMA", "winback")
    spark_settings = settings_for(root / "spark" / "wh.duckdb")
    nodes: list[DbtNodeResult] = run_dbt(["build", "--target", "spark"], spark_settings, AS_OF)

    built = {
        n.name for n in nodes if n.resource_type in {"model", "seed"} and n.status == "success"
    }
    tests = [n for n in nodes if n.resource_type in {"test", "unit_test"}]
    assert len(tests) >= 50 and all(n.status == "pass" for n in tests)

    models = duckdb_models(settings.warehouse.path)
    assert len(models) >= 40
    assert {table.split(".")[1] for table in models} <= built, "a model did not build on Spark"
    con = duckdb.connect(str(settings.warehouse.path))
    mismatches: list[str] = []
    try:
        for table, numeric in models.items():
            on_duckdb = profile(lambda q: con.execute(q).fetchone(), table, numeric, '"')
            on_spark = profile(lambda q: spark.sql(q).collect()[0], table, numeric, "`")
            if on_duckdb[0] != on_spark[0]:
                mismatches.append(f"{table}: {on_duckdb[0]} rows on DuckDB, {on_spark[0]} on Spark")
                continue
            for column, expected in on_duckdb[1].items():
                if column in ENGINE_SPECIFIC_COLUMNS:
                    continue
                actual = on_spark[1][column]
                same = (expected is None and actual is None) or (
                    expected is not None
                    and actual is not None
                    and math.isclose(expected, actual, rel_tol=1e-9, abs_tol=1e-6)
                )
                if not same:
                    mismatches.append(
                        f"{table}.{column}: sum {expected} on DuckDB, {actual} on Spark"
                    )
    finally:
        con.close()
    assert not mismatches, "\n".join(mismatches)
