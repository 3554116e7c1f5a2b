"""The Spark engine's loader is the DuckDB loader's twin: the same directory loaded by both
gives the same report, the same raw rows (typed the same) and the same quarantine, row for
row and reason for reason, and the same refusal of a file that cannot be loaded.

One local Spark session serves the module; each comparison loads one directory with both.
The directories: (a) a small generated demo shop, (b) every kind of bad input of
``test_load.py`` in one directory (CSV and Parquet, with text DuckDB's casts and Spark's
disagree about), (c) files the load must refuse.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from winback.config import SparkSettings
from winback.demo.generate import generate_shop
from winback.demo.spec import ShopSpec
from winback.ingest import ContractError, LoadReport, StaleDataError, load_data_dir
from winback.ingest.contract import TABLES

pyspark = pytest.importorskip("pyspark", reason="the spark extra (make setup installs it)")
pytestmark = pytest.mark.spark  # runs under `make test`; `-m "not spark"` leaves it out

from winback.ingest.spark_load import load_data_dir_spark  # noqa: E402
from winback.spark import session  # noqa: E402

AS_OF = dt.date(2026, 6, 30)
QUARANTINE_COLUMNS = (
    "load_id, table_name, source_file, row_number, column_name, reason_code, reason, "
    "other_problems, record"
)
LOADS_COLUMNS = (
    "load_id, as_of, table_name, source_file, rows_read, rows_loaded, rows_quarantined, loaded_at"
)
# DuckDB's type names of the raw tables' columns, as Spark spells them.
SPARK_TYPE_OF = {
    "VARCHAR": "string",
    "TIMESTAMP": "timestamp",
    "DECIMAL(18,2)": "decimal(18,2)",
    "BIGINT": "bigint",
    "BOOLEAN": "boolean",
    "DATE": "date",
}


@pytest.fixture(scope="module")
def spark(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    root = tmp_path_factory.mktemp("spark")
    settings = SparkSettings(warehouse_dir=str(root / "wh"), master="local[2]", driver_memory="1g")
    with session(settings) as spark:
        yield spark


@dataclass
class Loaded:
    """What one loader made of a directory: its report, raw tables, and quarantine."""

    report: LoadReport
    raw: dict[str, pd.DataFrame]
    types: dict[str, list[tuple[str, str]]]  # of the raw tables and raw._loads
    quarantine: pd.DataFrame
    loads: pd.DataFrame  # raw._loads' rows of this load


def canonical(frame: pd.DataFrame) -> pd.DataFrame:
    """Cells as plain Python values (None for every kind of null), so that frames from
    DuckDB and from Spark compare by value, not by how each converts to pandas."""

    def cell(value: Any) -> Any:
        if value is None or value is pd.NaT or (isinstance(value, float) and math.isnan(value)):
            return None
        if isinstance(value, pd.Timestamp | dt.datetime):
            return pd.Timestamp(value).tz_localize(None) if value.tzinfo else pd.Timestamp(value)
        if hasattr(value, "item") and not isinstance(value, Decimal):  # numpy scalars
            return value.item()
        return value

    return pd.DataFrame(
        {c: pd.Series([cell(v) for v in frame[c].tolist()], dtype=object) for c in frame.columns}
    )


def quarantine_frame(frame: pd.DataFrame) -> pd.DataFrame:
    frame = canonical(frame)
    frame["record"] = [json.loads(r) for r in frame["record"]]
    return frame.sort_values(["table_name", "row_number"], kind="stable").reset_index(drop=True)


def loads_frame(frame: pd.DataFrame) -> pd.DataFrame:
    frame = canonical(frame.drop(columns="loaded_at"))
    return frame.sort_values("table_name").reset_index(drop=True)


def load_with_duckdb(
    data: Path, warehouse: Path, as_of: dt.date | None, now: dt.datetime | None
) -> Loaded:
    report = load_data_dir(warehouse, data, as_of, now=now)
    with duckdb.connect(str(warehouse)) as con:
        raw, types = {}, {}
        for table in TABLES:
            raw[table.name] = canonical(
                con.sql(f"select * exclude (_loaded_at) from raw.{table.name} order by _row_number")
                .to_arrow_table()
                .to_pandas()
            )
            types[table.name] = [
                (name, SPARK_TYPE_OF.get(kind, kind))
                for name, kind in con.execute(
                    f"select column_name, column_type from (describe raw.{table.name})"
                ).fetchall()
            ]
        types["_loads"] = [
            (name, SPARK_TYPE_OF.get(kind, kind))
            for name, kind in con.execute(
                "select column_name, column_type from (describe raw._loads)"
            ).fetchall()
        ]
        quarantine = con.sql(f"select {QUARANTINE_COLUMNS} from quarantine.rejected_rows")
        loads = con.sql(
            f"select {LOADS_COLUMNS} from raw._loads where load_id = {report.load_id!r}"
        )
        quarantine_rows = quarantine.to_arrow_table().to_pandas()
        load_rows = loads.to_arrow_table().to_pandas()
    return Loaded(report, raw, types, quarantine_frame(quarantine_rows), loads_frame(load_rows))


def load_with_spark(
    spark: Any, data: Path, as_of: dt.date | None, now: dt.datetime | None
) -> Loaded:
    report = load_data_dir_spark(spark, data, as_of, now=now)
    raw, types = {}, {}
    for table in TABLES:
        frame = spark.table(f"raw.{table.name}")
        types[table.name] = [(f.name, f.dataType.simpleString()) for f in frame.schema.fields]
        raw[table.name] = canonical(
            frame.drop("_loaded_at").orderBy("_row_number").toArrow().to_pandas()
        )
    loads = spark.table("raw.`_loads`")
    types["_loads"] = [(f.name, f.dataType.simpleString()) for f in loads.schema.fields]
    quarantine = spark.sql(f"select {QUARANTINE_COLUMNS} from quarantine.rejected_rows")
    this_load = loads.where(loads.load_id == report.load_id).selectExpr(*LOADS_COLUMNS.split(", "))
    return Loaded(
        report,
        raw,
        types,
        quarantine_frame(quarantine.toArrow().to_pandas()),
        loads_frame(this_load.toArrow().to_pandas()),
    )


def assert_same_load(duck: Loaded, spark: Loaded) -> None:
    assert spark.report == duck.report
    assert spark.types == duck.types
    for table in TABLES:
        pd.testing.assert_frame_equal(spark.raw[table.name], duck.raw[table.name], obj=table.name)
    pd.testing.assert_frame_equal(spark.quarantine, duck.quarantine, obj="quarantine")
    pd.testing.assert_frame_equal(spark.loads, duck.loads, obj="raw._loads")


def load_both(
    spark: Any,
    data: Path,
    tmp_path: Path,
    as_of: dt.date | None = AS_OF,
    now: dt.datetime | None = None,
) -> tuple[Loaded, Loaded]:
    duck = load_with_duckdb(data, tmp_path / "wh.duckdb", as_of, now)
    return duck, load_with_spark(spark, data, as_of, now)


def test_demo_shop_loads_the_same_on_both_engines(spark: Any, tmp_path: Path) -> None:
    data = tmp_path / "shop"
    generate_shop(ShopSpec(n_customers=200, seed=11, as_of=AS_OF), data)
    # No as-of date: both pick the newest order's (not after `now`); events after it are
    # in the future of that date.
    duck, spark_loaded = load_both(spark, data, tmp_path, None, dt.datetime(2026, 7, 1, 6))
    assert AS_OF - dt.timedelta(days=7) <= duck.report.as_of < AS_OF
    assert duck.report.quarantine_counts[("events", "future_timestamp")] > 0
    assert duck.report.tables["orders"].rows_loaded > 500
    assert_same_load(duck, spark_loaded)


# --- (b) every kind of bad input, in one directory -------------------------------------

ORDERS_CSV = "\n".join(
    [
        "order_id,customer_id,order_ts,amount,status,coupon",
        "O1,C1,2026-01-01T10:00:00Z,10.50,paid,X",
        "O2,C1,2026-02-01T10:00:00Z,20,delivered,",
        "O3,C2,2026-03-01 09:00:00,5,pending, spaced ",
        "",  # a blank line: skipped, not counted
        "O4,C3,yesterday,5,paid,bad timestamp",
        "O5,C3,2026-03-01,-4.5,paid,negative amount",
        "O6,C3,2026-03-01,12abc,paid,bad decimal",
        "O7,C3,2026-03-01,5,lost,unknown value",
        "O8,,2026-03-01,5,paid,missing value",
        "O9,C3,2027-01-01T00:00:00Z,5,paid,future",
        "O1,C3,2026-03-01,5,paid,duplicate key",
        "order_id,customer_id,order_ts,amount,status,coupon",  # the header again
        "O10,C404,2026-03-01,5,paid,unknown customer",
        "O11,,notadate,-1,paid,every problem",
        "O12,C2,2026-03-01T18:00:00+08:00,1_000,PAID,offset and underscores",
        'O13,C2,2026/03/01 24:00:00,"1,5",Shipped,"quoted, with a comma"',
        'O14,C2,2026-03-01 10:00 UTC,1e3,cancelled,"two\nlines"',
        "O15,C2,2026,5,paid,a year is not a date",
        "O16,C2,2026-03-01\t10:00:00,\u00a07.5\u00a0,refunded,no-break spaces",
        "O17,C2,2026-03-01 10:00:00 +08:00,5,paid,space before the offset",
        "O18,C2,2026-03-01T10:00:00.1234567,0.005,paid,nanoseconds",
    ]
)
CUSTOMERS_CSV = "\n".join(
    [
        # An upper-case contract name; a blank name and two differing in case only, which
        # DuckDB's reader renames (column8, note_1).
        "customer_id,segment,birth_year,consent_email,preferred_contact_hour,Signup_TS,Note, note ,",
        "C1,b2c,1980,yes,9,2025-01-01,a,b,c",
        "C2,B2B,1975.5,0,23,2025-02-01,,,",
        "C3,b2c,1800,maybe,24,2025-03-01,,,",
        "C4,retail,19x0,\ttrue,7.5,2025-04-01,,,",
        "C1,b2c,1990,true,1,2025-05-01,,,",
        "C5,b2c,0x7B6,T,-0,2030-01-01,,,",
        "C6,b2c,1985,maybe,10,2025-06-01,,,",
    ]
)
ITEMS_CSV = "\n".join(
    [
        "order_id,product_id,quantity,unit_price",
        "O1,P1,1,10.5",
        "O5,P1,1,5",  # its order is quarantined
        "O2,P404,2,3",
        "O2,P1,-1,3",
        "O3,P1,2.5,1.005",
    ]
)
PRODUCTS_CSV = (
    "product_id,category,is_essential,unit_cost\nP1,toys,true,1.00\nP2,food,false,-0.01\n"
)
CONTACT_LOG_CSV = "\n".join(
    [
        "contact_key,channel,status,status_ts,customer_id",
        "wb-1,email,sent,2026-03-02,C1",
        "wb-2,email,opted_out,2026-03-02,C2",
        "rm-O1,sms,sent,2026-03-02,",
        "wb-404,email,sent,2026-03-02,C1",
    ]
)


def write_bad_inputs(data: Path) -> None:
    data.mkdir(parents=True)
    for name, text in (
        ("orders.csv", ORDERS_CSV),
        ("customers.csv", CUSTOMERS_CSV),
        ("order_items.csv", ITEMS_CSV),
        ("products.csv", PRODUCTS_CSV),
        ("contact_log.csv", CONTACT_LOG_CSV),
    ):
        (data / name).write_text(text + "\n", encoding="utf-8")
    # Native Parquet types, kept as they are: zoned timestamps, nullable integers, booleans.
    opened = ["2026-01-01T10:00:00Z", None, "2026-03-01T09:00:00Z", "2027-01-01T00:00:00Z"]
    pd.DataFrame(
        {
            "ticket_id": ["T1", "T2", "T3", "T4"],
            "customer_id": ["C1", "C1", "C2", "C404"],
            "opened_ts": pd.to_datetime(opened, utc=True),
            "resolved": pd.array([True, False, None, True], dtype="boolean"),
            "satisfaction": pd.array([5, 9, 1, None], dtype="Int64"),
        }
    ).to_parquet(data / "tickets.parquet")
    # Types DuckDB reads as text: nanosecond timestamps (zoned or not), doubles, dates.
    pq.write_table(
        pa.table(
            {
                "invoice_id": ["I1", "I2", "I3", "I4", "I5"],
                "customer_id": ["C1", "C2", "C2", "C1", "C2"],
                "due_ts": pa.array(
                    [
                        pd.Timestamp("2026-04-01 00:00:00.123456789"),
                        pd.Timestamp("2026-05-01"),
                        None,
                        pd.Timestamp("2026-07-01"),
                        pd.Timestamp("2026-04-01"),
                    ],
                    pa.timestamp("ns"),
                ),
                "paid_ts": pa.array(
                    [
                        pd.Timestamp("2026-04-02 10:00", tz="Asia/Shanghai"),
                        None,
                        None,
                        pd.Timestamp("2027-01-01", tz="UTC"),
                        None,
                    ],
                    pa.timestamp("ns", tz="UTC"),
                ),
                "amount": [12_345_678.0, -1.0, 1e16, 0.1 + 0.2, None],
                "fee_rate": [1e-05, 0.0001, 2.5, None, -0.0],
                "booked_on": pa.array(
                    [dt.date(2026, 4, 1), None, dt.date(2026, 4, 3), None, None], pa.date32()
                ),
            }
        ),
        data / "payments.parquet",
    )


def test_bad_inputs_are_quarantined_the_same_on_both_engines(spark: Any, tmp_path: Path) -> None:
    data = tmp_path / "data"
    write_bad_inputs(data)
    # Exported contacts: the contact log's keys are checked against them.
    warehouse = tmp_path / "wh.duckdb"
    with duckdb.connect(str(warehouse)) as con:
        con.execute("create schema history")
        con.execute("create table history.winback_exported_contacts (contact_id varchar)")
        con.execute("insert into history.winback_exported_contacts values ('wb-1'), ('wb-2')")
    spark.sql("create database if not exists history")
    spark.sql(
        "create or replace temp view exported as select 'wb-1' as contact_id union all select 'wb-2'"
    )
    spark.sql(
        "create table history.winback_exported_contacts using parquet as select * from exported"
    )
    try:
        duck, spark_loaded = load_both(spark, data, tmp_path)
    finally:
        spark.sql("drop table history.winback_exported_contacts")
    codes = {code for _, code in duck.report.quarantine_counts}
    assert {
        "bad_timestamp",
        "negative_amount",
        "bad_decimal",
        "unknown_value",
        "missing_value",
        "future_timestamp",
        "duplicate_key",
        "repeated_header",
        "unknown_reference",
        "out_of_range",
        "bad_integer",
        "bad_boolean",
        "unknown_contact_key",
    } <= codes
    assert "coupon" in duck.raw["orders"].columns
    assert {"Note", "note_1", "column8"} <= set(duck.raw["customers"].columns)
    assert_same_load(duck, spark_loaded)


# --- (c) files no row of which can be loaded --------------------------------------------


@pytest.mark.parametrize(
    "orders",
    [
        "order_id,customer_id,amount\nO1,C1,5\n",
        "order_id;customer_id;order_ts;amount\nO1;C1;2026-01-01;5\n",
        "order_id,customer_id,order_ts,amount\nO1,C1,someday,5\n",
    ],
    ids=["missing-column", "semicolons", "no-valid-order-ts"],
)
def test_a_file_that_cannot_be_loaded_is_refused_alike(
    spark: Any, tmp_path: Path, orders: str
) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "orders.csv").write_text(orders, encoding="utf-8")
    (data / "customers.csv").write_text("customer_id\nC1\n", encoding="utf-8")
    with pytest.raises(ContractError) as duck:
        load_data_dir(tmp_path / "wh.duckdb", data, None)
    with pytest.raises(ContractError) as spark_error:
        load_data_dir_spark(spark, data, None)
    assert str(spark_error.value) == str(duck.value)


def test_latin1_and_stale_orders_are_refused_alike(spark: Any, tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    orders = data / "orders.csv"
    orders.write_bytes(
        "order_id,customer_id,order_ts,amount\nO1,C\xe9,2026-01-01,5\n".encode("latin-1")
    )
    with pytest.raises(ContractError) as duck:
        load_data_dir(tmp_path / "wh.duckdb", data, AS_OF)
    with pytest.raises(ContractError) as spark_error:
        load_data_dir_spark(spark, data, AS_OF)
    # The same problem named for the same file; each reader words the byte it stopped at.
    assert (
        str(spark_error.value).split(" Reader said:")[0]
        == str(duck.value).split(" Reader said:")[0]
    )
    orders.write_text(
        "order_id,customer_id,order_ts,amount\nO1,C1,2026-02-01,5\n", encoding="utf-8"
    )
    later = dt.datetime(2026, 2, 10)
    with pytest.raises(StaleDataError) as stale:
        load_data_dir(tmp_path / "wh.duckdb", data, max_data_age_days=3, now=later)
    with pytest.raises(StaleDataError) as spark_stale:
        load_data_dir_spark(spark, data, max_data_age_days=3, now=later)
    assert str(spark_stale.value) == str(stale.value)
