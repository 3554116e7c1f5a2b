"""The nightly flow: load → dbt build → validate → train → register → score → publish."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pandas as pd
from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE
from prefect.states import State

from winback.config import Settings
from winback.expectations import customer_features as features_suite
from winback.expectations.runner import DataValidationError, ValidationReport, run_suite
from winback.ingest import LoadReport, load_data_dir
from winback.models import scoring, tracking, training
from winback.transform import run_dbt
from winback.warehouse import (
    previous_scored_customers,
    publish_churn_scores,
    read_customer_features,
)


@dataclass
class NightlyResult:
    """What a nightly run produced, for the CLI and tests."""

    as_of: dt.date
    load: LoadReport
    scored_customers: int
    model_version: str
    metrics: dict[str, float]
    warehouse_path: Path


def _is_transient(task: object, task_run: object, state: State) -> bool:
    """Retry only I/O trouble (a locked or briefly unreadable file), never bad data."""
    try:
        state.result()
    except (OSError, duckdb.IOException):
        return True
    except Exception:  # noqa: BLE001 - anything else is not worth a retry
        return False
    return False


@task(retries=2, retry_delay_seconds=5, retry_condition_fn=_is_transient, cache_policy=NO_CACHE)
def load_raw(settings: Settings) -> LoadReport:
    """Validate the data directory into raw + quarantine (file I/O: retried)."""
    logger = get_run_logger()
    report = load_data_dir(
        settings.warehouse_path, settings.data_dir, settings.as_of, progress=logger.info
    )
    logger.info(
        "loaded %s rows, quarantined %s, as of %s",
        sum(t.rows_loaded for t in report.tables.values()),
        report.rows_quarantined,
        report.as_of,
    )
    create_markdown_artifact(
        key="nightly-load",
        markdown=report.to_markdown(),
        description="Rows loaded and quarantined per table",
    )
    return report


@task(cache_policy=NO_CACHE)
def build_features(settings: Settings, as_of: dt.date) -> None:
    """dbt build: staging → intermediate → marts, with dbt's own tests."""
    nodes = run_dbt(["build"], settings, as_of)
    get_run_logger().info("dbt built %d nodes", len(nodes))


@task(cache_policy=NO_CACHE)
def validate_features(settings: Settings, as_of: dt.date) -> pd.DataFrame:
    """Great Expectations gate on the feature mart; raises so nothing is published."""
    features = read_customer_features(settings.warehouse_path)
    suite = features_suite.build_suite(previous_scored_customers(settings.warehouse_path, as_of))
    report: ValidationReport = run_suite(
        features_suite.validation_frame(features),
        "marts.customer_features",
        features_suite.SUITE_NAME,
        suite,
    )
    create_markdown_artifact(
        key="nightly-validation",
        markdown=report.to_markdown(),
        description="Great Expectations on customer_features",
    )
    if not report.success:
        raise DataValidationError(report)
    return features


@task(cache_policy=NO_CACHE)
def train_and_register(
    settings: Settings, features: pd.DataFrame, as_of: dt.date
) -> tuple[tracking.RegisteredModel, dict[str, float]]:
    """Train on labelled snapshots, log to MLflow, register and promote."""
    params = training.TrainParams(seed=settings.seed)
    trained = training.train(training.split_by_snapshot(features), params)
    tracking.use_store(
        settings.mlflow_tracking_uri, settings.mlflow_experiment, settings.mlflow_artifact_dir
    )
    registered = tracking.log_and_register(
        trained,
        params,
        model_name=settings.model_name,
        tags={"as_of_date": as_of.isoformat(), "horizon_days": str(settings.horizon_days)},
    )
    tracking.set_champion(registered)
    get_run_logger().info("model version %s: %s", registered.version, trained.metrics)
    return registered, trained.metrics


@task(cache_policy=NO_CACHE)
def score_and_publish(
    settings: Settings, features: pd.DataFrame, as_of: dt.date
) -> tuple[int, str]:
    """Score the as-of snapshot with the champion and publish ``marts.churn_scores``."""
    tracking.use_store(
        settings.mlflow_tracking_uri, settings.mlflow_experiment, settings.mlflow_artifact_dir
    )
    model, version, columns = tracking.load_champion(settings.model_name)
    current = features[features["is_scoring_snapshot"].astype(bool)]
    scores = scoring.score(model, current, columns)  # type: ignore[arg-type]
    scores["model_version"] = version
    return publish_churn_scores(settings.warehouse_path, as_of, scores), version


def settings_for_run(
    data_dir: str | None = None,
    as_of: dt.date | None = None,
    horizon_days: int | None = None,
) -> Settings:
    """Settings from the environment, with this run's overrides, paths made absolute."""
    overrides: dict[str, object] = {}
    if data_dir is not None:
        overrides["data_dir"] = Path(data_dir)
    if as_of is not None:
        overrides["as_of"] = as_of
    if horizon_days is not None:
        overrides["horizon_days"] = horizon_days
    return Settings(**overrides).resolved()  # type: ignore[arg-type]


@flow(name="nightly", log_prints=True)
def nightly(
    data_dir: str | None = None,
    as_of: dt.date | None = None,
    horizon_days: int | None = None,
) -> NightlyResult:
    """Run the whole nightly chain for one as-of date (default: the latest order date).

    Unset parameters come from the ``WINBACK_*`` settings.
    """
    settings = settings_for_run(data_dir, as_of, horizon_days)
    load = load_raw(settings)
    as_of = load.as_of
    build_features(settings, as_of)
    features = validate_features(settings, as_of)
    registered, metrics = train_and_register(settings, features, as_of)
    scored, version = score_and_publish(settings, features, as_of)
    summary = (
        f"## Nightly run as of {as_of}\n\n"
        f"- customers scored: {scored:,}\n"
        f"- model `{registered.name}` version {version} (champion); "
        f"validation ROC-AUC {metrics['roc_auc']:.3f}\n"
        f"- rows quarantined: {load.rows_quarantined:,}\n"
        f"- warehouse: `{settings.warehouse_path}` (table `marts.churn_scores`)\n"
    )
    create_markdown_artifact(key="nightly-summary", markdown=summary, description="Nightly run")
    return NightlyResult(as_of, load, scored, version, metrics, settings.warehouse_path)
