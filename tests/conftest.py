"""Shared fixtures: an isolated workspace per test and one Prefect test server."""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

# Under pytest-xdist (`make test` runs on both cores) a worker's __main__ has neither a
# spec nor a file, which pyspark (imported by Great Expectations when installed) takes for
# a doctest run and answers with sys.exit(0). Give it the name of what it is.
_main = sys.modules["__main__"]
if getattr(_main, "__spec__", None) is None and not hasattr(_main, "__file__"):
    _main.__file__ = "<pytest-xdist worker>"

# The run log file (winback.logs) of every in-process flow: one per test session, never
# in the repository. Subprocess runs (tests/ops) are given their own.
os.environ.setdefault(
    "WINBACK_LOG_FILE",
    str(Path(tempfile.mkdtemp(prefix="winback-test-logs-")) / "winback.log"),
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The Spark modules first, then the other end-to-end ones: `make test` hands whole
    modules to its two workers in collection order, and the longest modules started last
    would leave one worker running alone at the end."""
    items.sort(
        key=lambda item: (
            item.get_closest_marker("spark") is None,
            item.get_closest_marker("e2e") is None,
        )
    )


@pytest.fixture
def workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh warehouse and MLflow store under tmp_path, picked up by ``Settings()``."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("WINBACK_WAREHOUSE__PATH", str(tmp_path / "warehouse" / "winback.duckdb"))
    monkeypatch.setenv("WINBACK_MLFLOW__TRACKING_URI", f"sqlite:///{tmp_path}/mlflow/mlflow.db")
    monkeypatch.setenv("WINBACK_MLFLOW__ARTIFACT_DIR", str(tmp_path / "mlflow" / "artifacts"))
    monkeypatch.setenv("WINBACK_LOG_FILE", str(tmp_path / "logs" / "winback.log"))
    for name in ("WINBACK_AS_OF", "WINBACK_DATA_DIR", "WINBACK_FEATURES__HORIZON_DAYS"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path


@pytest.fixture(scope="session")
def prefect_server() -> Iterator[None]:
    """One throw-away Prefect API for every flow test (starting one takes ~14 s)."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=180):
        yield
