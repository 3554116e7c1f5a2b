"""Every demo file follows the input contract (shared/spec/input-contract.md)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
import pytest

from winback.demo import ShopSpec, generate_shop
from winback.ingest.contract import SHOP_TABLES, TABLES_BY_NAME

# The shop system's tables; contact_log is what a sender returns about Winback's exports,
# which the demo shop has not made (tests/ops/test_exports.py writes one).
TABLES = SHOP_TABLES

AS_OF = dt.date(2026, 6, 30)
AS_OF_END = pd.Timestamp("2026-07-01", tz="UTC")
# Deadlines and due dates may lie after as_of; everything that happened may not.
MAY_BE_FUTURE = {("orders", "pay_deadline_ts"), ("payments", "due_ts")}


@pytest.fixture(
    scope="module",
    params=[("csv", 0), ("parquet", 0), ("csv", 1)],
    ids=["csv", "parquet", "csv-world1"],
)
def shop(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, str, dict[str, pd.DataFrame]]:
    """The default world in both formats, and a drawn world (visits, opt-outs, 11 offers)."""
    fmt, world = request.param
    out = tmp_path_factory.mktemp(f"shop_{fmt}_{world}")
    generate_shop(ShopSpec(n_customers=3000, seed=11, as_of=AS_OF, fmt=fmt, world=world), out)
    frames = {t.name: _read(out, t.name, fmt) for t in TABLES}
    return out, fmt, frames


def _read(folder: Path, table: str, fmt: str) -> pd.DataFrame:
    if fmt == "parquet":
        return pd.read_parquet(folder / f"{table}.parquet")
    return pd.read_csv(folder / f"{table}.csv", dtype=str, keep_default_na=False, na_values=[""])


def _ts(series: pd.Series) -> pd.Series:
    return pd.to_datetime(series, utc=True, format="ISO8601")


def test_one_file_per_table_with_the_contract_columns(
    shop: tuple[Path, str, dict[str, pd.DataFrame]],
) -> None:
    out, fmt, frames = shop
    for table in TABLES:
        assert (out / f"{table.name}.{fmt}").is_file()
        assert list(frames[table.name].columns) == [c.name for c in table.columns], table.name
        assert len(frames[table.name]) > 0, table.name
    assert (out / "truth" / "customers_truth.parquet").is_file()
    assert (out / "truth" / "offer_response_truth.parquet").is_file()


def test_values_parse_and_respect_the_contract(
    shop: tuple[Path, str, dict[str, pd.DataFrame]],
) -> None:
    _, fmt, frames = shop
    for table in TABLES:
        frame = frames[table.name]
        for col in table.columns:
            values = frame[col.name]
            present = values.dropna()
            if col.required:
                assert values.notna().all(), f"{table.name}.{col.name} has nulls"
            if col.kind == "timestamp":
                parsed = _ts(present)
                assert parsed.notna().all()
                if (table.name, col.name) not in MAY_BE_FUTURE:
                    assert (parsed < AS_OF_END).all(), f"{table.name}.{col.name} after as_of"
                if fmt == "csv":
                    assert present.str.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ").all()
            elif col.kind == "decimal" or col.kind == "integer":
                numbers = pd.to_numeric(present)
                if col.min_value is not None:
                    assert (numbers >= col.min_value).all(), f"{table.name}.{col.name} below min"
                if col.max_value is not None:
                    assert (numbers <= col.max_value).all(), f"{table.name}.{col.name} above max"
            elif col.kind == "boolean":
                assert set(present.astype(str).str.lower()) <= {"true", "false"}
            if col.allowed is not None:
                assert set(present) <= set(col.allowed), f"{table.name}.{col.name}"


def test_keys_are_unique_and_references_resolve(
    shop: tuple[Path, str, dict[str, pd.DataFrame]],
) -> None:
    _, _, frames = shop
    for table in TABLES:
        frame = frames[table.name]
        if table.key:
            assert frame[table.key].is_unique, table.name
        for ref in table.references:
            parent = TABLES_BY_NAME[ref.table].key
            assert parent is not None
            used = frame[ref.column].dropna()
            assert used.isin(frames[ref.table][parent]).all(), f"{table.name}.{ref.column}"
    events = frames["events"]
    referrals = events[events["event_type"] == "referral"]
    assert len(referrals) > 0
    assert referrals["ref_id"].isin(frames["customers"]["customer_id"]).all()


def test_id_formats(shop: tuple[Path, str, dict[str, pd.DataFrame]]) -> None:
    _, _, frames = shop
    assert frames["orders"]["order_id"].str.fullmatch(r"O\d{9}").all()
    assert frames["customers"]["customer_id"].str.fullmatch(r"C\d{7}").all()


def test_order_life_cycle(shop: tuple[Path, str, dict[str, pd.DataFrame]]) -> None:
    _, _, frames = shop
    orders = frames["orders"]
    assert set(orders["status"]) == {
        "pending",
        "paid",
        "shipped",
        "delivered",
        "cancelled",
        "closed",
        "refunded",
    }
    unpaid = orders["status"].isin(["pending", "cancelled", "closed"])
    assert orders.loc[unpaid, "paid_ts"].isna().all()
    assert orders.loc[~unpaid, "paid_ts"].notna().all()
    paid = orders[~unpaid]
    assert (_ts(paid["paid_ts"]) >= _ts(paid["order_ts"])).all()
    share_dist = (orders["source"] == "distribution").mean()
    assert 0.05 < share_dist < 0.15
    flash = orders[orders["flash_sale"].astype(str).str.lower() == "true"]
    assert len(flash) > 0
    gap = _ts(flash["pay_deadline_ts"]) - _ts(flash["order_ts"])
    assert (gap == pd.Timedelta(minutes=30)).all()
    # Pending orders sit in the last days (own store) or wait for platform settlement.
    pending = orders[orders["status"] == "pending"]
    age = AS_OF_END - _ts(pending["order_ts"])
    own = (pending["source"] == "own").to_numpy()
    assert (age[own] <= pd.Timedelta(days=2)).all()
    assert (age <= pd.Timedelta(days=14)).all()
    # Amount = items - discount + shipping.
    items = frames["order_items"].astype({"quantity": int, "unit_price": float})
    sub = (items["quantity"] * items["unit_price"]).groupby(items["order_id"]).sum()
    o = orders.set_index("order_id").astype(
        {"amount": float, "discount_amount": float, "shipping_fee": float}
    )
    expected = sub.reindex(o.index) - o["discount_amount"] + o["shipping_fee"]
    assert (expected - o["amount"]).abs().max() < 0.02


def test_campaign_history_convention(shop: tuple[Path, str, dict[str, pd.DataFrame]]) -> None:
    _, _, frames = shop
    contacts = frames["campaign_contacts"]
    assert contacts["campaign_id"].nunique() == 4
    assert set(contacts["group"]) == {"treatment", "control"}
    assert set(contacts["step"].astype(int)) == {1, 2, 3}
    control = contacts[contacts["group"] == "control"]
    assert (control["channel"] == "none").all()
    assert control["offer_code"].notna().all()
    treated = contacts[contacts["group"] == "treatment"]
    assert (treated["channel"] != "none").all()
    conv = contacts.dropna(subset=["converted_order_id"])
    orders = frames["orders"].set_index("order_id")
    lag = (
        _ts(orders.loc[conv["converted_order_id"], "order_ts"]).to_numpy()
        - _ts(conv["contact_ts"]).to_numpy()
    )
    assert (lag >= pd.Timedelta(0)).all() and (lag < pd.Timedelta(days=14)).all()


def test_ingestion_accepts_every_row(
    shop: tuple[Path, str, dict[str, pd.DataFrame]], tmp_path: Path
) -> None:
    """The product's own loader quarantines nothing from the demo shop."""
    from winback.ingest.load import load_data_dir

    out, _, frames = shop
    report = load_data_dir(tmp_path / "wh.duckdb", out, as_of=AS_OF)
    assert report.rows_quarantined == 0, report.quarantine_counts
    assert report.tables["events"].rows_loaded == len(frames["events"])
