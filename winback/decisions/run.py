"""The decisions step of the nightly run: build the decision models after scoring, then
summarise what they published (no Prefect here; ``flows/nightly.py`` calls it)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, replace
from pathlib import Path

import pandas as pd

from winback.config import Settings
from winback.decisions import allocate, backtest
from winback.decisions.report import CampaignSummary, read_summary, write_report
from winback.models import tracking
from winback.models.response import ResponseModel
from winback.models.response_lifecycle import ResponseLifecycle, fit_validate_and_gate
from winback.tables import DuckDBTables, TableStore
from winback.transform import DECISIONS_PREPARE, DECISIONS_PUBLISH, run_dbt


@dataclass(frozen=True)
class DecisionsResult:
    """Counts of one decisions run and where its report is."""

    as_of: dt.date
    campaign_id: str
    listed: int
    contacted: int
    control: int
    excluded: int
    service_recovery: int
    committed_cost: float
    expected_profit: float
    report_path: Path
    consent_hint: str = ""  # what would make listed customers without consent contactable
    unchecked_hint: str = ""  # the exclusion rules whose data is missing


def run_decisions(
    settings: Settings,
    as_of: dt.date,
    *,
    send_from: dt.datetime | None = None,
    store: TableStore | None = None,
) -> tuple[allocate.AllocationOutcome, ResponseModel]:
    """``marts.churn_scores`` from tonight's scores and the decisions' inputs (dbt), the
    response model (MLflow-tracked), the budget allocation and the backtest on the newest
    campaign (Python), then the decided candidates, ``winback_list``,
    ``winback_exclusions``, ``service_recovery_queue``, ``winback_backtest`` and the
    campaign measurement (dbt) for ``as_of``. No contact is planned before ``send_from``
    (naive UTC; default: the start of ``as_of``, the day before the first contact).
    ``store``: where dbt's tables are (default: the DuckDB warehouse; the Spark engine
    passes its catalogue, and dbt runs on the settings' engine)."""
    store = store or DuckDBTables(settings.warehouse)
    run_dbt(DECISIONS_PREPARE, settings, as_of)
    inputs = allocate.read_inputs(store)
    response = track_response(inputs, settings, as_of)
    choices, outcome, model = allocate.choose_plans(
        inputs, settings, response.model, response.validation
    )
    allocate.write_plan_choices(store, as_of, choices)
    backtest.write_backtest(
        store, as_of, backtest.run_backtest(inputs, settings, response.held_out, store)
    )
    # The inputs and choices (~1 GB at a million customers) are written or done with:
    # not held beside the publish build's DuckDB memory.
    del inputs, choices
    run_dbt(DECISIONS_PUBLISH, settings, as_of, send_from=send_from)
    return replace(
        outcome, response_used=response.used, response_decision=response.decision.reason
    ), model


def track_response(
    inputs: dict[str, pd.DataFrame], settings: Settings, as_of: dt.date
) -> ResponseLifecycle:
    """Fit, validate, log and gate tonight's response model in its own MLflow experiment
    (``mlflow.response_experiment``; ``models/response_lifecycle.py``)."""
    tracking.use_store(
        settings.mlflow.tracking_uri,
        settings.mlflow.response_experiment,
        settings.mlflow.artifact_dir,
    )
    return fit_validate_and_gate(
        inputs["history"],
        allocate.priors_from(inputs, settings),
        settings.response,
        model_name=settings.mlflow.response_model_name,
        as_of=as_of,
        reuse=settings.mlflow.reuse_trained_model,
    )


def build_decisions(
    settings: Settings,
    as_of: dt.date,
    *,
    send_from: dt.datetime | None = None,
    store: TableStore | None = None,
) -> tuple[DecisionsResult, CampaignSummary, allocate.AllocationOutcome, ResponseModel]:
    """:func:`run_decisions` and the HTML campaign report."""
    outcome, model = run_decisions(settings, as_of, send_from=send_from, store=store)
    summary = read_summary(store or settings.warehouse, as_of, settings.decisions.budget)
    report = write_report(summary, settings.decisions.report_dir.resolve())
    result = DecisionsResult(
        as_of=as_of,
        campaign_id=summary.campaign_id,
        listed=summary.listed,
        contacted=summary.contacted,
        control=summary.control,
        excluded=summary.excluded,
        service_recovery=summary.service_recovery,
        committed_cost=summary.committed_cost,
        expected_profit=summary.expected_profit,
        report_path=report,
        consent_hint=summary.consent_hint,
        unchecked_hint=summary.unchecked_hint,
    )
    return result, summary, outcome, model
