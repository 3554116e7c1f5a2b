"""Feature values against hand-computed expectations, and the leakage guard.

Each test writes a tiny shop, loads it with the real ingestion and builds the real dbt
project into a DuckDB file, then reads ``marts.customer_features``.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from tests.shops import settings_for
from winback.ingest import load_data_dir
from winback.transform import FEATURE_BUILD, run_dbt

AS_OF = dt.date(2026, 6, 30)
LABEL_COLUMNS = {"is_churned", "is_label_observed", "is_scoring_snapshot"}


def write_tables(data: Path, tables: dict[str, list[dict[str, object]]]) -> None:
    data.mkdir(parents=True, exist_ok=True)
    for name, rows in tables.items():
        pd.DataFrame(rows).to_csv(data / f"{name}.csv", index=False)


def build(
    tmp_path: Path, tables: dict[str, list[dict[str, object]]], **settings: object
) -> pd.DataFrame:
    data = tmp_path / "data"
    write_tables(data, tables)
    warehouse = tmp_path / "wh.duckdb"
    load_data_dir(warehouse, data, AS_OF)
    config = settings_for(warehouse, features=settings)
    run_dbt(FEATURE_BUILD, config, AS_OF)
    con = duckdb.connect(str(warehouse))
    try:
        return con.execute(
            "select * from marts.customer_features order by as_of_date, customer_id"
        ).df()
    finally:
        con.close()


def order(
    oid: str, cid: str, ts: str, amount: float, status: str = "paid", **extra: object
) -> dict[str, object]:
    return {
        "order_id": oid,
        "customer_id": cid,
        "order_ts": ts,
        "amount": amount,
        "status": status,
        **extra,
    }


def current(features: pd.DataFrame, customer: str) -> pd.Series:
    rows = features[(features["customer_id"] == customer) & features["is_scoring_snapshot"]]
    assert len(rows) == 1, f"{customer} missing from the scoring snapshot"
    return rows.iloc[0]


def test_recency_frequency_monetary_cadence_and_trends(tmp_path: Path) -> None:
    orders = [
        order("A1", "A", "2025-06-01T10:00:00Z", 100),  # > 365 days before AS_OF
        order("A2", "A", "2026-01-10T10:00:00Z", 50),  # gap 223 days; 171 days before
        order("A3", "A", "2026-02-09T10:00:00Z", 30),  # gap 30; 141 days before
        order("A4", "A", "2026-05-31T10:00:00Z", 20),  # gap 111; last 90 days
        order("A5", "A", "2026-06-10T10:00:00Z", 99, status="refunded"),
        order("A6", "A", "2026-06-20T10:00:00Z", 15, status="closed"),
        order("B1", "B", "2026-06-30T23:00:00Z", 10),  # on the as-of day: counts
    ]
    f = build(tmp_path, {"orders": orders}, snapshot_count=1)
    a = current(f, "A")
    assert a["recency_days"] == 30  # calendar days from 2026-05-31 to the as-of date
    assert a["tenure_days"] == 394
    assert a["purchase_count"] == 4
    assert a["purchase_count_365d"] == 3
    assert a["monetary_lifetime"] == pytest.approx(200)
    assert a["monetary_365d"] == pytest.approx(100)
    assert (a["purchase_count_90d"], a["purchase_count_prev_90d"]) == (1, 2)
    assert a["monetary_trend_90d"] == pytest.approx(20 - 80)
    assert a["indicator_falling_frequency"] == 1 and a["indicator_falling_value"] == 1
    assert a["avg_order_value"] == pytest.approx(50)
    assert a["median_gap_days"] == pytest.approx(111)
    assert a["recency_vs_cadence"] == pytest.approx(30 / 111)
    assert a["refund_count"] == 1
    assert a["abandoned_unpaid_order_count"] == 1
    b = current(f, "B")
    assert b["recency_days"] == 0 and b["purchase_count"] == 1
    assert pd.isna(b["median_gap_days"]) and pd.isna(b["recency_vs_cadence"])


def test_necessary_and_discretionary_spend_split(tmp_path: Path) -> None:
    f = build(
        tmp_path,
        {
            "orders": [order("A1", "A", "2026-06-01", 70), order("A2", "A", "2025-01-01", 40)],
            "products": [
                {"product_id": "rice", "category": "food", "is_essential": True},
                {"product_id": "vase", "category": "decor", "is_essential": False},
            ],
            "order_items": [
                {"order_id": "A1", "product_id": "rice", "quantity": 2, "unit_price": 10},
                {"order_id": "A1", "product_id": "vase", "quantity": 1, "unit_price": 50},
                {"order_id": "A2", "product_id": "vase", "quantity": 1, "unit_price": 40},
            ],
        },
        snapshot_count=1,
    )
    a = current(f, "A")
    assert a["essential_spend_lifetime"] == pytest.approx(20)
    assert a["discretionary_spend_lifetime"] == pytest.approx(90)
    assert a["essential_spend_365d"] == pytest.approx(20)
    assert a["discretionary_spend_365d"] == pytest.approx(50)


def test_engagement_advocacy_and_disengagement(tmp_path: Path) -> None:
    def event(eid: str, cid: str, ts: str, kind: str, **extra: object) -> dict[str, object]:
        return {"event_id": eid, "customer_id": cid, "event_ts": ts, "event_type": kind, **extra}

    f = build(
        tmp_path,
        {
            "customers": [{"customer_id": c} for c in ("A", "R1", "R2")],
            "orders": [
                order("A1", "A", "2026-06-01", 10),
                order("R1", "R1", "2026-05-01", 10),  # the referred customer bought
            ],
            "events": [
                event("e1", "A", "2026-02-01", "email_open"),  # opened before ...
                event("e2", "A", "2026-05-01", "email_sent"),
                event("e3", "A", "2026-06-01", "email_sent"),  # ... not any more
                event("e4", "A", "2026-06-15", "cart_add"),
                event("e5", "A", "2026-01-01", "referral", ref_id="R1"),
                event("e6", "A", "2026-01-02", "referral", ref_id="R2"),  # R2 never bought
                event("e7", "A", "2026-01-03", "review", value=4),
                event("e8", "A", "2026-01-04", "review", value=2),
                event("e9", "A", "2026-01-05", "forum_answer"),
                event("e10", "A", "2026-06-20", "nps", value=3),
                event("e11", "A", "2026-01-06", "nps", value=9),
            ],
        },
        snapshot_count=1,
    )
    a = current(f, "A")
    assert (a["emails_sent_90d"], a["email_opens_90d"], a["email_opens_prev_90d"]) == (2, 0, 1)
    assert a["indicator_disengaged"] == 1
    assert a["cart_adds_90d"] == 1
    assert (a["referrals"], a["referrals_converted"]) == (2, 1)
    assert a["reviews"] == 2 and a["avg_review_rating"] == pytest.approx(3)
    assert a["forum_contributions"] == 1
    assert a["last_nps"] == 3


def test_disputes_payments_contacts_and_profile(tmp_path: Path) -> None:
    f = build(
        tmp_path,
        {
            "customers": [
                {"customer_id": "A", "birth_year": 1990, "segment": "b2b", "member_tier": "gold"}
            ],
            "orders": [order("A1", "A", "2026-06-01", 10)],
            "tickets": [
                {
                    "ticket_id": "t1",
                    "customer_id": "A",
                    "opened_ts": "2026-03-01",
                    "closed_ts": "2026-03-05",
                    "kind": "logistics",
                    "resolved": True,
                },
                {
                    "ticket_id": "t2",
                    "customer_id": "A",
                    "opened_ts": "2026-06-01",
                    "kind": "attitude",
                    "resolved": False,
                },
                {
                    "ticket_id": "t3",
                    "customer_id": "A",
                    "opened_ts": "2026-06-10",
                    "closed_ts": "2026-06-12",
                    "kind": "logistics",
                    "resolved": False,
                },
            ],
            "payments": [
                {
                    "invoice_id": "i1",
                    "customer_id": "A",
                    "due_ts": "2026-04-01",
                    "paid_ts": "2026-04-11",
                    "amount": 5,
                },
                {
                    "invoice_id": "i2",
                    "customer_id": "A",
                    "due_ts": "2026-05-01",
                    "paid_ts": "2026-04-30",
                    "amount": 5,
                },
                {"invoice_id": "i3", "customer_id": "A", "due_ts": "2026-06-25", "amount": 5},
                {
                    "invoice_id": "i4",
                    "customer_id": "A",
                    "due_ts": "2026-12-01",
                    "amount": 5,
                },  # not due yet
            ],
            "campaign_contacts": [
                {
                    "contact_id": "c1",
                    "customer_id": "A",
                    "campaign_id": "k",
                    "contact_ts": "2026-06-20",
                    "group": "treatment",
                    "step": 1,
                },
                {
                    "contact_id": "c2",
                    "customer_id": "A",
                    "campaign_id": "k",
                    "contact_ts": "2026-04-20",
                    "group": "treatment",
                    "step": 2,
                },
                {
                    "contact_id": "c3",
                    "customer_id": "A",
                    "campaign_id": "k",
                    "contact_ts": "2026-06-21",
                    "group": "control",
                    "step": 1,
                },
            ],
        },
        snapshot_count=1,
    )
    a = current(f, "A")
    assert (a["disputes_logistics"], a["disputes_attitude"], a["disputes_product"]) == (2, 1, 0)
    assert (a["unresolved_logistics"], a["unresolved_attitude"], a["open_tickets"]) == (1, 1, 2)
    assert a["indicator_unresolved_dispute"] == 1
    assert (a["invoices_due"], a["invoices_late"], a["invoices_overdue_open"]) == (3, 2, 1)
    assert a["avg_days_late"] == pytest.approx((10 + 0 + 6) / 3)  # i3: 2026-06-25 → 07-01
    assert (a["winback_contacts_30d"], a["winback_contacts_90d"]) == (1, 2)
    assert a["days_since_winback_contact"] == 10
    assert (a["segment"], a["member_tier"], a["age_years"]) == ("b2b", "gold", 36)


def test_long_lost_customers_are_left_out_and_status_follows_the_index(tmp_path: Path) -> None:
    f = build(
        tmp_path,
        {
            "orders": [
                order("L1", "long_lost", "2023-01-01", 10),
                order("O1", "lost", "2025-03-01", 10),
                order("N1", "new", "2026-06-20", 10),
                *(order(f"R{m}", "regular", f"2026-{m:02d}-15", 10) for m in range(1, 7)),
                *(order(f"S{m}", "stopped", f"2025-{m:02d}-01", 10) for m in range(9, 13)),
            ]
        },
        snapshot_count=1,
    )
    now = f[f["is_scoring_snapshot"]].set_index("customer_id")
    assert "long_lost" not in now.index
    assert now.loc["lost", "lapse_status"] == "lost"
    assert now.loc["new", "lapse_status"] == "active"
    assert now.loc["regular", "lapse_status"] == "active"
    assert now.loc["regular", "churn_risk_score"] == 0
    # a monthly buyer silent for ~7 months is far past their own cadence
    assert now.loc["stopped", "indicator_overdue"] == 2
    assert now.loc["stopped", "lapse_status"] == "lapsed"


def test_features_of_a_snapshot_ignore_everything_after_it(tmp_path: Path) -> None:
    """Leakage guard: rows dated after snapshot S must not change any feature of S."""
    base = {
        "customers": [{"customer_id": c} for c in ("A", "B", "C")],
        "orders": [
            order("A1", "A", "2025-12-01", 10),
            order("A2", "A", "2026-03-01", 20),
            order("B1", "B", "2026-02-01", 30),
            order("B2", "B", "2026-04-15T08:00:00Z", 40, paid_ts="2026-05-20"),  # paid after S
        ],
        "events": [
            {
                "event_id": "e1",
                "customer_id": "A",
                "event_ts": "2026-03-02",
                "event_type": "email_open",
            }
        ],
        "tickets": [
            {
                "ticket_id": "t1",
                "customer_id": "B",
                "opened_ts": "2026-04-01",
                "closed_ts": "2026-05-10",
                "kind": "logistics",
                "resolved": True,
            }  # still open at S
        ],
        "payments": [
            {
                "invoice_id": "i1",
                "customer_id": "B",
                "due_ts": "2026-04-10",
                "paid_ts": "2026-05-15",
            }
        ],
    }
    later = {  # everything dated after S = 2026-05-01 (and before AS_OF)
        "orders": [
            order("A3", "A", "2026-05-02T00:00:01Z", 50),
            order("C1", "C", "2026-06-01", 60),
            order("B3", "B", "2026-06-02", 70, status="refunded"),
        ],
        "events": [
            {
                "event_id": "e2",
                "customer_id": "A",
                "event_ts": "2026-05-03",
                "event_type": "email_open",
            },
            {
                "event_id": "e3",
                "customer_id": "B",
                "event_ts": "2026-06-03",
                "event_type": "referral",
                "ref_id": "C",
            },
        ],
        "tickets": [
            {"ticket_id": "t2", "customer_id": "A", "opened_ts": "2026-05-05", "kind": "product"}
        ],
        "payments": [{"invoice_id": "i2", "customer_id": "A", "due_ts": "2026-05-06"}],
        "campaign_contacts": [
            {
                "contact_id": "c1",
                "customer_id": "A",
                "campaign_id": "k",
                "contact_ts": "2026-05-07",
                "group": "treatment",
                "step": 1,
            }
        ],
    }
    snapshot = dt.date(2026, 5, 1)
    # the scoring snapshot 06-30, then the calendar 2026-05-01 + k x 60 days: 05-01, 03-02
    settings = {
        "snapshot_count": 3,
        "snapshot_cadence_days": 60,
        "snapshot_anchor_date": "2026-05-01",
    }

    before = build(tmp_path / "before", base, **settings)
    merged = {k: base.get(k, []) + later.get(k, []) for k in set(base) | set(later)}
    after = build(tmp_path / "after", merged, **settings)

    def at_snapshot(frame: pd.DataFrame) -> pd.DataFrame:
        rows = frame[frame["as_of_date"] == pd.Timestamp(snapshot)]
        return rows.drop(columns=list(LABEL_COLUMNS)).set_index("customer_id").sort_index()

    assert len(at_snapshot(before)) == 2  # A and B bought before S; C only after
    pd.testing.assert_frame_equal(at_snapshot(before), at_snapshot(after))
    # The check has teeth: a feature computed without the as-of filter would differ.
    assert leaky_purchase_counts(tmp_path / "before") != leaky_purchase_counts(tmp_path / "after")
    # ... while the same feature done right does not.
    assert (
        at_snapshot(before)["purchase_count"].to_dict()
        == at_snapshot(after)["purchase_count"].to_dict()
    )


def leaky_purchase_counts(workspace: Path) -> dict[str, int]:
    """A deliberately leaking 'purchase_count at S': it forgets the as-of filter."""
    con = duckdb.connect(str(workspace / "wh.duckdb"))
    try:
        rows = con.execute(
            "select customer_id, count(*) from staging.stg_shop__orders where is_purchase "
            "and customer_id in ('A', 'B') group by 1"
        ).fetchall()
    finally:
        con.close()
    return dict(rows)
