"""Tasks and helpers every flow shares: the run's settings, its id, loading the data
directory and publishing for analysts (both file I/O, retried on transient errors only)."""

from __future__ import annotations

import datetime as dt
import uuid
from pathlib import Path

import duckdb
from prefect import get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE
from prefect.context import FlowRunContext
from prefect.states import State

from winback.config import Settings, load_settings
from winback.ingest import LoadReport, load_data_dir
from winback.publish import PublishReport, publish


def settings_for_run(
    data_dir: str | None = None,
    as_of: dt.date | None = None,
    horizon_days: int | None = None,
) -> Settings:
    """The effective settings with this run's overrides (the flow's parameters), paths
    made absolute."""
    overrides: dict[str, object] = {}
    if data_dir is not None:
        overrides["data_dir"] = Path(data_dir)
    if as_of is not None:
        overrides["as_of"] = as_of
    if horizon_days is not None:
        overrides["features"] = {"horizon_days": horizon_days}
    return load_settings(**overrides).resolved()


def current_run_id() -> str:
    """The Prefect flow run's id (a fresh id outside a flow run)."""
    context = FlowRunContext.get()
    if context is not None and context.flow_run is not None:
        return str(context.flow_run.id)
    return str(uuid.uuid4())


def is_transient(task: object, task_run: object, state: State) -> bool:
    """Retry only I/O trouble (a locked or briefly unreadable file), never bad data."""
    try:
        state.result()
    except (OSError, duckdb.IOException):
        return True
    except Exception:  # noqa: BLE001 - anything else is not worth a retry
        return False
    return False


@task(retries=2, retry_delay_seconds=5, retry_condition_fn=is_transient, cache_policy=NO_CACHE)
def load_raw(settings: Settings, as_of: dt.date | None, artifact_key: str) -> LoadReport:
    """Validate the data directory into raw + quarantine (file I/O: retried)."""
    logger = get_run_logger()
    report = load_data_dir(
        settings.warehouse.path,
        settings.data_dir,
        as_of,
        progress=logger.info,
        memory_limit=settings.warehouse.duckdb_memory_limit,
        max_data_age_days=settings.max_data_age_days,
    )
    logger.info(
        "loaded %s rows, quarantined %s, as of %s",
        sum(t.rows_loaded for t in report.tables.values()),
        report.rows_quarantined,
        report.as_of,
    )
    create_markdown_artifact(
        key=artifact_key,
        markdown=report.to_markdown(),
        description="Rows loaded and quarantined per table",
    )
    return report


@task(retries=2, retry_delay_seconds=5, retry_condition_fn=is_transient, cache_policy=NO_CACHE)
def publish_for_analysts(settings: Settings, flow_name: str, as_of: str) -> PublishReport:
    """Swap in a new published file with this flow's tables (atomic rename; file I/O:
    retried). The previous file stays whole and readable until the rename."""
    report = publish(
        settings.warehouse,
        settings.warehouse.published_file(),
        flow=flow_name,
        run_id=current_run_id(),
        as_of=as_of,
    )
    get_run_logger().info("published %s tables to %s", len(report.tables), report.published_path)
    return report
