"""Reads from and publishes to the DuckDB warehouse.

DuckDB allows one writing process per file, so every function opens a connection,
does its work and closes it again; dbt opens its own connection in between.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pandas as pd

CHURN_SCORES_DDL = """
create table if not exists marts.churn_scores (
    as_of_date date not null,
    customer_id varchar not null,
    churn_probability double not null,
    model_version varchar not null,
    scored_at timestamp not null,
    risk_band varchar,
    reason_1 varchar,
    reason_2 varchar,
    reason_3 varchar,
    p_alive double,
    expected_value_12m double,
    expected_next_order_date date,
    primary key (as_of_date, customer_id)
)
"""
# Columns added after the first release: a warehouse created before gets them added
# (nullable, so its old rows stay valid).
CHURN_SCORES_ADDED_COLUMNS = {
    "risk_band": "varchar",
    "reason_1": "varchar",
    "reason_2": "varchar",
    "reason_3": "varchar",
    "p_alive": "double",
    "expected_value_12m": "double",
    "expected_next_order_date": "date",
    "reason_method": "varchar",
}


def _ensure_churn_scores(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("create schema if not exists marts")
    con.execute(CHURN_SCORES_DDL)
    for column, sql_type in CHURN_SCORES_ADDED_COLUMNS.items():
        con.execute(f"alter table marts.churn_scores add column if not exists {column} {sql_type}")


def memory_limit() -> str:
    """DuckDB's memory cap for every connection of a run (``WINBACK_DUCKDB_MEMORY_LIMIT``,
    the same setting dbt's profile reads); beyond it DuckDB spills to disk. Without it
    DuckDB may take 80% of the machine (17 GB during a 1M-customer load)."""
    from winback.config import Settings

    return os.environ.get(
        "WINBACK_DUCKDB_MEMORY_LIMIT",
        str(Settings.model_fields["duckdb_memory_limit"].default),
    )


@contextmanager
def connect(path: Path, *, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
    """A connection in UTC, capped at ``memory_limit()``, that is always closed."""
    con = duckdb.connect(str(path), read_only=read_only)
    try:
        con.execute("set TimeZone = 'UTC'")
        con.execute(f"set memory_limit = '{memory_limit()}'")
        yield con
    finally:
        con.close()


def read_customer_features(path: Path) -> pd.DataFrame:
    """The whole feature mart (every snapshot), ordered for determinism."""
    with connect(path) as con:
        return con.execute(
            "select * from marts.customer_features order by as_of_date, customer_id"
        ).df()


@dataclass
class FeatureRead:
    """What a nightly run read from the feature mart, and how much of it."""

    frame: pd.DataFrame
    rows_in_mart: int
    train_rows_available: int  # rows of the training snapshots before sampling
    train_share: float  # share of them read (the same share from every snapshot)

    def __post_init__(self) -> None:
        self.rows_read = len(self.frame)

    def release(self) -> None:
        """Drop the rows (keep the columns and the counts) once nothing needs them.

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
        return (
            f"read {self.rows_read:,} of {self.rows_in_mart:,} feature rows: the scoring, "
            f"calibration and validation snapshots whole, {self.train_share:.1%} of "
            f"{self.train_rows_available:,} training rows (sampled in SQL, seeded)"
        )


def _fetch_in_chunks(cursor: duckdb.DuckDBPyConnection) -> list[pd.DataFrame]:
    """A result as DataFrames of ~100k rows: DuckDB never holds the whole result as
    Python objects besides the frame being built."""
    parts = []
    while len(part := cursor.fetch_df_chunk(FETCH_CHUNK_VECTORS)) > 0:
        parts.append(part)
    return parts


# Vectors (2,048 rows each) per fetched DataFrame chunk.
FETCH_CHUNK_VECTORS = 50


