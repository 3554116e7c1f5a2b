"""Publish the win-back decisions (issue 6) after scoring: dbt's ``tag:decisions`` models,
the HTML campaign report and a Prefect artifact. Orchestration only: the rules are SQL
in ``dbt_project/models/decisions``, the summary lives in ``winback.decisions.report``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

from prefect import task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE
from prefect.context import FlowRunContext

from winback.config import Settings
from winback.decisions.report import read_summary, summary_markdown, write_report
from winback.decisions.settings import DecisionSettings
from winback.transform import run_dbt


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


def publish_winback_decisions(
    settings: Settings, as_of: dt.date, decision_settings: DecisionSettings | None = None
) -> DecisionsResult:
    """Build ``winback_list``, ``winback_exclusions``, ``service_recovery_queue`` and the
    campaign measurement for ``as_of`` (needs ``marts.churn_scores`` of that date for the
    model's probabilities), write the HTML report, and publish a markdown artifact when
    called inside a flow run."""
    decision_settings = decision_settings or DecisionSettings()
    run_dbt(
        ["build", "--select", "tag:decisions"],
        settings,
        as_of,
        extra_vars=decision_settings.dbt_vars(),
    )
    summary = read_summary(settings.warehouse_path, as_of, decision_settings.budget)
    report = write_report(summary, decision_settings.report_dir.resolve())
    if FlowRunContext.get() is not None:
        create_markdown_artifact(
            key="winback-list-summary",
            markdown=summary_markdown(summary) + f"\nHTML report: `{report}`\n",
            description=f"Win-back list {as_of.isoformat()}",
        )
    return DecisionsResult(
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
    )


publish_winback_decisions_task = task(
    publish_winback_decisions, name="publish_winback_decisions", cache_policy=NO_CACHE
)
