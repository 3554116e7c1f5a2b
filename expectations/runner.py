"""Run a Great Expectations suite on a DataFrame read from the warehouse.

GX's SQL datasource does not work on DuckDB with these versions (stack-facts), so each
validated table is read into pandas and checked through a pandas datasource.

The nightly's gates (:func:`run_gate`) use a persistent GX *file* project beside the
warehouse, ``<warehouse dir>/gx/`` (:func:`gx_project_dir`): its ``great_expectations.yml``
holds the datasource (``warehouse_<table>``, one dataframe asset and batch definition per
table), the Data Docs site and ``analytics_enabled: false``; ``expectations/`` holds each
suite (rewritten on every run from the suite passed in, since suites change with the
settings), ``validation_definitions/`` and ``checkpoints/`` the rest. Each run goes through
the table's checkpoint, which stores its validation result under
``uncommitted/validations/<suite>/<run_name>/<run_time>/`` (every run adds one, none is
overwritten) and updates the Data Docs site in ``<warehouse dir>/data_docs/``
(:func:`data_docs_dir`), whose ``index.html`` lists every stored validation; the report
links the validation's own page. :func:`validation_history` reads the stored results back,
newest first.

:func:`run_suite` without a project is ephemeral (nothing kept): the model tests use it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import pandas as pd
from great_expectations.core import ExpectationValidationResult

from winback._runtime import hand_back_freed_memory
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
    # Not validated again: the same suite passed on the same data in this earlier run.
    passed_before: str | None = None

    def to_markdown(self) -> str:
        head = "passed" if self.success else f"FAILED ({len(self.failures)} of {self.evaluated})"
        if self.success and self.warnings:
            head += f" with {len(self.warnings)} warning(s)"
        if self.passed_before:
            head += f" (unchanged data: passed in run `{self.passed_before}`, not run again)"
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
BATCH_DEFINITION = "all"


def run_suite(
    frame: pd.DataFrame,
    table: str,
    suite_name: str,
    expectations: list[Any],
    docs_dir: Path | None = None,
    *,
    project_dir: Path | None = None,
    run_time: dt.datetime | None = None,
    run_name: str | None = None,
) -> ValidationReport:
    """Validate ``frame`` (the contents of ``table``) against ``expectations``.

    With ``project_dir``, in the persistent GX project there (created on first use): the
    suite is stored (replacing the stored one), the run goes through the table's stored
    checkpoint and its result is kept under the run id ``run_name`` / ``run_time``
    (defaults: :func:`default_run_name`, now). With ``docs_dir``, GX Data Docs are
    (re)built there and the report links the validation's page. Without either, nothing
    is kept (an ephemeral context)."""
    import great_expectations as gx
    from great_expectations.checkpoint import UpdateDataDocsAction
    from great_expectations.core.run_identifier import RunIdentifier
    from great_expectations.data_context.types.base import ProgressBarsConfig

    if project_dir is None:
        context: Any = gx.get_context(mode="ephemeral")
        context.variables.progress_bars = ProgressBarsConfig(globally=False)
        if docs_dir is not None:
            context.add_data_docs_site(site_name=DOCS_SITE, site_config=_site_config(docs_dir))
    else:
        context = _open_project(project_dir, docs_dir)
    batch = _batch_definition(context, table)
    # Copies: a suite claims its expectations (gives them ids), and GX refuses to put a
    # claimed expectation into another suite object; the caller's list stays reusable.
    suite = gx.ExpectationSuite(
        name=suite_name, expectations=[e.copy(update={"id": None}) for e in expectations]
    )
    if len(suite.expectations) != len(expectations):  # GX only logs a bad expectation
        raise ValueError(f"suite {suite_name}: an expectation has an invalid configuration")
    definition = gx.ValidationDefinition(name=f"{table}_validation", data=batch, suite=suite)
    if project_dir is None:
        suite = context.suites.add(suite)
        definition = context.validation_definitions.add(definition)
    actions: list[Any] = (
        [] if docs_dir is None else [UpdateDataDocsAction(name="data_docs", site_names=[DOCS_SITE])]
    )
    url = None
    try:
        if project_dir is None and docs_dir is None:
            outcome = definition.run(batch_parameters={"dataframe": frame})
        else:
            checkpoint = gx.Checkpoint(
                name=f"{table}_checkpoint", validation_definitions=[definition], actions=actions
            )
            # Stores the suite, the validation definition and the checkpoint (replacing them).
            checkpoint = context.checkpoints.add_or_update(checkpoint)
            when = run_time or dt.datetime.now().astimezone()
            run_id = RunIdentifier(
                run_name=run_name or default_run_name(suite_name, table, when), run_time=when
            )
            result = checkpoint.run(batch_parameters={"dataframe": frame}, run_id=run_id)
            identifier, outcome = next(iter(result.run_results.items()))
            if docs_dir is not None:
                _render_missing_pages(context, docs_dir)
                urls = context.get_docs_sites_urls(
                    resource_identifier=identifier, site_names=[DOCS_SITE]
                )
                url = urls[0]["site_url"] if urls else None
    finally:
        # GX keeps the batches it loaded in the datasource's engine, and the context
        # outlives the call: without this, every validated frame stayed alive (a 1M
        # first night carried the 191 MB raw-orders frame through the whole feature build).
        _release_batches(context)
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


def _release_batches(context: Any) -> None:
    """Drop the batches (and so the dataframes) the engines of ``context``'s datasources
    hold."""
    for source in context.data_sources.all().values():
        engine = source.execution_engine
        if engine is not None:
            engine.batch_manager.reset_batch_cache()
            engine.batch_manager.batch_data_cache.clear()


def default_run_name(suite_name: str, table: str, run_time: dt.datetime) -> str:
    """What a run validated and for which day, e.g.
    ``customer_features_on_marts.customer_features_2026-06-15`` (a folder name in the
    validations store: no spaces or slashes)."""
    return f"{suite_name}_on_{table}_{run_time.date().isoformat()}"


def _site_config(docs_dir: Path) -> dict[str, Any]:
    return {
        "class_name": "SiteBuilder",
        "store_backend": {
            "class_name": "TupleFilesystemStoreBackend",
            "base_directory": str(docs_dir.resolve()),
        },
        "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
    }


def _open_project(project_dir: Path, docs_dir: Path | None) -> Any:
    """The file context of ``project_dir`` (scaffolded on first use), with analytics and
    progress bars off and, given ``docs_dir``, its one Data Docs site there. The project
    config is written only when one of these differs from what is stored."""
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    project_dir.mkdir(parents=True, exist_ok=True)
    context = gx.get_context(mode="file", context_root_dir=project_dir)
    variables = context.variables
    changed = False
    if variables.analytics_enabled is not False:
        variables.analytics_enabled = False
        changed = True
    stored: Any = variables.progress_bars  # a ProgressBarsConfig, or a dict once read back
    bars = vars(stored) if isinstance(stored, ProgressBarsConfig) else dict(stored or {})
    if bars.get("globally") is not False or bars.get("metric_calculations") is not False:
        variables.progress_bars = ProgressBarsConfig(globally=False)
        changed = True
    if docs_dir is not None:
        sites = {DOCS_SITE: _site_config(docs_dir)}
        if dict(variables.data_docs_sites or {}) != sites:
            variables.data_docs_sites = sites
            changed = True
    if changed:
        variables.save()
    return context


def _page(docs_dir: Path, key: Any) -> Path:
    """Where the Data Docs site keeps the page of the stored validation ``key``."""
    *folders, batch = key.to_tuple()
    return docs_dir.joinpath("validations", *folders, f"{batch}.html")


def _render_missing_pages(context: Any, docs_dir: Path) -> None:
    """Render the page of every stored validation that has none (the site was deleted or
    moved): GX's index lists only validations whose page exists, and a checkpoint renders
    only its own."""
    missing = [
        key
        for key in context.validation_results_store.list_keys()
        if not _page(docs_dir, key).is_file()
    ]
    if missing:
        context.build_data_docs(site_names=[DOCS_SITE], resource_identifiers=missing)


def _batch_definition(context: Any, table: str) -> Any:
    """The whole-dataframe batch definition of ``table`` (datasource ``warehouse_<table>``,
    asset ``<table>``), created on first use and reused after."""
    name = f"warehouse_{table}"
    try:
        source = context.data_sources.get(name)
    except KeyError:
        source = context.data_sources.add_pandas(name)
    try:
        asset = source.get_asset(table)
    except LookupError:
        asset = source.add_dataframe_asset(table)
    try:
        return asset.get_batch_definition(BATCH_DEFINITION)
    except KeyError:
        return asset.add_batch_definition_whole_dataframe(BATCH_DEFINITION)


def data_docs_dir(warehouse: WarehouseSettings | Path) -> Path:
    """Great Expectations Data Docs live beside the warehouse they describe."""
    path = warehouse if isinstance(warehouse, Path) else warehouse.path
    return path.parent / "data_docs"


def gx_project_dir(warehouse: WarehouseSettings | Path) -> Path:
    """The GX file project (suites, checkpoints, every validation result) beside the
    warehouse it validates."""
    path = warehouse if isinstance(warehouse, Path) else warehouse.path
    return path.parent / "gx"


GATE_PASSES_FILE = "gate_passes.json"


def gate_key(suite_name: str, expectations: list[Any], data_key: str) -> str:
    """What decides a gate's verdict: the suite (its name and every expectation's
    configuration), the GX version and ``data_key``, a key of the validated data's exact
    content (e.g. the digest of the file a raw table was loaded from, the loader's code
    and the load's counts)."""
    import great_expectations as gx

    payload = [
        suite_name,
        gx.__version__,
        data_key,
        *(e.configuration.to_json_dict() for e in expectations),
    ]
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()


def _passes_file(warehouse: WarehouseSettings | Path) -> Path:
    return gx_project_dir(warehouse) / "uncommitted" / GATE_PASSES_FILE


def _passes(warehouse: WarehouseSettings | Path) -> dict[str, str]:
    path = _passes_file(warehouse)
    try:
        found = json.loads(path.read_text(encoding="utf-8"))
    except (FileNotFoundError, json.JSONDecodeError):
        return {}
    return found if isinstance(found, dict) else {}


def _record_pass(warehouse: WarehouseSettings | Path, key: str, run_name: str) -> None:
    path = _passes_file(warehouse)
    passes = _passes(warehouse) | {key: run_name}
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".tmp")
    partial.write_text(json.dumps(passes, indent=1, sort_keys=True), encoding="utf-8")
    partial.replace(path)


