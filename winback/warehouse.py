"""Reads from and writes to the DuckDB working warehouse (Python's side of it: dbt owns
every table's shape; Python reads marts and loads rows that dbt then shapes).

DuckDB allows one writing process per file, so every function opens a connection,
does its work and closes it again; dbt opens its own connection in between.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

from winback.config import WarehouseSettings
from winback.frames import frame_from_arrow, frame_from_readers
from winback.models.snapshots import SnapshotPlan, SnapshotSummary

# The rows scoring writes for dbt: one as-of date, replaced by every scoring run.
# ``marts.churn_scores`` (dbt_project/models/marts/core) keeps them by date, with its
# contract, tests and docs; ``stg_scoring__churn_scores`` is dbt's only reader.
SCORED_CUSTOMERS = "scoring.churn_scores"
SCORE_COLUMNS = {
    "customer_id": "varchar",
    "churn_probability": "double",
    "model_version": "varchar",
    "risk_band": "varchar",
    "reason_1": "varchar",
    "reason_2": "varchar",
    "reason_3": "varchar",
    "reason_1_code": "varchar",
    "reason_2_code": "varchar",
    "reason_3_code": "varchar",
    "reason_method": "varchar",
    "p_alive": "double",
    "expected_value_12m": "double",
    "expected_next_order_date": "date",
}
REQUIRED_SCORE_COLUMNS = ("customer_id", "churn_probability", "model_version")

Warehouse = WarehouseSettings | Path


@contextmanager
def connect(
    warehouse: Warehouse, *, read_only: bool = False
) -> Iterator[duckdb.DuckDBPyConnection]:
    """A connection in UTC that is always closed, capped at the settings'
    ``duckdb_memory_limit`` (given a bare path: DuckDB's own default, for tests and tools)."""
    if isinstance(warehouse, Path):
        path, limit = warehouse, None
    else:
        path, limit = warehouse.path, warehouse.duckdb_memory_limit
    con = duckdb.connect(str(path), read_only=read_only)
    try:
        con.execute("set TimeZone = 'UTC'")
        if limit:
            con.execute(f"set memory_limit = '{limit}'")  # validated by the settings
        yield con
    finally:
        con.close()


# The cap set for a moment to evict DuckDB's cached table blocks (release_cached_blocks).
RELEASE_LIMIT = "64MB"


def release_cached_blocks(warehouse: WarehouseSettings) -> None:
    """Evict the table blocks DuckDB keeps cached (they are read again from disk when
    needed) by lowering its cap for a moment. After a dbt build they hold ~1 GB at 1M
    customers, resident beside the pandas frames the next step builds (the decisions'
    inputs): the process's peak, not DuckDB's cap, is what the machine has to fit."""
    with connect(warehouse) as con:
        try:
            con.execute(f"set memory_limit = '{RELEASE_LIMIT}'")
        except duckdb.Error:
            pass  # blocks still pinned: nothing more to release now
        finally:
            con.execute(f"set memory_limit = '{warehouse.duckdb_memory_limit}'")


def scalar(con: duckdb.DuckDBPyConnection, sql: str, params: object = None) -> Any:
    """The single value of a one-row query (a count, a max); raises if it returns no row."""
    row = con.execute(sql, params).fetchone() if params is not None else con.execute(sql).fetchone()
    if row is None:
        raise RuntimeError(f"expected one row from: {sql}")
    return row[0]


def table_exists(con: duckdb.DuckDBPyConnection, qualified_name: str) -> bool:
    """Whether ``schema.table`` exists in the connection's database, as a table or a view
    (as Spark's ``tableExists``; a published Spark run is read through views)."""
    schema, table = qualified_name.split(".")
    found = con.execute(
        "select count(*) from duckdb_tables() where schema_name = ? and table_name = ? "
        "union all select count(*) from duckdb_views() where schema_name = ? "
        "and view_name = ? and not internal",
        [schema, table, schema, table],
    ).fetchall()
    return any(row[0] for row in found)


def relations(con: duckdb.DuckDBPyConnection, database: str | None = None) -> set[str]:
    """Every table and view of ``database`` (default: the connection's own), as
    ``schema.name``."""
    if database is None:
        database = str(scalar(con, "select current_database()"))
    rows = con.execute(
        "select schema_name || '.' || table_name from duckdb_tables() where database_name = ? "
        "union all select schema_name || '.' || view_name from duckdb_views() "
        "where database_name = ? and not internal",
        [database, database],
    ).fetchall()
    return {r[0] for r in rows}


def column_types(
    con: duckdb.DuckDBPyConnection, qualified_name: str, database: str | None = None
) -> list[tuple[str, str]]:
    """``schema.table``'s columns and their types, in order (empty if it does not exist),
    in ``database`` (default: the connection's own)."""
    schema, table = qualified_name.split(".")
    return [
        (str(name), str(kind))
        for name, kind in con.execute(
            "select column_name, data_type from duckdb_columns() where database_name = "
            "coalesce(?, current_database()) and schema_name = ? and table_name = ? "
            "order by column_index",
            [database, schema, table],
        ).fetchall()
    ]


def read_customer_features(warehouse: Warehouse) -> pd.DataFrame:
    """The whole feature mart (every snapshot), ordered for determinism."""
    with connect(warehouse) as con:
        return fetch_frame(
            con, "select * from marts.customer_features order by as_of_date, customer_id"
        )


@dataclass
class FeatureRead:
    """What a nightly run read from the feature mart: the rows its plan asked for
    (:class:`~winback.models.training.SnapshotPlan`), ordered by (as_of_date, customer_id)."""

    frame: pd.DataFrame
    plan: SnapshotPlan
    # Only the scoring snapshot was read (a night that reuses a trained version).
    scoring_only: bool = False
    # What a version trained on the plan's labelled rows learns from
    # (``lifecycle.run_digest``), when computed in SQL before the read.
    digest: str | None = None

    @property
    def rows_in_mart(self) -> int:
        return self.plan.rows_in_mart

    @property
    def train_rows_available(self) -> int:
        return self.plan.train_rows_available

    @property
    def train_share(self) -> float:
        return self.plan.train_share

    def release(self) -> None:
        """Drop the rows (keep the columns and the plan) once nothing needs them.

        The flow's run context keeps every task's result until the flow ends, so without
        this the feature frame (gigabytes at a million customers) would sit in memory
        through the decisions and the publish."""
        self.frame = self.frame.iloc[0:0].copy()

    def take_scoring_snapshot(self) -> pd.DataFrame:
        """The scoring snapshot's rows (a copy, index 0..n-1), releasing all the rows.

        Once the model is trained only these are needed; dropping the training,
        calibration and validation rows first keeps them out of scoring's memory peak
        (at a million customers they are ~3/4 of the frame)."""
        current = self.frame[self.frame["is_scoring_snapshot"].astype(bool)].reset_index(drop=True)
        self.release()
        return current

    def summary(self) -> str:
        if self.scoring_only:
            return (
                f"read the scoring snapshot only ({len(self.frame):,} of "
                f"{self.rows_in_mart:,} feature rows): the labelled rows are those a "
                "registered version was trained on"
            )
        return self.plan.summary()


def fetch_frame(
    con: duckdb.DuckDBPyConnection, sql: str, params: dict[str, Any] | list[Any] | None = None
) -> pd.DataFrame:
    """The result of ``sql`` as pandas, in the dtypes of DuckDB's ``.df()``, through
    Arrow (:mod:`winback.frames`: several times faster on wide results)."""
    return frame_from_arrow(con.sql(sql, params=params).to_arrow_table())


# Rows per Arrow batch of a read in pieces.
FETCH_CHUNK_ROWS = 102_400


def snapshot_summaries(warehouse: Warehouse) -> list[SnapshotSummary]:
    """Every snapshot of the feature mart: date, rows, labelled, scoring (one query)."""
    with connect(warehouse) as con:
        rows = con.execute(
            "select as_of_date, count(*), bool_or(is_label_observed), "
            "bool_or(is_scoring_snapshot) from marts.customer_features "
            "group by as_of_date order by as_of_date"
        ).fetchall()
    return [SnapshotSummary(r[0], int(r[1]), bool(r[2]), bool(r[3])) for r in rows]


def _snapshot_rows_sql(plan: SnapshotPlan, as_of_date: dt.date) -> str:
    """The rows of one snapshot that ``plan`` reads (parameters ``$as_of_date``,
    ``$seed``, ``$quota``): all of them, or a training snapshot's quota, the first by a
    seeded hash of (customer, as-of date)."""
    rows = "select * from marts.customer_features where as_of_date = $as_of_date"
    if plan.quota(as_of_date) is None:
        return rows
    # One hash of the whole key (hash(a, b, seed) barely moves with the seed). The quota
    # is chosen on the key alone and its rows fetched by key (the mart's grain is one row
    # per customer and date): the same rows as ordering whole rows and keeping the first,
    # which carried all 91 columns through the sort (1M customers: 0.9 s instead of
    # 1.2-1.3 s per training snapshot, for the digest and again for the read).
    return (
        f"{rows} and customer_id in (select customer_id from marts.customer_features "
        "where as_of_date = $as_of_date order by "
        "hash(concat_ws('|', customer_id, as_of_date, $seed)), customer_id limit $quota)"
    )


def _snapshot_params(plan: SnapshotPlan, as_of_date: dt.date, seed: int) -> dict[str, Any]:
    quota = plan.quota(as_of_date)
    if quota is None:
        return {"as_of_date": as_of_date}
    return {"as_of_date": as_of_date, "seed": seed, "quota": quota}


def read_features(
    warehouse: Warehouse, plan: SnapshotPlan, seed: int, *, scoring_only: bool = False
) -> FeatureRead:
    """The rows of the feature mart that ``plan`` asks for, without pulling every snapshot
    into memory (at a million customers the mart holds millions of rows): the scoring,
    calibration and validation snapshots whole (metrics and scores are never computed on
    a sample), and of each training snapshot its quota of rows, the first by a seeded
    hash of (customer, as-of date), so the same mart and seed read the same rows. With
    ``scoring_only`` (a night that reuses a trained version), the scoring snapshot alone.

    Rows are ordered by (as_of_date, customer_id), so each snapshot is one contiguous
    block (``training.split_by_snapshot`` slices it without copying). Memory: one
    snapshot is sorted at a time and fetched in batches, put together a column at a time
    (:func:`winback.frames.frame_from_readers`), so the read holds the rows about once
    (1M customers: 11.7 GB at first, 5.2 GB with the pieces concatenated whole, 3.9 GB
    now, measured on its own). A read of one snapshot (a night that reuses its trained
    version) is fetched whole: it stays below the night's peak.
    """
    dates = [plan.scoring_date] if scoring_only and plan.scoring_date else plan.read_dates
    with connect(warehouse) as con:

        def snapshot(as_of_date: dt.date) -> tuple[str, dict[str, Any]]:
            sql = f"select * from ({_snapshot_rows_sql(plan, as_of_date)}) order by customer_id"
            return sql, _snapshot_params(plan, as_of_date, seed)

        if not dates:
            frame = _empty_features(con)
        elif len(dates) == 1:
            frame = fetch_frame(con, *snapshot(dates[0]))
        else:  # each snapshot read once the one before is consumed
            frame = frame_from_readers(
                con.sql(sql, params=params).to_arrow_reader(FETCH_CHUNK_ROWS)
                for sql, params in map(snapshot, dates)
            )
    if isinstance(warehouse, WarehouseSettings):
        release_cached_blocks(warehouse)  # the snapshots' blocks, beside the frame read
    return FeatureRead(frame, plan, scoring_only=scoring_only and plan.scoring_date is not None)


# Each training snapshot's part of the labelled-rows digest, by the feature build that
# wrote the snapshot's rows (``meta.snapshot_builds``, winback.incremental): a snapshot a
# build kept has the rows it had, so its part is not computed again (~1 s per snapshot
# at 1M customers).
DIGEST_PARTS = "meta.labelled_digest_parts"


def labelled_rows_digest(warehouse: Warehouse, plan: SnapshotPlan, seed: int, decimals: int) -> str:
    """A digest of the labelled rows ``plan`` reads — what a model trained on them learns
    from — computed in SQL, without reading them: per snapshot the row count and the sum
    of every row's hash (every column; floats rounded to ``decimals``, so a digest does
    not move with the last bits of a floating-point sum). The same mart, plan and seed
    give the same digest; a changed labelled row changes it.

    The mart's rows change only by feature builds, which record the build that wrote
    each snapshot: a snapshot's part is kept in ``DIGEST_PARTS`` under that build (and
    the sample it reads), and taken from there while the snapshot keeps its rows, so a
    night computes the parts of the snapshots its build computed only."""
    with connect(warehouse) as con:
        columns = con.execute("describe marts.customer_features").fetchall()
        values = ", ".join(
            f"round({q(name)}, {decimals})" if kind in ("DOUBLE", "FLOAT") else q(name)
            for name, kind, *_ in columns
        )
        names = ",".join(name for name, *_ in columns)
        builds = _snapshot_build_ids(con)
        if builds:
            con.execute(
                f"create table if not exists {DIGEST_PARTS} (as_of_date date, build_id "
                "varchar, sample varchar, part varchar)"
            )
        parts = []
        for as_of_date in plan.read_dates:
            if as_of_date == plan.scoring_date:
                continue
            params = _snapshot_params(plan, as_of_date, seed)
            # What else decides the part: the sample read, the rounding and the columns.
            sample = hashlib.sha256(f"{sorted(params.items())}|{decimals}|{names}".encode())
            key = [as_of_date, builds.get(as_of_date), sample.hexdigest()[:16]]
            kept = (
                con.execute(
                    f"select part from {DIGEST_PARTS} where as_of_date = ? and build_id = ? "
                    "and sample = ?",
                    key,
                ).fetchone()
                if key[1] is not None
                else None
            )
            if kept:
                parts.append(str(kept[0]))
                continue
            row = con.execute(
                f"select count(*), coalesce(sum(hash({values})), 0) "
                f"from ({_snapshot_rows_sql(plan, as_of_date)}) where is_label_observed",
                params,
            ).fetchone()
            parts.append(f"{as_of_date}:{row[0] if row else 0}:{row[1] if row else 0}")
            if key[1] is not None:
                con.execute(
                    f"delete from {DIGEST_PARTS} where as_of_date = ? and sample = ?",
                    [key[0], key[2]],
                )
                con.execute(f"insert into {DIGEST_PARTS} values (?, ?, ?, ?)", [*key, parts[-1]])
    return hashlib.sha256(f"{names}|{';'.join(parts)}".encode()).hexdigest()[:16]


def _snapshot_build_ids(con: duckdb.DuckDBPyConnection) -> dict[dt.date, str]:
    """The feature build that wrote each snapshot's rows (empty without a record)."""
    if "build_id" not in dict(column_types(con, "meta.snapshot_builds")):
        return {}
    rows = con.execute("select as_of_date, build_id from meta.snapshot_builds").fetchall()
    return {row[0]: str(row[1]) for row in rows if row[1] is not None}


def q(name: str) -> str:
    """Quote an identifier (names can be SQL keywords, e.g. the contract's ``group``)."""
    return '"' + name.replace('"', '""') + '"'


def _empty_features(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    return fetch_frame(con, "select * from marts.customer_features where false")


def previous_scored_customers(warehouse: Warehouse, as_of: dt.date) -> int | None:
    """How many customers the latest run up to ``as_of`` scored (a rerun of the same date
    compares with what it would replace); None before the first scores."""
    with connect(warehouse) as con:
        if not table_exists(con, "marts.churn_scores"):
            return None
        row = con.execute(
            "select count(*) from marts.churn_scores where as_of_date = "
            "(select max(as_of_date) from marts.churn_scores where as_of_date <= ?)",
            [as_of],
        ).fetchone()
    return int(row[0]) if row and row[0] else None


def write_scores(warehouse: Warehouse, as_of: dt.date, scores: pd.DataFrame) -> int:
    """Replace the scoring rows dbt reads (``scoring.churn_scores``: one as-of date) in
    one statement; the decisions build turns them into ``marts.churn_scores``."""
    missing = [c for c in REQUIRED_SCORE_COLUMNS if c not in scores.columns]
    if missing:
        raise ValueError(f"scores lack columns {missing}")
    columns = ", ".join(
        f"cast({c if c in scores.columns else 'null'} as {sql_type}) as {c}"
        for c, sql_type in SCORE_COLUMNS.items()
    )
    with connect(warehouse) as con:
        con.execute("create schema if not exists scoring")
        con.register("new_scores", scores)
        con.execute(
            f"create or replace table {SCORED_CUSTOMERS} as select cast($as_of as date) as "
            f"as_of_date, {columns}, cast(current_timestamp at time zone 'UTC' as timestamp) "
            "as scored_at from new_scores order by customer_id",
            {"as_of": as_of},
        )
        con.unregister("new_scores")
        row = con.execute(f"select count(*) from {SCORED_CUSTOMERS}").fetchone()
    return int(row[0]) if row else 0


def read_purchase_dates(warehouse: Warehouse) -> pd.DataFrame | None:
    """Every purchase (customer_id, ordered_at), for checking next-order predictions;
    None when the intermediate table is not there."""
    with connect(warehouse) as con:
        try:
            return fetch_frame(
                con,
                "select customer_id, ordered_at from intermediate.int_orders_enriched "
                "where is_purchase",
            )
        except duckdb.CatalogException:
            return None


# The contract columns of the loaded orders (for the raw-data gate), on either engine.
RAW_ORDERS_SQL = "select order_id, customer_id, order_ts, amount from raw.orders order by order_id"


def raw_file_key(warehouse: Warehouse, table: str) -> str | None:
    """A key of ``raw.<table>``'s exact content: the record of the file it was loaded
    from (``raw._files``: the file's digest, the loader's code digest, the load that wrote
    it and its counts). None when there is no such record."""
    with connect(warehouse) as con:
        if not table_exists(con, "raw._files"):
            return None
        row = con.execute(
            "select content_digest, loader_digest, load_id, rows_read, rows_loaded, "
            "rows_quarantined from raw._files where table_name = ?",
            [table],
        ).fetchone()
    return None if row is None else ":".join(str(v) for v in row)


def read_raw_orders(warehouse: Warehouse) -> pd.DataFrame:
    """The contract columns of the loaded orders (for the raw-data gate)."""
    with connect(warehouse) as con:
        return fetch_frame(con, RAW_ORDERS_SQL)
