"""Atomic publishing: analysts read a snapshot file that changes all at once or not at all.

The working warehouse (setting ``warehouse.path``) is private to the flows: DuckDB lets
one process write a file, and a run that dies half-way leaves it half-updated. What
analysts query is a separate file (setting ``warehouse.published_path``, default
``published.duckdb`` beside the warehouse), written only at the end of a successful run:

1. a new file ``<published>.tmp-<pid>`` gets this flow's tables from the working
   warehouse and keeps the other flow's from the previous published file (so a
   half-finished nightly run never leaks into a reminders publish and vice versa), plus
   ``meta.publish_runs``, ``meta.published_tables``, ``meta.published_snapshots`` and the
   failed runs so far, ``meta.run_failures``. It starts as a copy of the previous file,
   in which only this flow's tables are replaced (of a snapshot table, only the snapshots
   whose feature build changed; of a table with an ``as_of_date`` column, only the dates
   whose rows changed), or is written from nothing (``_starts_from_previous``);
2. it is checkpointed, closed and fsynced;
3. ``os.replace`` renames it over the published file (atomic on POSIX).

A connection opened before the rename keeps reading the old file (its inode lives on
until the connection closes); a connection opened after sees the new one; nobody sees a
mix. A run killed before step 3 leaves the published file untouched; its stray temp file
is removed by the next publish. Callers hold the run lock (:mod:`winback.locking`).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pandas as pd

from winback.config import Settings
from winback.stages import drill_point
from winback.warehouse import (
    Warehouse,
    column_types,
    connect,
    relations,
    scalar,
    table_exists,
)

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

PUBLISHED_SNAPSHOTS_DDL = """
create table pub.meta.published_snapshots (
    table_name varchar not null,     -- schema.table in this file
    as_of_date date not null,        -- a snapshot of it
    build_id varchar not null        -- the feature build that computed its rows
)
"""
META_DDL = {
    "meta.publish_runs": PUBLISH_RUNS_DDL,
    "meta.published_tables": PUBLISHED_TABLES_DDL,
    "meta.published_snapshots": PUBLISHED_SNAPSHOTS_DDL,
}
# The nightly's snapshot tables → the working warehouse's record of which feature build
# computed each snapshot (winback.incremental): a publish copies only the snapshots whose
# build changed since the previous publish; the rest stay as the previous file has them.
SNAPSHOT_TABLES = {"marts.customer_features": "meta.snapshot_builds"}
# A publish starting from the previous file writes the file from nothing instead when this
# share of its blocks is free (space left by replaced tables), so the file cannot grow
# without bound.
COMPACT_FREE_SHARE = 1 / 3


@dataclass(frozen=True)
class PublishReport:
    """What one publish put into the analysts' file."""

    published_path: Path
    run_id: str
    flow: str
    tables: dict[str, int]  # schema.table → rows, for this flow's tables
    # schema.table → rows copied from the working warehouse: all of a table's rows when it
    # was copied whole, only the replaced snapshots' or dates' rows otherwise.
    rows_written: dict[str, int] = field(default_factory=dict)

    def summary(self) -> str:
        total, written = sum(self.tables.values()), sum(self.rows_written.values())
        kept = (
            f"; the other {total - written:,} kept from the previous file"
            if written < total
            else ""
        )
        return (
            f"published {len(self.tables)} tables to {self.published_path} "
            f"({written:,} of {total:,} rows written{kept})"
        )


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
    atomically. The new file starts as a copy of the previous one when there is one (the
    other flow's tables and the unchanged feature snapshots are already in it,
    :data:`SNAPSHOT_TABLES`), and is written from nothing otherwise, e.g. when a third of
    the copy would be free space (:func:`_starts_from_previous`)."""
    published_path.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale_temp_files(published_path)
    tmp = published_path.with_name(f"{published_path.name}.tmp-{os.getpid()}")
    has_prev = published_path.exists()
    from_previous = has_prev and _starts_from_previous(published_path, flow)
    try:
        if from_previous:
            shutil.copyfile(published_path, tmp)
        with connect(warehouse) as con:
            # (attached databases belong to the process's DuckDB instance, which outlives
            # this connection: detached again on every path, so a retry can attach them)
            con.execute(f"attach '{tmp}' as pub")
            try:
                if has_prev and not from_previous:
                    con.execute(f"attach '{published_path}' as prev (read_only)")
                try:
                    con.execute("begin transaction")
                    if from_previous:
                        counts, written = _fill_from_previous(con, flow, run_id, as_of)
                    else:
                        counts = _fill_fresh(con, has_prev, flow, run_id, as_of)
                        written = dict(counts)
                    con.execute("commit")
                except BaseException:
                    con.execute("rollback")
                    raise
                finally:
                    con.execute("detach database if exists prev")
                con.execute("checkpoint pub")
            finally:
                con.execute("detach database if exists pub")
        fsync_path(tmp)
        drill_point("publish:before-rename")
        os.replace(tmp, published_path)
        fsync_path(published_path.parent)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return PublishReport(published_path, run_id, flow, counts, written)


def _starts_from_previous(path: Path, flow: str) -> bool:
    """Whether the new file starts as a copy of the previous one: not when
    :data:`COMPACT_FREE_SHARE` or more of its blocks are free (left by the tables earlier
    publishes replaced), nor when it holds one of this flow's snapshot tables without a
    record of its snapshots' builds (the table would be copied whole, leaving the old
    one's space free)."""
    con = duckdb.connect(str(path), read_only=True)
    try:
        total, free = con.execute(
            "select total_blocks, free_blocks from pragma_database_size()"
        ).fetchall()[0]
        if total and free / total >= COMPACT_FREE_SHARE:
            return False
        objects = relations(con)
        held = [t for t in FLOW_TABLES[flow] if t in SNAPSHOT_TABLES and t in objects]
        if not held:
            return True
        if "meta.published_snapshots" not in objects:
            return False
        recorded = {
            r[0]
            for r in con.execute(
                "select distinct table_name from meta.published_snapshots"
            ).fetchall()
        }
        return set(held) <= recorded
    finally:
        con.close()


