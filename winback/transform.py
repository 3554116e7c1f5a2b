"""The one place dbt is called from (in-process ``dbtRunner``)."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

from winback.config import DBT_PROJECT_DIR, Settings

# The nightly feature build: everything but the decision models (they need this run's
# scores) and the reminder models (their own flow builds them).
FEATURE_BUILD = ["build", "--exclude", "tag:decisions", "tag:reminders"]


class DbtBuildError(RuntimeError):
    """dbt reported failed models or tests; the message lists them."""


@dataclass(frozen=True)
class DbtNodeResult:
    name: str
    resource_type: str
    status: str
    message: str | None
    seconds: float


# Values that change on every run. They reach the models through the environment
# (WINBACK_DBT_<NAME>, read by macros/run_value.sql), not through --vars: dbt re-parses
# the whole project when --vars change, which costs seconds on every invocation.
RUN_VALUES = ("as_of_date", "reminder_at")


def dbt_vars(settings: Settings, as_of: dt.date) -> dict[str, object]:
    return {
        "as_of_date": as_of.isoformat(),
        "horizon_days": settings.horizon_days,
        "snapshot_cadence_days": settings.snapshot_cadence_days,
        "snapshot_count": settings.snapshot_count,
    }


def _split_vars(
    settings: Settings, as_of: dt.date, extra_vars: dict[str, object] | None
) -> tuple[dict[str, object], dict[str, str]]:
    """(--vars that stay the same from run to run, per-run values for the environment)."""
    merged = {**dbt_vars(settings, as_of), **(extra_vars or {})}
    stable = {k: v for k, v in merged.items() if k not in RUN_VALUES}
    per_run = {k: str(v) for k, v in merged.items() if k in RUN_VALUES}
    return stable, per_run


def dbt_target_dir(settings: Settings, extra_vars: dict[str, object] | None = None) -> Path:
    """dbt's artifacts (manifest, catalog, run results, partial-parse state) live beside
    the warehouse they describe, one folder per set of --vars: the nightly feature build,
    the decisions and the reminders each keep their parsed project between runs instead
    of invalidating each other's."""
    stable, _ = _split_vars(settings, dt.date.min, extra_vars)
    digest = hashlib.sha256(json.dumps(stable, sort_keys=True, default=str).encode()).hexdigest()
    return settings.warehouse_path.resolve().parent / "dbt_target" / digest[:10]


def run_dbt(
    args: list[str],
    settings: Settings,
    as_of: dt.date,
    *,
    extra_vars: dict[str, object] | None = None,
    project_dir: Path = DBT_PROJECT_DIR,
) -> list[DbtNodeResult]:
    """Run one dbt command (e.g. ``["build", "--select", "tag:x"]``); raise on failure.

    ``extra_vars`` adds flow-specific dbt vars to the common ones (as-of date, horizon).
    """
    from dbt.cli.main import dbtRunner

    os.environ["WINBACK_WAREHOUSE_PATH"] = str(settings.warehouse_path.resolve())
    os.environ["WINBACK_DUCKDB_MEMORY_LIMIT"] = settings.duckdb_memory_limit
    stable, per_run = _split_vars(settings, as_of, extra_vars)
    for name in RUN_VALUES:
        # Unset what this run does not give, so no value leaks from an earlier call.
        os.environ.pop(f"WINBACK_DBT_{name.upper()}", None)
    for name, value in per_run.items():
        os.environ[f"WINBACK_DBT_{name.upper()}"] = value
    target = dbt_target_dir(settings, extra_vars)
    full = [
        *args,
        "--project-dir",
        str(project_dir),
        "--profiles-dir",
        str(project_dir),
        "--target-path",
        str(target),
        "--log-path",
        str(target / "logs"),
        "--vars",
        json.dumps(stable),
        "--no-use-colors",
        "--quiet",
    ]
    result = dbtRunner().invoke(full)
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
