"""The Spark engine (``WINBACK_ENGINE=spark``): its session (one per run, built from the
``spark`` settings section), and what the nightly reads from and writes to Spark: the
feature reads, the scoring, the table store the decisions use and the Parquet publish
(the DuckDB twins: ``winback.warehouse``, ``winback.tables``, ``winback.publish``).

``local[N]`` runs Spark inside the flow's own process (a JVM started by pyspark: Java 17,
nothing to install or start by hand); any other master (``spark://``, ``yarn``,
``k8s://``) sends the work to that cluster, with ``spark.conf`` for what it needs
(executor memory, credentials for the warehouse directory's file system).

dbt-spark's ``session`` method (the ``spark`` target in ``dbt_project/profiles.yml``)
builds the dbt project in this same session: it calls ``SparkSession.builder.getOrCreate()``
and gets the session made here.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
import os
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from winback.config import ModelParams, Settings, SparkSettings
from winback.frames import frame_from_arrow
from winback.models.snapshots import SnapshotPlan, SnapshotSummary
from winback.models.tracking import RegisteredModel
from winback.publish import PublishReport
from winback.stages import drill_point
from winback.warehouse import SCORE_COLUMNS, SCORED_CUSTOMERS, FeatureRead

if TYPE_CHECKING:  # pyspark is imported only when the Spark engine is used
    import pandas as pd
    from pyspark.sql import DataFrame, SparkSession

    from winback.models.btyd import BuyTillYouDie

# The schemas (Spark databases) of the product's tables: ingestion's, dbt's, scoring's.
DATABASES = ("raw", "quarantine", "staging", "intermediate", "marts", "reference", "scoring")
FEATURES = "marts.customer_features"
# DuckDB's types of the scoring rows (warehouse.SCORE_COLUMNS) in Spark's names.
SPARK_TYPES = {"varchar": "string", "double": "double", "date": "date"}


def session_conf(settings: SparkSettings) -> dict[str, str]:
    """Every Spark configuration the session is built with (the settings' ``conf`` last,
    so a merchant can override any of them)."""
    local = settings.master.startswith("local")
    conf = {
        "spark.sql.warehouse.dir": settings.warehouse_location(),
        "spark.driver.memory": settings.driver_memory,
        "spark.sql.shuffle.partitions": str(settings.shuffle_partitions),
        # The models treat timestamps as UTC wall-clock times (DuckDB's TimeZone: UTC), and
        # expect NULL from a division by zero (ANSI mode raises); dbt's spark target sets
        # the same two (profiles.yml).
        "spark.sql.session.timeZone": "UTC",
        "spark.sql.ansi.enabled": "false",
        # Parquet written by DuckDB or pandas holds timestamps without a zone: Spark's TIMESTAMP.
        "spark.sql.parquet.inferTimestampNTZ.enabled": "false",
        # Spark's own catalogue; the Hive metastore (Derby) made a local build ~2x slower.
        # On a cluster with a metastore, set spark.sql.catalogImplementation=hive in conf.
        "spark.sql.catalogImplementation": "in-memory",
        "spark.ui.showConsoleProgress": "false",
        # Arrow moves rows between Spark and pandas (training sample, scoring UDF).
        "spark.sql.execution.arrow.pyspark.enabled": "true",
    }
    if local:
        conf["spark.ui.enabled"] = "false"
        # Python workers (the scoring UDF) run this interpreter, with this environment's
        # packages; on a cluster, spark.pyspark.python names the executors' Python.
        conf["spark.pyspark.python"] = sys.executable
        conf["spark.default.parallelism"] = str(max(1, settings.shuffle_partitions // 2))
    conf.update(settings.conf)
    return conf


def _forget_last_night(conf: dict[str, str]) -> None:
    """With Spark's in-memory catalogue (the default) a session knows no table of an earlier
    one, and Spark refuses to create a table where last night's files still are: the local
    warehouse directory's databases (``<name>.db``) are removed before the session starts.
    Every night rebuilds all of them (the load, dbt with --full-refresh, scoring,
    decisions); what lasts is published (``publish_parquet``) or kept in MLflow. With a
    metastore (``spark.sql.catalogImplementation=hive`` in ``spark.conf``) nothing is
    removed."""
    import shutil

    location = conf["spark.sql.warehouse.dir"]
    if conf.get("spark.sql.catalogImplementation") != "in-memory" or "://" in location:
        return
    for database in Path(location).glob("*.db"):
        if database.is_dir():
            shutil.rmtree(database)


@contextmanager
def session(settings: SparkSettings, *, app_name: str = "winback") -> Iterator[SparkSession]:
    """The run's SparkSession, stopped afterwards. A local master keeps Spark's scratch files
    beside the warehouse directory and listens on the loopback interface only."""
    from pyspark.sql import SparkSession

    builder = SparkSession.builder.master(settings.master).appName(app_name)
    if settings.master.startswith("local"):
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")  # no hostname lookup
        # pyspark hands its workers PYSPARK_PYTHON (default: python3 on the PATH, without
        # this environment's packages).
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
        location = settings.warehouse_location()
        if "://" not in location:
            scratch = Path(location).parent / "spark-local"
            scratch.mkdir(parents=True, exist_ok=True)
            builder = builder.config("spark.local.dir", str(scratch))
    conf = session_conf(settings)
    for key, value in conf.items():
        builder = builder.config(key, value)
    _forget_last_night(conf)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    try:
        for database in DATABASES:
            spark.sql(f"create database if not exists {database}")
        yield spark
    finally:
        spark.stop()
        # py4j keeps the JVM for the process; forget the session so nothing reuses it.
        SparkSession._instantiatedSession = None
        SparkSession._activeSession = None


# --- what the nightly reads from and writes to Spark (the DuckDB twins: winback.warehouse) ---


def to_pandas(frame: DataFrame) -> pd.DataFrame:
    """A Spark result on the driver as pandas, in the dtypes DuckDB's ``.df()`` gives the
    same SQL types (:func:`winback.frames.frame_from_arrow`), timestamps as naive
    datetime64[us] (UTC wall clock), so Python reads either engine's tables alike. Through
    Arrow (pyspark's own ``toPandas`` warns about pandas 3's copy keyword on every call)."""
    import pyarrow as pa

    table = frame.toArrow()
    naive = pa.schema(
        [
            pa.field(f.name, pa.timestamp("us") if pa.types.is_timestamp(f.type) else f.type)
            for f in table.schema
        ]
    )
    return frame_from_arrow(table.cast(naive))


class SparkTables:
    """The :class:`winback.tables.TableStore` of the Spark engine: dbt's tables in the
    session's catalogue; frames travel through Arrow."""

    def __init__(self, spark: SparkSession) -> None:
        self.spark = spark

    def _frame(self, frame: pd.DataFrame) -> DataFrame:
        import pyarrow as pa

        return self.spark.createDataFrame(pa.Table.from_pandas(frame, preserve_index=False))

    def read(self, sql: str, frames: dict[str, pd.DataFrame] | None = None) -> pd.DataFrame:
        for name, frame in (frames or {}).items():
            self._frame(frame).createOrReplaceTempView(name)
        return to_pandas(self.spark.sql(sql))

    def has_table(self, table: str) -> bool:
        return bool(self.spark.catalog.tableExists(table))

    def drop_table(self, table: str) -> None:
        self.spark.sql(f"drop table if exists {table}")

    def replace(self, table: str, frame: pd.DataFrame, select: str) -> int:
        self.spark.sql(f"create database if not exists {table.split('.')[0]}")
        self._frame(frame).createOrReplaceTempView("frame")
        self.spark.sql(select).write.mode("overwrite").format("parquet").saveAsTable(table)
        return int(self.spark.table(table).count())


