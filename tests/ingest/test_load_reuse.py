"""A load keeps the files unchanged since the last one (issue 19): what it keeps must be
exactly what reading and validating them again would give, or they are read again."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from winback.demo.generate import generate_shop
from winback.demo.spec import ShopSpec
from winback.ingest import LoadReport, load_data_dir
from winback.ingest import load as load_module
from winback.ingest.contract import TABLES

AS_OF = dt.date(2026, 6, 30)
NEXT_DAY = AS_OF + dt.timedelta(days=1)
# Every table that references customers, directly or through orders.
BELOW_CUSTOMERS = {
    "customers",
    "orders",
    "order_items",
    "events",
    "tickets",
    "payments",
    "campaign_contacts",
}


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small demo shop with a bad ticket row (quarantined whatever the date) and an
    event timestamped in the day after AS_OF: quarantined as in the future on AS_OF,
    valid the next day."""
    data = tmp_path_factory.mktemp("shop") / "data"
    generate_shop(ShopSpec(n_customers=200, seed=11, as_of=AS_OF), data)
    for name, mutate in (("tickets.csv", _bad_ticket), ("events.csv", _event_tomorrow)):
        frame = pd.read_csv(data / name, dtype=str, keep_default_na=False)
        frame = pd.concat([frame, mutate(frame.iloc[[0]].copy())], ignore_index=True)
        frame.to_csv(data / name, index=False)
    return data


def _bad_ticket(row: pd.DataFrame) -> pd.DataFrame:
    return row.assign(ticket_id="T-BAD", opened_ts="not a time")


def _event_tomorrow(row: pd.DataFrame) -> pd.DataFrame:
    return row.assign(event_ts=f"{NEXT_DAY}T12:00:00Z")


def copy_shop(shop: Path, to: Path) -> Path:
    to.mkdir(parents=True)
    for path in shop.glob("*.csv"):
        (to / path.name).write_bytes(path.read_bytes())
    return to


def contents(warehouse: Path) -> dict[str, pd.DataFrame]:
    """Every raw table and the quarantine, without what names the load that wrote them."""
    out = {}
    with duckdb.connect(str(warehouse), read_only=True) as con:
        for table in TABLES:
            frame = con.execute(f"select * from raw.{table.name} order by _row_number").df()
            out[table.name] = frame.drop(columns=["_load_id", "_loaded_at"])
        out["quarantine"] = (
            con.execute(
                "select * from quarantine.rejected_rows order by table_name, row_number, reason"
            )
            .df()
            .drop(columns=["load_id"])
        )
    return out


def assert_same_as_fresh(
    tmp_path: Path, warehouse: Path, report: LoadReport, data: Path, as_of: dt.date
) -> None:
    fresh_warehouse = tmp_path / "fresh.duckdb"
    fresh = load_data_dir(fresh_warehouse, data, as_of)
    assert {n: t.rows_loaded for n, t in report.tables.items()} == {
        n: t.rows_loaded for n, t in fresh.tables.items()
    }
    assert report.quarantine_counts == fresh.quarantine_counts
    kept, again = contents(warehouse), contents(fresh_warehouse)
    for name, frame in again.items():
        pd.testing.assert_frame_equal(kept[name], frame, check_exact=True, obj=name)


def test_unchanged_files_are_kept_and_equal_a_fresh_load(shop: Path, tmp_path: Path) -> None:
    warehouse = tmp_path / "wh.duckdb"
    first = load_data_dir(warehouse, shop, AS_OF)
    assert first.kept == {}
    assert ("events", "future_timestamp") in first.quarantine_counts
    second = load_data_dir(warehouse, shop, NEXT_DAY)
    # The event quarantined as in the future may be valid the next day: events is read
    # again; every other shop table is kept from the first load.
    assert set(second.kept) == {t.name for t in TABLES} - {"events", "contact_log"}
    assert set(second.kept.values()) == {first.load_id}
    assert ("events", "future_timestamp") not in second.quarantine_counts
    assert second.quarantine_counts[("tickets", "bad_timestamp")] == 1
    assert "kept from load" in second.to_markdown()
    assert_same_as_fresh(tmp_path, warehouse, second, shop, NEXT_DAY)
    # Now events holds no future row either: a third night keeps it too.
    third = load_data_dir(warehouse, shop, NEXT_DAY + dt.timedelta(days=1))
    assert "events" in third.kept


def test_a_changed_file_is_read_again_with_every_table_below_it(shop: Path, tmp_path: Path) -> None:
    data = copy_shop(shop, tmp_path / "data")
    warehouse = tmp_path / "wh.duckdb"
    load_data_dir(warehouse, data, AS_OF)
    customers = pd.read_csv(data / "customers.csv", dtype=str, keep_default_na=False)
    customers = customers.iloc[1:]  # a customer gone: its orders, events... are orphans now
    customers.to_csv(data / "customers.csv", index=False)
    second = load_data_dir(warehouse, data, AS_OF)
    assert set(second.kept) == {t.name for t in TABLES} - BELOW_CUSTOMERS - {"contact_log"}
    assert second.quarantine_counts[("orders", "unknown_reference")] > 0
    assert_same_as_fresh(tmp_path, warehouse, second, data, AS_OF)


def test_an_earlier_date_or_reuse_off_reads_every_file(shop: Path, tmp_path: Path) -> None:
    warehouse = tmp_path / "wh.duckdb"
    load_data_dir(warehouse, shop, NEXT_DAY)
    # Rows valid on NEXT_DAY (the event of its noon) are in the future of AS_OF.
    earlier = load_data_dir(warehouse, shop, AS_OF)
    assert earlier.kept == {}
    assert_same_as_fresh(tmp_path, warehouse, earlier, shop, AS_OF)
    assert load_data_dir(warehouse, shop, AS_OF, reuse=False).kept == {}


def test_other_loader_rules_or_touched_raw_rows_read_the_file_again(
    shop: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    warehouse = tmp_path / "wh.duckdb"
    load_data_dir(warehouse, shop, AS_OF)
    with duckdb.connect(str(warehouse)) as con:
        con.execute("delete from raw.products where _row_number = 1")
    touched = load_data_dir(warehouse, shop, AS_OF)
    assert "products" not in touched.kept and "customers" in touched.kept
    assert_same_as_fresh(tmp_path, warehouse, touched, shop, AS_OF)
    monkeypatch.setattr(load_module, "loader_digest", lambda: "other rules")
    assert load_data_dir(warehouse, shop, AS_OF).kept == {}


def test_a_run_without_as_of_dates_itself_from_orders_and_keeps_the_rest(
    shop: Path, tmp_path: Path
) -> None:
    """A production night (no --as-of): the orders file is read to find the newest order's
    date, the unchanged tables are kept, and the result equals a fresh load."""
    warehouse = tmp_path / "wh.duckdb"
    first = load_data_dir(warehouse, shop)
    second = load_data_dir(warehouse, shop)
    assert second.as_of == first.as_of <= AS_OF  # the newest order's day
    # The same date again: even events (rows after that day quarantined) is kept.
    assert ("events", "future_timestamp") in second.quarantine_counts
    assert set(second.kept) == {t.name for t in TABLES} - {"contact_log"}
    assert_same_as_fresh(tmp_path, warehouse, second, shop, first.as_of)