def run_gate(
    frame: pd.DataFrame | Callable[[], pd.DataFrame],
    table: str,
    suite_name: str,
    expectations: list[Any],
    warehouse: WarehouseSettings | Path,
    run_time: dt.datetime | None = None,
    run_name: str | None = None,
    *,
    reuse_key: str | None = None,
    reuse: bool = True,
) -> ValidationReport:
    """Validate ``frame`` in the GX project beside the warehouse (the result is kept and
    listed by the Data Docs there); raise :class:`DataValidationError` (naming the suite,
    table and failed expectations) when it fails, so nothing downstream is published.
    ``run_time`` (default now) and ``run_name`` (default :func:`default_run_name`) make
    the validation's run id. A ``frame`` given as a function is read here, and its
    memory is handed back to the system once it is validated.

    ``reuse_key`` (:func:`gate_key`): when a gate with this key passed before (recorded
    in the GX project's ``uncommitted/gate_passes.json``), the same suite on the same
    data cannot give another verdict, so it is not run again (``frame``, which may be a
    function, is then not read) and the report names that run (issue 19: a raw table
    kept from an earlier load). A clean pass is recorded under its key; a failure or a
    pass with warnings never is. ``reuse`` false: run anyway (and record)."""
    if reuse and reuse_key is not None and (before := _passes(warehouse).get(reuse_key)):
        return ValidationReport(
            table=table,
            suite=suite_name,
            success=True,
            evaluated=len(expectations),
            passed_before=before,
        )
    reads_its_frame = callable(frame)
    if reads_its_frame:
        frame = cast(Callable[[], pd.DataFrame], frame)()
    when = run_time or dt.datetime.now().astimezone()
    run_name = run_name or default_run_name(suite_name, table, when)
    report = run_suite(
        frame,
        table,
        suite_name,
        expectations,
        docs_dir=data_docs_dir(warehouse),
        project_dir=gx_project_dir(warehouse),
        run_time=when,
        run_name=run_name,
    )
    if reads_its_frame:
        # The frame read for the gate is garbage now: give its pages back before the
        # next step (the feature build after the raw gate) grows beside them.
        del frame
        hand_back_freed_memory()
    link_dbt_docs(data_docs_dir(warehouse))
    if not report.success:
        raise DataValidationError(report)
    if reuse_key is not None and not report.warnings:  # a warning is reported every run
        _record_pass(warehouse, reuse_key, run_name)
    return report


