"""The notebook way: Winback's customer feature table computed with plain pandas.

What a competent data scientist would write instead of the product's dbt models: read the
shop's contract files (parquet, as ``winback demo-data --format parquet`` writes them),
lay out the same point-in-time snapshot grid, and compute, one vectorised pandas pass per
snapshot, every column of ``marts.customer_features``: order history (RFM, own cadence,
90/365-day windows and trends, necessary vs discretionary spend, refunds, unpaid orders,
payment delay), engagement and advocacy, service disputes, receivables, contact fatigue,
the profile, the R1 indicators, ``lapse_status`` and the label ``is_churned`` (a
``merge_asof`` to each customer's next purchase). The definitions mirror the dbt SQL and
the settings come from ``winback.config`` (the same defaults the product's dbt vars use).

``tests/dbt/test_pandas_reference.py`` holds this equal to the product on small demo
shops, row for row: ``build_customer_features`` to ``marts.customer_features`` (every
column, every snapshot), ``build`` (the order features only) to
``int_customers_orders_aggregated`` and ``snapshot_grid`` to ``int_snapshot_dates``. So
the benchmark compares like with like: from the same input files to the same table.

It assumes the loader accepts every row (true of a demo shop at its own as-of date): rows
the product would quarantine (bad values, unknown references, times after the as-of day)
are not screened out here. An absent optional table counts as empty, as in the product.

    python benchmarks/pandas_reference.py benchmarks/data/shop_10000_s7 --as-of 2026-06-30
    python benchmarks/pandas_reference.py <shop_dir> --as-of <date> --scope orders

The last line printed is a JSON object: seconds (from the start of reading the files to
the finished table), rows, scope, snapshots and as_of.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import time
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd

from winback.config import Settings

# The contract's event types (a type the shop never sent counts 0).
from winback.ingest.contract import EVENT_TYPES

PURCHASE_STATUSES = ("paid", "shipped", "delivered")
PARTICIPATION_TYPES = ("campaign_join", "forum_post", "forum_answer", "survey_response")
TICKET_KINDS = ("product", "logistics", "attitude", "price")
DAY = pd.Timedelta(days=1)

# marts.customer_features, its columns in the product's order.
FEATURE_COLUMNS = [
    "customer_id",
    "as_of_date",
    "recency_days",
    "tenure_days",
    "purchase_count",
    "purchase_count_365d",
    "purchase_count_90d",
    "purchase_count_prev_90d",
    "monetary_lifetime",
    "monetary_365d",
    "monetary_90d",
    "monetary_prev_90d",
    "avg_order_value",
    "essential_spend_lifetime",
    "discretionary_spend_lifetime",
    "essential_spend_365d",
    "discretionary_spend_365d",
    "median_gap_days",
    "gap_days_stddev",
    "recency_vs_cadence",
    "purchase_count_trend_90d",
    "monetary_trend_90d",
    "discounted_purchase_share",
    "refund_count",
    "abandoned_unpaid_order_count",
    "avg_pay_delay_hours",
    "site_visits_90d",
    "cart_adds_90d",
    "inquiries_90d",
    "emails_sent_90d",
    "email_opens_90d",
    "email_opens_prev_90d",
    "email_clicks_90d",
    "calls_answered_180d",
    "calls_unanswered_180d",
    "days_since_email_open",
    "days_since_site_visit",
    "referrals",
    "referrals_converted",
    "reviews",
    "avg_review_rating",
    "forum_contributions",
    "survey_responses",
    "suggestions",
    "campaign_joins",
    "participations_180d",
    "last_nps",
    "tickets_lifetime",
    "tickets_365d",
    "disputes_product",
    "disputes_logistics",
    "disputes_attitude",
    "disputes_price",
    "open_tickets",
    "unresolved_product",
    "unresolved_logistics",
    "unresolved_attitude",
    "unresolved_price",
    "days_since_ticket",
    "avg_ticket_satisfaction",
    "invoices_due",
    "invoices_late",
    "late_invoice_share",
    "avg_days_late",
    "invoices_overdue_open",
    "winback_contacts_30d",
    "winback_contacts_90d",
    "days_since_winback_contact",
    "segment",
    "member_tier",
    "region",
    "city_tier",
    "gender",
    "household",
    "occupation",
    "acquisition_channel",
    "age_years",
    "days_since_signup",
    "indicator_overdue",
    "indicator_falling_frequency",
    "indicator_falling_value",
    "indicator_intent_not_converting",
    "indicator_disengaged",
    "indicator_stopped_participating",
    "indicator_unresolved_dispute",
    "churn_risk_score",
    "lapse_status",
    "is_scoring_snapshot",
    "is_label_observed",
    "is_churned",
]
PROFILE_COLUMNS = [
    "segment",
    "member_tier",
    "region",
    "city_tier",
    "gender",
    "household",
    "occupation",
    "acquisition_channel",
]
# Integer features that may be missing (no such event, no signup date): nullable Int64.
NULLABLE_INTEGERS = [
    "days_since_email_open",
    "days_since_site_visit",
    "days_since_ticket",
    "days_since_winback_contact",
    "age_years",
    "days_since_signup",
]
# Counts the mart coalesces to 0 for a customer without events, tickets, invoices, contacts.
ZERO_WHEN_ABSENT = [
    "site_visits_90d",
    "cart_adds_90d",
    "inquiries_90d",
    "emails_sent_90d",
    "email_opens_90d",
    "email_opens_prev_90d",
    "email_clicks_90d",
    "calls_answered_180d",
    "calls_unanswered_180d",
    "referrals",
    "referrals_converted",
    "reviews",
    "forum_contributions",
    "survey_responses",
    "suggestions",
    "campaign_joins",
    "participations_180d",
    "tickets_lifetime",
    "tickets_365d",
    *(f"{what}_{kind}" for what in ("disputes", "unresolved") for kind in TICKET_KINDS),
    "open_tickets",
    "invoices_due",
    "invoices_late",
    "invoices_overdue_open",
    "winback_contacts_30d",
    "winback_contacts_90d",
]
# int_customers_orders_aggregated, its columns after customer_id and as_of_date (less
# as_of_end_at).
ORDER_FEATURE_COLUMNS = [
    "first_purchase_at",
    "last_purchase_at",
    "purchase_count",
    "monetary_lifetime",
    "purchase_count_365d",
    "monetary_365d",
    "purchase_count_90d",
    "purchase_count_prev_90d",
    "monetary_90d",
    "monetary_prev_90d",
    "essential_spend_lifetime",
    "discretionary_spend_lifetime",
    "essential_spend_365d",
    "discretionary_spend_365d",
    "median_gap_days",
    "gap_days_stddev",
    "discounted_purchase_share",
    "refund_count",
    "abandoned_unpaid_order_count",
    "order_count_all_statuses",
    "avg_pay_delay_hours",
]


class Params(NamedTuple):
    """The settings the feature table depends on (the product's dbt vars)."""

    horizon_days: int
    cadence_days: int
    snapshot_count: int
    anchor_date: dt.date
    min_history_days: int
    one_time_buyer_overdue_days: int
    lost_after_days: int
    long_lost_after_days: int

    @classmethod
    def from_settings(cls, settings: Settings | None = None) -> Params:
        """The values ``winback.config`` gives dbt (``Settings().dbt_vars()``)."""
        dbt_vars = (settings or Settings()).dbt_vars()

        def number(name: str) -> int:
            return int(str(dbt_vars[name]))

        return cls(
            horizon_days=number("horizon_days"),
            cadence_days=number("snapshot_cadence_days"),
            snapshot_count=number("snapshot_count"),
            anchor_date=dt.date.fromisoformat(str(dbt_vars["snapshot_anchor_date"])),
            min_history_days=number("min_history_days"),
            one_time_buyer_overdue_days=number("one_time_buyer_overdue_days"),
            lost_after_days=number("lost_after_days"),
            long_lost_after_days=number("long_lost_after_days"),
        )


# --- reading --------------------------------------------------------------------------------

EPOCH = pd.Timestamp("1970-01-01")


def _read(data_dir: Path, table: str, columns: dict[str, str]) -> pd.DataFrame:
    """One contract table's ``columns`` (name: kind). Timestamps become naive UTC; an
    absent optional table is an empty frame of the same columns."""
    path = data_dir / f"{table}.parquet"
    if path.exists():
        frame = pd.read_parquet(path, columns=list(columns))
    else:
        empty = {"ts": "datetime64[us]", "float": "float64", "int": "Int64", "bool": "boolean"}
        frame = pd.DataFrame(
            {name: pd.Series(dtype=empty.get(kind, "str")) for name, kind in columns.items()}
        )
    for name, kind in columns.items():
        if kind == "ts":
            frame[name] = pd.to_datetime(frame[name], utc=True).dt.tz_localize(None)
    return frame


def _day_number(ts: pd.Series) -> np.ndarray:
    """Calendar day (UTC) of each timestamp as days since 1970-01-01 (int64; no NaT)."""
    return ts.to_numpy().astype("datetime64[D]").astype(np.int64)


def _day_number_or_nan(ts: pd.Series) -> np.ndarray:
    """As ``_day_number`` for a column with missing values (float64, NaN for NaT)."""
    values = ts.to_numpy()
    days = values.astype("datetime64[D]").astype(np.int64).astype(np.float64)
    days[np.isnat(values)] = np.nan
    return days


def _day_of(day: pd.Timestamp) -> int:
    """The day number (as ``_day_number``) of one date."""
    return (day.normalize() - EPOCH).days


def _cents(values: pd.Series) -> pd.Series:
    """Money as whole cents (float64, NaN kept): the warehouse holds it as decimal(18, 2)
    and sums it exactly; sums of whole cents are exact in float64 too."""
    return np.rint(values.astype("float64") * 100.0)


def read_orders(data_dir: Path) -> pd.DataFrame:
    """``int_orders_enriched``: every order with its flags, gap to the customer's previous
    purchase, payment delay and the necessary vs discretionary split of its basket (R3)."""
    orders = _read(
        data_dir,
        "orders",
        {
            "order_id": "str",
            "customer_id": "str",
            "order_ts": "ts",
            "amount": "float",
            "status": "str",
            "paid_ts": "ts",
            "discount_amount": "float",
        },
    ).rename(columns={"order_ts": "ordered_at", "paid_ts": "paid_at"})
    status = orders["status"].fillna("paid")
    orders["is_purchase"] = status.isin(PURCHASE_STATUSES)
    orders["is_refunded"] = status == "refunded"
    orders["is_abandoned_unpaid"] = status.isin(["closed", "cancelled"]) & orders["paid_at"].isna()
    orders["is_discounted"] = orders["discount_amount"].fillna(0) > 0
    orders["amount_cents"] = _cents(orders["amount"])
    orders["day"] = _day_number(orders["ordered_at"])
    # Whole minutes between order and payment as SQL's datediff counts them (boundaries).
    orders["pay_delay_minutes"] = (
        orders["paid_at"].dt.floor("min") - orders["ordered_at"].dt.floor("min")
    ) / pd.Timedelta(minutes=1)
    items = _read(
        data_dir,
        "order_items",
        {"order_id": "str", "product_id": "str", "quantity": "int", "unit_price": "float"},
    )
    products = _read(data_dir, "products", {"product_id": "str", "is_essential": "bool"})
    items = items.merge(products, on="product_id", how="inner")
    line = items["quantity"].fillna(1).astype("float64") * _cents(items["unit_price"])
    essential = items["is_essential"].fillna(False).astype(bool)
    items["essential_cents"] = line.where(essential, 0.0)
    items["discretionary_cents"] = line.where(~essential, 0.0)
    split = items.groupby("order_id")[["essential_cents", "discretionary_cents"]].sum(min_count=1)
    orders = orders.merge(split, left_on="order_id", right_index=True, how="left")
    # Gap since the customer's previous purchase (point-in-time safe: earlier orders only).
    orders = orders.sort_values(["customer_id", "ordered_at", "order_id"], ignore_index=True)
    purchases = orders[orders["is_purchase"]]
    orders["gap_days"] = purchases["day"] - purchases.groupby("customer_id")["day"].shift()
    return orders


class Shop(NamedTuple):
    """The contract tables, read once and prepared for every snapshot. Customers are
    numbered (``customer_id`` holds positions in ``ids``) so that the per-snapshot
    group-bys and joins work on integers."""

    orders: pd.DataFrame
    events: pd.DataFrame
    reviews: pd.DataFrame
    nps: pd.DataFrame
    referrals: pd.DataFrame
    tickets: pd.DataFrame
    payments: pd.DataFrame
    contacts: pd.DataFrame
    customers: pd.DataFrame
    ids: pd.Index


def read_shop(data_dir: Path) -> Shop:
    """Read every contract table the feature table uses (the staging models' renames and
    defaults applied)."""
    orders = read_orders(data_dir)
    customers = _read(
        data_dir,
        "customers",
        {"customer_id": "str", "signup_ts": "ts", "birth_year": "int"}
        | {name: "str" for name in PROFILE_COLUMNS},
    )
    ids = pd.Index(customers["customer_id"]).union(pd.Index(orders["customer_id"].unique()))
    orders["customer_id"] = ids.get_indexer(orders["customer_id"])
    customers["customer_id"] = ids.get_indexer(customers["customer_id"])
    customers["segment"] = customers["segment"].fillna("b2c")
    customers["signup_day"] = _day_number_or_nan(customers["signup_ts"])
    customers = customers.set_index("customer_id")

    events = _read(
        data_dir,
        "events",
        {
            "customer_id": "str",
            "event_ts": "ts",
            "event_type": "str",
            "ref_id": "str",
            "value": "float",
        },
    )
    events["customer_id"] = ids.get_indexer(events["customer_id"])
    events["day"] = _day_number(events["event_ts"])
    kind = events["event_type"]
    reviews = events.loc[kind == "review", ["customer_id", "day", "value"]]
    # sorted by time: the last NPS answer of a customer is their latest
    nps = events.loc[kind == "nps", ["customer_id", "day", "event_ts", "value"]].sort_values(
        "event_ts", kind="stable"
    )
    # A referral is converted once the referred customer has made a purchase (in any
    # payment state): from the later of the referral's day and that purchase's day on.
    first_purchases = orders[orders["is_purchase"]].groupby("customer_id")["day"].min()
    referrals = events.loc[kind == "referral", ["customer_id", "ref_id", "day"]]
    referrals = referrals.assign(referred=ids.get_indexer(referrals["ref_id"])).merge(
        first_purchases.rename_axis("referred").rename("first_day").reset_index(), on="referred"
    )
    referrals["converted_day"] = np.maximum(referrals["day"], referrals["first_day"])
    events = events[["customer_id", "day"]].assign(event_type=kind.astype("category"))

    tickets = _read(
        data_dir,
        "tickets",
        {
            "customer_id": "str",
            "opened_ts": "ts",
            "closed_ts": "ts",
            "kind": "str",
            "resolved": "bool",
            "satisfaction": "float",
        },
    ).rename(columns={"closed_ts": "closed_at"})
    tickets["customer_id"] = ids.get_indexer(tickets["customer_id"])
    tickets["day"] = _day_number(tickets["opened_ts"])
    tickets["ticket_kind"] = tickets["kind"].fillna("other")
    tickets["is_resolved"] = tickets["resolved"].fillna(tickets["closed_at"].notna()).astype(bool)

    payments = _read(
        data_dir, "payments", {"customer_id": "str", "due_ts": "ts", "paid_ts": "ts"}
    ).rename(columns={"paid_ts": "paid_at"})
    payments["customer_id"] = ids.get_indexer(payments["customer_id"])
    payments["due_day"] = _day_number(payments["due_ts"])
    payments["paid_day"] = _day_number_or_nan(payments["paid_at"])

    # int_campaign_contacts: the merchant's contacts; Winback's own exported contacts are
    # history that only a warehouse which ran before holds (a notebook has the files only)
    contacts = _read(
        data_dir, "campaign_contacts", {"customer_id": "str", "contact_ts": "ts", "group": "str"}
    )
    contacts = contacts[contacts["group"].fillna("treatment") == "treatment"]
    contacts = pd.DataFrame(
        {
            "customer_id": ids.get_indexer(contacts["customer_id"]),
            "day": _day_number(contacts["contact_ts"]),
        }
    )
    return Shop(
        orders, events, reviews, nps, referrals, tickets, payments, contacts, customers, ids
    )


# --- the snapshot grid ----------------------------------------------------------------------


def snapshot_grid(
    run_as_of: pd.Timestamp, first_order_at: pd.Timestamp, params: Params
) -> pd.DataFrame:
    """``int_snapshot_dates``: the run's as-of date (the scoring snapshot) and the newest
    ``snapshot_count - 1`` dates of the calendar anchor + k × cadence strictly before it
    (macros/snapshots.sql); an older snapshot needs ``min_history_days`` of orders before
    it. A label is observed when the snapshot's horizon lies wholly before the run's date."""
    run_date = run_as_of.normalize()
    cadence = params.cadence_days
    newest = ((run_date.date() - params.anchor_date).days - 1) % cadence + 1
    days_before = [0] + [newest + k * cadence for k in range(params.snapshot_count - 1)]
    grid = pd.DataFrame({"days_before_run": days_before})
    grid["as_of_date"] = run_date - pd.to_timedelta(grid["days_before_run"], unit="D")
    grid["is_scoring_snapshot"] = grid["days_before_run"] == 0
    horizon = pd.Timedelta(days=params.horizon_days)
    grid["is_label_observed"] = grid["as_of_date"] + horizon <= run_date
    history_from = first_order_at.normalize() + pd.Timedelta(days=params.min_history_days)
    keep = grid["is_scoring_snapshot"] | (grid["as_of_date"] >= history_from)
    return grid[keep].sort_values("as_of_date", ignore_index=True)


# --- one snapshot's aggregates --------------------------------------------------------------


def snapshot_features(orders: pd.DataFrame, as_of: pd.Timestamp) -> pd.DataFrame:
    """``int_customers_orders_aggregated`` for one snapshot: the order history of every
    customer who bought by the end of ``as_of`` (a payment counts only if made by then)."""
    end = as_of + DAY
    today = _day_of(as_of)
    seen = orders[orders["ordered_at"] < end]
    visible = seen[seen["is_purchase"] & (seen["paid_at"].isna() | (seen["paid_at"] < end))]
    back = today - visible["day"]
    in_365, in_90 = back < 365, back < 90
    in_prev_90 = (back >= 90) & (back < 180)
    amount = visible["amount_cents"]
    columns = pd.DataFrame(
        {
            "customer_id": visible["customer_id"],
            "ordered_at": visible["ordered_at"],
            "amount": amount,
            "in_365d": in_365,
            "amount_365d": amount.where(in_365, 0.0),
            "in_90d": in_90,
            "in_prev_90d": in_prev_90,
            "amount_90d": amount.where(in_90, 0.0),
            "amount_prev_90d": amount.where(in_prev_90, 0.0),
            "essential": visible["essential_cents"],
            "discretionary": visible["discretionary_cents"],
            "essential_365d": visible["essential_cents"].where(in_365),
            "discretionary_365d": visible["discretionary_cents"].where(in_365),
            "gap_days": visible["gap_days"],
            "is_discounted": visible["is_discounted"],
            "pay_delay_minutes": visible["pay_delay_minutes"].where(visible["paid_at"].notna()),
        }
    )
    grouped = columns.groupby("customer_id", observed=True)
    features = grouped.agg(
        first_purchase_at=("ordered_at", "min"),
        last_purchase_at=("ordered_at", "max"),
        purchase_count=("ordered_at", "size"),
        monetary_lifetime=("amount", "sum"),
        purchase_count_365d=("in_365d", "sum"),
        monetary_365d=("amount_365d", "sum"),
        purchase_count_90d=("in_90d", "sum"),
        purchase_count_prev_90d=("in_prev_90d", "sum"),
        monetary_90d=("amount_90d", "sum"),
        monetary_prev_90d=("amount_prev_90d", "sum"),
        median_gap_days=("gap_days", "median"),
        gap_days_stddev=("gap_days", "std"),
        discounted_purchase_share=("is_discounted", "mean"),
        avg_pay_delay_minutes=("pay_delay_minutes", "mean"),
    )
    # SQL's sum of nothing but nulls is null (pandas says 0 unless min_count=1)
    spend = grouped[["essential", "discretionary", "essential_365d", "discretionary_365d"]].sum(
        min_count=1
    )
    for name in ("monetary_lifetime", "monetary_365d", "monetary_90d", "monetary_prev_90d"):
        features[name] = features[name] / 100.0
    features["essential_spend_lifetime"] = spend["essential"] / 100.0
    features["discretionary_spend_lifetime"] = spend["discretionary"] / 100.0
    features["essential_spend_365d"] = spend["essential_365d"] / 100.0
    features["discretionary_spend_365d"] = spend["discretionary_365d"] / 100.0
    features["avg_pay_delay_hours"] = features.pop("avg_pay_delay_minutes") / 60.0
    all_orders = seen.groupby("customer_id", observed=True).agg(
        refund_count=("is_refunded", "sum"),
        abandoned_unpaid_order_count=("is_abandoned_unpaid", "sum"),
        order_count_all_statuses=("is_refunded", "size"),
    )
    features = features.join(all_orders, how="left")[ORDER_FEATURE_COLUMNS]
    features.insert(0, "as_of_date", as_of)
    return features.rename_axis("customer_id").reset_index()


def engagement_features(shop: Shop, today: int) -> pd.DataFrame:
    """``int_customers_engagement_aggregated`` for one snapshot (``today``: its day
    number): R1 intent, email and call engagement, participation; R4 advocacy."""
    seen = shop.events[shop.events["day"] <= today]
    back = today - seen["day"]
    windows = pd.DataFrame(
        {
            "customer_id": seen["customer_id"],
            "event_type": seen["event_type"],
            "lifetime": np.ones(len(seen), dtype=np.int64),
            "last_90d": back < 90,
            "prev_90d": (back >= 90) & (back < 180),
            "last_180d": back < 180,
        }
    )
    counts = windows.groupby(["customer_id", "event_type"], observed=True).sum()
    counts = counts.unstack("event_type", fill_value=0)
    counts = counts.reindex(
        columns=pd.MultiIndex.from_product([counts.columns.levels[0], EVENT_TYPES]), fill_value=0
    )
    lifetime, last_90 = counts["lifetime"], counts["last_90d"]
    prev_90, last_180 = counts["prev_90d"], counts["last_180d"]
    features = pd.DataFrame(
        {
            "site_visits_90d": last_90["site_visit"],
            "cart_adds_90d": last_90["cart_add"],
            "inquiries_90d": last_90["inquiry"],
            "emails_sent_90d": last_90["email_sent"],
            "email_opens_90d": last_90["email_open"],
            "email_opens_prev_90d": prev_90["email_open"],
            "email_clicks_90d": last_90["email_click"],
            "calls_answered_180d": last_180["call_answered"],
            "calls_unanswered_180d": last_180["call_unanswered"],
            "participations_180d": last_180[list(PARTICIPATION_TYPES)].sum(axis=1),
            "referrals": lifetime["referral"],
            "reviews": lifetime["review"],
            "forum_contributions": lifetime["forum_post"] + lifetime["forum_answer"],
            "survey_responses": lifetime["survey_response"],
            "suggestions": lifetime["suggestion"],
            "campaign_joins": lifetime["campaign_join"],
        }
    )
    for event_type in ("email_open", "site_visit"):
        of_type = seen[seen["event_type"] == event_type]
        last_day = of_type.groupby("customer_id", observed=True)["day"].max()
        features[f"days_since_{event_type}"] = today - last_day
    reviews = shop.reviews[shop.reviews["day"] <= today]
    # the mean of the ratings given (a review without one does not count)
    features["avg_review_rating"] = reviews.groupby("customer_id", observed=True)["value"].mean()
    nps = shop.nps[shop.nps["day"] <= today]
    # the latest NPS answer with a value (``last`` skips nulls, as arg_max does)
    features["last_nps"] = nps.groupby("customer_id", observed=True)["value"].last()
    referrals = shop.referrals[shop.referrals["converted_day"] <= today]
    features["referrals_converted"] = referrals.groupby("customer_id", observed=True).size()
    return features


def service_features(tickets: pd.DataFrame, today: int) -> pd.DataFrame:
    """``int_customers_service_aggregated`` for one snapshot: disputes by kind and whether
    they were resolved by the end of the as-of day (R7)."""
    seen = tickets[tickets["day"] <= today]
    end = EPOCH + (today + 1) * DAY
    is_open = ~(seen["is_resolved"] & seen["closed_at"].notna() & (seen["closed_at"] < end))
    back = today - seen["day"]
    columns: dict[str, pd.Series | np.ndarray] = {
        "customer_id": seen["customer_id"],
        "ticket": np.ones(len(seen), dtype=np.int64),
        "in_365d": back < 365,
        "is_open": is_open,
        "back": back,
        "satisfaction": seen["satisfaction"],
    }
    for kind in TICKET_KINDS:
        of_kind = seen["ticket_kind"] == kind
        columns[f"disputes_{kind}"] = of_kind
        columns[f"unresolved_{kind}"] = of_kind & is_open
    frame = pd.DataFrame(columns)
    grouped = frame.groupby("customer_id", observed=True)
    features = grouped.agg(
        tickets_lifetime=("ticket", "sum"),
        tickets_365d=("in_365d", "sum"),
        open_tickets=("is_open", "sum"),
        days_since_ticket=("back", "min"),
        avg_ticket_satisfaction=("satisfaction", "mean"),
    )
    by_kind = [f"{what}_{kind}" for what in ("disputes", "unresolved") for kind in TICKET_KINDS]
    return features.join(grouped[by_kind].sum())


def payment_features(payments: pd.DataFrame, today: int) -> pd.DataFrame:
    """``int_customers_payments_aggregated`` for one snapshot: invoices due by the as-of
    date and how late they were paid; one unpaid then is late by the days it is overdue
    (a payment after the as-of date is not visible yet) (R6, R22)."""
    due = payments[payments["due_day"] <= today]
    end = EPOCH + (today + 1) * DAY
    paid = due["paid_at"].notna() & (due["paid_at"] < end)
    # calendar days from the due date to the payment, or to the end of the as-of day
    days_late = (due["paid_day"].where(paid, today + 1) - due["due_day"]).clip(lower=0)
    frame = pd.DataFrame(
        {
            "customer_id": due["customer_id"],
            "days_late": days_late,
            "is_late": days_late > 0,
            "is_open": ~paid,
        }
    )
    return frame.groupby("customer_id", observed=True).agg(
        invoices_due=("is_late", "size"),
        invoices_late=("is_late", "sum"),
        late_invoice_share=("is_late", "mean"),
        avg_days_late=("days_late", "mean"),
        invoices_overdue_open=("is_open", "sum"),
    )


def contact_features(contacts: pd.DataFrame, today: int) -> pd.DataFrame:
    """``int_customers_contacts_aggregated`` for one snapshot: win-back and reminder
    contacts made (treatment group) by the end of the as-of day (R13)."""
    seen = contacts[contacts["day"] <= today]
    back = today - seen["day"]
    frame = pd.DataFrame(
        {"customer_id": seen["customer_id"], "in_30d": back < 30, "in_90d": back < 90, "back": back}
    )
    return frame.groupby("customer_id", observed=True).agg(
        winback_contacts_30d=("in_30d", "sum"),
        winback_contacts_90d=("in_90d", "sum"),
        days_since_winback_contact=("back", "min"),
    )


# --- the whole table ------------------------------------------------------------------------


def _snapshot_rows(shop: Shop, as_of: pd.Timestamp, params: Params) -> pd.DataFrame:
    """The features of one snapshot: the population (a purchase by the as-of day, the
    last at most ``long_lost_after_days`` before it) with every aggregate joined on."""
    today = _day_of(as_of)
    orders = snapshot_features(shop.orders, as_of).set_index("customer_id")
    recency = today - _day_number(orders["last_purchase_at"])
    keep = recency <= params.long_lost_after_days
    orders, recency = orders[keep], recency[keep]
    median_gap = orders["median_gap_days"]
    derived = pd.DataFrame(
        {
            "recency_days": recency,
            "tenure_days": today - _day_number(orders["first_purchase_at"]),
            "avg_order_value": orders["monetary_lifetime"] / orders["purchase_count"],
            "recency_vs_cadence": recency / median_gap.where(median_gap != 0),
            "purchase_count_trend_90d": orders["purchase_count_90d"]
            - orders["purchase_count_prev_90d"],
            "monetary_trend_90d": orders["monetary_90d"] - orders["monetary_prev_90d"],
        },
        index=orders.index,
    )
    profile = shop.customers.reindex(orders.index)
    profile["age_years"] = as_of.year - profile["birth_year"]
    profile["days_since_signup"] = today - profile["signup_day"]
    # left joins onto the population (the customers' other aggregates are left out)
    aggregates = [
        aggregate.reindex(orders.index)
        for aggregate in (
            engagement_features(shop, today),
            service_features(shop.tickets, today),
            payment_features(shop.payments, today),
            contact_features(shop.contacts, today),
            profile[[*PROFILE_COLUMNS, "age_years", "days_since_signup"]],
        )
    ]
    table = pd.concat([orders, derived, *aggregates], axis=1)
    return table.rename_axis("customer_id").reset_index()


def _indicators(table: pd.DataFrame, params: Params) -> pd.DataFrame:
    """R1: the churn indicators, their sum and the lapse status (customer_features.sql)."""
    one_time = table["median_gap_days"].isna()
    recency = table["recency_days"]
    cadence = table["recency_vs_cadence"]  # NaN compares false, as SQL's null does
    overdue_days = params.one_time_buyer_overdue_days
    table["indicator_overdue"] = np.select(
        [
            one_time & (recency > 2 * overdue_days),
            one_time & (recency > overdue_days),
            cadence > 3,
            cadence > 1.5,
        ],
        [2, 1, 2, 1],
        0,
    ).astype(np.int32)
    flags = {
        "indicator_falling_frequency": (table["purchase_count_prev_90d"] > 0)
        & (table["purchase_count_90d"] < table["purchase_count_prev_90d"]),
        "indicator_falling_value": (table["monetary_prev_90d"] > 0)
        & (table["monetary_90d"] < 0.5 * table["monetary_prev_90d"]),
        "indicator_intent_not_converting": (table["cart_adds_90d"] + table["inquiries_90d"] > 0)
        & (table["purchase_count_90d"] == 0),
        "indicator_disengaged": (
            (table["emails_sent_90d"] >= 2)
            & (table["email_opens_90d"] == 0)
            & (table["email_opens_prev_90d"] > 0)
        )
        | ((table["calls_unanswered_180d"] >= 2) & (table["calls_answered_180d"] == 0)),
        "indicator_stopped_participating": (
            table["campaign_joins"] + table["forum_contributions"] + table["survey_responses"] > 0
        )
        & (table["participations_180d"] == 0),
        "indicator_unresolved_dispute": table["open_tickets"] > 0,
    }
    for name, flag in flags.items():
        table[name] = flag.astype(np.int32)
    score = table["indicator_overdue"] + sum(table[name] for name in flags)
    table["churn_risk_score"] = score.astype(np.int32)
    table["lapse_status"] = np.select(
        [
            recency > params.lost_after_days,
            table["indicator_overdue"] == 2,
            (score >= 3) | ((table["indicator_overdue"] == 1) & (score >= 2)),
            score >= 1,
        ],
        ["lost", "lapsed", "at_risk", "cooling"],
        "active",
    )
    return table


def _labels(table: pd.DataFrame, orders: pd.DataFrame, params: Params) -> pd.Series:
    """``is_churned``: no purchase within (as_of, as_of + horizon], for the snapshots whose
    horizon is observed (else null). One ``merge_asof`` finds every row's next purchase."""
    purchases = orders[orders["is_purchase"]]
    purchases = pd.DataFrame(
        {
            "customer_id": purchases["customer_id"],
            "next_purchase_at": purchases["ordered_at"].astype("datetime64[us]"),
        }
    ).sort_values("next_purchase_at")
    rows = pd.DataFrame(
        {
            "row": np.arange(len(table)),
            "customer_id": table["customer_id"],
            "as_of_end_at": (table["as_of_date"] + DAY).astype("datetime64[us]"),
        }
    ).sort_values("as_of_end_at")
    nxt = pd.merge_asof(
        rows,
        purchases,
        left_on="as_of_end_at",
        right_on="next_purchase_at",
        by="customer_id",
        direction="forward",
    ).sort_values("row")
    horizon_end = nxt["as_of_end_at"] + pd.Timedelta(days=params.horizon_days)
    churned = nxt["next_purchase_at"].isna() | (nxt["next_purchase_at"] >= horizon_end)
    labels = pd.Series(churned.to_numpy(), index=table.index, dtype="boolean")
    return labels.where(table["is_label_observed"], pd.NA)


def _run_as_of(orders: pd.DataFrame, as_of: pd.Timestamp | dt.date | str | None) -> pd.Timestamp:
    return (pd.Timestamp(as_of) if as_of is not None else orders["ordered_at"].max()).normalize()


def build_customer_features(
    data_dir: Path, as_of: pd.Timestamp | dt.date | str | None = None, params: Params | None = None
) -> pd.DataFrame:
    """``marts.customer_features`` from the shop's files: every snapshot of the grid, every
    column, the same rows. ``as_of`` defaults to the day of the last order."""
    params = params or Params.from_settings()
    shop = read_shop(data_dir)
    grid = snapshot_grid(_run_as_of(shop.orders, as_of), shop.orders["ordered_at"].min(), params)
    table = pd.concat(
        [_snapshot_rows(shop, as_of_date, params) for as_of_date in grid["as_of_date"]],
        ignore_index=True,
    )
    # a customer without events, tickets, invoices or contacts has counts of zero
    table[ZERO_WHEN_ABSENT] = table[ZERO_WHEN_ABSENT].fillna(0).astype(np.int64)
    table[NULLABLE_INTEGERS] = table[NULLABLE_INTEGERS].astype("Int64")
    table = _indicators(table, params)
    flags = grid.set_index("as_of_date")
    table["is_scoring_snapshot"] = table["as_of_date"].map(flags["is_scoring_snapshot"])
    table["is_label_observed"] = table["as_of_date"].map(flags["is_label_observed"])
    table["is_churned"] = _labels(table, shop.orders, params)
    table["customer_id"] = shop.ids.take(table["customer_id"])
    return table[FEATURE_COLUMNS]


def build(
    data_dir: Path, as_of: pd.Timestamp | dt.date | str | None = None, params: Params | None = None
) -> pd.DataFrame:
    """The order features only (``int_customers_orders_aggregated`` without
    ``as_of_end_at``) of every snapshot of the grid, from the order, item and product
    files."""
    params = params or Params.from_settings()
    orders = read_orders(data_dir)
    grid = snapshot_grid(_run_as_of(orders, as_of), orders["ordered_at"].min(), params)
    return pd.concat(
        [snapshot_features(orders, as_of_date) for as_of_date in grid["as_of_date"]],
        ignore_index=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description="Winback's customer features the notebook way (plain pandas)."
    )
    parser.add_argument("data_dir", type=Path, help="the shop's directory of parquet files")
    parser.add_argument("--as-of", help="as-of date YYYY-MM-DD (default: the last order's day)")
    parser.add_argument(
        "--scope",
        choices=("full", "orders"),
        default="full",
        help="full: marts.customer_features (default); orders: the order features only",
    )
    args = parser.parse_args()
    params = Params.from_settings()
    start = time.perf_counter()
    builder = build_customer_features if args.scope == "full" else build
    table = builder(args.data_dir, args.as_of, params)
    seconds = time.perf_counter() - start
    newest = table["as_of_date"].max()
    summary = {
        "seconds": round(seconds, 3),
        "rows": len(table),
        "scope": args.scope,
        "snapshots": int(table["as_of_date"].nunique()),
        "as_of": None if pd.isna(newest) else str(pd.Timestamp(newest).date()),
    }
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
