"""The Spark engine computes what the DuckDB engine computes (issue 19).

A small demo shop is loaded by the real ingestion into DuckDB and built there with
``dbt build``. Its ``raw.*`` tables are then copied (as parquet) into a local Spark
session (``winback.spark.session``; dbt-spark's ``session`` method, no server, nothing
downloaded), the same project is built with ``--target spark`` and the same vars, and:

- every model is compared with its DuckDB twin: row counts, and the sums of its numeric
  columns;
- ``marts.customer_features`` row for row, every column (numbers within 1e-9 relative);
- a churn model trained and registered on the DuckDB engine scores the as-of snapshot on
  Spark through ``mlflow.pyfunc.spark_udf`` with the same probabilities (within 1e-6)
  and risk bands as the DuckDB engine's scoring.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd
import pytest

from tests.shops import settings_for
from winback import warehouse
from winback.config import Settings, SparkSettings
from winback.decisions.run import run_decisions
from winback.demo.generate import generate_shop
from winback.demo.spec import ShopSpec
from winback.ingest import load_data_dir
from winback.models import lifecycle, scoring, snapshots, tracking, training
from winback.spark import FEATURES, SparkTables, score_snapshot, session, to_pandas
from winback.tables import DuckDBTables
from winback.transform import DbtNodeResult, run_dbt

pyspark = pytest.importorskip("pyspark", reason="the spark extra (make setup installs it)")
pytestmark = pytest.mark.spark  # runs under `make test`; `-m "not spark"` leaves it out

AS_OF = dt.date(2026, 6, 30)
# Schemas dbt builds into (generate_schema_name keeps them as configured).
MODEL_SCHEMAS = ("staging", "intermediate", "marts", "reference")


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
    # A local two-core Spark with its warehouse under the test's folder.
    with session(
        SparkSettings(warehouse_dir=str(root / "spark" / "warehouse"), driver_memory="1g"),
        app_name="winback-portability",
    ) as active:
        yield active


@pytest.fixture(scope="module")
def spark_build(duckdb_build: tuple[Settings, Path], spark: Any) -> list[DbtNodeResult]:
    """The same project built on Spark from the same raw rows, with the same vars (run_dbt
    derives them from the same settings and as-of date); the target folder sits beside a
    Spark "warehouse" path of its own so the two runs never mix."""
    settings, root = duckdb_build
    copy_raw_tables(settings.warehouse.path, spark, root / "raw_parquet")
    spark_settings = settings_for(root / "spark" / "wh.duckdb")
    return run_dbt(["build", "--target", "spark"], spark_settings, AS_OF)


def test_project_builds_on_spark_with_the_same_rows(
    duckdb_build: tuple[Settings, Path], spark: Any, spark_build: list[DbtNodeResult]
) -> None:
    settings, _ = duckdb_build
    nodes = spark_build

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


def same_values(left: pd.Series, right: pd.Series, rel: float) -> np.ndarray:
    """Row-wise equality of two columns: numbers within ``rel`` relative (and 1e-12
    absolute, for values that sum to zero in a different order), nulls equal to nulls,
    anything else exactly."""
    if pd.api.types.is_numeric_dtype(left) and pd.api.types.is_numeric_dtype(right):
        a, b = left.to_numpy(dtype="float64"), right.to_numpy(dtype="float64")
        return np.isclose(a, b, rtol=rel, atol=1e-12) | (np.isnan(a) & np.isnan(b))
    a_text, b_text = left.astype("string"), right.astype("string")
    return ((a_text == b_text).fillna(False) | (a_text.isna() & b_text.isna())).to_numpy()


def test_every_feature_is_the_same_on_spark_row_for_row(
    duckdb_build: tuple[Settings, Path], spark: Any, spark_build: list[DbtNodeResult]
) -> None:
    settings, _ = duckdb_build
    order = "order by as_of_date, customer_id"
    on_duckdb = DuckDBTables(settings.warehouse).read(f"select * from {FEATURES} {order}")
    on_spark = to_pandas(spark.sql(f"select * from {FEATURES} {order}"))
    assert len(on_duckdb) > 1_000 and on_duckdb["as_of_date"].nunique() > 1
    # Spark keeps a partition column (as_of_date) last; the model reads columns by name.
    assert sorted(on_spark.columns) == sorted(on_duckdb.columns)
    assert len(on_spark) == len(on_duckdb)
    for frame in (on_duckdb, on_spark):
        frame["as_of_date"] = pd.to_datetime(frame["as_of_date"])
    differing = {
        column: int((~same_values(on_duckdb[column], on_spark[column], 1e-9)).sum())
        for column in on_duckdb.columns
    }
    assert not {c: n for c, n in differing.items() if n}, differing


@dataclass(frozen=True)
class Scored:
    """The as-of snapshot scored by one registered version on both engines."""

    on_duckdb: pd.DataFrame
    on_spark: pd.DataFrame
    rows_written_on_spark: int
    version: str


@pytest.fixture(scope="module")
def scored(
    duckdb_build: tuple[Settings, Path],
    spark: Any,
    spark_build: list[DbtNodeResult],
) -> Scored:
    """A churn model trained and registered on the DuckDB engine, as a nightly run does;
    its scores on both engines, each written where that engine's decisions read them."""
    settings, root = duckdb_build
    tmp_path = root / "mlflow"
    # Trained and registered on the DuckDB engine, as a nightly run does.
    tracking.use_store(f"sqlite:///{tmp_path}/mlflow.db", "winback-parity", tmp_path / "art")
    plan = snapshots.plan_snapshots(
        warehouse.snapshot_summaries(settings.warehouse), settings.model.lightgbm.max_train_rows
    )
    read = warehouse.read_features(settings.warehouse, plan, settings.model.lightgbm.seed)
    outcome = lifecycle.train_or_reuse(
        read.frame,
        read.plan,
        settings.model,
        model_name="winback-parity",
        as_of=AS_OF,
        horizon_days=settings.features.horizon_days,
        purchases=None,
        reuse=False,
    )
    model = tracking.load_model(outcome.registered)
    current = read.take_scoring_snapshot()
    # A few exact (TreeSHAP) reasons, path attributions for the other explained customers.
    params = settings.model.model_copy(update={"exact_reason_rows": 40})
    on_duckdb = scoring.score(model, current, training.input_columns(model), params)

    scored = score_snapshot(spark, outcome.registered, AS_OF, params)
    on_duckdb["model_version"] = outcome.registered.version
    warehouse.write_scores(settings.warehouse, AS_OF, on_duckdb)
    return Scored(
        on_duckdb,
        to_pandas(spark.table("scoring.churn_scores")),
        scored,
        outcome.registered.version,
    )


