"""Issue 19: an incremental feature build equals a full rebuild, bit for bit.

Four nights on one demo shop, each built incrementally in one warehouse and from nothing
in a copy of it (same raw rows), then every snapshot-grained table compared row for row:
  1. the first build (everything computed), with some orders held back;
  2. the next day: the held-back orders arrive late (two months old), an old order's
     amount is corrected and an open ticket is closed;
  3. past the next calendar date of the grid: a new training snapshot, a label filled in
     as its horizon completes, and a customer's profile corrected;
  4. the same night again with nothing changed: nothing computed.
The campaign history the response model learns from (int_winback_response_rows,
incremental by contact) is built after each night's features, as the decisions do, and
compared too; the second night also drops a contact and takes back a conversion.
"""

from __future__ import annotations

import datetime as dt
import itertools
import shutil
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pytest

from tests.shops import settings_for
from winback import incremental
from winback.demo import ShopSpec, generate_shop
from winback.ingest import load_data_dir
from winback.transform import DECISIONS_PREPARE, DbtBuildError, run_dbt

SNAPSHOT_TABLES = [
    "intermediate.int_customers_orders_aggregated",
    "intermediate.int_customers_engagement_aggregated",
    "intermediate.int_customers_service_aggregated",
    "intermediate.int_customers_payments_aggregated",
    "intermediate.int_customers_contacts_aggregated",
    "intermediate.int_customer_labels",
    "marts.customer_features",
]
# What the response model reads (the rows' build ids differ between two builds by design).
RESPONSE_TABLES = {
    "intermediate.int_winback_response_history": "*",
    "intermediate.int_winback_response_rows": "* exclude (reason_build_id)",
}
HELD_BACK_DAYS = 60


def build(warehouse: Path, as_of: dt.date) -> incremental.SnapshotBuildSummary:
    """One feature build as the nightly runs it (plan, dbt, record), then the decisions'
    first build (without scores: the response history, as the decisions build it)."""
    summary = incremental.build_features(settings_for(warehouse), as_of)[1]
    run_dbt(DECISIONS_PREPARE, settings_for(warehouse), as_of)
    return summary


def full_rebuild(warehouse: Path, as_of: dt.date, tmp_path: Path) -> Path:
    """The same raw rows built from nothing in another warehouse."""
    copy = tmp_path / f"full_{as_of}" / "winback.duckdb"
    copy.parent.mkdir(parents=True)
    shutil.copy(warehouse, copy)
    with duckdb.connect(str(copy)) as con:
        for schema in ("staging", "intermediate", "marts", "meta"):
            con.execute(f"drop schema if exists {schema} cascade")
    summary = build(copy, as_of)
    assert summary.full_refresh and summary.computed == summary.snapshots
    return copy


def differences(
    incremental_warehouse: Path, full_warehouse: Path
) -> dict[str, tuple[int, int, int]]:
    """Per table: (rows, rows only in the incremental build, rows only in the full one)."""
    columns = {table: "*" for table in SNAPSHOT_TABLES} | RESPONSE_TABLES
    tables = {}
    for side, path in (("incremental", incremental_warehouse), ("full", full_warehouse)):
        # (dbt keeps each warehouse open in this process: read them one at a time)
        with duckdb.connect(str(path)) as con:
            for table, select in columns.items():
                tables[side, table] = con.sql(f"select {select} from {table}").to_arrow_table()
    found = {}
    with duckdb.connect() as con:
        for table in columns:
            con.register("here", tables["incremental", table])
            con.register("there", tables["full", table])
            [(only_here,)] = con.sql(
                "select count(*) from (select * from here except all select * from there)"
            ).fetchall()
            [(only_there,)] = con.sql(
                "select count(*) from (select * from there except all select * from here)"
            ).fetchall()
            found[table] = (tables["incremental", table].num_rows, only_here, only_there)
    return found


def label_flags(warehouse: Path) -> dict[dt.date, bool]:
    with duckdb.connect(str(warehouse)) as con:
        return dict(
            con.execute(
                "select as_of_date, bool_or(is_label_observed) from marts.customer_features group by 1"
            ).fetchall()
        )


@dataclass
class Night:
    as_of: dt.date
    summary: incremental.SnapshotBuildSummary
    differences: dict[str, tuple[int, int, int]]
    labels: dict[dt.date, bool]  # snapshot -> label observed
    changes: dict[str, dt.date]  # late or corrected rows -> the day they are dated by
    computed: dict[dt.date, tuple[bool, bool, bool]]  # snapshot -> (aggregates, labels, features)
    builds: dict[dt.date, str]  # snapshot -> the build that computed its features
    warehouse: Path  # the incremental warehouse (as the last night left it)
    described: int  # contacts whose response rows the night computed
    contacts: int  # contacts with a response row (the history: those with features)
    reading_computed: int  # of those, the contacts whose reason snapshot was computed
    contact_changes: dict[str, str]  # what changed in the campaign history -> contact id