def feature_table_types(spark: SparkSession, table: str = FEATURES) -> dict[str, str]:
    """Each column of the feature table as the churn UDF takes it: ``string`` for text,
    ``double`` for every number and flag (``models.spark_scoring.save_udf_model``)."""
    from pyspark.sql.types import StringType

    return {
        field.name: "string" if isinstance(field.dataType, StringType) else "double"
        for field in spark.table(table).schema.fields
    }


def score_snapshot(
    spark: SparkSession,
    registered: RegisteredModel,
    as_of: dt.date,
    params: ModelParams,
) -> int:
    """Score the as-of snapshot of ``marts.customer_features`` with a registered version
    into ``scoring.churn_scores`` (the columns of ``warehouse.SCORE_COLUMNS``), as the
    DuckDB engine's ``scoring.score`` does, with the rows staying on the executors:

    1. the churn probability through ``mlflow.pyfunc.spark_udf`` (``models.spark_scoring``);
    2. the BTYD value model fitted on the driver, from the four columns it reads;
    3. each customer's value at stake (executors), and the ``exact_reason_rows`` customers
       with the most of it explained exactly (Spark SQL: the same order as the DuckDB
       engine's, ties by customer id);
    4. reasons, value and risk band, partition by partition (executors).

    Returns the rows scored."""
    import mlflow.pyfunc
    from pyspark.sql import functions as F

    from winback.models import spark_scoring, tracking
    from winback.models.btyd import fit_btyd
    from winback.models.training import is_tree_model

    features = spark.table(FEATURES).where(F.col("as_of_date") == F.lit(as_of))
    types = feature_table_types(spark)
    model = tracking.load_model(registered)
    with tempfile.TemporaryDirectory(prefix="winback-udf-") as tmp:
        path = Path(tmp) / "churn_udf"
        columns = spark_scoring.save_udf_model(registered, types, path)
        # env_manager="local": the executors use the environment the project ships (README:
        # pointing it at a cluster), so MLflow's advice to rebuild one with conda is noise.
        pyfunc_log = logging.getLogger("mlflow.pyfunc")
        level = pyfunc_log.level
        pyfunc_log.setLevel(logging.ERROR)
        try:
            udf = mlflow.pyfunc.spark_udf(
                spark, str(path), result_type="double", env_manager="local"
            )
        finally:
            pyfunc_log.setLevel(level)
        inputs = [F.col(c).cast(types[c]).alias(c) for c in columns]
        scored = features.withColumn("churn_probability", udf(F.struct(*inputs))).persist()
        try:
            rows = scored.count()  # the UDF runs once, here
            history = to_pandas(
                scored.select(*BTYD_COLUMNS).orderBy("customer_id")  # the DuckDB row order
            )
            value_model = fit_btyd(history, params.bgnbd_penalizer)
            priorities = scored.mapInPandas(
                functools.partial(_priorities, value_model=value_model, params=params),
                "customer_id string, priority double, is_explained boolean",
            )
            explained = F.col("is_explained")
            if is_tree_model(model):
                exact = (
                    priorities.where(explained)
                    .orderBy(F.col("priority").desc(), F.col("customer_id"))
                    .limit(params.exact_reason_rows)
                    .select("customer_id", F.lit(True).alias("is_exact"))
                )
                methods = priorities.join(exact, "customer_id", "left").select(
                    "customer_id",
                    F.when(F.col("is_exact"), F.lit("tree_shap"))
                    .when(explained, F.lit("path"))
                    .alias("reason_method"),
                )
            else:  # the label-free baseline explains itself
                methods = priorities.select(
                    "customer_id", F.when(explained, F.lit("occlusion")).alias("reason_method")
                )
            names = [name for name in SCORE_COLUMNS if name != "model_version"]
            schema = ", ".join(f"{name} {SPARK_TYPES[SCORE_COLUMNS[name]]}" for name in names)
            result = (
                scored.join(methods, "customer_id")
                .mapInPandas(
                    functools.partial(
                        _scores,
                        model=model,
                        columns=columns,
                        value_model=value_model,
                        params=params,
                        names=names,
                    ),
                    schema,
                )
                .select(
                    F.lit(as_of).cast("date").alias("as_of_date"),
                    *[
                        F.lit(registered.version).alias(name)
                        if name == "model_version"
                        else F.col(name)
                        for name in SCORE_COLUMNS
                    ],
                    F.current_timestamp().alias("scored_at"),
                )
            )
            result.write.mode("overwrite").format("parquet").saveAsTable(SCORED_CUSTOMERS)
        finally:
            scored.unpersist()
    written = int(spark.table(SCORED_CUSTOMERS).count())
    if written != rows:
        raise RuntimeError(
            f"scored {rows} customers of {FEATURES} as of {as_of} but wrote {written} to "
            f"{SCORED_CUSTOMERS}. This is a Winback bug; please report it."
        )
    return written


