"""The nightly flow: load → dbt build → validate → train → score → decide → publish.

Orchestration only: each task calls one step (ingestion, dbt, a Great Expectations suite,
the model lifecycle in ``models/``, the decisions) and posts what a person reads after the
run. The whole chain runs under the warehouse's run lock and writes only the private
working warehouse; the analysts' file is replaced in one atomic rename at the very end
(``winback.publish``), so a run that dies anywhere publishes nothing.
"""

from __future__ import annotations

import datetime as dt

import pandas as pd
from prefect import flow, get_run_logger
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.states import State

from winback import incremental, warehouse
from winback.assumptions import AssumptionsReport, load_assumptions
from winback.config import Settings
from winback.decisions.report import summary_markdown
from winback.decisions.run import DecisionsResult, build_decisions
from winback.expectations import customer_features as features_suite
from winback.expectations import raw_orders as raw_suite
from winback.expectations.runner import gate_key, run_gate
from winback.exports import ExportAfterPublishError, ExportReport, export_winback
from winback.flows.common import (
    Steps,
    alert_on_failure,
    current_run_id,
    load_raw,
    lock_or_skip,
    publish_for_analysts,
    settings_for_run,
    step,
)
from winback.ingest import LoadReport
from winback.models import lifecycle, scoring, snapshots, tracking, training
from winback.models.drift import population_stability_index
from winback.publish import PublishReport, read_previous_probabilities
from winback.runs import NightlyResult
from winback.stages import Heartbeat, StageClock
from winback.tables import TableStore
from winback.warehouse import FeatureRead


@step()
def validate_raw(
    settings: Settings, load: LoadReport, store: TableStore | None = None, reuse: bool = True
) -> None:
    """Great Expectations gate on the loaded orders (before dbt): raises on failure. Not
    run again on orders loaded from the same file by the same loader as when it passed
    (``run_gate``'s ``reuse_key``; ``reuse`` false, e.g. on a full refresh: always run).
    ``store``: the engine's tables when not the DuckDB warehouse (Spark)."""
    orders = load.tables.get("orders")
    suite = raw_suite.build_suite(settings.validation.max_quarantined_share)
    data_key = None if store is not None else warehouse.raw_file_key(settings.warehouse, "orders")
    report = run_gate(
        lambda: raw_suite.validation_frame(
            store.read(warehouse.RAW_ORDERS_SQL)
            if store is not None
            else warehouse.read_raw_orders(settings.warehouse),
            orders.rows_read if orders else 0,
            orders.rows_quarantined if orders else 0,
        ),
        raw_suite.TABLE,
        raw_suite.SUITE_NAME,
        suite,
        settings.warehouse,
        run_name=f"{raw_suite.SUITE_NAME}_as_of_{load.as_of.isoformat()}",
        reuse_key=gate_key(raw_suite.SUITE_NAME, suite, data_key) if data_key else None,
        reuse=reuse,
    )
    if report.passed_before:
        get_run_logger().info(
            "raw orders gate: the orders are unchanged since run %s, where it passed; "
            "not run again",
            report.passed_before,
        )
    create_markdown_artifact(
        key="nightly-raw-validation",
        markdown=report.to_markdown(),
        description=f"Great Expectations on {report.table}",
    )


@step()
def load_merchant_assumptions(
    settings: Settings, store: TableStore | None = None
) -> AssumptionsReport:
    """The merchant's assumptions (offer catalogue, channels, discount caps, priors; R8-R12):
    the files of the assumptions folder are checked and written to the warehouse's
    ``assumptions`` schema for the decisions build (``winback/assumptions.py``); a bad file
    raises before anything is built or published. Logs the campaign history's offer codes
    the catalogue lacks (also ``marts.winback_unknown_offers``)."""
    report = load_assumptions(settings, store)
    logger = get_run_logger()
    logger.info(report.summary())
    for offer in report.unknown_offers:
        logger.warning(
            "offer code %s is in the campaign history (%s contacts, %s campaigns, last %s) "
            "but not in the offer catalogue: add it to offer_catalogue.csv to use it",
            offer.offer_code,
            offer.contacts,
            offer.campaigns,
            offer.last_contact_date,
        )
    create_markdown_artifact(
        key="nightly-assumptions",
        markdown=report.to_markdown(),
        description="The merchant's assumptions in effect",
    )
    return report