def _start_manifest(con: duckdb.DuckDBPyConnection, flow: str, run_id: str, as_of: str) -> None:
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    con.execute("insert into pub.meta.publish_runs values (?, ?, ?, ?)", [run_id, flow, as_of, now])


def _copy_run_failures(con: duckdb.DuckDBPyConnection, work: str, work_objects: set[str]) -> None:
    con.execute("drop table if exists pub.meta.run_failures")
    if "meta.run_failures" in work_objects:
        # The failed runs so far (winback.failures), for analysts and dashboards.
        con.execute(
            f'create table pub.meta.run_failures as select * from "{work}".meta.run_failures'
        )


def _record_table(con: duckdb.DuckDBPyConnection, table: str, run_id: str, flow: str) -> int:
    rows = int(scalar(con, f"select count(*) from pub.{table}"))
    con.execute(
        "insert into pub.meta.published_tables values (?, ?, ?, ?)", [table, run_id, flow, rows]
    )
    return rows


def _fill_fresh(
    con: duckdb.DuckDBPyConnection, has_prev: bool, flow: str, run_id: str, as_of: str
) -> dict[str, int]:
    """The new file from nothing: this flow's tables from the working warehouse, the
    others from the previous file (attached as ``prev``) or, at the first publish ever,
    from the warehouse."""
    own = FLOW_TABLES[flow]
    others = [t for tables in FLOW_TABLES.values() for t in tables if t not in own]
    work = scalar(con, "select current_database()")
    work_objects = relations(con, work)
    prev_objects = relations(con, "prev") if has_prev else set()
    for schema in {t.split(".")[0] for t in (*own, *others)} | {"meta"}:
        con.execute(f"create schema if not exists pub.{schema}")
    for ddl in META_DDL.values():
        con.execute(ddl)
    if "meta.publish_runs" in prev_objects:
        con.execute("insert into pub.meta.publish_runs select * from prev.meta.publish_runs")
    if "meta.published_snapshots" in prev_objects:  # the other flow's tables' records
        con.execute(
            "insert into pub.meta.published_snapshots select * from "
            f"prev.meta.published_snapshots where table_name not in ({', '.join('?' for _ in own)})",
            list(own),
        )
    _start_manifest(con, flow, run_id, as_of)
    _copy_run_failures(con, work, work_objects)
    counts: dict[str, int] = {}
    for table in own:
        if table not in work_objects:
            continue
        con.execute(f'create table pub.{table} as select * from "{work}".{table}')
        counts[table] = _record_table(con, table, run_id, flow)
        _record_snapshots(con, table, work, work_objects)
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
            _record_table(con, table, "carried-over", "unknown")
    return counts


