"""The Spark engine's session (``WINBACK_ENGINE=spark``): one SparkSession per process,
built from the ``spark`` settings section.

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
import os
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from winback.config import ModelParams, SparkSettings
from winback.models.tracking import RegisteredModel
from winback.warehouse import SCORE_COLUMNS, SCORED_CUSTOMERS

if TYPE_CHECKING:  # pyspark is imported only when the Spark engine is used
    import pandas as pd
    from pyspark.sql import DataFrame, SparkSession

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
    for key, value in session_conf(settings).items():
        builder = builder.config(key, value)
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
    """A Spark result on the driver as pandas, through Arrow (pyspark's own ``toPandas``
    warns about pandas 3's copy keyword on every call)."""
    return frame.toArrow().to_pandas()


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
    through ``mlflow.pyfunc.spark_udf`` (the executors run the model, the driver never holds
    the rows) into ``scoring.churn_scores`` (the columns of ``warehouse.SCORE_COLUMNS``; the
    risk band from the same edges as the DuckDB engine). Returns the rows scored.

    Reason codes, P(alive) and the 12-month value are not computed on this engine yet:
    those columns are null (``reason_method`` says ``none``)."""
    import mlflow.pyfunc
    from pyspark.sql import functions as F

    from winback.models import spark_scoring

    features = spark.table(FEATURES).where(F.col("as_of_date") == F.lit(as_of))
    types = feature_table_types(spark)
    with tempfile.TemporaryDirectory(prefix="winback-udf-") as tmp:
        path = Path(tmp) / "churn_udf"
        columns = spark_scoring.save_udf_model(registered, types, path)
        udf = mlflow.pyfunc.spark_udf(spark, str(path), result_type="double", env_manager="local")
        inputs = [F.col(c).cast(types[c]).alias(c) for c in columns]
        probability = F.col("churn_probability")
        band = F.lit(params.risk_band_names[0])
        # np.searchsorted(edges, p, side="right") as the DuckDB engine's risk_band: the
        # band after the last edge at or below p.
        for edge, name in zip(params.risk_band_edges, params.risk_band_names[1:], strict=True):
            band = F.when(probability >= F.lit(edge), F.lit(name)).otherwise(band)
        scored = (
            features.select("customer_id", udf(F.struct(*inputs)).alias("churn_probability"))
            .withColumn("risk_band", band)
            .withColumn("model_version", F.lit(registered.version))
            .withColumn("reason_method", F.lit("none"))
        )
        nulls = {
            name: F.lit(None).cast(SPARK_TYPES[sql_type])
            for name, sql_type in SCORE_COLUMNS.items()
            if name not in scored.columns
        }
        scored = scored.withColumns(nulls).select(
            F.lit(as_of).cast("date").alias("as_of_date"),
            *[F.col(name).cast(SPARK_TYPES[t]).alias(name) for name, t in SCORE_COLUMNS.items()],
            F.current_timestamp().alias("scored_at"),
        )
        scored.write.mode("overwrite").format("parquet").saveAsTable(SCORED_CUSTOMERS)
    return int(spark.table(SCORED_CUSTOMERS).count())
