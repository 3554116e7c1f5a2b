"""Columns built lazily from numpy arrays, so that big tables are written in chunks.

A table is kept as numpy arrays plus, per column, how to turn a slice of rows into an
Arrow array (ids, labels, timestamps, ...). The writer materialises ``CHUNK_ROWS`` rows
at a time, which keeps a million-customer shop within a few GB of memory.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

TS_TYPE = pa.timestamp("s", tz="UTC")
CHUNK_ROWS = 1_000_000


@dataclass(frozen=True)
class Col:
    """A column of ``length`` rows; ``make(slice)`` builds the Arrow array of that slice."""

    length: int
    make: Callable[[slice], pa.Array]


@dataclass(frozen=True)
class LazyTable:
    """Named columns of equal length, materialised chunk by chunk."""

    columns: dict[str, Col]

    @property
    def num_rows(self) -> int:
        """Rows in the table."""
        return next(iter(self.columns.values())).length

    @property
    def column_names(self) -> list[str]:
        """Column names in order."""
        return list(self.columns)

    def slice_table(self, rows: slice) -> pa.Table:
        """The Arrow table of ``rows``."""
        return pa.table({name: col.make(rows) for name, col in self.columns.items()})

    def chunks(self, size: int = CHUNK_ROWS) -> Iterator[pa.Table]:
        """Consecutive Arrow tables of at most ``size`` rows (one, empty, if no rows)."""
        n = self.num_rows
        for start in range(0, max(n, 1), size):
            yield self.slice_table(slice(start, min(start + size, n)))

    def to_arrow(self) -> pa.Table:
        """The whole table at once (small tables and tests)."""
        return self.slice_table(slice(0, self.num_rows))


def table(columns: dict[str, Col]) -> LazyTable:
    """A lazy table; all columns must have the same length."""
    lengths = {c.length for c in columns.values()}
    if len(lengths) != 1:
        raise ValueError(f"columns differ in length: { {k: c.length for k, c in columns.items()} }")
    return LazyTable(columns)


def _null_where(values: pa.Array, mask: np.ndarray | None) -> pa.Array:
    if mask is None or not mask.any():
        return values
    return pc.if_else(pa.array(mask), pa.scalar(None, values.type), values)


def ids(
    prefix: str,
    numbers: np.ndarray,
    width: int,
    mask: np.ndarray | None = None,
    suffix: str = "",
) -> Col:
    """``prefix`` + zero-padded number (+ ``suffix``), e.g. ``C0000042``; null where
    ``mask`` is True."""
    numbers = np.asarray(numbers)  # kept in its (possibly small) integer type until written

    def make(rows: slice) -> pa.Array:
        chunk = numbers[rows].astype(np.int64)
        digits = pc.utf8_lpad(pc.cast(pa.array(chunk), pa.string()), width, "0")
        out = pc.binary_join_element_wise(pa.scalar(prefix), digits, pa.scalar(suffix), "")
        return _null_where(out, None if mask is None else mask[rows])

    return Col(numbers.size, make)


def labels(names: Sequence[str], codes: np.ndarray, mask: np.ndarray | None = None) -> Col:
    """Codes → strings; null where ``mask`` is True."""
    codes = np.asarray(codes)
    if mask is not None:
        codes = np.where(mask, 0, codes)
    dictionary = pa.array(list(names), pa.string())

    def make(rows: slice) -> pa.Array:
        out = dictionary.take(pa.array(codes[rows].astype(np.int64)))
        return _null_where(out, None if mask is None else mask[rows])

    return Col(codes.size, make)


def timestamps(values: np.ndarray) -> Col:
    """datetime64 (NaT = null) → UTC timestamps in whole seconds."""
    values = np.asarray(values, dtype="datetime64[s]")
    return Col(values.size, lambda rows: pa.array(values[rows], from_pandas=True).cast(TS_TYPE))


def timestamps_from(values: np.ndarray, convert: Callable[[np.ndarray], np.ndarray]) -> Col:
    """Timestamps converted chunk by chunk, e.g. from simulator days (saves memory)."""
    return Col(
        values.size,
        lambda rows: pa.array(convert(values[rows]), from_pandas=True).cast(TS_TYPE),
    )


def money(values: np.ndarray) -> Col:
    """Amounts rounded to cents (NaN = null)."""
    values = np.round(np.asarray(values, dtype=np.float64), 2)
    return Col(values.size, lambda rows: pa.array(values[rows], from_pandas=True))


def plain(values: np.ndarray) -> Col:
    """Booleans, integers or floats as they are."""
    values = np.asarray(values)
    return Col(values.size, lambda rows: pa.array(values[rows]))


def nullable_int(values: np.ndarray, mask: np.ndarray) -> Col:
    """Integers with nulls where ``mask`` is True."""
    values = np.asarray(values, dtype=np.int64)
    mask = np.asarray(mask, dtype=bool)
    return Col(values.size, lambda rows: pa.array(values[rows], mask=mask[rows]))
