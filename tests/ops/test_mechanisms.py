"""The operations mechanisms on their own, fast: run lock, atomic publish, PSI, backfill
dates, the drill hook."""

from __future__ import annotations

import datetime as dt
import time
import warnings
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest

from tests.ops.conftest import lock_held_elsewhere
from winback import stages, warehouse
from winback.config import Settings
from winback.flows.backfill import as_of_dates
from winback.frames import frame_from_readers
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


def _feature_snapshots(
    path: Path, builds: dict[str, tuple[str, float]], extra: bool = False
) -> None:
    """A working warehouse's feature mart: per as-of date, three customers whose value is
    the given number, and the record of which build computed each date."""
    con = duckdb.connect(str(path))
    try:
        con.execute("create schema if not exists marts")
        con.execute("create schema if not exists meta")
        rows = [(date, f"C{i}", value + i) for date, (_, value) in builds.items() for i in range(3)]
        con.execute(
            "create or replace table marts.customer_features (as_of_date date, "
            "customer_id varchar, recency double)"
        )
        con.executemany("insert into marts.customer_features values (?, ?, ?)", rows)
        if extra:  # a new feature column
            con.execute("alter table marts.customer_features add column tenure double default 1")
        con.execute(
            "create or replace table meta.snapshot_builds (as_of_date date, build_id varchar)"
        )
        con.executemany(
            "insert into meta.snapshot_builds values (?, ?)",
            [(date, build) for date, (build, _) in builds.items()],
        )
    finally:
        con.close()


def _published_tables(path: Path) -> dict[str, list[tuple[object, ...]]]:
    """Every table of a published file, rows sorted (the manifest's run times left out)."""
    with duckdb.connect(str(path), read_only=True) as con:
        names = [
            r[0]
            for r in con.execute(
                "select schema_name || '.' || table_name from duckdb_tables() order by 1"
            ).fetchall()
        ]
        return {
            name: sorted(
                con.execute(
                    "select * exclude (published_at) from meta.publish_runs"
                    if name == "meta.publish_runs"
                    else f"select * from {name}"
                ).fetchall(),
                key=repr,
            )
            for name in names
        }


def test_a_publish_copies_only_the_feature_snapshots_whose_build_changed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    warehouse = tmp_path / "winback.duckdb"
    incremental_file, fresh_file = tmp_path / "published.duckdb", tmp_path / "fresh.duckdb"
    _working_warehouse(warehouse, "2026-06-01", 10)
    _feature_snapshots(warehouse, {"2026-05-01": ("b1", 10.0), "2026-06-01": ("b1", 20.0)})
    for target in (incremental_file, fresh_file):
        publish(warehouse, target, flow="nightly", run_id="r1", as_of="2026-06-01")
        publish(warehouse, target, flow="payment_reminders", run_id="r2", as_of="t")
    # The next night: 06-01 recomputed (new build), 07-01 new, 05-01 kept (same build; its
    # rows changed behind the record's back, which shows where the published rows come from).
    _working_warehouse(warehouse, "2026-07-01", 20)
    night = {"2026-05-01": ("b1", 99.0), "2026-06-01": ("b2", 21.0), "2026-07-01": ("b2", 30.0)}
    _feature_snapshots(warehouse, night)
    publish(warehouse, incremental_file, flow="nightly", run_id="r3", as_of="2026-07-01")
    monkeypatch.setattr("winback.publish.COMPACT_FREE_SHARE", 0.0)  # always from nothing
    publish(warehouse, fresh_file, flow="nightly", run_id="r3", as_of="2026-07-01")

    incremental, fresh = _published_tables(incremental_file), _published_tables(fresh_file)
    features = "marts.customer_features"
    assert [row[2] for row in incremental[features]] == [10, 11, 12, 21, 22, 23, 30, 31, 32]
    assert [row[2] for row in fresh[features]] == [99, 100, 101, 21, 22, 23, 30, 31, 32]
    assert incremental["meta.published_snapshots"] == [
        (features, dt.date.fromisoformat(date), build) for date, (build, _) in night.items()
    ]
    # Everything else is what a publish from nothing writes.
    for table in set(incremental) | set(fresh):
        if table != features:
            assert incremental.get(table) == fresh.get(table), table
    for target in (incremental_file, fresh_file):
        with duckdb.connect(str(target), read_only=True) as con:
            assert consistency_problems(con) == []

    # A changed column list cannot be patched: the table is copied whole.
    _feature_snapshots(warehouse, night, extra=True)
    publish(warehouse, incremental_file, flow="nightly", run_id="r4", as_of="2026-07-01")
    again = _published_tables(incremental_file)[features]
    assert [row[2:] for row in again] == [(99, 1), (100, 1), (101, 1), (21, 1), (22, 1),
                                          (23, 1), (30, 1), (31, 1), (32, 1)]  # fmt: skip
    # A reminders publish keeps the nightly's tables and their snapshot record as they are.
    publish(warehouse, incremental_file, flow="payment_reminders", run_id="r5", as_of="t2")
    after = _published_tables(incremental_file)
    assert after[features] == again
    assert after["meta.published_snapshots"] == incremental["meta.published_snapshots"]
    # A file from before the snapshot record is written from nothing (a copy would leave
    # the whole old table's space free), and records the snapshots again.
    with duckdb.connect(str(incremental_file)) as con:
        con.execute("drop table meta.published_snapshots")
    _feature_snapshots(warehouse, night)
    publish(warehouse, incremental_file, flow="nightly", run_id="r6", as_of="2026-07-01")
    with duckdb.connect(str(incremental_file), read_only=True) as con:
        assert con.execute("select free_blocks from pragma_database_size()").fetchall() == [(0,)]
    rewritten = _published_tables(incremental_file)
    assert [row[2] for row in rewritten[features]] == [99, 100, 101, 21, 22, 23, 30, 31, 32]
    assert rewritten["meta.published_snapshots"] == incremental["meta.published_snapshots"]


