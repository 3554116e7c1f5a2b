"""Unattended operation (issue 18): a run turned away by the lock is Skipped, not Failed;
a CLI run is listed by the Prefect UI that `winback serve` (`make serve`) starts on the
same home; `winback clean` (`make clean`) keeps the merchant's files and the ledger."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest
from prefect.client.orchestration import SyncPrefectClient
from typer.testing import CliRunner

from tests.ops.conftest import lock_held_elsewhere
from tests.shops import write_orders_only_shop
from winback.cli import app
from winback.failures import failures_file
from winback.flows.backfill import backfill
from winback.flows.common import SKIPPED
from winback.flows.nightly import nightly
from winback.flows.payment_reminders import payment_reminders

WINBACK = Path(sys.executable).parent / "winback"
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def held_lock(workspace: Path) -> Iterator[Path]:
    """Another process holds the workspace warehouse's run lock (a nightly run)."""
    warehouse = workspace / "warehouse" / "winback.duckdb"
    with lock_held_elsewhere(warehouse):
        yield warehouse


def test_a_run_turned_away_by_the_lock_is_skipped_not_failed(
    workspace: Path, prefect_server: None, held_lock: Path
) -> None:
    import datetime as dt

    data = str(workspace / "shop")
    states = {
        "nightly": nightly(data_dir=data, return_state=True),
        "payment_reminders": payment_reminders(
            data_dir=data, at=dt.datetime(2026, 6, 30, 12), return_state=True
        ),
        "backfill": backfill(
            start=dt.date(2026, 6, 1), end=dt.date(2026, 6, 2), data_dir=data, return_state=True
        ),
    }
    for flow, state in states.items():
        assert state.is_completed() and not state.is_failed(), flow
        assert state.name == SKIPPED, flow
        assert "Another Winback run is using the warehouse" in str(state.message), flow
        assert "flow nightly" in str(state.message), flow
    # Not a failure: no failure record, no row in meta.run_failures.
    assert not failures_file().exists()
    assert not (workspace / "warehouse" / "winback.duckdb").exists()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _env(root: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WINBACK_", "PREFECT_"))}
    return env | {
        "WINBACK_WAREHOUSE__PATH": str(root / "warehouse" / "winback.duckdb"),
        "WINBACK_MLFLOW__TRACKING_URI": f"sqlite:///{root}/mlflow/mlflow.db",
        "WINBACK_MLFLOW__ARTIFACT_DIR": str(root / "mlflow" / "artifacts"),
    }


def test_a_cli_run_is_listed_by_the_served_prefect_ui(tmp_path: Path) -> None:
    # A CLI run with nothing Prefect-specific set: it records into <WINBACK_HOME>/.prefect.
    write_orders_only_shop(tmp_path / "shop", n_customers=50)
    env = _env(tmp_path)
    refused = subprocess.run(
        [str(WINBACK), "nightly", "--data-dir", "shop"],  # stale shop: fails before loading
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert refused.returncode == 1, refused.stdout + refused.stderr
    assert "StaleDataError" in refused.stderr
    assert (tmp_path / ".prefect").is_dir()

    # `winback serve` (what `make serve` runs) on the same folder lists it.
    port = _free_port()
    server = subprocess.Popen(
        [str(WINBACK), "serve", "--port", str(port)],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 180
        while True:
            assert server.poll() is None, server.communicate()[0]
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/health", timeout=2):
                    break
            except OSError:
                assert time.monotonic() < deadline, "the served Prefect UI never answered"
                time.sleep(1)
        with SyncPrefectClient(f"http://127.0.0.1:{port}/api") as client:
            runs = client.read_flow_runs()
            flows = {f.id: f.name for f in client.read_flows()}
    finally:
        os.killpg(server.pid, signal.SIGINT)
        try:
            server.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()
    nightly_runs = [r for r in runs if flows.get(r.flow_id) == "nightly"]
    assert len(nightly_runs) == 1
    assert nightly_runs[0].state is not None and nightly_runs[0].state.is_failed()


def test_make_clean_keeps_the_merchants_files_and_the_ledger(
    workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # `make clean` is `winback clean`; `make clean-all` is `winback clean --all`.
    makefile = (REPO / "Makefile").read_text(encoding="utf-8")
    assert "clean: setup" in makefile and "\t$(BIN)/winback clean\n" in makefile
    assert "\t$(BIN)/winback clean --all\n" in makefile

    merchant = workspace / "data" / "my_shop" / "orders.csv"
    merchant.parent.mkdir(parents=True)
    merchant.write_text("order_id,customer_id,order_ts,amount\nO1,C1,2026-06-01,5\n")
    warehouse = workspace / "warehouse" / "winback.duckdb"
    warehouse.parent.mkdir(parents=True)
    with duckdb.connect(str(warehouse)) as con:
        con.execute("create schema reminders; create schema marts")
        con.execute(
            "create table reminders.reminder_ledger as "
            "select 'O' || i as order_id, 'scheduled' as status from range(5) t(i)"
        )
        con.execute("create table marts.churn_scores as select 1 as customer_id")
    (workspace / "reports").mkdir()
    (workspace / "reports" / "winback_2026-06-30.html").write_text("<html/>")

    done = CliRunner().invoke(app, ["clean"])

    assert done.exit_code == 0, done.output
    assert merchant.read_text().startswith("order_id")
    with duckdb.connect(str(warehouse), read_only=True) as con:
        assert con.execute("select count(*) from reminders.reminder_ledger").fetchone() == (5,)
        tables = {r[0] for r in con.execute("select table_name from duckdb_tables()").fetchall()}
    assert tables == {"reminder_ledger"}
    assert not (workspace / "reports").exists()

    # clean-all asks first; declining changes nothing.
    declined = CliRunner().invoke(app, ["clean", "--all"], input="n\n")
    assert declined.exit_code == 1
    assert merchant.exists() and warehouse.exists()
