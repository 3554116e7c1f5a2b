"""Reads from and publishes to the DuckDB warehouse.

DuckDB allows one writing process per file, so every function opens a connection,
does its work and closes it again; dbt opens its own connection in between.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
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
    primary key (as_of_date, customer_id)
)
"""


@contextmanager
def connect(path: Path, *, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
    """A connection in UTC that is always closed."""
    con = duckdb.connect(str(path), read_only=read_only)
    try:
        con.execute("set TimeZone = 'UTC'")
        yield con
    finally:
        con.close()


def read_customer_features(path: Path) -> pd.DataFrame:
    """The whole feature mart (every snapshot), ordered for determinism."""
    with connect(path) as con:
        return con.execute(
            "select * from marts.customer_features order by as_of_date, customer_id"
        ).df()


def previous_scored_customers(path: Path, as_of: dt.date) -> int | None:
    """How many customers the latest published run up to ``as_of`` scored (a rerun of
    the same date compares with what it would replace)."""
    with connect(path) as con:
        con.execute("create schema if not exists marts")
        con.execute(CHURN_SCORES_DDL)
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
    with connect(path) as con:
        con.execute("create schema if not exists marts")
        con.execute(CHURN_SCORES_DDL)
        con.register("new_scores", scores)
        con.execute("begin transaction")
        try:
            con.execute("delete from marts.churn_scores where as_of_date = ?", [as_of])
            con.execute(
                "insert into marts.churn_scores select ?, customer_id, churn_probability, "
                "model_version, current_timestamp at time zone 'UTC' from new_scores "
                "order by customer_id",
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