@pytest.fixture(scope="module")
def nights(tmp_path_factory: pytest.TempPathFactory) -> list[Night]:
    tmp_path = tmp_path_factory.mktemp("incremental")
    shop = tmp_path / "shop"
    generate_shop(ShopSpec(n_customers=800, seed=23, fmt="parquet"), shop)
    warehouse = tmp_path / "inc" / "winback.duckdb"
    shop_end = load_data_dir(warehouse, shop).as_of
    settings = settings_for(warehouse).features
    cadence, anchor = settings.snapshot_cadence_days, settings.snapshot_anchor_date

    first = shop_end - dt.timedelta(days=120)
    held_back_day = first - dt.timedelta(days=HELD_BACK_DAYS)
    # the next date of the grid's calendar after the second night, and the day after it
    next_calendar = anchor + dt.timedelta(
        days=cadence * (((first + dt.timedelta(days=1)) - anchor).days // cadence + 1)
    )
    dates = [first, first + dt.timedelta(days=1), next_calendar + dt.timedelta(days=1)]
    dates.append(dates[-1])

    with duckdb.connect(str(warehouse)) as con:
        con.execute(
            "create table held_orders as select * from raw.orders "
            "where cast(order_ts as date) = ? order by order_id limit 3",
            [held_back_day],
        )
        assert con.execute("select count(*) from held_orders").fetchone() == (3,)
        con.execute(
            "create table held_items as select * from raw.order_items where order_id in (select order_id from held_orders)"
        )
        con.execute(
            "delete from raw.order_items where order_id in (select order_id from held_orders)"
        )
        con.execute("delete from raw.orders where order_id in (select order_id from held_orders)")

    def newest_before(
        con: duckdb.DuckDBPyConnection, table: str, key: str, time: str, day: dt.date
    ) -> tuple[str, dt.date]:
        [(row_key, row_day)] = con.sql(
            f"select {key}, cast({time} as date) from raw.{table} "
            f"where cast({time} as date) < '{day}' order by {time} desc, {key} limit 1"
        ).fetchall()
        return row_key, row_day

    def reloaded(con: duckdb.DuckDBPyConnection, *tables: str) -> None:
        """The raw tables edited here as a load of a changed file leaves them: with a new
        record of their file (raw._files), which is how a build knows its inputs changed
        (winback.incremental.nodes_of_loaded_files)."""
        con.execute(
            "update raw._files set load_id = load_id || '+edited' where table_name in "
            f"({', '.join('?' for _ in tables)})",
            list(tables),
        )

    def change_before(night: int, con: duckdb.DuckDBPyConnection) -> dict[str, dt.date]:
        """Tonight's late and corrected rows, and the day each is dated by."""
        if night == 1:
            reloaded(con, "orders", "order_items", "tickets")
            con.execute("insert into raw.orders select * from held_orders")
            con.execute("insert into raw.order_items select * from held_items")
            order, order_day = newest_before(
                con, "orders", "order_id", "order_ts", first - dt.timedelta(days=90)
            )
            con.execute("update raw.orders set amount = amount + 7 where order_id = ?", [order])
            ticket, ticket_day = newest_before(
                con, "tickets", "ticket_id", "opened_ts", first - dt.timedelta(days=100)
            )
            con.execute(
                "update raw.tickets set closed_ts = coalesce(closed_ts, ?) + interval 1 day where ticket_id = ?",
                [dt.datetime.combine(first, dt.time()), ticket],
            )
            return {
                "late orders": held_back_day,
                "corrected order": order_day,
                "corrected ticket": ticket_day,
            }
        if night == 2:
            reloaded(con, "customers")
            customer, _ = newest_before(
                con, "orders", "customer_id", "order_ts", first - dt.timedelta(days=300)
            )
            con.execute(
                "update raw.customers set birth_year = birth_year - 1 where customer_id = ?",
                [customer],
            )
            [(first_order_day,)] = con.sql(
                f"select min(cast(order_ts as date)) from raw.orders where customer_id = '{customer}'"
            ).fetchall()
            return {"corrected profile": first_order_day}
        return {}

    def change_contacts(
        night: int, con: duckdb.DuckDBPyConnection
    ) -> dict[str, tuple[str, dt.date]]:
        """The second night: a contact dropped from the file and a conversion taken back
        (each with the day it is dated by)."""
        if night != 1:
            return {}
        reloaded(con, "campaign_contacts")
        [dropped, unconverted] = con.sql(
            "(select contact_id, cast(contact_ts as date) from raw.campaign_contacts "
            f"where converted_order_id is null and cast(contact_ts as date) < '{first}' "
            "order by contact_id limit 1) union all "
            "(select contact_id, cast(contact_ts as date) from raw.campaign_contacts "
            f"where converted_order_id is not null and cast(contact_ts as date) < '{first}' "
            "order by contact_id limit 1)"
        ).fetchall()
        con.execute("delete from raw.campaign_contacts where contact_id = ?", [dropped[0]])
        con.execute(
            "update raw.campaign_contacts set converted_order_id = null where contact_id = ?",
            [unconverted[0]],
        )
        return {"dropped contact": dropped, "unconverted contact": unconverted}

    out = []
    for night, as_of in enumerate(dates):
        with duckdb.connect(str(warehouse)) as con:
            changes = change_before(night, con)
            contacts_changed = change_contacts(night, con)
            changes |= {name: day for name, (_, day) in contacts_changed.items()}
        summary = build(warehouse, as_of)
        with duckdb.connect(str(warehouse)) as con:
            computed = {
                row[0]: row[1:]
                for row in con.sql(
                    "select as_of_date, rebuild_aggregates, rebuild_labels, rebuild_features "
                    "from intermediate.int_snapshot_rebuild_dates"
                ).fetchall()
            }
            builds = dict(
                con.execute("select as_of_date, build_id from meta.snapshot_builds").fetchall()
            )
            [(described, contacts, history, reading_computed)] = con.sql(
                "select (select count(*) from intermediate.int_winback_contacts_to_describe), "
                "(select count(*) from intermediate.int_winback_response_rows), "
                "(select count(*) from intermediate.int_winback_response_history), "
                "(select count(*) from intermediate.int_winback_response_rows "
                "where reason_as_of_date in (select as_of_date from "
                "intermediate.int_snapshot_rebuild_dates where rebuild_features))"
            ).fetchall()
            assert 0 < history <= contacts
        full = full_rebuild(warehouse, as_of, tmp_path / str(night))
        out.append(
            Night(
                as_of,
                summary,
                differences(warehouse, full),
                label_flags(warehouse),
                changes,
                computed,
                builds,
                warehouse,
                described,
                contacts,
                reading_computed,
                {name: contact for name, (contact, _) in contacts_changed.items()},
            )
        )
    return out


def test_every_night_equals_a_full_rebuild_bit_for_bit(nights: list[Night]) -> None:
    for night in nights:
        for table, (rows, only_incremental, only_full) in night.differences.items():
            assert rows > 0, (night.as_of, table)
            assert (only_incremental, only_full) == (0, 0), (night.as_of, table)


def test_the_first_night_computes_every_snapshot_and_later_ones_only_the_affected(
    nights: list[Night],
) -> None:
    first, late_rows, next_calendar, again = nights
    assert first.summary.full_refresh and first.summary.computed == first.summary.snapshots >= 6

    # late and corrected rows: the aggregates of the snapshots that see them (from their
    # day on) and the new scoring snapshot; labels where an order lies within the horizon
    assert not late_rows.summary.full_refresh
    since = min(late_rows.changes.values())
    order_days = [late_rows.changes["late orders"], late_rows.changes["corrected order"]]
    horizon = dt.timedelta(days=90)
    expected_aggregates = {day for day in late_rows.computed if day >= since} | {late_rows.as_of}
    expected_labels = {
        day
        for day, observed in late_rows.labels.items()
        if observed and any(day < order_day <= day + horizon for order_day in order_days)
    } | {late_rows.as_of}
    assert {
        day for day, (aggregates, _, _) in late_rows.computed.items() if aggregates
    } == expected_aggregates
    assert {day for day, (_, labels, _) in late_rows.computed.items() if labels} == expected_labels
    assert 1 < late_rows.summary.computed < late_rows.summary.snapshots

    # a new calendar date, a label filled in, and a profile corrected: customer_features
    # computes the snapshots holding that customer (those since the first order)
    profile_since = next_calendar.changes["corrected profile"]
    features = {day for day, (_, _, features) in next_calendar.computed.items() if features}
    assert {day for day in next_calendar.computed if day >= profile_since} <= features
    aggregates = {day for day, (aggregates, _, _) in next_calendar.computed.items() if aggregates}
    assert aggregates == set(next_calendar.labels) - set(late_rows.labels)  # only the new dates

    # nothing changed: nothing computed
    assert again.summary.computed == 0 and again.summary.kept == again.summary.snapshots


def test_the_response_history_computes_only_the_contacts_that_changed(
    nights: list[Night],
) -> None:
    """Issue 19: int_winback_response_rows computes every contact on the first night, then
    only the new or changed contacts and those whose reason snapshot was computed again;
    a dropped contact leaves it and a conversion taken back is seen (the rows equal a full
    build's: test_every_night_equals_a_full_rebuild_bit_for_bit)."""
    first, late_rows, next_calendar, again = nights
    assert first.contacts > 100 and first.described == first.contacts
    assert late_rows.contacts == first.contacts - 1  # the dropped contact
    for night in nights:
        assert night.reading_computed <= night.described
    # late rows: only the snapshots since they are dated are computed again
    assert 0 < late_rows.reading_computed < late_rows.described < late_rows.contacts
    # the corrected profile is older than every snapshot: all computed again
    assert next_calendar.summary.computed == next_calendar.summary.snapshots
    assert next_calendar.described == next_calendar.contacts
    assert again.described == 0  # nothing changed (no contact reads the scoring snapshot)
    with duckdb.connect(str(again.warehouse)) as con:
        rows = dict(
            con.sql(
                "select contact_id, is_converted from intermediate.int_winback_response_history"
            ).fetchall()
        )
    assert late_rows.contact_changes["dropped contact"] not in rows
    assert rows[late_rows.contact_changes["unconverted contact"]] is False


def test_each_snapshot_records_the_build_that_computed_its_features(
    nights: list[Night],
) -> None:
    """What the publish compares to copy only the changed snapshots (winback.publish)."""
    assert len(set(nights[0].builds.values())) == 1  # the first build computed all
    for before, night in itertools.pairwise(nights):
        computed = {day for day, (_, _, features) in night.computed.items() if features}
        new_ids = {night.builds[day] for day in computed}
        assert len(new_ids) <= 1 and not new_ids & set(before.builds.values())
        assert {day: night.builds[day] for day in night.builds if day not in computed} == {
            day: before.builds[day] for day in night.builds if day not in computed
        }


def test_grain_tests_check_the_snapshots_the_build_computed(
    nights: list[Night], tmp_path: Path
) -> None:
    """A snapshot model's grain test checks the snapshots its build computed (every one on
    a full build): a duplicate key there fails the build; the kept snapshots are those
    their own builds tested, and are not grouped again (time, at 1M customers)."""
    last = nights[-1]
    copy = tmp_path / "winback.duckdb"
    shutil.copy(last.warehouse, copy)
    newest, kept = max(last.builds), min(last.builds)
    with duckdb.connect(str(copy)) as con:
        con.execute(
            "update intermediate.int_snapshot_rebuild_dates set rebuild_aggregates = "
            "(as_of_date = ?), rebuild_features = (as_of_date = ?)",
            [newest, newest],
        )
        for day in (newest, kept):
            con.execute(
                "insert into intermediate.int_customers_orders_aggregated select * from "
                "intermediate.int_customers_orders_aggregated where as_of_date = ? limit 1",
                [day],
            )
    settings = settings_for(copy)
    test = ["test", "--select", "int_customers_orders_aggregated,test_name:grain"]
    with pytest.raises(DbtBuildError, match="grain_int_customers_orders_aggregated"):
        run_dbt(test, settings, last.as_of)
    with duckdb.connect(str(copy)) as con:  # only the kept snapshot's duplicate left
        con.execute(
            "delete from intermediate.int_customers_orders_aggregated where rowid = (select "
            "max(rowid) from intermediate.int_customers_orders_aggregated where as_of_date = ?)",
            [newest],
        )
    results = run_dbt(test, settings, last.as_of)
    assert [r.status for r in results] == ["pass"]


def test_labels_are_filled_in_as_their_horizon_completes(nights: list[Night]) -> None:
    before, after = nights[1].labels, nights[2].labels
    filled = [day for day, observed in after.items() if observed and before.get(day) is False]
    assert filled, "no snapshot's label was filled in between the second and third night"


def test_the_grid_keeps_its_calendar_dates_from_night_to_night(nights: list[Night]) -> None:
    first, second = (set(n.labels) for n in nights[:2])
    # only the scoring snapshot moves with the as-of date
    assert first - {nights[0].as_of} == second - {nights[1].as_of}
