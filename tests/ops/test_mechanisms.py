"""The operations mechanisms on their own, fast: run lock, atomic publish, PSI, backfill
dates, the drill hook."""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path

import duckdb
import numpy as np
import pytest

from tests.ops.conftest import lock_held_elsewhere
from winback import stages
from winback.flows.backfill import as_of_dates
from winback.locking import RunLockedError, lock_path_for, run_lock
from winback.models.drift import population_stability_index
from winback.publish import consistency_problems, publish
from winback.stages import DRILL_KILL_AT, drill_point


def test_a_second_holder_is_refused_with_the_first_ones_pid_and_flow(tmp_path: Path) -> None:
    warehouse = tmp_path / "winback.duckdb"
    with lock_held_elsewhere(warehouse) as holder:
        start = time.monotonic()
        with pytest.raises(RunLockedError) as refused, run_lock(warehouse, "nightly", 1.0):
            pass
        assert time.monotonic() - start >= 1.0  # it waited for the timeout first
        assert f"pid {holder.pid}" in str(refused.value)
        assert "flow nightly" in str(refused.value)
        holder.kill()  # SIGKILL: the kernel releases the flock
        holder.wait()
        with run_lock(warehouse, "payment_reminders") as path:
            assert path == lock_path_for(warehouse).resolve()


def test_the_lock_is_reentrant_within_a_process(tmp_path: Path) -> None:
    warehouse = tmp_path / "winback.duckdb"
    with run_lock(warehouse, "backfill"), run_lock(warehouse, "nightly"):
        pass
    with run_lock(warehouse, "nightly"):  # released after the outer block
        pass


def _working_warehouse(path: Path, as_of: str, customers: int) -> None:
    con = duckdb.connect(str(path))
    try:
        con.execute("create schema if not exists marts")
        con.execute(
            "create or replace table marts.churn_scores as select ?::date as as_of_date, "
            "'C' || i as customer_id, i / ? as churn_probability from range(?) t(i)",
            [as_of, customers, customers],
        )
        con.execute(
            "create or replace table marts.payment_reminders as "
            "select 'O' || i as order_id, ?::date as day from range(3) t(i)",
            [as_of],
        )
    finally:
        con.close()


def test_publish_swaps_the_file_atomically_and_carries_the_other_flows_tables(
    tmp_path: Path,
) -> None:
    warehouse, published = tmp_path / "winback.duckdb", tmp_path / "published.duckdb"
    _working_warehouse(warehouse, "2026-06-01", 10)
    first = publish(warehouse, published, flow="nightly", run_id="r1", as_of="2026-06-01")
    assert first.tables == {"marts.churn_scores": 10}
    reader = duckdb.connect(str(published), read_only=True)  # an analyst, held open
    try:
        (published.parent / "published.duckdb.tmp-999").write_bytes(b"left by a killed run")
        _working_warehouse(warehouse, "2026-06-02", 20)  # a newer nightly and reminders run
        publish(warehouse, published, flow="payment_reminders", run_id="r2", as_of="t")
        publish(warehouse, published, flow="nightly", run_id="r3", as_of="2026-06-02")
        # The held connection still reads the complete old state.
        assert reader.execute("select count(*) from marts.churn_scores").fetchone() == (10,)
        assert consistency_problems(reader) == []
    finally:
        reader.close()
    assert not list(tmp_path.glob("published.duckdb.tmp-*"))
    with duckdb.connect(str(published), read_only=True) as con:
        assert con.execute("select count(*) from marts.churn_scores").fetchone() == (20,)
        assert con.execute("select count(*) from marts.payment_reminders").fetchone() == (3,)
        runs = con.execute("select run_id, flow from meta.publish_runs order by published_at")
        assert runs.fetchall() == [
            ("r1", "nightly"),
            ("r2", "payment_reminders"),
            ("r3", "nightly"),
        ]
        owners = dict(
            con.execute("select table_name, run_id from meta.published_tables").fetchall()
        )
        assert owners == {"marts.churn_scores": "r3", "marts.payment_reminders": "r2"}
        assert consistency_problems(con) == []


def test_psi_is_zero_for_the_same_scores_and_flags_a_shift() -> None:
    rng = np.random.default_rng(1)
    before = rng.beta(2, 5, 5000)
    assert population_stability_index(before, before) == pytest.approx(0.0)
    assert population_stability_index(before, rng.beta(2, 5, 5000)) < 0.05
    assert population_stability_index(before, rng.beta(5, 2, 5000)) > 0.2


def test_backfill_dates_step_through_the_range_inclusive() -> None:
    d = dt.date
    assert as_of_dates(d(2026, 6, 1), d(2026, 6, 3)) == [
        d(2026, 6, 1),
        d(2026, 6, 2),
        d(2026, 6, 3),
    ]
    assert as_of_dates(d(2026, 6, 1), d(2026, 6, 30), 14) == [
        d(2026, 6, 1),
        d(2026, 6, 15),
        d(2026, 6, 29),
    ]
    with pytest.raises(ValueError):
        as_of_dates(d(2026, 6, 2), d(2026, 6, 1))


def test_the_drill_hook_fires_only_at_its_point(monkeypatch: pytest.MonkeyPatch) -> None:
    kills: list[str] = []
    monkeypatch.setattr(stages, "_sigkill_self", lambda: kills.append("kill"))
    monkeypatch.delenv(DRILL_KILL_AT, raising=False)
    drill_point("ingest")
    monkeypatch.setenv(DRILL_KILL_AT, "training")
    drill_point("ingest")
    assert kills == []
    monkeypatch.setenv(DRILL_KILL_AT, "scoring + publish")  # "+" inside a stage name
    drill_point("scoring + publish")
    assert kills == ["kill"]
    monkeypatch.setenv(DRILL_KILL_AT, "dbt build+0.01")  # 10 ms into the stage
    drill_point("dbt build")
    time.sleep(0.5)
    assert kills == ["kill", "kill"]


def test_backfill_runs_the_nightly_chain_per_date_under_one_lock(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import winback.flows.backfill as backfill_module

    monkeypatch.setenv("WINBACK_WAREHOUSE__PATH", str(tmp_path / "winback.duckdb"))
    seen: list[dt.date] = []

    def fake_nightly(
        data_dir: str | None, as_of: dt.date, horizon_days: int | None, export: bool
    ) -> dt.date:
        # Past dates are rebuilt, never handed to senders nor recorded as history.
        assert export is False
        # Re-entrant in this process (the real nightly flow takes the same lock) …
        with run_lock(tmp_path / "winback.duckdb", "nightly"):
            seen.append(as_of)
        return as_of

    monkeypatch.setattr(backfill_module, "nightly", fake_nightly)
    out = backfill_module.backfill.fn(dt.date(2026, 6, 1), dt.date(2026, 6, 15), every_days=7)
    assert out == seen == [dt.date(2026, 6, 1), dt.date(2026, 6, 8), dt.date(2026, 6, 15)]
