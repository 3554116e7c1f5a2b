"""Ingestion: one test per kind of bad input, plus conservation and idempotence."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from winback.ingest import ContractError, StaleDataError, load_data_dir

HEADER = "order_id,customer_id,order_ts,amount,status"
GOOD = [
    "O1,C1,2026-01-01T10:00:00Z,10.50,paid",
    "O2,C1,2026-02-01T10:00:00Z,20,delivered",
    "O3,C2,2026-03-01T09:00:00Z,5,pending",
]
AS_OF = dt.date(2026, 6, 30)


def write(dir_: Path, name: str, text: str | bytes) -> Path:
    dir_.mkdir(parents=True, exist_ok=True)
    path = dir_ / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def orders_csv(tmp_path: Path, *bad_lines: str, header: str = HEADER) -> Path:
    data = tmp_path / "data"
    write(data, "orders.csv", "\n".join([header, *GOOD, *bad_lines]) + "\n")
    return data


def load(tmp_path: Path, data: Path, as_of: dt.date | None = AS_OF):
    wh = tmp_path / "wh.duckdb"
    report = load_data_dir(wh, data, as_of)
    con = duckdb.connect(str(wh))
    try:
        raw = con.execute("select * from raw.orders order by _row_number").df()
        quarantine = con.execute("select * from quarantine.rejected_rows order by row_number").df()
    finally:
        con.close()
    return report, raw, quarantine


def assert_good_rows_arrived(raw: pd.DataFrame) -> None:
    assert {"O1", "O2", "O3"} <= set(raw["order_id"])


def the_only_rejection(quarantine: pd.DataFrame) -> pd.Series:
    assert len(quarantine) == 1, quarantine[["row_number", "reason"]].to_string()
    return quarantine.iloc[0]


@pytest.mark.parametrize(
    ("bad_line", "reason_code", "column", "words"),
    [
        ("O9,C3,yesterday,5,paid", "bad_timestamp", "order_ts", "not an ISO 8601 timestamp"),
        ("O9,C3,2026-03-01,-4.5,paid", "negative_amount", "amount", "below 0"),
        ("O9,C3,2026-03-01,12abc,paid", "bad_decimal", "amount", "not a number"),
        ("O9,C3,2026-03-01,5,lost", "unknown_value", "status", "not one of"),
        ("O9,,2026-03-01,5,paid", "missing_value", "customer_id", "required"),
        ("O9,C3,2027-01-01T00:00:00Z,5,paid", "future_timestamp", "order_ts", "after the run"),
        ("O1,C3,2026-03-01,5,paid", "duplicate_key", "order_id", "already appeared at row 1"),
        (HEADER, "repeated_header", None, "repeats the header"),
    ],
)
def test_bad_row_is_quarantined_with_reason(
    tmp_path: Path, bad_line: str, reason_code: str, column: str | None, words: str
) -> None:
    report, raw, quarantine = load(tmp_path, orders_csv(tmp_path, bad_line))
    row = the_only_rejection(quarantine)
    assert row["reason_code"] == reason_code
    assert (row["column_name"] if column else None) == column or pd.isna(row["column_name"])
    assert words in row["reason"]
    assert row["row_number"] == 4  # the 4th data row of the file
    assert row["source_file"].endswith("orders.csv")
    assert_good_rows_arrived(raw)
    assert report.tables["orders"].rows_quarantined == 1
    assert report.quarantine_counts == {("orders", reason_code): 1}


def test_every_problem_of_a_row_is_listed(tmp_path: Path) -> None:
    _, _, quarantine = load(tmp_path, orders_csv(tmp_path, "O9,,notadate,-1,paid"))
    row = the_only_rejection(quarantine)
    assert row["reason_code"] == "missing_value"
    assert "not an ISO 8601 timestamp" in row["other_problems"]
    assert "below 0" in row["other_problems"]


def test_unknown_customer_is_quarantined_when_customers_are_given(tmp_path: Path) -> None:
    data = orders_csv(tmp_path, "O9,C404,2026-03-01,5,paid")
    write(data, "customers.csv", "customer_id,segment\nC1,b2c\nC2,b2b\n")
    _, raw, quarantine = load(tmp_path, data)
    row = the_only_rejection(quarantine)
    assert row["reason_code"] == "unknown_reference"
    assert "customer_id 'C404' is not in customers" in row["reason"]
    assert_good_rows_arrived(raw)


def test_items_of_a_quarantined_order_follow_it_with_a_reason(tmp_path: Path) -> None:
    data = orders_csv(tmp_path, "O9,C2,2026-03-01,-5,paid")
    write(
        data,
        "order_items.csv",
        "order_id,product_id,quantity,unit_price\nO1,P1,1,10.5\nO9,P1,1,5\n",
    )
    wh = tmp_path / "wh.duckdb"
    report = load_data_dir(wh, data, AS_OF)
    assert report.quarantine_counts[("order_items", "unknown_reference")] == 1
    assert report.tables["order_items"].rows_loaded == 1


def test_mixed_time_zones_are_normalised_to_utc(tmp_path: Path) -> None:
    data = orders_csv(
        tmp_path, "O8,C3,2026-03-01T18:00:00+08:00,5,paid", "O9,C3,2026-03-01 10:00:00,5,paid"
    )
    _, raw, quarantine = load(tmp_path, data)
    assert quarantine.empty
    times = raw.set_index("order_id")["order_ts"]
    assert times["O8"] == pd.Timestamp("2026-03-01 10:00:00")
    assert times["O9"] == pd.Timestamp("2026-03-01 10:00:00")


def test_blank_lines_are_skipped_and_nothing_is_lost(tmp_path: Path) -> None:
    data = tmp_path / "data"
    write(data, "orders.csv", "\n".join([HEADER, GOOD[0], "", GOOD[1], "", GOOD[2]]) + "\n")
    report, raw, quarantine = load(tmp_path, data)
    assert quarantine.empty
    assert list(raw["order_id"]) == ["O1", "O2", "O3"]
    assert report.tables["orders"].rows_read == 3


@pytest.mark.parametrize(
    ("content", "words"),
    [
        (b"", "file is empty"),
        ("order_id,customer_id,amount\nO1,C1,5\n", "required column(s) missing: order_ts"),
        ("order_id;customer_id;order_ts;amount\nO1;C1;2026-01-01;5\n", "separated by semicolons"),
        (
            "order_id,customer_id,order_ts,amount\nO1,C1,2026-01-01,5\nO2,C\xe9,2026-01-01,5\n".encode(
                "latin-1"
            ),
            "not valid UTF-8",
        ),
    ],
)
def test_unreadable_file_stops_the_load_naming_file_and_problem(
    tmp_path: Path, content: str | bytes, words: str
) -> None:
    data = tmp_path / "data"
    write(data, "orders.csv", content)
    wh = tmp_path / "wh.duckdb"
    with pytest.raises(ContractError) as caught:
        load_data_dir(wh, data, AS_OF)
    assert "orders.csv" in str(caught.value)
    assert words in str(caught.value)


def test_failed_load_leaves_the_previous_raw_tables(tmp_path: Path) -> None:
    data = orders_csv(tmp_path)
    wh = tmp_path / "wh.duckdb"
    load_data_dir(wh, data, AS_OF)
    write(data, "orders.csv", "order_id,customer_id\nO1,C1\n")
    with pytest.raises(ContractError):
        load_data_dir(wh, data, AS_OF)
    con = duckdb.connect(str(wh))
    assert con.execute("select count(*) from raw.orders").fetchone() == (3,)
    con.close()


def staged_tables(wh: Path) -> list[str]:
    con = duckdb.connect(str(wh))
    try:
        rows = con.execute(
            "select table_name from duckdb_tables() where schema_name = 'raw' "
            "and table_name like '\\_staged\\_%' escape '\\'"
        ).fetchall()
    finally:
        con.close()
    return [name for (name,) in rows]


def test_a_load_that_fails_after_checking_rows_leaves_the_previous_load_and_no_staged_rows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The checked rows are written into raw._staged_<table> and renamed into place only
    # when the whole load passes; a failure at the last step must leave nothing behind.
    from winback.ingest import load as load_module

    data = orders_csv(tmp_path)
    wh = tmp_path / "wh.duckdb"
    load_data_dir(wh, data, AS_OF)
    write(data, "orders.csv", "\n".join([HEADER, GOOD[0]]) + "\n")

    def fail(*_args: object) -> None:
        raise RuntimeError("disk full while publishing")

    monkeypatch.setattr(load_module, "_publish_raw", fail)
    with pytest.raises(RuntimeError, match="disk full"):
        load_data_dir(wh, data, AS_OF)
    assert staged_tables(wh) == []
    con = duckdb.connect(str(wh))
    assert con.execute("select count(*) from raw.orders").fetchone() == (3,)
    con.close()


def test_staged_rows_a_dead_load_left_are_removed_by_the_next_load(tmp_path: Path) -> None:
    data = orders_csv(tmp_path, "O9,C3,bad,5,paid")
    wh = tmp_path / "wh.duckdb"
    load_data_dir(wh, data, AS_OF)
    con = duckdb.connect(str(wh))  # what a load killed mid-way leaves behind
    con.execute("create table raw._staged_events as select 1 as stale")
    con.execute("create table raw._staged_orders as select * from raw.orders")
    con.close()
    (data / "orders.csv").write_text("\n".join([HEADER, *GOOD[:2]]) + "\n", encoding="utf-8")
    report, raw, quarantine = load(tmp_path, data)
    assert staged_tables(wh) == []
    assert list(raw["order_id"]) == ["O1", "O2"]
    assert quarantine.empty
    assert report.tables["orders"].rows_loaded == 2


def test_a_run_without_as_of_refuses_stale_orders_and_keeps_the_previous_load(
    tmp_path: Path,
) -> None:
    # The newest order (GOOD) is from 2026-03-01.
    data = orders_csv(tmp_path)
    wh = tmp_path / "wh.duckdb"
    load_data_dir(wh, data, AS_OF)  # an explicit as-of date is never refused
    write(data, "orders.csv", "\n".join([HEADER, *GOOD[:2]]) + "\n")
    five_days_on = dt.datetime(2026, 2, 6, 8, 0)
    with pytest.raises(StaleDataError) as caught:
        load_data_dir(wh, data, max_data_age_days=3, now=five_days_on)
    message = str(caught.value)
    assert "orders.csv" in message and "2026-02-01" in message and "5 days" in message
    assert "WINBACK_MAX_DATA_AGE_DAYS" in message
    con = duckdb.connect(str(wh))
    assert con.execute("select count(*) from raw.orders").fetchone() == (3,)
    con.close()
    # Within the allowed age (or with no limit) the newest order's date is the as-of date.
    report = load_data_dir(wh, data, max_data_age_days=3, now=dt.datetime(2026, 2, 4, 8, 0))
    assert report.as_of == dt.date(2026, 2, 1)
    assert load_data_dir(wh, data, now=five_days_on).as_of == dt.date(2026, 2, 1)


def test_missing_orders_file_is_named(tmp_path: Path) -> None:
    data = tmp_path / "data"
    write(data, "customers.csv", "customer_id\nC1\n")
    with pytest.raises(ContractError, match=r"orders\.csv or \.parquet missing"):
        load_data_dir(tmp_path / "wh.duckdb", data, AS_OF)


def test_both_csv_and_parquet_of_one_table_is_refused(tmp_path: Path) -> None:
    data = orders_csv(tmp_path)
    pd.DataFrame({"order_id": ["O1"]}).to_parquet(data / "orders.parquet")
    with pytest.raises(ContractError, match="keep one"):
        load_data_dir(tmp_path / "wh.duckdb", data, AS_OF)


def test_parquet_input_is_validated_with_row_numbers(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    pd.DataFrame(
        {
            "order_id": ["O1", "O2", "O3"],
            "customer_id": ["C1", "C1", "C2"],
            "order_ts": pd.to_datetime(["2026-01-01", "2026-02-01", "2026-03-01"]),
            "amount": [10.0, -1.0, 3.0],
        }
    ).to_parquet(data / "orders.parquet")
    _, raw, quarantine = load(tmp_path, data)
    row = the_only_rejection(quarantine)
    assert (row["row_number"], row["reason_code"]) == (2, "negative_amount")
    assert list(raw["order_id"]) == ["O1", "O3"]


def test_typed_parquet_loads_as_its_csv_twin_and_is_checked_the_same(tmp_path: Path) -> None:
    """Parquet columns already of the contract's type skip the text round trip; what
    arrives in raw and what is quarantined (and why) must not depend on the format."""
    ts = ["2026-01-01T10:00:00Z", None, "2026-03-01T09:00:00Z", "2027-01-01T00:00:00Z"]
    tickets = pd.DataFrame(
        {
            "ticket_id": ["T1", "T2", "T3", "T4"],
            "customer_id": ["C1", "C1", "C2", "C2"],
            "opened_ts": ts,  # T2: missing (required); T4: after the as-of date
            "resolved": [True, False, None, True],
            "satisfaction": pd.array([5, 9, 1, None], dtype="Int64"),  # T2: also too high
        }
    )
    orders = pd.DataFrame(
        {
            "order_id": ["O1", "O2"],
            "customer_id": ["C1", "C2"],
            "order_ts": ["2026-01-01T10:00:00Z", "2026-02-01T10:00:00Z"],
            "amount": [10.5, 3.0],
        }
    )
    loaded = {}
    for form in ("csv", "parquet"):
        data = tmp_path / form / "data"
        data.mkdir(parents=True)
        if form == "csv":
            orders.to_csv(data / "orders.csv", index=False)
            tickets.to_csv(data / "tickets.csv", index=False)
        else:
            typed = tickets.assign(
                opened_ts=pd.to_datetime(tickets["opened_ts"], utc=True),
                resolved=tickets["resolved"].astype("boolean"),
                satisfaction=tickets["satisfaction"].astype("Int64"),
            )
            typed.to_parquet(data / "tickets.parquet")
            orders.assign(
                order_ts=pd.to_datetime(orders["order_ts"], utc=True).dt.tz_localize(None)
            ).astype({"order_ts": "datetime64[us]"}).to_parquet(data / "orders.parquet")
        load_data_dir(tmp_path / form / "wh.duckdb", data, AS_OF)
        with duckdb.connect(str(tmp_path / form / "wh.duckdb")) as con:
            loaded[form] = (
                con.execute(
                    "select * exclude (_load_id, _source_file, _loaded_at) from raw.tickets "
                    "order by _row_number"
                ).df(),
                con.execute(
                    "select * exclude (_load_id, _source_file, _loaded_at) from raw.orders "
                    "order by _row_number"
                ).df(),
                con.execute(
                    "select row_number, column_name, reason_code, other_problems "
                    "from quarantine.rejected_rows order by row_number"
                ).df(),
            )
    for csv_part, parquet_part in zip(loaded["csv"], loaded["parquet"], strict=True):
        pd.testing.assert_frame_equal(csv_part, parquet_part)
    raw_tickets, _, quarantine = loaded["parquet"]
    with duckdb.connect(str(tmp_path / "parquet" / "wh.duckdb")) as con:
        reasons = dict(
            con.execute("select row_number, reason from quarantine.rejected_rows").fetchall()
        )
    assert list(raw_tickets["ticket_id"]) == ["T1", "T3"]
    assert raw_tickets["satisfaction"].tolist() == [5, 1]
    got = quarantine.set_index("row_number")
    assert got.loc[2, "reason_code"] == "missing_value"
    assert "satisfaction '9' is above 5" in got.loc[2, "other_problems"]
    assert got.loc[4, "reason_code"] == "future_timestamp"
    assert reasons[4] == "opened_ts '2027-01-01 00:00:00+00' is after the run's as-of time"


def test_conservation_and_idempotent_reload(tmp_path: Path) -> None:
    data = orders_csv(tmp_path, "O9,C3,bad,5,paid", "O1,C3,2026-03-01,5,paid")
    first, raw1, q1 = load(tmp_path, data)
    second, raw2, q2 = load(tmp_path, data)
    for report in (first, second):
        t = report.tables["orders"]
        assert t.rows_read == t.rows_loaded + t.rows_quarantined == 5
    assert first.load_id == second.load_id
    cols = ["order_id", "customer_id", "order_ts", "amount", "status"]
    pd.testing.assert_frame_equal(raw1[cols], raw2[cols])
    assert len(q1) == len(q2) == 2


def test_extra_columns_are_kept_in_raw(tmp_path: Path) -> None:
    data = orders_csv(tmp_path, header=HEADER + ",coupon")
    (data / "orders.csv").write_text(
        "\n".join([HEADER + ",coupon", *(g + ",X" for g in GOOD)]) + "\n", encoding="utf-8"
    )
    _, raw, _ = load(tmp_path, data)
    assert list(raw["coupon"]) == ["X", "X", "X"]


def test_default_as_of_is_the_latest_order_date_not_in_the_future(tmp_path: Path) -> None:
    data = orders_csv(tmp_path, "O9,C3,2999-01-01,5,paid")
    report, _, quarantine = load(tmp_path, data, as_of=None)
    assert report.as_of == dt.date(2026, 3, 1)
    assert the_only_rejection(quarantine)["reason_code"] == "future_timestamp"


def test_absent_optional_tables_load_empty_and_typed(tmp_path: Path) -> None:
    load(tmp_path, orders_csv(tmp_path))
    con = duckdb.connect(str(tmp_path / "wh.duckdb"))
    assert con.execute("select count(*) from raw.events").fetchone() == (0,)
    types = dict(
        con.execute("select column_name, column_type from (describe raw.tickets)").fetchall()
    )
    con.close()
    assert types["opened_ts"] == "TIMESTAMP"
    assert types["resolved"] == "BOOLEAN"