def scored_probabilities(spark: SparkSession) -> pd.Series:
    """The churn probabilities ``score_snapshot`` wrote, on the driver (one column)."""
    return to_pandas(spark.table(SCORED_CUSTOMERS).select("churn_probability"))["churn_probability"]


# The columns the BTYD value model reads (models.btyd.purchase_history), with the keys.
BTYD_COLUMNS = (
    "customer_id",
    "as_of_date",
    "tenure_days",
    "recency_days",
    "purchase_count",
    "avg_order_value",
)


def _priorities(
    batches: Iterator[pd.DataFrame], value_model: BuyTillYouDie, params: ModelParams
) -> Iterator[pd.DataFrame]:
    from winback.models.spark_scoring import priority_batch

    for batch in batches:
        yield priority_batch(batch, value_model, params)


def _scores(
    batches: Iterator[pd.DataFrame],
    model: Any,
    columns: list[str],
    value_model: BuyTillYouDie,
    params: ModelParams,
    names: list[str],
) -> Iterator[pd.DataFrame]:
    from winback.models.spark_scoring import scores_batch

    for batch in batches:
        yield scores_batch(batch, model, columns, value_model, params).reindex(columns=names)


# --- the feature reads of the nightly (the DuckDB twins: warehouse.snapshot_summaries,
# warehouse.read_features) ----------------------------------------------------------------