def _dated_scores(path: Path, dates: dict[str, float], null_date: bool = False) -> None:
    """A working warehouse's score history: per as-of date, four customers whose
    probability starts at the given number (and, with ``null_date``, a row without one)."""
    con = duckdb.connect(str(path))
    try:
        con.execute("create schema if not exists marts")
        con.execute(
            "create or replace table marts.churn_scores (as_of_date date, customer_id varchar, "
            "churn_probability double)"
        )
        rows = [(date, f"C{i}", value + i / 10) for date, value in dates.items() for i in range(4)]
        con.executemany("insert into marts.churn_scores values (?, ?, ?)", rows)
        if null_date:
            con.execute("insert into marts.churn_scores values (null, 'C9', 0.5)")
    finally:
        con.close()


def test_a_publish_writes_only_the_dates_whose_rows_changed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    warehouse = tmp_path / "winback.duckdb"
    incremental_file, fresh_file = tmp_path / "published.duckdb", tmp_path / "fresh.duckdb"
    scores = "marts.churn_scores"
    _dated_scores(warehouse, {"2026-05-01": 0.1, "2026-06-01": 0.2, "2026-06-02": 0.3})
    for target in (incremental_file, fresh_file):
        publish(warehouse, target, flow="nightly", run_id="r1", as_of="2026-06-02")
    # The next night: 05-01 as it was, 06-01 rescored (same rows, other values), 06-02 gone,
    # 07-01 new, and a row without a date.
    night = {"2026-05-01": 0.1, "2026-06-01": 0.25, "2026-07-01": 0.4}
    _dated_scores(warehouse, night, null_date=True)
    report = publish(warehouse, incremental_file, flow="nightly", run_id="r2", as_of="2026-07-01")
    monkeypatch.setattr("winback.publish.COMPACT_FREE_SHARE", 0.0)  # always from nothing
    fresh = publish(warehouse, fresh_file, flow="nightly", run_id="r2", as_of="2026-07-01")
    assert report.tables == fresh.tables == {scores: 13}
    assert report.rows_written == {scores: 4 + 4 + 1}  # 06-01, 07-01 and the undated row
    assert fresh.rows_written == {scores: 13}
    assert "9 of 13 rows written; the other 4 kept" in report.summary()
    assert _published_tables(incremental_file) == _published_tables(fresh_file)
    monkeypatch.undo()

    # Nothing changed: nothing written, the same rows published.
    _dated_scores(warehouse, night)
    publish(warehouse, incremental_file, flow="nightly", run_id="r3", as_of="2026-07-01")
    again = publish(warehouse, incremental_file, flow="nightly", run_id="r4", as_of="2026-07-01")
    assert again.rows_written == {scores: 0} and again.tables == {scores: 12}
    with duckdb.connect(str(incremental_file), read_only=True) as con:
        published = con.execute(f"select * from {scores} order by all").fetchall()
        assert consistency_problems(con) == []
    with duckdb.connect(str(warehouse), read_only=True) as con:
        assert published == con.execute(f"select * from {scores} order by all").fetchall()
    # A changed column list cannot be patched: the table is copied whole.
    with duckdb.connect(str(warehouse)) as con:
        con.execute(f"alter table {scores} add column risk_band varchar default 'low'")
    changed = publish(warehouse, incremental_file, flow="nightly", run_id="r5", as_of="2026-07-01")
    assert changed.rows_written == {scores: 12}
    with duckdb.connect(str(incremental_file), read_only=True) as con:
        assert con.execute(f"select distinct risk_band from {scores}").fetchall() == [("low",)]