def read_features_for_run(path: Path, max_train_rows: int, seed: int) -> FeatureRead:
    """The part of the feature mart one nightly run needs, without pulling every snapshot
    into memory (at a million customers the mart holds millions of rows):

    - the scoring snapshot and the two newest labelled snapshots (calibration,
      validation) whole — metrics and scores are never computed on a sample;
    - the older labelled snapshots (training) sampled in SQL to at most
      ``max_train_rows``: the same share from every snapshot, chosen by a seeded hash
      of (customer, as-of date), so the same mart and seed read the same rows;
    - unlabelled snapshots other than the scoring one are not read (nothing uses them).

    Rows are ordered by (as_of_date, customer_id), as ``read_customer_features``, so each
    snapshot is one contiguous block (``training.split_by_snapshot`` slices it without
    copying). Memory: one snapshot is sorted at a time and fetched in chunks, so the read
    peaks near twice the frame instead of five times (1M customers: 11.7 GB before).
    """
    with connect(path) as con:
        snapshots = con.execute(
            "select as_of_date, bool_or(is_label_observed) as labelled, "
            "bool_or(is_scoring_snapshot) as scoring, count(*) as n "
            "from marts.customer_features group by as_of_date order by as_of_date"
        ).fetchall()
        labelled = [row[0] for row in snapshots if row[1] and not row[2]]
        train_dates = labelled[:-2]  # the two newest labelled ones are held out whole
        wanted = [row[0] for row in snapshots if row[2] or row[0] in labelled]
        counts = {row[0]: int(row[3]) for row in snapshots}
        available = sum(counts[d] for d in train_dates)
        share = 1.0 if available <= max_train_rows else max_train_rows / available
        parts: list[pd.DataFrame] = []
        for as_of_date in wanted:
            sampled = as_of_date in train_dates and share < 1.0
            # One hash of the whole key (hash(a, b, seed) barely moves with the seed).
            cursor = con.execute(
                "select * from marts.customer_features where as_of_date = $as_of_date "
                + (
                    "and hash(concat_ws('|', customer_id, as_of_date, $seed)) % 1000000 "
                    "< $share * 1000000 "
                    if sampled
                    else ""
                )
                + "order by customer_id",
                {"as_of_date": as_of_date, "seed": seed, "share": share}
                if sampled
                else {"as_of_date": as_of_date},
            )
            parts += _fetch_in_chunks(cursor)
        frame = pd.concat(parts, ignore_index=True) if parts else _empty_features(con)
        del parts
        # A chunk whose text column is all null arrives as object; keep text as text.
        text = {
            name
            for name, kind, *_ in con.execute("describe marts.customer_features").fetchall()
            if kind == "VARCHAR"
        }
        for column in text & {c for c in frame.columns if frame[c].dtype == "object"}:
            frame[column] = frame[column].astype("str")
    return FeatureRead(frame, sum(counts.values()), available, share)


def _empty_features(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    return con.execute("select * from marts.customer_features where false").df()


def previous_scored_customers(path: Path, as_of: dt.date) -> int | None:
    """How many customers the latest published run up to ``as_of`` scored (a rerun of
    the same date compares with what it would replace)."""
    with connect(path) as con:
        _ensure_churn_scores(con)
        row = con.execute(
            "select count(*) from marts.churn_scores where as_of_date = "
            "(select max(as_of_date) from marts.churn_scores where as_of_date <= ?)",
            [as_of],
        ).fetchone()
    return int(row[0]) if row and row[0] else None


def publish_churn_scores(path: Path, as_of: dt.date, scores: pd.DataFrame) -> int:
    """Replace the scores of ``as_of`` in one transaction (all rows or none)."""
    expected = {"customer_id", "churn_probability", "model_version"}
    missing = expected - set(scores.columns)
    if missing:
        raise ValueError(f"scores lack columns {sorted(missing)}")
    optional = [c for c in CHURN_SCORES_ADDED_COLUMNS if c in scores.columns]
    with connect(path) as con:
        _ensure_churn_scores(con)
        con.register("new_scores", scores)
        con.execute("begin transaction")
        try:
            con.execute("delete from marts.churn_scores where as_of_date = ?", [as_of])
            con.execute(
                "insert into marts.churn_scores (as_of_date, customer_id, churn_probability, "
                f"model_version, scored_at{''.join(', ' + c for c in optional)}) "
                "select ?, customer_id, churn_probability, model_version, "
                f"current_timestamp at time zone 'UTC'{''.join(', ' + c for c in optional)} "
                "from new_scores order by customer_id",
                [as_of],
            )
            con.execute("commit")
        except Exception:
            con.execute("rollback")
            raise
        (count,) = con.execute(
            "select count(*) from marts.churn_scores where as_of_date = ?", [as_of]
        ).fetchone()  # type: ignore[misc]
    return int(count)


def read_purchase_dates(path: Path) -> pd.DataFrame | None:
    """Every purchase (customer_id, ordered_at), for checking next-order predictions;
    None when the intermediate table is not there."""
    with connect(path) as con:
        try:
            return con.execute(
                "select customer_id, ordered_at from intermediate.int_orders_enriched "
                "where is_purchase"
            ).df()
        except duckdb.CatalogException:
            return None


def read_raw_orders(path: Path) -> pd.DataFrame:
    """The contract columns of the loaded orders (for the raw-data gate)."""
    with connect(path) as con:
        return con.execute(
            "select order_id, customer_id, order_ts, amount from raw.orders order by order_id"
        ).df()