def snapshot_summaries(spark: SparkSession) -> list[SnapshotSummary]:
    """Every snapshot of the feature table: date, rows, labelled, scoring (one query)."""
    rows = spark.sql(
        "select as_of_date, count(*), bool_or(is_label_observed), bool_or(is_scoring_snapshot) "
        f"from {FEATURES} group by as_of_date order by as_of_date"
    ).collect()
    return [SnapshotSummary(r[0], int(r[1]), bool(r[2]), bool(r[3])) for r in rows]


def read_features(spark: SparkSession, plan: SnapshotPlan, seed: int) -> FeatureRead:
    """The rows of the feature table ``plan`` asks for, on the driver: the scoring,
    calibration and validation snapshots whole, and of each training snapshot its quota
    (``spark.training_sample_rows`` bounds the plan), the first by a seeded hash of
    (customer, as-of date): Spark's xxhash64, so the sample is not DuckDB's, but the same
    table and seed read the same rows. Ordered by (as_of_date, customer_id), as the DuckDB
    engine's read."""
    import pandas as pd

    parts = []
    for as_of_date in plan.read_dates:
        quota = plan.quota(as_of_date)
        day = f"date '{as_of_date.isoformat()}'"
        if quota is None:
            sql = f"select * from {FEATURES} where as_of_date = {day}"
        else:
            sql = (
                f"select * from (select * from {FEATURES} where as_of_date = {day} order by "
                f"xxhash64(concat_ws('|', customer_id, cast(as_of_date as string), '{seed}')), "
                f"customer_id limit {int(quota)})"
            )
        parts.append(to_pandas(spark.sql(sql + " order by customer_id")))
    frame = pd.concat(parts, ignore_index=True)
    return FeatureRead(frame, plan)


# --- publishing (the DuckDB twin: winback.publish) ------------------------------------------


def publish_parquet(
    spark: SparkSession, settings: Settings, *, flow: str, run_id: str, as_of: str
) -> PublishReport:
    """Publish ``flow``'s tables as Parquet for analysts, all at once or not at all:

    1. each table is written to ``published/runs/<run_id>/<schema.table>/``;
    2. ``_manifest.json`` beside them holds what DuckDB's published file keeps in
       ``meta.publish_runs`` and ``meta.published_tables`` (same columns);
    3. ``published/CURRENT`` (the run id) is replaced in one rename: readers follow it.

    A run that dies before step 3 leaves CURRENT on the previous run; its folder is
    removed by the next publish, which also keeps only the newest three runs."""
    import json
    import shutil

    from winback.publish import (
        FLOW_TABLES,
        PARQUET_CURRENT,
        PARQUET_MANIFEST,
        PARQUET_RUNS,
        parquet_published_dir,
    )

    root = parquet_published_dir(settings)
    runs = root / PARQUET_RUNS
    runs.mkdir(parents=True, exist_ok=True)
    current_file = root / PARQUET_CURRENT
    previous = current_file.read_text().strip() if current_file.exists() else None
    target = runs / run_id
    shutil.rmtree(target, ignore_errors=True)
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None).isoformat(sep=" ")
    counts: dict[str, int] = {}
    for table in FLOW_TABLES[flow]:
        if not spark.catalog.tableExists(table):
            continue
        frame = spark.table(table)
        frame.write.mode("overwrite").parquet(str(target / table))
        counts[table] = int(spark.read.parquet(str(target / table)).count())
    manifest = {
        "publish_runs": [{"run_id": run_id, "flow": flow, "as_of": as_of, "published_at": now}],
        "published_tables": [
            {"table_name": t, "run_id": run_id, "flow": flow, "row_count": n}
            for t, n in counts.items()
        ],
    }
    (target / PARQUET_MANIFEST).write_text(json.dumps(manifest, indent=2))
    drill_point("publish:before-rename")
    pointer = root / f"{PARQUET_CURRENT}.tmp-{os.getpid()}"
    pointer.write_text(run_id + "\n")
    os.replace(pointer, current_file)
    keep = {run_id, previous}
    for old in sorted(runs.iterdir(), key=lambda p: p.stat().st_mtime, reverse=True)[3:]:
        if old.name not in keep:
            shutil.rmtree(old, ignore_errors=True)
    return PublishReport(root, run_id, flow, counts, dict(counts))  # written whole
