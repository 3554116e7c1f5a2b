"""The backtest of the decision policy on the newest randomized campaign (R10): on a
planted history where reminders work and the 20% discount does not, the policy learned
from the earlier campaigns beats sending nothing and beats a blanket discount; a campaign
without a control group is never the one judged."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tests.models.test_response import PRIORS, history
from winback.config import ResponseParams
from winback.models.decision_backtest import (
    NONE_NAME,
    POLICY_NAME,
    backtest_newest_campaign,
    campaign_rewards,
    expected_offer_profit,
    first_contacts,
    value_cap,
)
from winback.models.response import ResponseModel, randomized_campaigns

PARAMS = ResponseParams(n_estimators=80, prior_strength=20.0)
CATALOGUE = pd.DataFrame(
    {
        "offer_code": ["REMIND", "NEWARRIVALS", "DISC20", "FREESHIP"],
        "discount_depth": [0.0, 0.0, 0.2, 0.0],
        "fixed_cost": [0.0, 0.0, 0.0, 3.0],
    }
)
COST = {"email": 0.05, "phone": 2.0}


def priced(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.assign(value_if_won_back=120.0, avg_order_value=80.0)


def test_rewards_price_a_return_minus_contact_and_redeemed_discount() -> None:
    contacts = pd.DataFrame(
        {
            "customer_id": ["a", "b", "c", "d"],
            "step": [1, 1, 1, 1],
            "contact_date": pd.Timestamp("2026-01-01"),
            "offer_code": ["DISC20", "DISC20", "FREESHIP", "REMIND"],
            "channel": ["email", "email", "phone", None],
            "is_control": [False, False, False, True],
            "is_converted": [True, False, True, True],
        }
    )
    got = campaign_rewards(priced(contacts), CATALOGUE, COST).set_index("customer_id")
    assert got.loc["a", "reward"] == pytest.approx(120.0 - 0.05 - 0.2 * 80.0)
    assert got.loc["b", "reward"] == pytest.approx(-0.05)  # no order: no discount
    assert got.loc["c", "reward"] == pytest.approx(120.0 - 2.0 - 3.0)
    assert got.loc["d", "reward"] == pytest.approx(120.0)  # control: nothing spent
    assert got["group"].tolist() == ["treatment", "treatment", "treatment", "control"]


def test_a_return_is_valued_at_most_the_campaigns_high_quantile() -> None:
    """Winsorized reward: one account worth 100x the rest cannot decide the estimate."""
    contacts = pd.DataFrame(
        {
            "customer_id": [f"c{i}" for i in range(100)],
            "step": 1,
            "contact_date": pd.Timestamp("2026-01-01"),
            "offer_code": "REMIND",
            "channel": "email",
            "is_control": False,
            "is_converted": True,
            "avg_order_value": 80.0,
            "value_if_won_back": [100.0] * 99 + [10_000.0],
        }
    )
    cap = value_cap(contacts, 0.99)
    assert 100.0 < cap < 10_000.0
    assert cap == pytest.approx(np.quantile(contacts["value_if_won_back"], 0.99))
    assert value_cap(contacts, 1.0) == float("inf")
    got = campaign_rewards(contacts, CATALOGUE, COST, cap)
    assert got["reward_value"].max() == pytest.approx(cap)
    assert got["reward"].iloc[-1] == pytest.approx(cap - 0.05)
    assert got["reward"].iloc[0] == pytest.approx(100.0 - 0.05)  # below the cap: unchanged
    uncapped = campaign_rewards(contacts, CATALOGUE, COST)
    assert uncapped["reward"].iloc[-1] == pytest.approx(10_000.0 - 0.05)


def test_first_contact_of_each_customer_only() -> None:
    frame = pd.DataFrame(
        {
            "customer_id": ["a", "a", "b"],
            "step": [2, 1, 1],
            "contact_date": pd.to_datetime(["2026-01-15", "2026-01-01", "2026-01-01"]),
            "offer_code": ["NEWARRIVALS", "REMIND", "REMIND"],
        }
    )
    assert first_contacts(frame)["offer_code"].tolist() == ["REMIND", "REMIND"]


def test_the_policy_learned_before_the_campaign_beats_no_contact_and_a_blanket_discount() -> None:
    result = backtest_newest_campaign(
        priced(history(seed=4, n=12_000, campaigns=3)), PRIORS, PARAMS, CATALOGUE, COST,
        n_bootstrap=300, seed=1,
    )  # fmt: skip
    assert result is not None and result.learned
    assert result.campaign_id == "camp-2"
    dr = result.estimates[result.estimates["method"] == "dr"].set_index("policy")
    assert set(dr.index) == {POLICY_NAME, NONE_NAME} | {
        f"everyone: {o}" for o in CATALOGUE["offer_code"]
    }
    # The planted truth: reminders lift 10-16 points, DISC20 one point at a 16 discount.
    assert dr.loc[POLICY_NAME, "vs_baseline_ci_low"] > 0
    assert dr.loc[POLICY_NAME, "value"] > dr.loc["everyone: DISC20", "value"]
    assert result.policy_mix.get("REMIND", 0) > result.policy_mix.get("DISC20", 0)
    for _, row in result.estimates.iterrows():
        assert row["ci_low"] <= row["value"] <= row["ci_high"]
    # All values equal here: the cap is that value and changes nothing.
    assert result.value_cap == pytest.approx(120.0)


def test_the_policy_pays_for_the_channels_its_customer_could_have_been_drawn_on() -> None:
    """R11/R13: a customer reachable by email alone costs an email, not the mean of every
    channel of the campaign; one reachable on none of them now gets the campaign's mean."""
    first = priced(history(seed=2, n=30, campaigns=1)).head(3).assign(customer_id=["a", "b", "c"])
    first[["churn_probability", "median_gap_days"]] = (0.8, 60.0)
    priors_only = ResponseModel(None, None, [], [], [], {}, 0)
    reachable = pd.DataFrame(
        {"customer_id": ["a", "b", "b"], "channel": ["email", "email", "phone"]}
    )

    def profit(channels: list[str], who: pd.DataFrame | None) -> pd.Series:
        got = expected_offer_profit(
            priors_only, PRIORS, first, offers=["REMIND"], channels=channels,
            catalogue=CATALOGUE, channel_cost=COST, window_days=14.0, reachable=who,
        )  # fmt: skip
        return got["REMIND"]

    email, phone = profit(["email"], None), profit(["phone"], None)
    got = profit(["email", "phone"], reachable)
    assert got.iloc[0] == pytest.approx(email.iloc[0])
    assert got.iloc[1] == pytest.approx((email.iloc[1] + phone.iloc[1]) / 2)
    assert got.iloc[2] == pytest.approx((email.iloc[2] + phone.iloc[2]) / 2)
    assert got.iloc[0] - got.iloc[1] > 0.9  # half a call (2.0) less to pay, about
    # Without reachability every customer pays the campaign's mean channel.
    np.testing.assert_allclose(profit(["email", "phone"], None), (email + phone) / 2)


def test_a_campaign_without_control_is_not_the_one_judged() -> None:
    frame = priced(history(seed=5, n=3_000, campaigns=3))
    newest = frame["campaign_id"] == "camp-2"
    frame = frame[~(newest & frame["is_control"].astype(bool))]
    assert randomized_campaigns(frame).index.tolist() == ["camp-0", "camp-1"]
    result = backtest_newest_campaign(frame, PRIORS, PARAMS, CATALOGUE, COST, n_bootstrap=50)
    assert result is not None and result.campaign_id == "camp-1"
    no_control = frame.assign(is_control=False)
    assert backtest_newest_campaign(no_control, PRIORS, PARAMS, CATALOGUE, COST) is None
    assert np.isfinite(result.estimates["value"]).all()