def test_a_published_file_mostly_free_space_is_written_from_nothing(tmp_path: Path) -> None:
    """Starting from the previous file leaves the space of the tables it replaced free;
    once a third of the file is free, the next publish writes it from nothing."""
    warehouse, published = tmp_path / "winback.duckdb", tmp_path / "published.duckdb"

    def free_share() -> float:
        with duckdb.connect(str(published), read_only=True) as con:
            total, free = con.execute(
                "select total_blocks, free_blocks from pragma_database_size()"
            ).fetchall()[0]
        return free / total

    _working_warehouse(warehouse, "2026-06-01", 1_000_000)
    publish(warehouse, published, flow="nightly", run_id="r1", as_of="2026-06-01")
    big = published.stat().st_size
    _working_warehouse(warehouse, "2026-06-02", 10)
    publish(warehouse, published, flow="nightly", run_id="r2", as_of="2026-06-02")
    assert free_share() >= 1 / 3 and published.stat().st_size >= big  # copied, then replaced
    publish(warehouse, published, flow="nightly", run_id="r3", as_of="2026-06-02")
    assert free_share() < 1 / 3 and published.stat().st_size < big / 2
    with duckdb.connect(str(published), read_only=True) as con:
        assert con.execute("select count(*) from marts.churn_scores").fetchall() == [(10,)]
        assert consistency_problems(con) == []


@pytest.mark.parametrize("previous", [False, True])
def test_a_failed_publish_leaves_nothing_behind_and_a_retry_succeeds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, previous: bool
) -> None:
    """The flow retries a failed publish in the same process, where the warehouse's DuckDB
    instance (held open, as dbt holds it) keeps what was attached to it."""
    warehouse, published = tmp_path / "winback.duckdb", tmp_path / "published.duckdb"
    _working_warehouse(warehouse, "2026-06-01", 10)
    if previous:
        publish(warehouse, published, flow="nightly", run_id="r1", as_of="2026-06-01")
    before = published.read_bytes() if previous else None
    holder = duckdb.connect(str(warehouse))  # the process keeps the instance alive
    try:

        def fail(*args: object) -> None:
            raise OSError("disk full")

        monkeypatch.setattr("winback.publish._record_table", fail)
        with pytest.raises(OSError, match="disk full"):
            publish(warehouse, published, flow="nightly", run_id="r2", as_of="2026-06-02")
        assert (published.read_bytes() if previous else None) == before
        assert not list(tmp_path.glob("published.duckdb.tmp-*"))
        assert holder.execute("select database_name from duckdb_databases() where "
                              "database_name in ('pub', 'prev')").fetchall() == []  # fmt: skip
        monkeypatch.undo()
        report = publish(warehouse, published, flow="nightly", run_id="r2", as_of="2026-06-02")
        assert report.tables == {"marts.churn_scores": 10}
    finally:
        holder.close()


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


def test_cached_table_blocks_are_released_and_the_cap_restored(tmp_path: Path) -> None:
    """After a build DuckDB keeps the table blocks it read cached (resident beside the
    next step's frames); release_cached_blocks evicts them and puts the settings' cap
    back. (DuckDB keeps one instance per file in a process: the test's connection sees
    the same cache.)"""
    settings = Settings(
        warehouse={"path": tmp_path / "winback.duckdb", "duckdb_memory_limit": "2GB"}  # type: ignore[arg-type]
    ).resolved()
    with duckdb.connect(str(settings.warehouse.path)) as con:
        con.execute(
            "create table wide as select range as id, random() as a, random() as b, "
            "md5(cast(range as varchar)) as c from range(8000000)"
        )
        con.execute("checkpoint")
        con.execute("select sum(a), sum(b), count(distinct c) from wide").fetchall()

        def cached() -> float:
            [(size,)] = con.execute(
                "select coalesce(sum(memory_usage_bytes), 0) from duckdb_memory() "
                "where tag = 'BASE_TABLE'"
            ).fetchall()
            return float(size)

        before = cached()
        assert before > 200 * 2**20  # the scanned table's blocks
        warehouse.release_cached_blocks(settings.warehouse)
        assert cached() <= 64 * 2**20  # at most what the moment's cap lets stay
        [(limit,)] = con.execute("select current_setting('memory_limit')").fetchall()
        with duckdb.connect() as other:  # how DuckDB shows a 2GB cap
            other.execute("set memory_limit = '2GB'")
            [(two_gb,)] = other.execute("select current_setting('memory_limit')").fetchall()
        assert limit == two_gb
        # The table is still there, read again from disk.
        assert con.execute("select count(*) from wide").fetchall() == [(8_000_000,)]


