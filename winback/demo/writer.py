"""Write lazy tables as the contract's CSV or Parquet files, chunk by chunk, reproducibly."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from winback.demo.arrow import LazyTable


def to_csv_ready(table: pa.Table) -> pa.Table:
    """Timestamps as ISO 8601 UTC strings (``2026-03-01T14:05:00Z``); the rest as is
    (booleans are written as true/false, nulls as empty fields)."""
    cols = []
    for name in table.column_names:
        col = table.column(name)
        if pa.types.is_timestamp(col.type):
            # "2026-03-01 14:05:00" → "2026-03-01T14:05:00Z"; ~7x faster than pc.strftime.
            text = pc.cast(col.cast(pa.timestamp("s")), pa.string())
            col = pc.binary_join_element_wise(pc.replace_substring(text, " ", "T"), "Z", "")
        cols.append(col)
    return pa.table(cols, names=table.column_names)


def write_table(table: LazyTable, path: Path) -> None:
    """Write one table; the suffix of ``path`` picks the format. No quoting is needed:
    no generated value contains a comma, quote or line break."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".csv":
        options = pacsv.WriteOptions(
            include_header=True, quoting_style="none", quoting_header="none"
        )
        writer: pacsv.CSVWriter | pq.ParquetWriter | None = None
        for chunk in table.chunks():
            ready = to_csv_ready(chunk)
            if writer is None:
                writer = pacsv.CSVWriter(path, ready.schema, write_options=options)
            writer.write_table(ready)
    else:
        writer = None
        for chunk in table.chunks():
            if writer is None:
                schema = chunk.schema
                writer = pq.ParquetWriter(path, schema, compression="zstd")
            writer.write_table(chunk.cast(schema))
    assert writer is not None
    writer.close()
    pa.default_memory_pool().release_unused()  # hand Arrow's cached buffers back to the OS
