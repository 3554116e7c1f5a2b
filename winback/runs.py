"""What a run produced, for the CLI, the run-summary artifact and tests (no Prefect here)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path

from winback.decisions.run import DecisionsResult
from winback.exports import ExportReport
from winback.ingest import LoadReport
from winback.models.lifecycle import TrainingOutcome
from winback.publish import PublishReport
from winback.stages import StageFigure


@dataclass
class NightlyResult:
    """What a nightly run produced."""

    as_of: dt.date
    load: LoadReport
    scored_customers: int
    model_version: str  # the version that scored the as-of date
    model_as_of: dt.date  # the as-of date of the data that version was trained on
    training: TrainingOutcome
    warehouse_path: Path
    stages: list[StageFigure]
    feature_model_seconds: dict[str, float]  # dbt model → build time, nightly feature build
    decisions: DecisionsResult
    published: PublishReport
    psi: float | None
    psi_threshold: float
    # Valid but degenerate data (GX expectations of severity "warning") and what the
    # model made of it: shown first, the run still publishes.
    warnings: list[str] = field(default_factory=list)
    export: ExportReport | None = None  # the list as files for senders (export.after_nightly)

    @property
    def metrics(self) -> dict[str, float]:
        """Validation metrics of the version trained (or reused) tonight."""
        return self.training.metrics

    @property
    def model_reused(self) -> bool:
        return self.training.reused

    @property
    def drift_flagged(self) -> bool:
        return self.psi is not None and self.psi > self.psi_threshold

    def to_markdown(self, stages_markdown: str) -> str:
        """The ``nightly-summary`` artifact."""
        outcome = self.training
        roc_auc = self.metrics.get("roc_auc", float("nan"))
        brier = self.metrics.get("brier", float("nan"))
        drift = "n/a (nothing published before)"
        if self.psi is not None:
            drift = f"{self.psi:.3f}" + (
                f" **⚠ SHIFT: above {self.psi_threshold}; check the input data before "
                "acting on the list**"
                if self.drift_flagged
                else f" (below the {self.psi_threshold} threshold)"
            )
        d = self.decisions
        warned = "".join(f"- **⚠ {w}**\n" for w in self.warnings)
        exported = f"- export: {self.export.summary_lines()[0]}\n" if self.export else ""
        return (
            f"## Nightly run as of {self.as_of}\n\n{warned}"
            f"- score drift (PSI vs the last published run): {drift}\n"
            f"- customers scored: {self.scored_customers:,} with model version "
            f"{self.model_version} (trained on data up to {self.model_as_of})\n"
            f"- model `{outcome.registered.name}` version {outcome.registered.version}: "
            f"validation ROC-AUC {roc_auc:.3f}, Brier {brier:.4f}; "
            f"{outcome.verdict} ({outcome.decision.reason})\n"
            f"- win-back list: {d.contacted:,} customers to contact "
            f"(+{d.control:,} control), {d.excluded:,} excluded, "
            f"{d.service_recovery:,} for service recovery; committed cost "
            f"{d.committed_cost:,.0f}, expected profit {d.expected_profit:,.0f}; "
            f"report `{d.report_path}`\n"
            f"- rows quarantined: {self.load.rows_quarantined:,}\n"
            f"{exported}"
            f"- published for analysts: `{self.published.published_path}` "
            f"({len(self.published.tables)} tables, run `{self.published.run_id}`)\n"
            "\n### Stages\n\n" + stages_markdown + "\n"
        )
