"""The nightly flow: load → dbt build → validate → train → register → score → decide →
publish.

The whole chain runs under the warehouse's run lock (one run at a time) and writes only
the private working warehouse; the analysts' file is replaced in one atomic rename at
the very end (``winback.publish``), so a run that dies anywhere publishes nothing.
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE
from prefect.context import FlowRunContext

from winback.config import Settings
from winback.expectations import customer_features as features_suite
from winback.expectations import raw_orders as raw_suite
from winback.expectations.runner import DataValidationError, ValidationReport, run_suite
from winback.flows.decisions import DecisionsResult, publish_winback_decisions_task
from winback.flows.retry import is_transient
from winback.ingest import LoadReport, load_data_dir
from winback.locking import run_lock
from winback.models import baselines, promotion, scoring, tracking, training, value
from winback.models.drift import population_stability_index
from winback.models.evaluation import evaluate
from winback.models.params import ModelParams, TrainParams
from winback.publish import PublishReport, publish, read_previous_probabilities
from winback.resume import FEATURES_DIGEST_TAG, features_digest, trained_version_for
from winback.stages import StageClock, StageFigure
from winback.transform import FEATURE_BUILD, run_dbt
from winback.warehouse import (
    FeatureRead,
    previous_scored_customers,
    publish_churn_scores,
    read_features_for_run,
    read_purchase_dates,
    read_raw_orders,
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
    published: PublishReport
    psi: float | None
    model_reused: bool
    drift_flagged: bool = False


@task(retries=2, retry_delay_seconds=5, retry_condition_fn=is_transient, cache_policy=NO_CACHE)
def load_raw(settings: Settings) -> LoadReport:
    """Validate the data directory into raw + quarantine (file I/O: retried)."""
    logger = get_run_logger()
    report = load_data_dir(
        settings.warehouse_path,
        settings.data_dir,
        settings.as_of,
        progress=logger.info,
        memory_limit=settings.duckdb_memory_limit,
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
def validate_raw(settings: Settings, load: LoadReport) -> None:
    """Great Expectations gate on the loaded orders (before dbt): raises on failure."""
    orders = load.tables.get("orders")
    frame = raw_suite.validation_frame(
        read_raw_orders(settings.warehouse_path),
        orders.rows_read if orders else 0,
        orders.rows_quarantined if orders else 0,
    )
    report = run_suite(
        frame,
        raw_suite.TABLE,
        raw_suite.SUITE_NAME,
        raw_suite.build_suite(settings.max_quarantined_share),
        docs_dir=data_docs_dir(settings),
    )
    create_markdown_artifact(
        key="nightly-raw-validation",
        markdown=report.to_markdown(),
        description="Great Expectations on raw.orders",
    )
    if not report.success:
        raise DataValidationError(report)


def data_docs_dir(settings: Settings) -> Path:
    """Great Expectations Data Docs live beside the warehouse they describe."""
    return settings.warehouse_path.parent / "data_docs"


@task(cache_policy=NO_CACHE)
def validate_features(settings: Settings, as_of: dt.date) -> FeatureRead:
    """Read what the run needs from the feature mart (training snapshots sampled in SQL)
    and gate it with Great Expectations; raises so nothing is published."""
    lgbm = model_params(settings).lightgbm
    read = read_features_for_run(settings.warehouse_path, lgbm.max_train_rows, lgbm.seed)
    get_run_logger().info(read.summary())
    features = read.frame
    suite = features_suite.build_suite(previous_scored_customers(settings.warehouse_path, as_of))
    report: ValidationReport = run_suite(
        features_suite.validation_frame(features),
        "marts.customer_features",
        features_suite.SUITE_NAME,
        suite,
        docs_dir=data_docs_dir(settings),
    )
    create_markdown_artifact(
        key="nightly-validation",
        markdown=report.to_markdown(),
        description="Great Expectations on customer_features",
    )
    if not report.success:
        raise DataValidationError(report)
    return read


def model_params(settings: Settings) -> ModelParams:
    """The model lifecycle's settings for this run (seed from ``WINBACK_SEED``)."""
    return ModelParams(lightgbm=TrainParams(seed=settings.seed))


@dataclass
class TrainingOutcome:
    """The new model version, its validation metrics and the promotion decision."""

    registered: tracking.RegisteredModel
    metrics: dict[str, float]
    decision: promotion.PromotionDecision
    reused: bool = False


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
def train_and_register(settings: Settings, read: FeatureRead, as_of: dt.date) -> TrainingOutcome:
    """Train and calibrate on labelled snapshots, evaluate with the baselines, log to
    MLflow, register as challenger and promote if not worse than the champion."""
    logger = get_run_logger()
    params = model_params(settings)
    features = read.frame
    tracking.use_store(
        settings.mlflow_tracking_uri, settings.mlflow_experiment, settings.mlflow_artifact_dir
    )
    digest = features_digest(
        features,
        {"params": params.model_dump(), "as_of": as_of, "horizon_days": settings.horizon_days},
    )
    found = (
        trained_version_for(settings.model_name, digest) if settings.reuse_trained_model else None
    )
    if found is not None:
        # Resume: the newest version was trained on exactly these features (a rerun after
        # a failure further down, or a rerun of a finished date): no need to train again.
        registered, metrics, promoted, reason = found
        logger.info("reusing model version %s (features digest %s)", registered.version, digest)
        create_markdown_artifact(
            key="model-metrics",
            markdown=f"## Model v{registered.version} reused\n\nTrained earlier on the same "
            f"features (digest `{digest}`); promotion then: {reason or 'n/a'}.",
            description="Validation metrics: model reused (resume)",
        )
        decision = promotion.PromotionDecision(promoted, f"reused: {reason}", {})
        return TrainingOutcome(registered, metrics, decision, reused=True)
    frame = training.split_by_snapshot(features)
    # The training snapshots were sampled in SQL (see read_features_for_run).
    frame.train_rows_available = read.train_rows_available
    trained = training.train(frame, params)
    baseline_probabilities = baselines.baseline_probabilities(
        frame, settings.horizon_days, params.bgnbd_penalizer
    )
    value_metrics = value.validate_future_value(
        features, read_purchase_dates(settings.warehouse_path), params.bgnbd_penalizer
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
        tags={
            "as_of_date": as_of.isoformat(),
            "horizon_days": str(settings.horizon_days),
            FEATURES_DIGEST_TAG: digest,
        },
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
    settings: Settings, current: pd.DataFrame, as_of: dt.date
) -> tuple[int, str, pd.Series]:
    """Score the as-of snapshot (``current``: its feature rows) with the champion into
    the working warehouse's ``marts.churn_scores`` (analysts see it after the final
    publish)."""
    tracking.use_store(
        settings.mlflow_tracking_uri, settings.mlflow_experiment, settings.mlflow_artifact_dir
    )
    model, version, columns = tracking.load_champion(settings.model_name)
    scores = scoring.score(model, current, columns, model_params(settings))  # type: ignore[arg-type]
    scores["model_version"] = version
    count = publish_churn_scores(settings.warehouse_path, as_of, scores)
    return count, version, scores["churn_probability"]