@step()
def build_features(
    settings: Settings, as_of: dt.date, full_refresh: bool = False
) -> dict[str, float]:
    """dbt build: staging → intermediate → marts, with dbt's own tests. The models that
    need this run's scores and the reminder models are built later / by their own flow.
    The point-in-time snapshots are built incrementally: only those that are new or whose
    inputs changed (``winback.incremental``; ``full_refresh`` computes them all).
    Returns each model's build time (seconds), for the run's figures."""
    logger = get_run_logger()
    with Heartbeat("dbt build", logger.info):
        nodes, snapshots = incremental.build_features(
            settings, as_of, full_refresh=full_refresh, progress=logger.info
        )
    logger.info("dbt built %d nodes", len(nodes))
    logger.info(snapshots.describe())
    models = {n.name: n.seconds for n in nodes if n.resource_type == "model"}
    create_table_artifact(
        key="dbt-feature-build",
        table=[
            {
                "node": n.name,
                "type": n.resource_type,
                "status": n.status,
                "seconds": round(n.seconds, 2),
            }
            for n in nodes
        ],
        description="Every dbt node of the nightly feature build, with its time",
    )
    return models


@step()
def read_features(settings: Settings, as_of: dt.date) -> FeatureRead:
    """What the run needs of the feature mart, by the snapshot plan (training snapshots
    sampled in SQL to the model's ``max_train_rows``). The labelled rows the plan reads
    are digested in SQL first: when a registered version was trained on exactly those
    rows and inputs (and ``mlflow.reuse_trained_model`` is on), tonight reuses it, so
    only the scoring snapshot is read (``models/lifecycle.py``)."""
    seed = settings.model.lightgbm.seed
    plan = snapshots.plan_snapshots(
        warehouse.snapshot_summaries(settings.warehouse), settings.model.lightgbm.max_train_rows
    )
    digest = lifecycle.run_digest(
        warehouse.labelled_rows_digest(settings.warehouse, plan, seed, lifecycle.DIGEST_DECIMALS),
        lifecycle.training_inputs(settings.model, settings.features.horizon_days),
    )
    tracking.use_store(
        settings.mlflow.tracking_uri, settings.mlflow.experiment, settings.mlflow.artifact_dir
    )
    reusable = settings.mlflow.reuse_trained_model and (
        lifecycle.trained_version_for(settings.mlflow.model_name, digest, as_of) is not None
    )
    read = warehouse.read_features(settings.warehouse, plan, seed, scoring_only=reusable)
    read.digest = digest
    get_run_logger().info(read.summary())
    return read


@step()
def validate_features(settings: Settings, read: FeatureRead, as_of: dt.date) -> list[str]:
    """Great Expectations gate on the features read; raises so nothing is published.
    Returns the expectations of severity "warning" that failed (degenerate but valid
    data, e.g. a churn rate above 99.5%), each logged as a warning."""
    suite = features_suite.build_suite(
        warehouse.previous_scored_customers(settings.warehouse, as_of),
        labelled=bool(read.frame["is_label_observed"].astype(bool).any()),
    )
    report = run_gate(
        lambda: features_suite.validation_frame(read.frame, suite),
        features_suite.TABLE,
        features_suite.SUITE_NAME,
        suite,
        settings.warehouse,
        run_name=f"{features_suite.SUITE_NAME}_as_of_{as_of.isoformat()}",
    )
    create_markdown_artifact(
        key="nightly-validation",
        markdown=report.to_markdown(),
        description=f"Great Expectations on {report.table}",
    )
    warnings = [f"{report.table}: {w}" for w in report.warnings]
    for warning in warnings:
        get_run_logger().warning("data warning: %s", warning)
    return warnings


@step()
def train_model(settings: Settings, read: FeatureRead, as_of: dt.date) -> lifecycle.TrainingOutcome:
    """Train (or reuse) tonight's version, compare it with the point-in-time champion and
    promote it if it is not worse (``models/lifecycle.py``)."""
    tracking.use_store(
        settings.mlflow.tracking_uri, settings.mlflow.experiment, settings.mlflow.artifact_dir
    )
    with Heartbeat("training", get_run_logger().info):
        outcome = lifecycle.train_or_reuse(
            read.frame,
            read.plan,
            settings.model,
            model_name=settings.mlflow.model_name,
            as_of=as_of,
            horizon_days=settings.features.horizon_days,
            purchases=lambda: warehouse.read_purchase_dates(settings.warehouse),
            reuse=settings.mlflow.reuse_trained_model,
            digest=read.digest,
        )
    get_run_logger().info(
        "model version %s: %s (%s)",
        outcome.registered.version,
        outcome.verdict,
        outcome.decision.reason,
    )
    if outcome.label_warning:
        get_run_logger().warning("%s", outcome.label_warning)
    create_markdown_artifact(
        key="model-metrics",
        markdown=outcome.to_markdown(),
        description="Validation metrics: model, baselines, champion",
    )
    board = tracking.leaderboard(settings.mlflow.experiment, settings.mlflow.model_name, 15)
    create_table_artifact(
        key="model-leaderboard",
        table=board.astype(object).where(board.notna(), None).to_dict("records"),
        description="Recent runs and baselines (winback models compare)",
    )
    return outcome