def _fill_from_previous(
    con: duckdb.DuckDBPyConnection, flow: str, run_id: str, as_of: str
) -> tuple[dict[str, int], dict[str, int]]:
    """The new file as a copy of the previous one (``pub``): the other flow's tables stay
    as they are, this flow's are replaced — a snapshot table only in the snapshots whose
    build changed (:func:`_replace_snapshots`), a table with an ``as_of_date`` column only
    in the dates whose rows changed (:func:`_replace_dates`) — and the manifest updated.
    Returns the rows of each table and the rows written to it."""
    own = FLOW_TABLES[flow]
    work = scalar(con, "select current_database()")
    work_objects = relations(con, work)
    pub_objects = relations(con, "pub")
    kept = {t for tables in FLOW_TABLES.values() for t in tables} | set(META_DDL)
    for stale in sorted(pub_objects - kept):  # nothing but the flows' tables
        con.execute(f"drop table if exists pub.{stale}")
    for schema in {t.split(".")[0] for t in own} | {"meta"}:
        con.execute(f"create schema if not exists pub.{schema}")
    for name, ddl in META_DDL.items():
        if name not in pub_objects:
            con.execute(ddl)
    _start_manifest(con, flow, run_id, as_of)
    _copy_run_failures(con, work, work_objects)
    con.execute(
        "delete from pub.meta.published_tables where table_name in "
        f"({', '.join('?' for _ in own)})",
        list(own),
    )
    counts: dict[str, int] = {}
    written: dict[str, int] = {}
    for table in own:
        if table not in work_objects:
            con.execute(f"drop table if exists pub.{table}")
            con.execute("delete from pub.meta.published_snapshots where table_name = ?", [table])
            continue
        if table in SNAPSHOT_TABLES:
            rows = _replace_snapshots(con, table, work, work_objects)
        else:
            rows = _replace_dates(con, table, work, pub_objects)
        if rows is None:
            con.execute(f"drop table if exists pub.{table}")
            con.execute(f'create table pub.{table} as select * from "{work}".{table}')
        counts[table] = _record_table(con, table, run_id, flow)
        written[table] = counts[table] if rows is None else rows
        _record_snapshots(con, table, work, work_objects)
    return counts, written


def _record_snapshots(
    con: duckdb.DuckDBPyConnection, table: str, work: str, work_objects: set[str]
) -> None:
    """``pub.meta.published_snapshots``: which feature build computed each snapshot of a
    :data:`SNAPSHOT_TABLES` table just published."""
    con.execute("delete from pub.meta.published_snapshots where table_name = ?", [table])
    builds = _build_record(con, table, work, work_objects)
    if builds is None:
        return
    con.execute(
        "insert into pub.meta.published_snapshots "
        f'select ?, as_of_date, build_id from "{work}".{builds}',
        [table],
    )


def _build_record(
    con: duckdb.DuckDBPyConnection, table: str, work: str, work_objects: set[str]
) -> str | None:
    """The working warehouse's record of which build computed each snapshot of ``table``
    (:data:`SNAPSHOT_TABLES`), or None: not a snapshot table, or no such record."""
    builds = SNAPSHOT_TABLES.get(table)
    if builds is None or builds not in work_objects:
        return None
    return builds if "build_id" in dict(column_types(con, builds, work)) else None


def _replace_snapshots(
    con: duckdb.DuckDBPyConnection, table: str, work: str, work_objects: set[str]
) -> int | None:
    """Bring ``pub.<table>`` (a :data:`SNAPSHOT_TABLES` table, as the previous publish
    left it) to the working warehouse's rows by replacing only the snapshots (as-of dates)
    whose build is not the one published; the rows written, or None (nothing done) when
    that cannot be known: no record of either side's builds, different columns."""
    builds = _build_record(con, table, work, work_objects)
    if builds is None or not _patchable_columns(con, table, work):
        return None
    same = (
        "select published.as_of_date from pub.meta.published_snapshots as published "
        f'inner join "{work}".{builds} as built on published.as_of_date = built.as_of_date '
        "and published.build_id = built.build_id where published.table_name = ?"
    )
    if not scalar(con, f"select count(*) from ({same})", [table]):
        return None  # nothing to keep: copied whole
    con.execute(f"delete from pub.{table} where as_of_date not in ({same})", [table])
    return _inserted(
        con,
        f'insert into pub.{table} select * from "{work}".{table} where as_of_date not in ({same})',
        [table],
    )


# Per as-of date of a table: its rows and the sum of their hashes (a 64-bit hash of each
# whole row), to tell which dates' rows differ between two copies of the table.
DATE_DIGEST = (
    "select as_of_date, count(*) as row_count, sum(hash(t)) as row_hashes "
    "from {table} as t group by as_of_date"
)


