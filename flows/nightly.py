"""The nightly flow: load → dbt build → validate → train → register → score → publish."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pandas as pd
from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE
from prefect.states import State

from winback.config import Settings
from winback.expectations import customer_features as features_suite
from winback.expectations.runner import DataValidationError, ValidationReport, run_suite
from winback.flows.decisions import DecisionsResult, publish_winback_decisions_task
from winback.ingest import LoadReport, load_data_dir
from winback.models import baselines, promotion, scoring, tracking, training, value
from winback.models.evaluation import evaluate
from winback.models.params import ModelParams, TrainParams
from winback.stages import StageClock, StageFigure
from winback.transform import FEATURE_BUILD, run_dbt
from winback.warehouse import (
    previous_scored_customers,
    publish_churn_scores,
    read_customer_features,
    read_purchase_dates,
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
    stages: list[StageFigure]
    decisions: DecisionsResult


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
    """dbt build: staging → intermediate → marts, with dbt's own tests. The decision
    models need this run's scores and the reminder models have their own flow."""
    nodes = run_dbt(FEATURE_BUILD, settings, as_of)
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


def model_params(settings: Settings) -> ModelParams:
    """The model lifecycle's settings for this run (seed from ``WINBACK_SEED``)."""
    return ModelParams(lightgbm=TrainParams(seed=settings.seed))


@dataclass
class TrainingOutcome:
    """The new model version, its validation metrics and the promotion decision."""

    registered: tracking.RegisteredModel
    metrics: dict[str, float]
    decision: promotion.PromotionDecision


def _metrics_markdown(
    model: dict[str, float],
    others: dict[str, dict[str, float]],
    decision: promotion.PromotionDecision,
) -> str:
    names = tracking.LEADERBOARD_METRICS
    lines = ["| | " + " | ".join(names) + " |", "|---" * (len(names) + 1) + "|"]
    for label, metrics in {"model": model, **others}.items():
        lines.append(f"| {label} | " + " | ".join(f"{metrics[n]:.4f}" for n in names) + " |")
    verdict = "promoted to champion" if decision.promote else "stays challenger"
    return "\n".join([*lines, "", f"**Promotion:** {verdict}: {decision.reason}"])


@task(cache_policy=NO_CACHE)
def train_and_register(
    settings: Settings, features: pd.DataFrame, as_of: dt.date
) -> TrainingOutcome:
    """Train and calibrate on labelled snapshots, evaluate with the baselines, log to
    MLflow, register as challenger and promote if not worse than the champion."""
    logger = get_run_logger()
    params = model_params(settings)
    frame = training.split_by_snapshot(features)
    trained = training.train(frame, params)
    baseline_probabilities = baselines.baseline_probabilities(
        frame, settings.horizon_days, params.bgnbd_penalizer
    )
    value_metrics = value.validate_future_value(
        features, read_purchase_dates(settings.warehouse_path), params.bgnbd_penalizer
    )
    tracking.use_store(
        settings.mlflow_tracking_uri, settings.mlflow_experiment, settings.mlflow_artifact_dir
    )
    # The champion is scored on this run's validation snapshot before anything moves.
    champion, champion_metrics = None, None
    try:
        found = tracking.champion_metrics_on(settings.model_name, frame.valid, params)
        if found is not None:
            champion, champion_metrics = found
        decision = promotion.decide(trained.metrics, champion_metrics, params.promotion)
    except ValueError as exc:
        champion = tracking.current_champion(settings.model_name)
        decision = promotion.PromotionDecision(True, f"champion cannot be compared: {exc}", {})
    registered = tracking.log_training_run(
        trained,
        params,
        model_name=settings.model_name,
        tags={"as_of_date": as_of.isoformat(), "horizon_days": str(settings.horizon_days)},
        baseline_probabilities=baseline_probabilities,
        extra_metrics=value_metrics,
    )
    tracking.record_decision(registered, champion, decision)
    logger.info("model version %s: %s; %s", registered.version, trained.metrics, decision.reason)
    labels = training.labels(frame.valid)
    others = {
        f"baseline {name}": evaluate(labels, p, params.profit, params.calibration_bins)
        for name, p in baseline_probabilities.items()
    }
    if champion is not None and champion_metrics is not None:
        others[f"champion v{champion.version}"] = champion_metrics
    create_markdown_artifact(
        key="model-metrics",
        markdown=f"## Model v{registered.version} on validation snapshot {frame.valid_date}\n\n"
        + _metrics_markdown(trained.metrics, others, decision),
        description="Validation metrics: model, baselines, champion",
    )
    board = tracking.leaderboard(settings.mlflow_experiment, settings.model_name, limit=15)
    create_table_artifact(
        key="model-leaderboard",
        table=board.astype(object).where(board.notna(), None).to_dict("records"),
        description="Recent runs and baselines (winback models compare)",
    )
    return TrainingOutcome(registered, trained.metrics, decision)


@task(cache_policy=NO_CACHE)
def score_and_publish(
    settings: Settings, features: pd.DataFrame, as_of: dt.date
) -> tuple[int, str]:
    """Score the as-of snapshot with the champion and publish ``marts.churn_scores``."""
    tracking.use_store(
        settings.mlflow_tracking_uri, settings.mlflow_experiment, settings.mlflow_artifact_dir
    )
    model, version, columns = tracking.load_champion(settings.model_name)
    current = features[features["is_scoring_snapshot"].astype(bool)].reset_index(drop=True)
    scores = scoring.score(model, current, columns, model_params(settings))  # type: ignore[arg-type]
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
    clock = StageClock()
    with clock.stage("ingest"):
        load = load_raw(settings)
    as_of = load.as_of
    with clock.stage("dbt build"):
        build_features(settings, as_of)
    with clock.stage("validation"):
        features = validate_features(settings, as_of)
    with clock.stage("training"):
        outcome = train_and_register(settings, features, as_of)
    metrics = outcome.metrics
    with clock.stage("scoring + publish"):
        scored, version = score_and_publish(settings, features, as_of)
    with clock.stage("decisions"):
        decisions = publish_winback_decisions_task(settings, as_of)
    verdict = "promoted" if outcome.decision.promote else "kept as challenger"
    summary = (
        f"## Nightly run as of {as_of}\n\n"
        f"- customers scored: {scored:,} with champion version {version}\n"
        f"- new model `{outcome.registered.name}` version {outcome.registered.version}: "
        f"validation ROC-AUC {metrics['roc_auc']:.3f}, Brier {metrics['brier']:.4f}; "
        f"{verdict} ({outcome.decision.reason})\n"
        f"- win-back list: {decisions.contacted:,} customers to contact "
        f"(+{decisions.control:,} control), {decisions.excluded:,} excluded, "
        f"{decisions.service_recovery:,} for service recovery; committed cost "
        f"{decisions.committed_cost:,.0f}, expected profit {decisions.expected_profit:,.0f}; "
        f"report `{decisions.report_path}`\n"
        f"- rows quarantined: {load.rows_quarantined:,}\n"
        f"- warehouse: `{settings.warehouse_path}` (table `marts.churn_scores`)\n"
    )
    summary += "\n### Stages\n\n" + clock.to_markdown() + "\n"
    create_markdown_artifact(key="nightly-summary", markdown=summary, description="Nightly run")
    return NightlyResult(
        as_of, load, scored, version, metrics, settings.warehouse_path, clock.figures, decisions
    )