@step()
def score_customers(
    settings: Settings, current: pd.DataFrame, as_of: dt.date
) -> tuple[int, tracking.VersionRecord, pd.Series]:
    """Score the as-of snapshot (``current``) with the version chosen for the date (trained
    on data up to it) into ``scoring.churn_scores``, which the decisions build turns into
    ``marts.churn_scores``."""
    tracking.use_store(
        settings.mlflow.tracking_uri, settings.mlflow.experiment, settings.mlflow.artifact_dir
    )
    chosen = lifecycle.choose_model_for(settings.mlflow.model_name, as_of)
    model = tracking.load_model(chosen.model)
    with Heartbeat("scoring", get_run_logger().info):
        scores = scoring.score(model, current, training.input_columns(model), settings.model)
    scores["model_version"] = chosen.model.version
    count = warehouse.write_scores(settings.warehouse, as_of, scores)
    get_run_logger().info(
        "scored %s customers with version %s (trained as of %s)",
        count,
        chosen.model.version,
        chosen.as_of,
    )
    return count, chosen, scores["churn_probability"]


@step()
def decide(
    settings: Settings,
    as_of: dt.date,
    send_from: dt.datetime | None = None,
    store: TableStore | None = None,
) -> DecisionsResult:
    """The decision models (``dbt build --select tag:scores tag:decisions``) and the HTML
    campaign report; no contact planned before ``send_from``. ``store``: the engine's
    tables when not the DuckDB warehouse (Spark)."""
    with Heartbeat("decisions", get_run_logger().info):
        result, summary, outcome, _ = build_decisions(
            settings, as_of, send_from=send_from, store=store
        )
    get_run_logger().info(
        "allocation: %s of %s candidates contacted, expected spend %.0f of %.0f, expected "
        "profit %.0f; response %s from %s past contacts, decided by %s (%s)",
        outcome.contacted,
        outcome.candidates,
        outcome.expected_spend,
        outcome.budget,
        outcome.expected_profit,
        "learned" if outcome.learned else "from the priors alone",
        outcome.history_contacts,
        outcome.response_used,
        outcome.response_decision,
    )
    create_markdown_artifact(
        key="winback-list-summary",
        markdown=summary_markdown(summary) + f"\nHTML report: `{result.report_path}`\n",
        description=f"Win-back list {as_of.isoformat()}",
    )
    return result


@step()
def export_list(
    settings: Settings,
    as_of: dt.date,
    replay: bool,
    now: dt.datetime | None,
    store: TableStore | None = None,
) -> ExportReport:
    """The published list as files a sender takes (``winback.exports``), one per channel,
    into ``<export.dir>/winback/<as-of>/``. ``store``: the engine's tables when not the
    DuckDB warehouse (Spark: the customers' contact fields)."""
    try:
        report = export_winback(settings, as_of=as_of, replay=replay, now=now, store=store)
    except Exception as exc:
        raise ExportAfterPublishError(
            f"the list as of {as_of} was published, but exporting it to "
            f"{settings.export.dir} failed: {type(exc).__name__}: {exc}"
        ) from exc
    for line in report.summary_lines():
        get_run_logger().info("export: %s", line)
    create_markdown_artifact(
        key="winback-export",
        markdown="## Export\n\n"
        + "\n".join(f"- {line.strip()}" for line in report.summary_lines()),
        description=f"Win-back export {as_of.isoformat()}",
    )
    return report


