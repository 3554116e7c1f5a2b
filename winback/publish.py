"""Atomic publishing: analysts read a snapshot file that changes all at once or not at all.

The working warehouse (setting ``warehouse.path``) is private to the flows: DuckDB lets
one process write a file, and a run that dies half-way leaves it half-updated. What
analysts query is a separate file (setting ``warehouse.published_path``, default
``published.duckdb`` beside the warehouse), written only at the end of a successful run:

1. a new file ``<published>.tmp-<pid>`` is filled with ``create table … as select`` from
   the working warehouse (this flow's tables) and from the previous published file (the
   other flow's tables, so a half-finished nightly run never leaks into a reminders
   publish and vice versa), plus ``meta.publish_runs``, ``meta.published_tables`` and
   the failed runs so far, ``meta.run_failures``;
2. it is checkpointed, closed and fsynced;
3. ``os.replace`` renames it over the published file (atomic on POSIX).

A connection opened before the rename keeps reading the old file (its inode lives on
until the connection closes); a connection opened after sees the new one; nobody sees a
mix. A run killed before step 3 leaves the published file untouched; its stray temp file
is removed by the next publish. Callers hold the run lock (:mod:`winback.locking`).
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pandas as pd

from winback.stages import drill_point
from winback.warehouse import Warehouse, connect, scalar

# What the nightly flow publishes (analyst-facing tables; see README "Tables analysts query").
NIGHTLY_TABLES: tuple[str, ...] = (
    "marts.churn_scores",
    "marts.customer_features",
    "marts.churn_rate_monthly",
    "marts.winback_list",
    "marts.winback_contact_plan",
    "marts.winback_contact_status",
    "marts.winback_exclusions",
    "marts.service_recovery_queue",
    "marts.winback_campaign_measurement",
    "marts.winback_value_tier_boundaries",
    "marts.winback_unknown_offers",
    "marts.winback_backtest",
    "quarantine.rejected_rows",
    "raw._loads",
)
# What the payment-reminders flow publishes.
REMINDER_TABLES: tuple[str, ...] = (
    "marts.payment_reminders",
    "marts.payment_reminder_skips",
    "marts.payment_reminder_outcomes",
)
FLOW_TABLES = {"nightly": NIGHTLY_TABLES, "payment_reminders": REMINDER_TABLES}

PUBLISH_RUNS_DDL = """
create table pub.meta.publish_runs (
    run_id varchar not null,
    flow varchar not null,
    as_of varchar not null,          -- the nightly as-of date or the reminders' --at
    published_at timestamp not null  -- UTC
)
"""
PUBLISHED_TABLES_DDL = """
create table pub.meta.published_tables (
    table_name varchar not null,     -- schema.table in this file
    run_id varchar not null,         -- the run whose result the table holds
    flow varchar not null,
    row_count bigint not null
)
"""


@dataclass(frozen=True)
class PublishReport:
    """What one publish put into the analysts' file."""

    published_path: Path
    run_id: str
    flow: str
    tables: dict[str, int]  # schema.table → rows, for this flow's tables


def _objects(con: duckdb.DuckDBPyConnection, database: str) -> set[str]:
    rows = con.execute(
        "select schema_name || '.' || table_name from duckdb_tables() where database_name = ? "
        "union all select schema_name || '.' || view_name from duckdb_views() "
        "where database_name = ? and not internal",
        [database, database],
    ).fetchall()
    return {r[0] for r in rows}


def _remove_stale_temp_files(published_path: Path) -> None:
    """Temp files of runs that died before their rename (safe: we hold the run lock)."""
    for stray in published_path.parent.glob(f"{published_path.name}.tmp-*"):
        stray.unlink(missing_ok=True)