@task(retries=2, retry_delay_seconds=5, retry_condition_fn=is_transient, cache_policy=NO_CACHE)
def publish_for_analysts(settings: Settings, as_of: dt.date, run_id: str) -> PublishReport:
    """Swap in a new published file with this run's tables (atomic rename; file I/O:
    retried). The previous file stays whole and readable until the rename."""
    report = publish(
        settings.warehouse_path,
        settings.published_file(),
        flow="nightly",
        run_id=run_id,
        as_of=as_of.isoformat(),
    )
    get_run_logger().info("published %s tables to %s", len(report.tables), report.published_path)
    return report


def _current_run_id() -> str:
    context = FlowRunContext.get()
    if context is not None and context.flow_run is not None:
        return str(context.flow_run.id)
    import uuid

    return str(uuid.uuid4())


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
    with run_lock(settings.warehouse_path, "nightly", settings.lock_timeout_seconds):
        return _nightly_chain(settings)


def _nightly_chain(settings: Settings) -> NightlyResult:
    """The chain itself, under the run lock."""
    # Every DuckDB connection of the run (ingest, reads, dbt) gets the same memory cap.
    os.environ["WINBACK_DUCKDB_MEMORY_LIMIT"] = settings.duckdb_memory_limit
    clock = StageClock()
    with clock.stage("ingest"):
        load = load_raw(settings)
        validate_raw(settings, load)
    as_of = load.as_of
    with clock.stage("dbt build"):
        build_features(settings, as_of)
    with clock.stage("validation"):
        read = validate_features(settings, as_of)
    with clock.stage("training"):
        outcome = train_and_register(settings, read, as_of)
    metrics = outcome.metrics
    with clock.stage("scoring + publish"):
        current = read.take_scoring_snapshot()
        scored, version, probabilities = score_and_publish(settings, current, as_of)
        del current
    with clock.stage("decisions"):
        decisions = publish_winback_decisions_task(settings, as_of)
    previous = read_previous_probabilities(settings.published_file())
    psi = (
        None
        if previous is None or probabilities.empty
        else population_stability_index(previous.to_numpy(), probabilities.to_numpy())
    )
    with clock.stage("publish"):
        published = publish_for_analysts(settings, as_of, _current_run_id())
    if outcome.reused:
        verdict = "reused from an earlier run on the same features"
    else:
        verdict = "promoted" if outcome.decision.promote else "kept as challenger"
    roc_auc = metrics.get("roc_auc", float("nan"))
    brier = metrics.get("brier", float("nan"))
    drift = "n/a (nothing published before)"
    if psi is not None:
        flag = psi > settings.psi_threshold
        drift = f"{psi:.3f}" + (
            f" **⚠ SHIFT: above {settings.psi_threshold}; check the input data before "
            "acting on the list**"
            if flag
            else f" (below the {settings.psi_threshold} threshold)"
        )
    summary = (
        f"## Nightly run as of {as_of}\n\n"
        f"- score drift (PSI vs the last published run): {drift}\n"
        f"- customers scored: {scored:,} with champion version {version}\n"
        f"- model `{outcome.registered.name}` version {outcome.registered.version}: "
        f"validation ROC-AUC {roc_auc:.3f}, Brier {brier:.4f}; "
        f"{verdict} ({outcome.decision.reason})\n"
        f"- win-back list: {decisions.contacted:,} customers to contact "
        f"(+{decisions.control:,} control), {decisions.excluded:,} excluded, "
        f"{decisions.service_recovery:,} for service recovery; committed cost "
        f"{decisions.committed_cost:,.0f}, expected profit {decisions.expected_profit:,.0f}; "
        f"report `{decisions.report_path}`\n"
        f"- rows quarantined: {load.rows_quarantined:,}\n"
        f"- published for analysts: `{published.published_path}` "
        f"({len(published.tables)} tables, run `{published.run_id}`)\n"
    )
    summary += "\n### Stages\n\n" + clock.to_markdown() + "\n"
    create_markdown_artifact(key="nightly-summary", markdown=summary, description="Nightly run")
    return NightlyResult(
        as_of,
        load,
        scored,
        version,
        metrics,
        settings.warehouse_path,
        clock.figures,
        decisions,
        published,
        psi,
        outcome.reused,
        psi is not None and psi > settings.psi_threshold,
    )
