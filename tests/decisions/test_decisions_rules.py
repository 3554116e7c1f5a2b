"""Hand-made candidates through the real ingestion and dbt: one customer per rule."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from tests.decisions.control import control_draw
from tests.shops import settings_for
from winback.config import Settings
from winback.decisions.backtest import read_reachable
from winback.decisions.run import run_decisions
from winback.ingest import load_data_dir
from winback.transform import FEATURE_BUILD, run_dbt
from winback.warehouse import write_scores as write_scored_rows

AS_OF = dt.date(2026, 6, 30)
CUSTOMERS = ["OK1", "OK2", "OK3", "DNC", "NOCONSENT", "DISPUTE", "LATEPAYER", "RECENT", "HUNTER"]


def lapsed_orders(cid: str, discounted: bool = False) -> list[dict[str, object]]:
    """Four purchases 30 days apart, the last 200 days before AS_OF: lapsed (R1)."""
    last = pd.Timestamp("2025-12-12T10:00:00Z")
    return [
        {
            "order_id": f"{cid}-{k}",
            "customer_id": cid,
            "order_ts": (last - pd.Timedelta(days=30 * k)).isoformat(),
            "amount": 80.0,
            "status": "paid",
            "discount_amount": 16.0 if discounted else 0.0,
        }
        for k in range(4)
    ]


def customer(cid: str, **overrides: object) -> dict[str, object]:
    row: dict[str, object] = {
        "customer_id": cid,
        "consent_email": True,
        "consent_sms": False,
        "consent_phone": False,
        "consent_push": False,
        "preferred_channel": "email",
        "preferred_contact_hour": 19,
        "do_not_contact": False,
        "segment": "b2c",
        "timezone": "Asia/Shanghai",
    }
    return row | overrides


def write_shop(data: Path) -> None:
    data.mkdir(parents=True, exist_ok=True)
    orders = [o for cid in CUSTOMERS if cid != "HUNTER" for o in lapsed_orders(cid)]
    orders += lapsed_orders("HUNTER", discounted=True)
    customers = [customer(c) for c in CUSTOMERS if c not in {"DNC", "NOCONSENT"}]
    customers += [
        customer("DNC", do_not_contact=True),
        customer("NOCONSENT", consent_email=False, preferred_channel="none"),
    ]
    tickets = [
        {
            "ticket_id": "T1",
            "customer_id": "DISPUTE",
            "order_id": "DISPUTE-0",
            "opened_ts": "2025-12-14T10:00:00Z",
            "kind": "logistics",
            "resolved": False,
        },
        {
            "ticket_id": "T2",
            "customer_id": "HUNTER",
            "order_id": "HUNTER-0",
            "opened_ts": "2025-12-13T10:00:00Z",
            "closed_ts": "2025-12-14T10:00:00Z",
            "kind": "price",
            "resolved": True,
        },
    ]
    payments = [
        {
            "invoice_id": f"I{k}",
            "customer_id": "LATEPAYER",
            "order_id": f"LATEPAYER-{k}",
            "due_ts": f"2025-{9 + k:02d}-01T00:00:00Z",
            "paid_ts": f"2025-{9 + k:02d}-25T00:00:00Z",
            "amount": 80.0,
        }
        for k in range(3)
    ]
    contacts = [
        {
            "contact_id": "K1",
            "customer_id": "RECENT",
            "campaign_id": "OLD",
            "contact_ts": "2026-06-25T11:00:00Z",
            "channel": "email",
            "offer_code": "REMIND",
            "group": "treatment",
            "step": 1,
            "converted_order_id": None,
        },
    ]
    for name, rows in {
        "orders": orders,
        "customers": customers,
        "tickets": tickets,
        "payments": payments,
        "campaign_contacts": contacts,
    }.items():
        pd.DataFrame(rows).to_csv(data / f"{name}.csv", index=False)


def write_scores(warehouse: Path, probability: float) -> None:
    """Scores for AS_OF with only the required columns, as the scoring step writes them
    (the decisions build turns them into marts.churn_scores)."""
    scores = pd.DataFrame(
        {"customer_id": CUSTOMERS, "churn_probability": probability, "model_version": "1"}
    )
    write_scored_rows(warehouse, AS_OF, scores)


def read(warehouse: Path, sql: str) -> pd.DataFrame:
    con = duckdb.connect(str(warehouse))
    try:
        return con.execute(sql).df()
    finally:
        con.close()


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Settings, Path]:
    root = tmp_path_factory.mktemp("decisions")
    write_shop(root / "data")
    warehouse = root / "wh.duckdb"
    load_data_dir(warehouse, root / "data", AS_OF)
    settings = settings_for(
        warehouse,
        features={"snapshot_count": 3},
        decisions={"budget": 1000, "control_share": 0.0},
    )
    run_dbt(FEATURE_BUILD, settings, AS_OF)
    write_scores(warehouse, 0.8)
    run_decisions(settings, AS_OF)
    return settings, warehouse


def test_every_rule_excludes_with_its_reason(built: tuple[Settings, Path]) -> None:
    _, warehouse = built
    excluded = read(warehouse, "select customer_id, exclusion_reason from marts.winback_exclusions")
    assert dict(zip(excluded["customer_id"], excluded["exclusion_reason"], strict=True)) == {
        "DNC": "do_not_contact",
        "NOCONSENT": "no_consented_channel",
        "DISPUTE": "open_dispute",
        "LATEPAYER": "chronic_late_payer",
        "RECENT": "contacted_too_recently",
        "HUNTER": "price_hunter",
    }
    queue = read(
        warehouse, "select customer_id, open_dispute_kinds from marts.service_recovery_queue"
    )
    assert queue.to_dict("records") == [
        {"customer_id": "DISPUTE", "open_dispute_kinds": "logistics"}
    ]
    listed = read(warehouse, "select * from marts.winback_list order by customer_id")
    assert list(listed["customer_id"]) == ["OK1", "OK2", "OK3"]
    assert set(listed["churn_probability_source"]) == {"model"}
    assert (listed["churn_probability"] == 0.8).all()


def test_contacted_rows_have_a_consented_plan_at_the_preferred_hour(
    built: tuple[Settings, Path],
) -> None:
    _, warehouse = built
    listed = read(warehouse, "select * from marts.winback_list")
    assert listed["is_contacted"].all() and (listed["action"] == "contact").all()
    assert (listed["channel"] == "email").all()  # the only consent they gave
    assert (listed["contact_1_at"] == pd.Timestamp("2026-07-01 11:00:00")).all()  # 19:00 Shanghai
    assert listed["likely_reason_1"].notna().all() and listed["reason_explanation"].notna().all()
    assert (listed["expected_profit"] > 0).all()
    assert listed["committed_cost"].sum() <= 1000


def test_no_contact_is_planned_before_the_send_from_time(built: tuple[Settings, Path]) -> None:
    """Issue 17: a production run that starts after the as-of day's first contact time
    moves the whole sequence by whole days (same local hour, same gaps), never into the
    past; a replay (no send-from) keeps the as-of date's schedule."""
    settings, warehouse = built
    replay = read(warehouse, "select * from marts.winback_list order by customer_id")
    run_decisions(settings, AS_OF, send_from=dt.datetime(2026, 7, 2, 12, 0))
    moved = read(warehouse, "select * from marts.winback_list order by customer_id")
    # 2026-07-02 11:00 UTC (19:00 Shanghai) is before 12:00, so the 3rd is the first day.
    assert (moved["contact_1_at"] == pd.Timestamp("2026-07-03 11:00:00")).all()
    assert (moved["contact_1_at"] >= pd.Timestamp("2026-07-02 12:00")).all()
    for step in (2, 3):
        gap = moved[f"contact_{step}_at"] - moved["contact_1_at"]
        pd.testing.assert_series_equal(gap, replay[f"contact_{step}_at"] - replay["contact_1_at"])
    run_decisions(settings, AS_OF, send_from=dt.datetime(2026, 7, 1, 10, 59))
    early = read(warehouse, "select contact_1_at from marts.winback_list")
    assert (early["contact_1_at"] == pd.Timestamp("2026-07-01 11:00:00")).all()
    run_decisions(settings, AS_OF)  # back to the replay schedule for the tests below
    again = read(warehouse, "select * from marts.winback_list order by customer_id")
    pd.testing.assert_series_equal(again["contact_1_at"], replay["contact_1_at"])