def fsync_path(path: Path) -> None:
    """Flush a file or a directory (its entries) to disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def publish(
    warehouse: Warehouse,
    published_path: Path,
    *,
    flow: str,
    run_id: str,
    as_of: str,
) -> PublishReport:
    """Write a new published file with ``flow``'s tables fresh from the working warehouse
    and every other table carried over from the previous published file, then swap it in
    atomically."""
    own = FLOW_TABLES[flow]
    others = [t for tables in FLOW_TABLES.values() for t in tables if t not in own]
    published_path.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale_temp_files(published_path)
    tmp = published_path.with_name(f"{published_path.name}.tmp-{os.getpid()}")
    counts: dict[str, int] = {}
    with connect(warehouse) as con:
        work = scalar(con, "select current_database()")
        work_objects = _objects(con, work)
        con.execute(f"attach '{tmp}' as pub")
        has_prev = published_path.exists()
        if has_prev:
            con.execute(f"attach '{published_path}' as prev (read_only)")
        prev_objects = _objects(con, "prev") if has_prev else set()
        try:
            con.execute("begin transaction")
            for schema in {t.split(".")[0] for t in (*own, *others)} | {"meta"}:
                con.execute(f"create schema if not exists pub.{schema}")
            con.execute(PUBLISH_RUNS_DDL)
            con.execute(PUBLISHED_TABLES_DDL)
            now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
            if "meta.publish_runs" in prev_objects:
                con.execute(
                    "insert into pub.meta.publish_runs select * from prev.meta.publish_runs"
                )
            con.execute(
                "insert into pub.meta.publish_runs values (?, ?, ?, ?)", [run_id, flow, as_of, now]
            )
            if "meta.run_failures" in work_objects:
                # The failed runs so far (winback.failures), for analysts and dashboards.
                con.execute(
                    f'create table pub.meta.run_failures as select * from "{work}".meta.run_failures'
                )
            for table in own:
                if table not in work_objects:
                    continue
                con.execute(f'create table pub.{table} as select * from "{work}".{table}')
                rows = scalar(con, f"select count(*) from pub.{table}")
                counts[table] = int(rows)
                con.execute(
                    "insert into pub.meta.published_tables values (?, ?, ?, ?)",
                    [table, run_id, flow, rows],
                )
            for table in others:
                if table in prev_objects:
                    con.execute(f"create table pub.{table} as select * from prev.{table}")
                    if "meta.published_tables" in prev_objects:
                        con.execute(
                            "insert into pub.meta.published_tables select * from "
                            "prev.meta.published_tables where table_name = ?",
                            [table],
                        )
                elif table in work_objects and not has_prev:
                    # First publish ever: take the other flow's last result from the
                    # working warehouse (each of its publishes is one transaction).
                    con.execute(f'create table pub.{table} as select * from "{work}".{table}')
                    rows = scalar(con, f"select count(*) from pub.{table}")
                    con.execute(
                        "insert into pub.meta.published_tables values (?, ?, ?, ?)",
                        [table, "carried-over", "unknown", rows],
                    )
            con.execute("commit")
        except BaseException:
            con.execute("rollback")
            con.execute("detach pub")
            tmp.unlink(missing_ok=True)
            raise
        finally:
            if has_prev:
                con.execute("detach prev")
        con.execute("checkpoint pub")
        con.execute("detach pub")
    try:
        fsync_path(tmp)
        drill_point("publish:before-rename")
        os.replace(tmp, published_path)
        fsync_path(published_path.parent)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return PublishReport(published_path, run_id, flow, counts)


def read_previous_probabilities(published_path: Path) -> pd.Series | None:
    """The churn probabilities of the newest as-of date in the published file (the last
    published nightly run), or None when nothing is published yet."""
    if not published_path.exists():
        return None
    con = duckdb.connect(str(published_path), read_only=True)
    try:
        try:
            frame = con.execute(
                "select churn_probability from marts.churn_scores "
                "where as_of_date = (select max(as_of_date) from marts.churn_scores)"
            ).df()
        except duckdb.CatalogException:
            return None
    finally:
        con.close()
    return frame["churn_probability"] if len(frame) else None


def consistency_problems(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Checks an analyst (or a test) can run on a published-file connection: every table
    holds exactly the rows its manifest says. Empty means consistent."""
    problems = []
    for table, rows in con.execute(
        "select table_name, row_count from meta.published_tables order by table_name"
    ).fetchall():
        actual = scalar(con, f"select count(*) from {table}")
        if actual != rows:
            problems.append(f"{table}: {actual} rows, manifest says {rows}")
    return problems