def test_a_registered_model_scores_the_same_on_spark(scored: Scored) -> None:
    on_duckdb, on_spark = scored.on_duckdb, scored.on_spark
    assert scored.rows_written_on_spark == len(on_duckdb) > 100
    joined = on_duckdb.merge(on_spark, on="customer_id", suffixes=("_duckdb", "_spark"))
    assert len(joined) == len(on_duckdb)
    gap = (joined["churn_probability_duckdb"] - joined["churn_probability_spark"]).abs()
    assert gap.max() <= 1e-6, joined.loc[gap.idxmax()]
    assert joined["churn_probability_spark"].std() > 0.01  # a real spread, not a constant
    assert (on_spark["model_version"] == scored.version).all()
    assert (pd.to_datetime(on_spark["as_of_date"]) == pd.Timestamp(AS_OF)).all()
    # The rest of a score too: band, reasons and their method, value, next order date.
    for column in ("p_alive", "expected_value_12m"):
        a, b = joined[f"{column}_duckdb"], joined[f"{column}_spark"]
        assert same_values(a, b, 1e-9).all(), column
    joined["expected_next_order_date_duckdb"] = pd.to_datetime(
        joined["expected_next_order_date_duckdb"]
    )
    joined["expected_next_order_date_spark"] = pd.to_datetime(
        joined["expected_next_order_date_spark"]
    )
    text = [c for c in on_duckdb.columns if c.startswith(("reason", "risk_band"))]
    for column in [*text, "expected_next_order_date"]:
        a, b = joined[f"{column}_duckdb"], joined[f"{column}_spark"]
        assert same_values(a, b, 0).all(), (column, joined.loc[~same_values(a, b, 0)].head())
    methods = set(on_spark["reason_method"].dropna())
    assert {"tree_shap", "path"} <= methods, methods  # both ways of explaining were used


# What a contact is: who, what is done, with what, through which channel and when.
LIST_COLUMNS = [
    "customer_id",
    "action",
    "is_selected",
    "is_control_group",
    "is_contacted",
    "priority_rank",
    "recommended_offer",
    "channel",
    "planned_contacts",
    "contact_1_offer",
    "contact_1_at",
    "contact_2_offer",
    "contact_2_at",
    "contact_3_offer",
    "contact_3_at",
]


def test_the_decisions_on_spark_contact_the_same_customers(
    duckdb_build: tuple[Settings, Path], spark: Any, scored: Scored
) -> None:
    settings, root = duckdb_build

    # Each engine fits its response model in an MLflow store of its own, from its tables.
    def engine_settings(path: Path, name: str, **more: object) -> Settings:
        return settings_for(
            path,
            mlflow={
                "tracking_uri": f"sqlite:///{root}/{name}-mlflow.db",
                "artifact_dir": str(root / f"{name}-artifacts"),
            },
            **more,
        )

    run_decisions(engine_settings(settings.warehouse.path, "duckdb"), AS_OF)
    run_decisions(
        engine_settings(root / "spark" / "wh.duckdb", "spark", engine="spark"),
        AS_OF,
        store=SparkTables(spark),
    )
    order = "order by customer_id"
    on_duckdb = DuckDBTables(settings.warehouse).read(f"select * from marts.winback_list {order}")
    on_spark = to_pandas(spark.sql(f"select * from marts.winback_list {order}"))

    contacted = on_duckdb["is_contacted"].astype(bool)
    assert contacted.sum() >= 10 and (~contacted).sum() >= 1  # a real choice was made
    assert len(on_spark) == len(on_duckdb)
    for column in LIST_COLUMNS:
        a, b = on_duckdb[column], on_spark[column]
        if column.endswith("_at"):
            a, b = pd.to_datetime(a), pd.to_datetime(b)
        same = same_values(a, b, 1e-9)
        assert same.all(), (column, on_duckdb.loc[~same, ["customer_id", column]].head())
    assert sorted(on_spark.columns) == sorted(on_duckdb.columns)
