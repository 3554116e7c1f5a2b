"""Run a Great Expectations suite on a DataFrame read from the warehouse.

GX's SQL datasource does not work on DuckDB with these versions (stack-facts), so each
validated table is read into pandas and checked with an ephemeral GX context. Given a
``docs_dir``, the run goes through a checkpoint that renders GX Data Docs there (a static
site: ``index.html`` plus one page per validation) and the report links its page.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
from great_expectations.core import ExpectationValidationResult

from winback.config import WarehouseSettings


@dataclass(frozen=True)
class FailedExpectation:
    """One expectation that did not hold, described for a person."""

    expectation: str
    column: str | None
    detail: str
    severity: str = "critical"

    def __str__(self) -> str:
        where = f" on column {self.column}" if self.column else ""
        return f"{self.expectation}{where}: {self.detail}"


@dataclass
class ValidationReport:
    """Outcome of one suite on one table."""

    table: str
    suite: str
    success: bool
    evaluated: int
    failures: list[FailedExpectation] = field(default_factory=list)
    data_docs_url: str | None = None
    # Failed expectations of severity "warning": reported, never a reason to stop.
    warnings: list[FailedExpectation] = field(default_factory=list)

    def to_markdown(self) -> str:
        head = "passed" if self.success else f"FAILED ({len(self.failures)} of {self.evaluated})"
        if self.success and self.warnings:
            head += f" with {len(self.warnings)} warning(s)"
        lines = [f"### Great Expectations: `{self.suite}` on `{self.table}`: {head}"]
        lines += [f"- {f}" for f in self.failures]
        lines += [f"- warning: {f}" for f in self.warnings]
        if self.data_docs_url:
            lines += ["", f"Data Docs: {self.data_docs_url}"]
        return "\n".join(lines)


class DataValidationError(RuntimeError):
    """A table broke its expectation suite; nothing downstream may be published."""

    def __init__(self, report: ValidationReport):
        self.report = report
        failed = "\n".join(f"  - {f}" for f in report.failures)
        docs = f"\nData Docs: {report.data_docs_url}" if report.data_docs_url else ""
        super().__init__(
            f"Great Expectations suite '{report.suite}' failed on table {report.table} "
            f"({len(report.failures)} of {report.evaluated} expectations):\n{failed}{docs}"
        )


def _describe(result: ExpectationValidationResult) -> FailedExpectation:
    config = result.expectation_config
    if config is None:  # GX always sets it for a suite run; say so rather than crash
        return FailedExpectation("unknown expectation", None, str(result.result))
    severity = getattr(config, "severity", None) or "critical"
    severity = str(getattr(severity, "value", severity))
    kwargs = {k: v for k, v in config.kwargs.items() if k not in {"batch_id"}}
    column = kwargs.pop("column", None)
    res = result.result or {}
    bits = [f"expected {kwargs}"]
    if "observed_value" in res:
        observed = res["observed_value"]
        shown = f"{float(observed):.4g}" if isinstance(observed, float) else repr(observed)
        bits.append(f"observed {shown}")
    if res.get("unexpected_count"):
        bits.append(
            f"{res['unexpected_count']:,} unexpected rows "
            f"({res.get('unexpected_percent', 0):.2f}%), e.g. {res.get('partial_unexpected_list', [])[:5]}"
        )
    return FailedExpectation(config.type, column, "; ".join(bits), severity)


DOCS_SITE = "winback"


def run_suite(
    frame: pd.DataFrame,
    table: str,
    suite_name: str,
    expectations: list[Any],
    docs_dir: Path | None = None,
) -> ValidationReport:
    """Validate ``frame`` (the contents of ``table``) against ``expectations``; with
    ``docs_dir``, also render GX Data Docs there and link the validation's page."""
    import great_expectations as gx
    from great_expectations.checkpoint import UpdateDataDocsAction
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    if docs_dir is not None:
        context.add_data_docs_site(
            site_name=DOCS_SITE,
            site_config={
                "class_name": "SiteBuilder",
                "store_backend": {
                    "class_name": "TupleFilesystemStoreBackend",
                    "base_directory": str(docs_dir),
                },
                "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
            },
        )
    source = context.data_sources.add_pandas(f"warehouse_{table}")
    batch = source.add_dataframe_asset(table).add_batch_definition_whole_dataframe("all")
    suite = context.suites.add(gx.ExpectationSuite(name=suite_name))
    for expectation in expectations:
        suite.add_expectation(expectation)
    definition = context.validation_definitions.add(
        gx.ValidationDefinition(name=f"{table}_validation", data=batch, suite=suite)
    )
    url = None
    if docs_dir is None:
        outcome = definition.run(batch_parameters={"dataframe": frame})
    else:
        checkpoint = context.checkpoints.add(
            gx.Checkpoint(
                name=f"{table}_checkpoint",
                validation_definitions=[definition],
                actions=[UpdateDataDocsAction(name="data_docs", site_names=[DOCS_SITE])],
            )
        )
        result = checkpoint.run(batch_parameters={"dataframe": frame})
        identifier, outcome = next(iter(result.run_results.items()))
        urls = context.get_docs_sites_urls(resource_identifier=identifier, site_names=[DOCS_SITE])
        url = urls[0]["site_url"] if urls else None
    failed = [_describe(r) for r in outcome.results if not r.success]
    failures = [f for f in failed if f.severity == "critical"]
    return ValidationReport(
        table=table,
        suite=suite_name,
        success=not failures,
        evaluated=len(outcome.results),
        failures=failures,
        data_docs_url=url,
        warnings=[f for f in failed if f.severity != "critical"],
    )


def data_docs_dir(warehouse: WarehouseSettings | Path) -> Path:
    """Great Expectations Data Docs live beside the warehouse they describe."""
    path = warehouse if isinstance(warehouse, Path) else warehouse.path
    return path.parent / "data_docs"


def run_gate(
    frame: pd.DataFrame,
    table: str,
    suite_name: str,
    expectations: list[Any],
    warehouse: WarehouseSettings | Path,
) -> ValidationReport:
    """Validate ``frame`` with Data Docs beside the warehouse; raise
    :class:`DataValidationError` (naming the suite, table and failed expectations) when
    it fails, so nothing downstream is published."""
    report = run_suite(frame, table, suite_name, expectations, docs_dir=data_docs_dir(warehouse))
    if not report.success:
        raise DataValidationError(report)
    return report