# Every SQL type the warehouse's tables use, with and without nulls.
TYPE_ZOO = """
select * from (values
    ('c1', 1::integer, null::bigint, true, null::boolean, date '2026-06-30',
     timestamp '2026-06-30 12:00:01.5', 1.25::decimal(18, 4), 'a', null::varchar, 0.5::double,
     null::double, 7::hugeint, 3::tinyint, timestamptz '2026-06-30 12:00:00+00',
     12::ubigint, null::date, 2.5::float, null::integer),
    ('c2', 2::integer, 5::bigint, false, true, null::date, null::timestamp,
     null::decimal(18, 4), null, null, null, null, 8::hugeint, null::tinyint, null,
     13::ubigint, null, null, null)
) as t(id, i32, i64_nulls, flag, flag_nulls, day, ts, dec, txt, txt_nulls, dbl,
       dbl_nulls, huge, tiny_nulls, tstz, u64, day_nulls, real, i32_nulls)
"""


@pytest.mark.parametrize("where", ["", "where id = 'c1'", "where id = 'c2'"])
def test_frames_read_through_arrow_have_duckdbs_own_dtypes(where: str) -> None:
    """warehouse.fetch_frame (through Arrow) gives what DuckDB's .df() gives, value for
    value and dtype for dtype: decimals as float64, dates as datetime64[us], integers and
    flags with nulls as nullable integers of their width / boolean. One difference, on
    purpose: a text column that is all null stays text (.df() hands it over as objects)."""
    sql = f"select * from ({TYPE_ZOO}) {where} order by id"
    with duckdb.connect() as con, warnings.catch_warnings():
        # DuckDB's own conversion of the time-zone column uses a keyword pandas deprecates.
        warnings.simplefilter("ignore", pd.errors.Pandas4Warning)
        own = con.execute(sql).df()
        fetched = warehouse.fetch_frame(con, sql)
    assert list(fetched.columns) == list(own.columns)
    all_null_text = [c for c in own.columns if own[c].dtype == object]
    assert "txt_nulls" in all_null_text
    for column in all_null_text:
        assert fetched[column].dtype == "str" and fetched[column].isna().all()
    pd.testing.assert_frame_equal(
        fetched.drop(columns=all_null_text), own.drop(columns=all_null_text)
    )
    if not where:  # both rows: these columns hold a null
        assert fetched["i64_nulls"].dtype == "Int64" and fetched["tiny_nulls"].dtype == "Int8"
    else:
        assert fetched["flag_nulls"].dtype == ("boolean" if "c1" in where else "bool")
    assert fetched["dec"].dtype == "float64" and fetched["day"].dtype == "datetime64[us]"


def test_an_empty_result_keeps_its_columns_and_types() -> None:
    with duckdb.connect() as con:
        fetched = warehouse.fetch_frame(con, f"select * from ({TYPE_ZOO}) where false")
    assert len(fetched) == 0
    assert fetched["txt"].dtype == "str" and fetched["i32"].dtype == "int32"
    assert fetched["day"].dtype == "datetime64[us]" and fetched["dec"].dtype == "float64"


def test_results_read_in_pieces_make_the_frame_of_the_whole_read() -> None:
    """frame_from_readers (the feature read: snapshot after snapshot, batch after batch,
    put together a column at a time) gives what fetch_frame gives for all the rows at
    once: the same values and dtypes, also where only some pieces hold a null."""
    many = (
        "select range as n, case when range % 4000 = 7 then null else range::integer end "
        "as some_nulls, 't' || range as txt, range::decimal(18, 2) / 3 as dec, "
        "range % 3 = 0 as flag from range(10000)"
    )
    for parts in (
        [f"select * from ({TYPE_ZOO}) where id = '{i}'" for i in ("c1", "c2")],
        [
            f"{many} where n < 3000",
            f"{many} where n >= 3000 and n < 3000",
            f"{many} where n >= 3000",
        ],
    ):
        with duckdb.connect() as con:
            whole = warehouse.fetch_frame(con, " union all ".join(f"({p})" for p in parts))
            pieced = frame_from_readers(con.sql(p).to_arrow_reader(1024) for p in parts)
        pd.testing.assert_frame_equal(pieced, whole)
    assert pieced["some_nulls"].dtype == "Int32" and pieced["dec"].dtype == "float64"
    with duckdb.connect() as con:
        sql = f"select * from ({TYPE_ZOO}) where false"
        empty = frame_from_readers([con.sql(sql).to_arrow_reader()])
        pd.testing.assert_frame_equal(empty, warehouse.fetch_frame(con, sql))
    assert len(empty) == 0 and empty["txt"].dtype == "str"
