"""The decisions step of the nightly run: build the decision models after scoring, then
summarise what they published (no Prefect here; ``flows/nightly.py`` calls it)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

from winback.config import Settings
from winback.decisions.report import CampaignSummary, read_summary, write_report
from winback.transform import DECISIONS_BUILD, run_dbt


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


def build_decisions(settings: Settings, as_of: dt.date) -> tuple[DecisionsResult, CampaignSummary]:
    """``marts.churn_scores`` from tonight's scores, then ``winback_list``,
    ``winback_exclusions``, ``service_recovery_queue`` and the campaign measurement for
    ``as_of`` (dbt), and the HTML campaign report."""
    run_dbt(DECISIONS_BUILD, settings, as_of)
    summary = read_summary(settings.warehouse, as_of, settings.decisions.budget)
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
    )
    return result, summary
