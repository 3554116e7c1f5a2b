"""The nightly chain on Apache Spark (``WINBACK_ENGINE=spark``; ``flows/nightly.py`` runs
it instead of the DuckDB chain, under the same lock and failure handling).

The same steps as the DuckDB chain, with the rows in Spark: Spark loads the contract files
(``winback.ingest.spark_load``, the same quarantine rules), dbt builds the project with
the ``spark`` target in this process's session, Great Expectations checks the rows read
to the driver (the training sample and the scoring snapshot), the model trains on that
sample (``spark.training_sample_rows``), the champion scores through
``mlflow.pyfunc.spark_udf`` on the executors, the decisions are dbt models with the
allocation between them (``winback.tables.TableStore``), and the tables are published as
Parquet with the same manifest (``winback.spark.publish_parquet``).

What stays on the driver's machine: the run lock, the failure records and the validation
history (the DuckDB file of ``warehouse.path``), MLflow (``mlflow.tracking_uri``) and the
campaign report; the export history (``winback.exports.history``) is kept there too and
handed to the night's Spark catalogue before dbt builds. The export to senders reads the
published Parquet and the customers' contact fields in this session; the drift check
reads the last published night's scores from the Parquet publish. Not on this engine yet:
incremental snapshots (every night builds them all).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pandas as pd
from prefect import get_run_logger
from prefect.artifacts import create_markdown_artifact

from winback import spark as engine
from winback.config import Settings
from winback.decisions.run import DecisionsResult
from winback.exports.history import copy_history
from winback.flows.common import Steps, step
from winback.ingest import LoadReport
from winback.ingest.spark_load import load_data_dir_spark
from winback.models import lifecycle, snapshots, tracking
from winback.publish import PublishReport, read_previous_probabilities
from winback.runs import NightlyResult
from winback.stages import Heartbeat, StageClock
from winback.transform import FEATURE_BUILD, run_dbt
from winback.warehouse import FeatureRead


@step()
def load_raw_spark(settings: Settings, spark: Any, as_of: dt.date | None) -> LoadReport:
    """Spark reads and validates the data directory into ``raw`` and ``quarantine``."""
    logger = get_run_logger()
    report = load_data_dir_spark(
        spark,
        settings.data_dir,
        as_of,
        progress=logger.info,
        max_data_age_days=settings.max_data_age_days,
    )
    logger.info(
        "loaded %s rows, quarantined %s, as of %s (Spark, %s)",
        sum(t.rows_loaded for t in report.tables.values()),
        report.rows_quarantined,
        report.as_of,
        settings.spark.master,
    )
    create_markdown_artifact(
        key="nightly-load",
        markdown=report.to_markdown(),
        description="Rows loaded and quarantined per table",
    )
    return report


@step()
def copy_export_history(settings: Settings, store: Any) -> int:
    """The win-back contacts exported so far (kept in the local DuckDB file) into the
    night's Spark catalogue, where dbt reads them (the response learner, the frequency
    cap R13, the campaign measurement)."""
    rows = copy_history(settings, store)
    get_run_logger().info("export history: %s recorded contact rows handed to Spark", rows)
    return rows


@step()
def build_features_spark(settings: Settings, as_of: dt.date) -> dict[str, float]:
    """dbt build on Spark (the ``spark`` target): staging → intermediate → marts with dbt's
    tests, every snapshot (``--full-refresh``: the snapshot record the incremental build
    keeps is not kept on this engine yet)."""
    logger = get_run_logger()
    with Heartbeat("dbt build", logger.info):
        nodes = run_dbt([*FEATURE_BUILD, "--full-refresh"], settings, as_of, progress=logger.info)
    logger.info("dbt built %d nodes on Spark (every snapshot: full refresh)", len(nodes))
    return {n.name: n.seconds for n in nodes if n.resource_type == "model"}


@step()
def read_features_spark(settings: Settings, spark: Any) -> FeatureRead:
    """The feature rows the run needs, read to the driver: the training snapshots sampled
    to ``min(model.lightgbm.max_train_rows, spark.training_sample_rows)``."""
    plan = snapshots.plan_snapshots(
        engine.snapshot_summaries(spark),
        min(settings.model.lightgbm.max_train_rows, settings.spark.training_sample_rows),
    )
    read = engine.read_features(spark, plan, settings.model.lightgbm.seed)
    get_run_logger().info(read.summary())
    return read


@step()
def score_customers_spark(
    settings: Settings, spark: Any, as_of: dt.date
) -> tuple[int, tracking.VersionRecord]:
    """Score the as-of snapshot on the executors with the version chosen for the date,
    through ``mlflow.pyfunc.spark_udf`` (``winback.spark.score_snapshot``)."""
    tracking.use_store(
        settings.mlflow.tracking_uri, settings.mlflow.experiment, settings.mlflow.artifact_dir
    )
    chosen = lifecycle.choose_model_for(settings.mlflow.model_name, as_of)
    with Heartbeat("scoring", get_run_logger().info):
        count = engine.score_snapshot(spark, chosen.model, as_of, settings.model)
    get_run_logger().info(
        "scored %s customers on Spark with version %s (trained as of %s)",
        count,
        chosen.model.version,
        chosen.as_of,
    )
    return count, chosen


@step()
def read_scores_spark(spark: Any) -> pd.Series:
    """Tonight's churn probabilities (for the drift check against the last night's)."""
    return engine.scored_probabilities(spark)


@step()
def publish_spark(settings: Settings, spark: Any, as_of: str, run_id: str) -> PublishReport:
    """The nightly tables as Parquet with their manifest, switched in at once."""
    report = engine.publish_parquet(spark, settings, flow="nightly", run_id=run_id, as_of=as_of)
    get_run_logger().info(
        "published %s tables as Parquet to %s (CURRENT: %s)",
        len(report.tables),
        report.published_path,
        run_id,
    )
    return report


def spark_chain(
    settings: Settings, send_from: dt.datetime | None, export: bool | None, run_id: str
) -> NightlyResult:
    """The nightly's steps on Spark, under the run lock (``flows/nightly.py``)."""
    from winback.flows.nightly import (
        decide,
        export_list,
        finish,
        load_merchant_assumptions,
        score_drift,
        train_model,
        validate_features,
        validate_raw,
    )

    logger = get_run_logger()
    run = Steps(settings, "nightly")
    clock = StageClock(progress=logger.info)
    with engine.session(settings.spark) as spark:
        store = engine.SparkTables(spark)
        with clock.stage("ingest"):
            load = run(load_raw_spark, settings, spark, settings.as_of)
            run.rows = sum(t.rows_loaded for t in load.tables.values())
            run(validate_raw, settings, load, store)
            run(load_merchant_assumptions, settings, store)
            run(copy_export_history, settings, store)
        with clock.stage("dbt build"):
            model_seconds = run(build_features_spark, settings, load.as_of)
        with clock.stage("validation"):
            read = run(read_features_spark, settings, spark)
            warnings = run(validate_features, settings, read, load.as_of)
        with clock.stage("training"):
            outcome = run(train_model, settings, read, load.as_of)
            read.release()
        with clock.stage("scoring + publish"):
            scored, chosen = run(score_customers_spark, settings, spark, load.as_of)
            probabilities = run(read_scores_spark, spark)
        with clock.stage("decisions"):
            decisions: DecisionsResult = run(decide, settings, load.as_of, send_from, store)
        previous = read_previous_probabilities(settings)
        with clock.stage("publish"):
            published = run(publish_spark, settings, spark, load.as_of.isoformat(), run_id)
            exported = None
            if settings.export.after_nightly if export is None else export:
                exported = run(
                    export_list, settings, load.as_of, settings.as_of is not None, send_from, store
                )
    return finish(
        settings,
        clock,
        load=load,
        scored=scored,
        chosen=chosen,
        outcome=outcome,
        model_seconds=model_seconds,
        warnings=warnings,
        decisions=decisions,
        published=published,
        psi=score_drift(previous, probabilities),
        exported=exported,
    )
