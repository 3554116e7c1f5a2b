"""The planted drivers show in the data, and the marginals look like a real shop."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from winback.demo import ShopSpec, generate_shop

AS_OF_END = pd.Timestamp("2026-07-01", tz="UTC")
# Offers that answer each reason for leaving (R8).
MATCHED_OFFERS = {
    "price": {"DISC10", "DISC20", "BUNDLE"},
    "logistics": {"FREESHIP"},
    "quality": {"WARRANTY", "APOLOGY_SENIOR"},
    "service_attitude": {"APOLOGY_SENIOR"},
    "forgot": {"REMIND", "NEWARRIVALS"},
}


class Shop:
    """Lazily read tables of one generated shop."""

    def __init__(self, folder: Path):
        self.folder = folder
        self._cache: dict[str, pd.DataFrame] = {}

    def __getitem__(self, name: str) -> pd.DataFrame:
        if name not in self._cache:
            if name.startswith("truth/"):
                frame = pd.read_parquet(self.folder / f"{name}.parquet")
            else:
                frame = pd.read_csv(self.folder / f"{name}.csv")
                for col in frame.columns:
                    if col.endswith("_ts"):
                        frame[col] = pd.to_datetime(frame[col], utc=True, format="ISO8601")
            self._cache[name] = frame
        return self._cache[name]

    @property
    def paid_orders(self) -> pd.DataFrame:
        orders = self["orders"]
        return orders[orders["paid_ts"].notna()].sort_values(["customer_id", "order_ts"])


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Shop:
    out = tmp_path_factory.mktemp("behaviour")
    generate_shop(ShopSpec(n_customers=5000, seed=3, as_of=dt.date(2026, 6, 30)), out)
    return Shop(out)


def _auc(score: np.ndarray, label: np.ndarray) -> float:
    """ROC AUC by the rank-sum formula (ties get mid-ranks)."""
    ranks = pd.Series(score).rank().to_numpy()
    pos = label.astype(bool)
    n_pos, n_neg = pos.sum(), (~pos).sum()
    return float((ranks[pos].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def test_unresolved_logistics_tickets_precede_lapses(shop: Shop) -> None:
    """R7: after an order with an unresolved delivery dispute, the next order comes less often."""
    paid = shop.paid_orders.copy()
    paid["next_ts"] = paid.groupby("customer_id")["order_ts"].shift(-1)
    paid = paid[paid["order_ts"] < AS_OF_END - pd.Timedelta(days=150)]
    gap = (paid["next_ts"] - paid["order_ts"]).dt.days
    paid["lapsed"] = paid["next_ts"].isna() | (gap > 120)
    tickets = shop["tickets"]
    logistics = tickets[tickets["kind"] == "logistics"]
    unresolved = paid["order_id"].isin(logistics.loc[~logistics["resolved"], "order_id"])
    resolved = paid["order_id"].isin(logistics.loc[logistics["resolved"], "order_id"])
    untroubled = ~paid["order_id"].isin(tickets["order_id"])
    assert unresolved.sum() > 100
    lapse_unresolved = paid.loc[unresolved, "lapsed"].mean()
    assert lapse_unresolved > paid.loc[untroubled, "lapsed"].mean() + 0.07
    assert lapse_unresolved > paid.loc[resolved, "lapsed"].mean() + 0.04


def test_matched_offers_win_back_more_than_control(shop: Shop) -> None:
    """R8/R10: for lapsed customers, an offer that answers their reason beats the control group."""
    contacts = shop["campaign_contacts"].merge(
        shop["truth/campaign_contacts_truth"], on=["contact_id", "customer_id"]
    )
    contacts["converted"] = contacts["converted_order_id"].notna()
    reason = contacts["true_reason_at_contact"]
    contacts["matched"] = [
        r in MATCHED_OFFERS and o in MATCHED_OFFERS[r]
        for r, o in zip(reason, contacts["offer_code"], strict=True)
    ]
    dead = contacts[~contacts["is_alive_at_contact"]]
    rate = dead.groupby(["matched", "group"])["converted"].mean()
    assert rate[(True, "treatment")] > rate[(True, "control")] + 0.05
    assert rate[(True, "treatment")] > rate[(False, "treatment")] + 0.03
    # Some customers come back without any contact, so response is not uplift.
    alive_control = contacts[contacts["is_alive_at_contact"] & (contacts["group"] == "control")]
    assert alive_control["converted"].mean() > 0.02


def test_offer_truth_is_consistent(shop: Shop) -> None:
    offers = shop["truth/offer_response_truth"]
    assert offers["offer_type"].nunique() == 10
    assert (offers["p_return_if_offered"] >= offers["p_return_if_not_contacted"] - 1e-12).all()
    assert offers[["p_return_if_offered", "p_return_if_not_contacted"]].stack().between(0, 1).all()


def test_price_hunters_buy_on_discount(shop: Shop) -> None:
    """R6: price hunters buy almost only with discounts and complain about price."""
    truth = shop["truth/customers_truth"].set_index("customer_id")
    orders = shop["orders"]
    hunter = orders["customer_id"].map(truth["is_price_hunter"])
    discounted = orders["discount_amount"] > 0
    assert discounted[hunter].mean() > 0.85
    assert discounted[hunter].mean() > 2.5 * discounted[~hunter].mean()
    tickets = shop["tickets"]
    price_tickets = tickets[tickets["kind"] == "price"]["customer_id"].map(truth["is_price_hunter"])
    assert price_tickets.mean() > 5 * truth["is_price_hunter"].mean()


def test_chronic_late_payers_pay_late(shop: Shop) -> None:
    """R6/R22: chronic late payers settle receivables weeks after the due date."""
    truth = shop["truth/customers_truth"].set_index("customer_id")
    pay = shop["payments"]
    pay = pay[pay["due_ts"] < AS_OF_END]
    late_days = (
        (pay["paid_ts"].fillna(AS_OF_END) - pay["due_ts"]).dt.total_seconds() / 86400
    ).to_numpy()
    chronic = pay["customer_id"].map(truth["is_chronic_late_payer"]).to_numpy(dtype=bool)
    assert chronic.sum() > 30
    assert np.median(late_days[chronic]) > 14
    assert np.median(late_days[~chronic]) < 3


def test_high_attention_low_spend_customers(shop: Shop) -> None:
    truth = shop["truth/customers_truth"].set_index("customer_id")
    flagged = truth.index[truth["is_high_attention_low_spend"]]
    events = shop["events"]
    inquiries = events[events["event_type"] == "inquiry"].groupby("customer_id").size()
    spend = shop.paid_orders.groupby("customer_id")["amount"].mean()
    assert (
        inquiries.reindex(flagged, fill_value=0).mean()
        > 3 * inquiries.reindex(truth.index.difference(flagged), fill_value=0).mean()
    )
    assert spend.reindex(flagged).mean() < 0.7 * spend.mean()


def test_plausible_marginals(shop: Shop) -> None:
    """Mostly one-time buyers, heavy-tailed gaps, churn in the R2 range."""
    paid = shop.paid_orders
    per_customer = paid.groupby("customer_id").size()
    assert (per_customer == 1).mean() > 0.40
    assert per_customer.quantile(0.98) >= 15  # loyal customers have long histories
    gaps = paid.groupby("customer_id")["order_ts"].diff().dt.total_seconds().dropna() / 86400
    gaps = gaps[gaps > 0.5]
    assert gaps.quantile(0.95) / gaps.median() > 4
    # Monthly churn of active customers (truth), last 12 months.
    truth = shop["truth/customers_truth"].merge(
        shop["customers"][["customer_id", "signup_ts"]], on="customer_id"
    )
    rates = []
    for m in range(1, 13):
        start = AS_OF_END - pd.DateOffset(months=m)
        active = truth[
            (truth["signup_ts"] < start - pd.Timedelta(days=7))
            & (truth["death_ts"].isna() | (truth["death_ts"] >= start))
        ]
        died = active["death_ts"].between(start, start + pd.DateOffset(months=1), inclusive="left")
        rates.append(died.mean())
    assert 0.01 < float(np.mean(rates)) < 0.10


def test_churn_label_is_learnable_but_not_trivial(shop: Shop) -> None:
    """R1: the true probability ranks the label well; observable recency vs cadence helps."""
    truth = shop["truth/customers_truth"]
    alive = truth[truth["is_alive_at_as_of"]]
    auc = _auc(alive["p_churn_horizon"].to_numpy(), alive["churned_in_horizon"].to_numpy())
    assert 0.7 < auc < 0.95
    # Calibrated: the mean probability matches the realised rate.
    assert abs(truth["p_churn_horizon"].mean() - truth["churned_in_horizon"].mean()) < 0.03
    # Observable: recency divided by the customer's own median gap (repeat buyers).
    paid = shop.paid_orders
    gap = paid.groupby("customer_id")["order_ts"].diff().dt.total_seconds() / 86400
    cadence = gap.groupby(paid["customer_id"]).median()
    recency = (AS_OF_END - paid.groupby("customer_id")["order_ts"].max()).dt.total_seconds() / 86400
    frame = pd.DataFrame({"ratio": recency / cadence.clip(lower=1)}).dropna()
    frame = frame[recency.reindex(frame.index) < 365]
    label = truth.set_index("customer_id")["churned_in_horizon"].reindex(frame.index)
    assert _auc(frame["ratio"].to_numpy(), label.to_numpy()) > 0.65


def test_engagement_fades_before_and_after_leaving(shop: Shop) -> None:
    """R1: forgetful leavers stop opening newsletters; live customers keep opening them."""
    truth = shop["truth/customers_truth"].set_index("customer_id")
    events = shop["events"]
    recent = events[events["event_ts"] >= AS_OF_END - pd.Timedelta(days=180)]
    sent = recent[recent["event_type"] == "email_sent"].groupby("customer_id").size()
    opened = (
        recent[recent["event_type"] == "email_open"]
        .groupby("customer_id")
        .size()
        .reindex(sent.index, fill_value=0)
    )
    state = truth["latent_state"].reindex(sent.index)
    reason = truth["true_reason"].reindex(sent.index)
    rate_engaged = opened[state == "engaged"].sum() / sent[state == "engaged"].sum()
    gone = (state == "dead") & (reason == "forgot")
    assert opened[gone].sum() / sent[gone].sum() < 0.25 * rate_engaged
    assert set(events["event_type"]) == {
        "site_visit", "cart_add", "wishlist_add", "inquiry", "email_sent", "email_open",
        "email_click", "sms_sent", "call_answered", "call_unanswered", "referral", "review",
        "forum_post", "forum_answer", "survey_response", "suggestion", "campaign_join", "nps",
    }  # fmt: skip
    reviews = events.loc[events["event_type"] == "review", "value"]
    assert reviews.between(1, 5).all()
    nps = events.loc[events["event_type"] == "nps", "value"]
    assert nps.between(0, 10).all()
    assert len(events) / len(truth) < 40  # bounded volume


def test_truth_columns_and_values(shop: Shop) -> None:
    truth = shop["truth/customers_truth"]
    for col in (
        "customer_id", "segment", "is_alive_at_as_of", "death_ts", "true_reason",
        "p_churn_horizon", "churned_in_horizon", "future_value_12m", "realised_value_12m",
        "is_price_hunter", "is_chronic_late_payer", "is_high_attention_low_spend",
        "is_unprofitable", "price_sensitivity", "cadence_days",
    ):  # fmt: skip
        assert col in truth.columns
    assert len(truth) == 5000
    assert truth.loc[~truth["is_alive_at_as_of"], "death_ts"].notna().all()
    assert (truth.loc[~truth["is_alive_at_as_of"], "p_churn_horizon"] == 1.0).all()
    assert truth["p_churn_horizon"].between(0, 1).all()
    dead_reasons = truth.loc[~truth["is_alive_at_as_of"], "true_reason"]
    assert dead_reasons.notna().all() and dead_reasons.nunique() == 7
    assert 0.02 < (truth["segment"] == "b2b").mean() < 0.08
    for flag in (
        "is_price_hunter",
        "is_chronic_late_payer",
        "is_high_attention_low_spend",
        "is_unprofitable",
    ):
        assert 0.003 < truth[flag].mean() < 0.15, flag
    assert np.corrcoef(truth["future_value_12m"], truth["realised_value_12m"])[0, 1] > 0.5