DBT_DOCS_LINK = (
    '<div id="winback-dbt-docs" style="padding:6px 16px;background:#eef;font-family:sans-serif">'
    "What the validated tables are, column by column: "
    '<a href="../dbt_docs/index.html">the dbt docs</a> (<code>make docs</code> builds them).'
    "</div>"
)


def link_dbt_docs(docs_dir: Path) -> None:
    """Put a link to the dbt docs site (``<warehouse dir>/dbt_docs``, ``make docs``) at
    the top of the Data Docs index, which GX rewrites on every validation."""
    index = docs_dir / "index.html"
    if not index.is_file():
        return
    page = index.read_text(encoding="utf-8")
    if 'id="winback-dbt-docs"' in page:
        return
    start = page.find("<body")
    end = page.find(">", start)
    if start < 0 or end < 0:
        return
    index.write_text(page[: end + 1] + DBT_DOCS_LINK + page[end + 1 :], encoding="utf-8")


@dataclass(frozen=True)
class StoredValidation:
    """One validation result kept in the GX project."""

    suite: str
    table: str
    run_name: str
    run_time: dt.datetime
    # Every expectation held (GX's verdict); a failed "warning" expectation makes it False.
    success: bool
    evaluated: int
    failed: int
    # Failed expectations of severity "critical": the gate stopped the run when > 0.
    failed_critical: int
    data_docs_url: str | None = None

    @property
    def gate_passed(self) -> bool:
        return self.failed_critical == 0


