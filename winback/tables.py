"""The tables Python reads from and writes to, whichever engine holds them.

The decisions step reads what dbt built (the allocation's inputs) and writes what Python
decided (plan choices, backtest estimates) for dbt to read back. :class:`TableStore` is
that exchange; :class:`DuckDBTables` keeps it in the DuckDB working warehouse and
``winback.spark.SparkTables`` in the Spark catalogue. SQL given to a store is the shared
subset of both dialects (``string``, ``bigint``, ``double``, ``date`` casts; date literals
``date 'YYYY-MM-DD'``).
"""

from __future__ import annotations

from typing import Protocol

import pandas as pd

from winback.warehouse import Warehouse, connect, fetch_frame, scalar, table_exists


class TableStore(Protocol):
    """Reads query results as pandas and replaces whole tables from pandas frames."""

    def read(self, sql: str, frames: dict[str, pd.DataFrame] | None = None) -> pd.DataFrame:
        """The result of ``sql``, which may name each of ``frames`` as a table."""
        ...

    def has_table(self, table: str) -> bool:
        """Whether ``schema.table`` exists."""
        ...

    def drop_table(self, table: str) -> None:
        """Drop ``schema.table`` if it exists."""
        ...

    def replace(self, table: str, frame: pd.DataFrame, select: str) -> int:
        """Replace ``schema.table`` with ``select`` over ``frame`` (named ``frame`` in the
        SQL), creating the schema if needed; returns the rows written."""
        ...


class DuckDBTables:
    """A :class:`TableStore` on the DuckDB working warehouse (one connection per call)."""

    def __init__(self, warehouse: Warehouse) -> None:
        self.warehouse = warehouse

    def read(self, sql: str, frames: dict[str, pd.DataFrame] | None = None) -> pd.DataFrame:
        with connect(self.warehouse) as con:
            for name, frame in (frames or {}).items():
                con.register(name, frame)
            return fetch_frame(con, sql)

    def has_table(self, table: str) -> bool:
        with connect(self.warehouse) as con:
            return table_exists(con, table)

    def drop_table(self, table: str) -> None:
        with connect(self.warehouse) as con:
            con.execute(f"drop table if exists {table}")

    def replace(self, table: str, frame: pd.DataFrame, select: str) -> int:
        with connect(self.warehouse) as con:
            con.execute(f"create schema if not exists {table.split('.')[0]}")
            con.register("frame", frame)
            con.execute(f"create or replace table {table} as {select}")
            con.unregister("frame")
            return int(scalar(con, f"select count(*) from {table}"))


def store_for(where: Warehouse | TableStore) -> TableStore:
    """``where`` as a store: a warehouse (settings or path) means its DuckDB tables."""
    if isinstance(where, DuckDBTables) or not isinstance(where, Warehouse):
        return where
    return DuckDBTables(where)


def date_literal(value: object) -> str:
    """A date as SQL both engines read (``date '2026-06-30'``)."""
    return f"date '{pd.Timestamp(str(value)).date().isoformat()}'"