def _replace_dates(
    con: duckdb.DuckDBPyConnection, table: str, work: str, pub_objects: set[str]
) -> int | None:
    """Bring ``pub.<table>``, a table with an ``as_of_date`` column (the nightly's marts
    that keep one block of rows per run date: dbt's incremental models add tonight's and
    leave the others), to the working warehouse's rows by replacing only the dates whose
    rows differ (:data:`DATE_DIGEST` compared date by date; a date on one side only
    differs); the rows written, or None (nothing done) when the table is new or not
    dated, or its columns changed. The digests cost one read of each copy, a fraction of
    writing every night's rows again (their number grows with every night kept)."""
    if table not in pub_objects or "as_of_date" not in dict(_patchable_columns(con, table, work)):
        return None
    con.execute(
        "create or replace temp table publish_changed_dates as select as_of_date from ("
        + DATE_DIGEST.format(table=f'"{work}".{table}')
        + ") as built full outer join ("
        + DATE_DIGEST.format(table=f"pub.{table}")
        + ") as published using (as_of_date) where built.row_count is distinct from "
        "published.row_count or built.row_hashes is distinct from published.row_hashes"
    )
    try:
        # (the digests' outer join keeps a null date apart, so its rows are replaced if any)
        changed = (
            "exists (select 1 from publish_changed_dates as c "
            "where c.as_of_date is not distinct from t.as_of_date)"
        )
        con.execute(f"delete from pub.{table} as t where {changed}")
        return _inserted(
            con, f'insert into pub.{table} select * from "{work}".{table} as t where {changed}'
        )
    finally:
        con.execute("drop table if exists publish_changed_dates")


def _patchable_columns(
    con: duckdb.DuckDBPyConnection, table: str, work: str
) -> list[tuple[str, str]]:
    """The table's columns when ``pub.<table>`` can be brought to the working
    warehouse's rows in place (both copies exist with the same columns, in the same order
    and types), else none."""
    columns = column_types(con, table, work)
    return columns if columns and column_types(con, table, "pub") == columns else []


def _inserted(
    con: duckdb.DuckDBPyConnection, insert: str, params: list[object] | None = None
) -> int:
    """Run an insert; the rows it inserted."""
    return int(con.execute(insert, params or []).fetchall()[0][0])


# --- reading what was published, whichever engine published it ----------------------------


# The Spark engine's Parquet publish (written by ``winback.spark.publish_parquet``):
# ``<dir>/CURRENT`` holds the run id whose tables are in ``<dir>/runs/<run_id>/<table>/``,
# with the run's manifest beside them.
PARQUET_CURRENT = "CURRENT"
PARQUET_RUNS = "runs"
PARQUET_MANIFEST = "_manifest.json"


def parquet_published_dir(settings: Settings) -> Path:
    """Where the Spark engine publishes (``<spark warehouse dir>/../published``, local
    only): ``CURRENT`` names the run whose folder ``runs/<run_id>/`` holds the tables."""
    return Path(settings.spark.warehouse_location()).parent / "published"


def published_location(settings: Settings) -> Path:
    """What a reader opens: the analysts' DuckDB file, or on the Spark engine the
    ``CURRENT`` pointer of the Parquet publish (``winback.spark.publish_parquet``)."""
    if settings.engine == "spark":
        return parquet_published_dir(settings) / PARQUET_CURRENT
    return settings.warehouse.published_file()


@contextmanager
def open_published(settings: Settings) -> Iterator[duckdb.DuckDBPyConnection | None]:
    """A read-only DuckDB connection to what the last run published, or None when nothing
    is published yet (:func:`published_location` does not exist).

    On the Spark engine it is an in-memory DuckDB whose ``schema.table`` views read the
    Parquet tables of the ``CURRENT`` run, with ``meta.publish_runs`` and
    ``meta.published_tables`` from its ``_manifest.json``: the same SQL reads either
    engine's publish (the export, the score drift check)."""
    location = published_location(settings)
    if not location.exists():
        yield None
        return
    if settings.engine != "spark":
        with connect(location, read_only=True) as con:
            yield con
        return
    run = location.parent / PARQUET_RUNS / location.read_text().strip()
    con = duckdb.connect()
    try:
        con.execute("set TimeZone = 'UTC'")
        for folder in sorted(p for p in run.iterdir() if p.is_dir()):
            schema, _, table = folder.name.partition(".")
            con.execute(f'create schema if not exists "{schema}"')
            source = str(folder / "*.parquet").replace("'", "''")
            con.execute(
                f'create view "{schema}"."{table}" as select * from read_parquet(\'{source}\')'
            )
        manifest = json.loads((run / PARQUET_MANIFEST).read_text())
        con.execute("create schema if not exists meta")
        for name in ("publish_runs", "published_tables"):
            con.register("manifest_rows", pd.DataFrame(manifest[name]))
            con.execute(f"create table meta.{name} as select * from manifest_rows")
            con.unregister("manifest_rows")
        yield con
    finally:
        con.close()


def read_previous_probabilities(settings: Settings) -> pd.Series | None:
    """The churn probabilities of the newest as-of date published (the last published
    nightly run, either engine), or None when nothing is published yet."""
    with open_published(settings) as con:
        if con is None or not table_exists(con, "marts.churn_scores"):
            return None
        frame = con.execute(
            "select churn_probability from marts.churn_scores "
            "where as_of_date = (select max(as_of_date) from marts.churn_scores)"
        ).df()
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