def test_the_backtest_reads_the_channels_each_customer_can_be_reached_on(
    built: tuple[Settings, Path],
) -> None:
    """R11/R13: consent decides; a visit (arranged by phone) only for B2B accounts."""
    settings, _ = built
    got = read_reachable(settings.warehouse, pd.Series(["OK1", "NOCONSENT", "DNC", "OK1"]))
    assert got.to_dict("records") == [
        {"customer_id": "DNC", "channel": "email"},
        {"customer_id": "OK1", "channel": "email"},
    ]


def test_rerun_replaces_its_date_and_keeps_tier_boundaries(built: tuple[Settings, Path]) -> None:
    settings, warehouse = built
    before = read(
        warehouse, "select * from marts.winback_value_tier_boundaries order by value_tier"
    )
    write_scores(warehouse, 0.95)
    settings = settings.model_copy(
        update={"decisions": settings.decisions.model_copy(update={"control_share": 0.5})}
    )
    run_decisions(settings, AS_OF)
    after = read(warehouse, "select * from marts.winback_value_tier_boundaries order by value_tier")
    pd.testing.assert_frame_equal(before, after)
    listed = read(warehouse, "select * from marts.winback_list")
    assert len(listed) == 3 and (listed["churn_probability"] == 0.95).all()
    expected_control = {
        c for c in ("OK1", "OK2", "OK3") if control_draw(c, "winback-2026-06") < 0.5
    }
    assert set(listed.loc[listed["is_control_group"], "customer_id"]) == expected_control
    control = listed[listed["is_control_group"]]
    assert not control["is_contacted"].any() and control["channel"].isna().all()
    assert control["contact_1_at"].isna().all()