def validation_history(warehouse: WarehouseSettings | Path) -> list[StoredValidation]:
    """Every validation result stored in the warehouse's GX project, newest first (empty
    when no gate has run there yet)."""
    project_dir = gx_project_dir(warehouse)
    if not (project_dir / "great_expectations.yml").is_file():
        return []
    import great_expectations as gx

    context = gx.get_context(mode="file", context_root_dir=project_dir)
    store = context.validation_results_store
    sites = list(context.variables.data_docs_sites or {})
    docs = data_docs_dir(warehouse)
    history = []
    for key in store.list_keys():
        key = cast(Any, key)  # a ValidationResultIdentifier (GX types it as its base class)
        result = cast(Any, store.get(key))
        stats = result.statistics or {}
        failed = [r for r in result.results if not r.success]
        batch = (result.meta or {}).get("active_batch_definition") or {}
        url = None
        if DOCS_SITE in sites:
            page = _page(docs, key)
            url = page.resolve().as_uri() if page.is_file() else None
        history.append(
            StoredValidation(
                suite=key.expectation_suite_identifier.name,
                table=str(batch.get("data_asset_name") or key.batch_identifier),
                run_name=key.run_id.run_name,
                run_time=key.run_id.run_time.astimezone(dt.UTC),
                success=bool(result.success),
                evaluated=int(stats.get("evaluated_expectations", len(result.results))),
                failed=int(stats.get("unsuccessful_expectations", len(failed))),
                failed_critical=sum(_describe(r).severity == "critical" for r in failed),
                data_docs_url=url,
            )
        )
    return sorted(history, key=lambda v: (v.run_time, v.suite, v.table), reverse=True)
