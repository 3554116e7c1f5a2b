"""Query results as pandas frames, through Arrow, in the dtypes DuckDB's ``.df()`` gives.

Python reads tables from either engine (DuckDB, Spark) the same way: decimals as float64,
dates and naive timestamps as datetime64[us], whole numbers and flags with nulls as
pandas' nullable integers (of the same width) / boolean, text as pandas' ``str`` (where
``.df()`` gives object for a text column that is all null, this keeps it text).

Through Arrow because DuckDB's own ``.df()`` is slow on wide results: it hands pandas a
Python object for every text value, and pandas then copies every column into its blocks.
The decisions' 1.8M-row campaign history took 9-11 s that way and 1.4-2.8 s through
Arrow; the 1M-customer scoring snapshot 7-8 s and under 1 s once warm (paired reads on
the bench's 1M shop). ``tests/ops/test_mechanisms.py`` checks that the two agree on every
SQL type the warehouse uses.
"""

from __future__ import annotations

from collections.abc import Iterable

import pandas as pd
import pyarrow as pa

from winback._runtime import hand_back_freed_memory


def frame_from_arrow(table: pa.Table) -> pd.DataFrame:
    """``table`` as pandas, in the dtypes DuckDB's ``.df()`` gives the same SQL types."""
    fields = []
    for field in table.schema:
        kind = field.type
        if pa.types.is_decimal(kind):
            kind = pa.float64()
        elif pa.types.is_date(kind) or (pa.types.is_timestamp(kind) and kind.tz is None):
            kind = pa.timestamp("us")
        fields.append(pa.field(field.name, kind))
    schema = pa.schema(fields)
    if schema != table.schema:
        table = table.cast(schema)
    # Text in one piece per column, as DuckDB's .df() gives it: pandas keeps Arrow's
    # chunks as DuckDB hands them over (15 for the 1.8M-row campaign history), and
    # operations on a chunked column copy it whole again (a 1M second night's peak was
    # 1.2 GB higher with the chunks kept: 5,334 against 4,095 MB, paired).
    for index, field in enumerate(table.schema):
        if pa.types.is_string(field.type) or pa.types.is_large_string(field.type):
            table = table.set_column(index, field, table.column(index).combine_chunks())
    out = table.to_pandas()
    for field in table.schema:
        if table.column(field.name).null_count == 0:
            continue
        if pa.types.is_integer(field.type):  # int32 → Int32, uint64 → UInt64, ...
            out[field.name] = out[field.name].astype(
                str(field.type).capitalize().replace("Uint", "UInt")
            )
        elif pa.types.is_boolean(field.type):
            out[field.name] = out[field.name].astype("boolean")
    return out


def frame_from_readers(readers: Iterable[pa.RecordBatchReader]) -> pd.DataFrame:
    """The rows of ``readers`` (results of one schema, read one after the other) as one
    pandas frame, as :func:`frame_from_arrow` gives them, with memory near the frame's
    own size: each Arrow batch is converted as it arrives, its columns kept apart, and
    each column is put together from its pieces and the pieces freed, one column at a
    time. Converting the pieces whole and concatenating them held the rows twice (the
    first night's peak at a million customers: 5,248 against 3,943 MB on its own).

    Not through one Arrow table: DuckDB hands a batch over as one allocation, so no
    column's memory comes back before the whole batch's does. The columns stay separate
    blocks (putting those of one dtype side by side would copy them all again)."""
    schema = None
    pieces: dict[str, list[pd.Series]] = {}
    for reader in readers:
        schema = reader.schema
        for batch in reader:
            chunk = frame_from_arrow(pa.Table.from_batches([batch]))
            for name in chunk.columns:  # a copy: a view would keep the chunk's block alive
                pieces.setdefault(name, []).append(chunk[name].copy())
            del chunk
    if schema is None:
        raise ValueError("no results to read")
    if not pieces:
        return frame_from_arrow(schema.empty_table())
    columns: dict[str, pd.Series] = {}
    for position, name in enumerate(list(pieces)):
        columns[name] = pd.concat(pieces.pop(name), ignore_index=True)
        if position % 8 == 7:  # the freed pieces are scattered through the heap
            hand_back_freed_memory()
    hand_back_freed_memory()
    return pd.DataFrame(columns, copy=False)