@flow(name="nightly", log_prints=True, on_failure=[alert_on_failure], on_crashed=[alert_on_failure])
def nightly(
    data_dir: str | None = None,
    as_of: dt.date | None = None,
    horizon_days: int | None = None,
    export: bool | None = None,
    full_refresh: bool = False,
) -> NightlyResult | State:
    """Run the whole nightly chain for one as-of date (default: the latest order date).

    Unset parameters come from the settings (``winback config show``); ``export``
    (default: setting ``export.after_nightly``) hands the list to senders as files and
    records it as history (the backfill flow turns it off). Every step runs within its
    time limit (setting ``timeouts``). A run turned away by another run's lock ends
    Completed, named Skipped (the next scheduled run tries again); a failure is
    recorded (``alert_on_failure``). ``full_refresh`` reads every file again and
    rebuilds every feature snapshot, instead of keeping the unchanged files' loads and
    building only the new and changed snapshots.
    """
    settings = settings_for_run(data_dir, as_of, horizon_days)
    # A production run (no as-of date) never plans a contact before it started; a replay
    # of a given date keeps the schedule that date had (contacts from the day after).
    send_from = None if settings.as_of else dt.datetime.now(dt.UTC).replace(tzinfo=None)
    with lock_or_skip(settings, "nightly") as skipped:
        if skipped is not None:
            return skipped
        if settings.engine == "spark":
            from winback.flows.nightly_spark import spark_chain

            return spark_chain(settings, send_from, export, current_run_id())
        return _chain(settings, send_from, export, full_refresh)


def _chain(
    settings: Settings,
    send_from: dt.datetime | None,
    export: bool | None,
    full_refresh: bool = False,
) -> NightlyResult:
    """The nightly's steps, under the run lock."""
    run = Steps(settings, "nightly")
    clock = StageClock(progress=get_run_logger().info)
    with clock.stage("ingest"):
        load = run(load_raw, settings, settings.as_of, "nightly-load", not full_refresh)
        run.rows = sum(t.rows_loaded for t in load.tables.values())
        run(validate_raw, settings, load, reuse=not full_refresh)
        run(load_merchant_assumptions, settings)
    with clock.stage("dbt build"):
        model_seconds = run(build_features, settings, load.as_of, full_refresh)
    with clock.stage("validation"):
        read = run(read_features, settings, load.as_of)
        warnings = run(validate_features, settings, read, load.as_of)
    with clock.stage("training"):
        outcome = run(train_model, settings, read, load.as_of)
    with clock.stage("scoring + publish"):
        scored, chosen, probabilities = run(
            score_customers, settings, read.take_scoring_snapshot(), load.as_of
        )
    with clock.stage("decisions"):
        decisions = run(decide, settings, load.as_of, send_from)
    previous = read_previous_probabilities(settings)
    with clock.stage("publish"):
        published = run(publish_for_analysts, settings, "nightly", load.as_of.isoformat())
        exported = None
        if settings.export.after_nightly if export is None else export:
            exported = run(export_list, settings, load.as_of, settings.as_of is not None, send_from)
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


def score_drift(previous: pd.Series | None, probabilities: pd.Series) -> float | None:
    """The population stability index of tonight's churn probabilities against the last
    published night's (None on the first night, or with nothing scored)."""
    if previous is None or probabilities.empty:
        return None
    return population_stability_index(previous.to_numpy(), probabilities.to_numpy())


def finish(
    settings: Settings,
    clock: StageClock,
    *,
    load: LoadReport,
    scored: int,
    chosen: tracking.VersionRecord,
    outcome: lifecycle.TrainingOutcome,
    model_seconds: dict[str, float],
    warnings: list[str],
    decisions: DecisionsResult,
    published: PublishReport,
    psi: float | None,
    exported: ExportReport | None,
) -> NightlyResult:
    """The run's result and its ``nightly-summary`` artifact (either engine's chain)."""
    result = NightlyResult(
        as_of=load.as_of,
        load=load,
        scored_customers=scored,
        model_version=chosen.model.version,
        model_as_of=chosen.as_of or load.as_of,
        training=outcome,
        warehouse_path=settings.warehouse.path,
        stages=clock.figures,
        feature_model_seconds=model_seconds,
        decisions=decisions,
        published=published,
        psi=psi,
        psi_threshold=settings.validation.psi_threshold,
        warnings=[*warnings, *filter(None, [outcome.label_warning])],
        export=exported,
    )
    create_markdown_artifact(
        key="nightly-summary",
        markdown=result.to_markdown(clock.to_markdown()),
        description=f"Nightly run ({settings.engine})",
    )
    return result
