"""Failure drills: the real ``winback`` CLI in subprocesses against one shared Prefect API.

Each drill run is a separate process (so it can be SIGKILLed) pointed by environment
variables at a private workspace; ``WINBACK_DRILL_KILL_AT`` (``winback.stages``) makes it
kill itself at a chosen point.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pandas as pd
import pytest

WINBACK = Path(sys.executable).parent / "winback"
HOLD_LOCK = (
    "import sys, time; from pathlib import Path; from winback.locking import run_lock\n"
    "with run_lock(Path(sys.argv[1]), 'nightly'):\n"
    "    print('held', flush=True); time.sleep(120)"
)


@contextmanager
def lock_held_elsewhere(warehouse: Path) -> Iterator[subprocess.Popen[str]]:
    """Another process (a "nightly" run) holds ``warehouse``'s run lock for the block."""
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, str(warehouse)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        yield holder
    finally:
        holder.kill()
        holder.wait()
        if holder.stdout is not None:
            holder.stdout.close()


# Columns that hold the wall-clock time of a run, not its result.
WALL_CLOCK_COLUMNS = {"scored_at", "decided_at", "published_at", "loaded_at", "generated_at"}
# Tables compared between a rerun and an uninterrupted run.
RESULT_TABLES = (
    "marts.churn_scores",
    "marts.winback_list",
    "marts.winback_exclusions",
    "marts.customer_features",
    "marts.churn_rate_monthly",
)


@pytest.fixture(scope="session")
def prefect_api_url(prefect_server: None) -> Iterator[str]:
    """The session's throw-away Prefect API, for the drill subprocesses (saves each one
    starting its own ephemeral server)."""
    from prefect.settings import PREFECT_API_URL

    url = PREFECT_API_URL.value()
    assert url, "prefect_test_harness did not set PREFECT_API_URL"
    yield url


@dataclass
class Workspace:
    """A private warehouse, published file and MLflow store for drill runs."""

    root: Path
    api_url: str

    @property
    def warehouse(self) -> Path:
        return self.root / "warehouse" / "winback.duckdb"

    @property
    def published(self) -> Path:
        return self.root / "warehouse" / "published.duckdb"

    def env(self, kill_at: str | None = None, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("WINBACK_", "PREFECT_"))}
        env |= {
            "WINBACK_WAREHOUSE__PATH": str(self.warehouse),
            "WINBACK_WAREHOUSE__PUBLISHED_PATH": str(self.published),
            "WINBACK_MLFLOW__TRACKING_URI": f"sqlite:///{self.root}/mlflow/mlflow.db",
            "WINBACK_MLFLOW__ARTIFACT_DIR": str(self.root / "mlflow" / "artifacts"),
            "WINBACK_DECISIONS__REPORT_DIR": str(self.root / "reports"),
            "PREFECT_HOME": str(self.root / ".prefect"),
            "PREFECT_API_URL": self.api_url,
            "DO_NOT_TRACK": "true",
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            "DBT_SEND_ANONYMOUS_USAGE_STATS": "False",
            "MLFLOW_DISABLE_TELEMETRY": "true",
            "GX_ANALYTICS_ENABLED": "false",
        }
        if kill_at:
            env["WINBACK_DRILL_KILL_AT"] = kill_at
        return env | extra

    def command(self, *args: str) -> list[str]:
        return [str(WINBACK), *args]

    def run(
        self, *args: str, kill_at: str | None = None, **extra: str
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            self.command(*args),
            env=self.env(kill_at, **extra),
            cwd=self.root,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )

    def start(self, *args: str, **extra: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            self.command(*args),
            env=self.env(None, **extra),
            cwd=self.root,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )


def file_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def read_published(path: Path, tables: tuple[str, ...] = RESULT_TABLES) -> dict[str, pd.DataFrame]:
    """The result tables of a published file, wall-clock columns dropped, rows sorted."""
    con = duckdb.connect(str(path), read_only=True)
    try:
        out = {}
        for table in tables:
            frame = con.execute(f"select * from {table}").df()
            frame = frame.drop(columns=[c for c in frame.columns if c in WALL_CLOCK_COLUMNS])
            out[table] = frame.sort_values(list(frame.columns)).reset_index(drop=True)
        return out
    finally:
        con.close()


def publish_runs(path: Path) -> pd.DataFrame:
    con = duckdb.connect(str(path), read_only=True)
    try:
        return con.execute("select * from meta.publish_runs order by published_at").df()
    finally:
        con.close()
