"""The one place dbt is called from (in-process ``dbtRunner``), with its vars from the
settings object (:meth:`winback.config.Settings.dbt_vars`)."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from winback import warehouse
from winback.config import DBT_PROJECT_DIR, Settings

# dbt's unit tests check the models' SQL on fixed fixtures, not the data: they run in the
# test suite (tests/dbt/test_docs.py builds the whole project), not on every scheduled run
# (as dbt's documentation advises for production builds). Data tests run every time.
SCHEDULED_RUN_EXCLUDES = ["--exclude-resource-type", "unit_test"]
# What each step of the flows builds (dbt selectors; the tags are set per folder in
# dbt_project.yml). The nightly feature build is everything but the models that need this
# run's scores (tag scores, decisions) and the reminder models (their own flow).
FEATURE_BUILD = [
    "build",
    *SCHEDULED_RUN_EXCLUDES,
    "--exclude",
    "tag:scores",
    "tag:decisions",
    "tag:reminders",
]
# After scoring: the churn_scores mart (from the rows scoring wrote) and the decisions up to
# the allocation's inputs; then, once the allocation has written its plan choices, the
# decided candidates and the win-back marts (winback.decisions.run).
DECISIONS_PREPARE = [
    "build",
    "--select",
    "tag:scores",
    "tag:decisions",
    *SCHEDULED_RUN_EXCLUDES,
    "--exclude",
    "stg_decisions__plan_choices+",
    "stg_decisions__backtest_estimates+",
]
DECISIONS_PUBLISH = [
    "build",
    "--select",
    "stg_decisions__plan_choices+",
    "stg_decisions__backtest_estimates+",
    *SCHEDULED_RUN_EXCLUDES,
]


class DbtBuildError(RuntimeError):
    """dbt reported failed models or tests; the message lists them."""


@dataclass(frozen=True)
class DbtNodeResult:
    name: str
    resource_type: str
    status: str
    message: str | None
    seconds: float


# What reaches dbt through the environment instead of --vars (read by profiles.yml and
# macros/run_value.sql): the warehouse and its memory cap (the profile has no vars), and
# the values that change on every run (as-of date, reminder time): dbt re-parses the whole
# project whenever --vars change, which costs seconds on every invocation.
PROFILE_ENV = {
    "warehouse_path": "WINBACK_DBT_WAREHOUSE_PATH",
    "memory_limit": "WINBACK_DBT_MEMORY_LIMIT",
    # Read by the snapshot models' hooks (macros/snapshots.sql: feature_build_memory).
    "feature_build_memory_limit": "WINBACK_DBT_FEATURE_BUILD_MEMORY_LIMIT",
}
RUN_VALUE_ENV = {
    "as_of_date": "WINBACK_DBT_AS_OF_DATE",
    "reminder_at": "WINBACK_DBT_REMINDER_AT",
    "send_from": "WINBACK_DBT_SEND_FROM",
}


def dbt_vars_digest(settings: Settings) -> hashlib._Hash:
    """A running sha256 of the dbt vars the settings give (sorted, as JSON)."""
    return hashlib.sha256(json.dumps(settings.dbt_vars(), sort_keys=True, default=str).encode())


def dbt_target_dir(settings: Settings) -> Path:
    """dbt's artifacts (manifest, catalog, run results, partial-parse state) live beside
    the warehouse they describe, one folder per set of vars, so runs keep their parsed
    project while the settings stay the same."""
    digest = dbt_vars_digest(settings).hexdigest()
    engine = "" if settings.engine == "duckdb" else f"{settings.engine}-"
    return settings.warehouse.path.resolve().parent / "dbt_target" / f"{engine}{digest[:10]}"


def dbt_environment(
    settings: Settings,
    as_of: dt.date,
    reminder_at: dt.datetime | None = None,
    send_from: dt.datetime | None = None,
) -> dict[str, str]:
    """The environment variables one dbt invocation reads (see ``PROFILE_ENV``)."""
    env = {
        PROFILE_ENV["warehouse_path"]: str(settings.warehouse.path.resolve()),
        PROFILE_ENV["memory_limit"]: settings.warehouse.duckdb_memory_limit,
        PROFILE_ENV["feature_build_memory_limit"]: (
            settings.warehouse.duckdb_feature_build_memory_limit
        ),
        RUN_VALUE_ENV["as_of_date"]: as_of.isoformat(),
    }
    if reminder_at is not None:
        env[RUN_VALUE_ENV["reminder_at"]] = reminder_at.strftime("%Y-%m-%d %H:%M:%S")
    if send_from is not None:
        env[RUN_VALUE_ENV["send_from"]] = send_from.strftime("%Y-%m-%d %H:%M:%S")
    return env


def _node_progress(progress: Callable[[str], None]) -> Callable[[Any], None]:
    """A dbt event callback: one line per finished model, seed or snapshot (and per test
    that did not pass), e.g. "dbt model customer_features: success in 1.0 s (12 done)"."""
    finished = [0]

    def on_event(event: Any) -> None:
        if event.info.name != "NodeFinished":
            return
        finished[0] += 1
        info = event.data.node_info
        status = info.node_status
        kind = info.resource_type
        if kind in {"test", "unit_test"} and status in {"pass", "success"}:
            return
        seconds = float(getattr(event.data.run_result, "execution_time", 0.0) or 0.0)
        progress(f"dbt {kind} {info.node_name}: {status} in {seconds:.1f} s ({finished[0]} done)")

    return on_event


def run_dbt(
    args: list[str],
    settings: Settings,
    as_of: dt.date,
    *,
    reminder_at: dt.datetime | None = None,
    send_from: dt.datetime | None = None,
    project_dir: Path = DBT_PROJECT_DIR,
    progress: Callable[[str], None] | None = None,
) -> list[DbtNodeResult]:
    """Run one dbt command (e.g. ``["build", "--select", "tag:x"]``) for the run as of
    ``as_of`` (and, for the reminder models, the reminder time ``reminder_at``; for the
    win-back list, the earliest contact time ``send_from``; both naive UTC); raise
    :class:`DbtBuildError` on a failed model or test. ``progress`` is told of every
    model (and failed test) as dbt finishes it, with its time."""
    from dbt.cli.main import dbtRunner

    for name in RUN_VALUE_ENV.values():
        os.environ.pop(name, None)  # no value leaks from an earlier call
    os.environ.update(dbt_environment(settings, as_of, reminder_at, send_from))
    target = dbt_target_dir(settings)
    # The settings' engine picks the profile's target (profiles.yml: local is DuckDB, spark
    # is dbt-spark in this process's SparkSession); an explicit --target wins.
    engine_target = (
        [] if "--target" in args or settings.engine == "duckdb" else ["--target", "spark"]
    )
    full = [
        *args,
        *engine_target,
        "--project-dir",
        str(project_dir),
        "--profiles-dir",
        str(project_dir),
        "--target-path",
        str(target),
        "--log-path",
        str(target / "logs"),
        "--vars",
        json.dumps(settings.dbt_vars(), default=str),
        "--no-use-colors",
        "--quiet",
    ]
    callbacks = [] if progress is None else [_node_progress(progress)]
    result = dbtRunner(callbacks=callbacks).invoke(full)
    if settings.engine == "duckdb" and settings.warehouse.path.exists():
        warehouse.release_cached_blocks(settings.warehouse)
    nodes: list[DbtNodeResult] = []
    if result.result is not None and hasattr(result.result, "results"):
        for r in result.result.results:
            nodes.append(
                DbtNodeResult(
                    name=r.node.name,
                    resource_type=str(r.node.resource_type),
                    status=str(r.status),
                    message=r.message,
                    seconds=float(r.execution_time or 0.0),
                )
            )
    failed = [n for n in nodes if n.status in {"error", "fail", "runtime error"}]
    if not result.success or failed:
        lines = [f"dbt {' '.join(args)} failed:"]
        lines += [f"  - {n.resource_type} {n.name}: {n.status}: {n.message}" for n in failed]
        if result.exception is not None:
            lines.append(f"  - {type(result.exception).__name__}: {result.exception}")
        lines.append(f"  (dbt log: {target / 'logs' / 'dbt.log'})")
        raise DbtBuildError("\n".join(lines))
    return nodes
