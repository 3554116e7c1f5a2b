"""What the product's decisions would have earned on the merchant's newest randomized
campaign, against blanket policies (everyone gets offer X; no one is contacted), by
off-policy evaluation (``backtest.py``: IPW, self-normalised IPW, doubly robust, with
paired BCa bootstrap intervals). R10: the campaign's control group and random offers are
what make this possible.

- **The campaign**: the newest randomized campaign of the history (one with a control
  group and treated contacts; ``int_winback_response_history``), each customer's first
  contact (later steps depend on the first one's outcome).
- **Reward** per customer, as the product prices a return: converted × the value of
  winning the customer back (``value_if_won_back``: the returning order and 12 months at
  the customer's own cadence, R2/R3) − the contact's cost (channel + the offer's fixed
  cost) − the discount redeemed (depth × average order value, if converted). The value
  is capped at the campaign's ``response.backtest_value_quantile`` (99th percentile by
  default), as experimentation platforms winsorize revenue metrics: with B2B accounts
  worth 100× a typical customer, half of a policy's expected profit can sit in the top
  1% of customers, a campaign of a few thousand sees a handful of their coin flips, and
  uncapped intervals miss the truth (measured: ``make bench-backtest``).
- **The product's policy**: the response model fitted on the history *before* that
  campaign (no look-ahead), pooled toward the merchant's priors as in the nightly; each
  customer gets the campaign offer with the highest expected profit, or no contact when
  none is profitable. The campaign drew each treated customer's channel at random among
  the ones the customer could be reached on, so the policy leaves the channel to that
  same draw: its expected profit is averaged over the campaign's channels the customer
  can be reached on (``int_winback_channels_reachable``: consent, R13; a visit only for
  B2B accounts, R11), or over all the campaign's channels for a customer reachable on
  none of them now. The propensity is the offer's. No budget applies: the policy
  contacts everyone it expects to profit from.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from winback.config import ResponseParams
from winback.models.backtest import LoggedCampaign, compare_policies
from winback.models.response import (
    HeldOut,
    Priors,
    ResponseModel,
    baseline_response,
    contact_response,
    customer_input,
    hold_out_newest,
)

POLICY_NAME = "winback policy"
NONE_NAME = "send none"


@dataclass(frozen=True)
class BacktestResult:
    """The backtest of one campaign: one row per policy × estimator (``estimates``) and
    how the product's policy would have treated the campaign's customers (``policy_mix``)."""

    campaign_id: str
    first_contact: pd.Timestamp
    customers: int
    learned: bool
    estimates: pd.DataFrame
    policy_mix: pd.Series
    # What the product's policy does with each customer of the campaign (customer_id ->
    # offer code or "none"), and those customers' first contacts with their rewards.
    policy: pd.Series | None = None
    first_contacts: pd.DataFrame | None = None
    # The cap on a return's value in the reward (module docstring).
    value_cap: float = float("inf")


def first_contacts(contacts: pd.DataFrame) -> pd.DataFrame:
    """Each customer's first contact of a campaign (by step, then date)."""
    ordered = contacts.sort_values(["customer_id", "step", "contact_date"], kind="stable")
    return ordered.drop_duplicates("customer_id", keep="first").reset_index(drop=True)


def value_cap(first: pd.DataFrame, quantile: float) -> float:
    """The cap on a return's value in the reward: the ``quantile`` of the campaign's
    ``value_if_won_back`` (infinite at 1.0: no cap)."""
    values = first["value_if_won_back"].fillna(0.0).to_numpy(float)
    if quantile >= 1.0 or len(values) == 0:
        return float("inf")
    return float(np.quantile(values, quantile))


def campaign_rewards(
    first: pd.DataFrame,
    catalogue: pd.DataFrame,
    channel_cost: dict[str, float],
    cap: float = float("inf"),
) -> pd.DataFrame:
    """``first`` with ``group``, ``converted``, ``reward_value`` (the value of a return,
    capped at ``cap``) and ``reward`` (module docstring)."""
    control = first["is_control"].astype(bool).to_numpy()
    converted = first["is_converted"].astype(bool).to_numpy()
    offers = catalogue.set_index("offer_code")
    depth = offers["discount_depth"].reindex(first["offer_code"]).fillna(0.0).to_numpy(float)
    fixed = offers["fixed_cost"].reindex(first["offer_code"]).fillna(0.0).to_numpy(float)
    per_contact = first["channel"].map(channel_cost).fillna(0.0).to_numpy(float)
    order_value = first["avg_order_value"].fillna(0.0).to_numpy(float)
    value = np.minimum(first["value_if_won_back"].fillna(0.0).to_numpy(float), cap)
    cost = np.where(control, 0.0, per_contact + fixed)
    discount = np.where(control | ~converted, 0.0, depth * order_value)
    return first.assign(
        group=np.where(control, "control", "treatment"),
        converted=converted.astype(int),
        reward_value=value,
        reward=converted * value - cost - discount,
    )


def expected_offer_profit(
    model: ResponseModel,
    priors: Priors,
    first: pd.DataFrame,
    *,
    offers: list[str],
    channels: list[str],
    catalogue: pd.DataFrame,
    channel_cost: dict[str, float],
    window_days: float,
    reachable: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Per customer (rows of ``first``) and offer: the expected profit of one contact with
    that offer, the channel drawn as the campaign drew it: the mean over the ``channels``
    the customer can be reached on (``reachable``: customer_id, channel; None or none of
    them: over all ``channels``)."""
    can = _reachable(first, channels, reachable)
    x = customer_input(model, first)  # once for every offer and channel
    base = baseline_response(model, first, 1, window_days, x)
    table = catalogue.set_index("offer_code")
    value = first["value_if_won_back"].fillna(0.0).to_numpy(float)
    order_value = first["avg_order_value"].fillna(0.0).to_numpy(float)
    out = {}
    for offer in offers:
        depth = float(table["discount_depth"].get(offer, 0.0))
        fixed = float(table["fixed_cost"].get(offer, 0.0))
        profits = []
        for channel in channels:
            got = contact_response(
                model, priors, first, offer=offer, channel=channel, step=1, baseline=base, x=x
            )
            profits.append(
                got.uplift * value
                - (channel_cost.get(channel, 0.0) + fixed)
                - got.treated * depth * order_value
            )
        per_channel = np.column_stack(profits)
        out[offer] = (per_channel * can).sum(axis=1) / can.sum(axis=1)
    return pd.DataFrame(out, index=first.index)


def _reachable(
    first: pd.DataFrame, channels: list[str], reachable: pd.DataFrame | None
) -> np.ndarray:
    """Customers (rows of ``first``) × ``channels``: whether the campaign could have drawn
    the channel for the customer (all of them for a customer reachable on none)."""
    can = np.zeros((len(first), len(channels)), dtype=bool)
    if reachable is not None and len(reachable):
        row = pd.Index(first["customer_id"].to_numpy()).get_indexer(reachable["customer_id"])
        col = pd.Index(channels).get_indexer(reachable["channel"].astype(str).to_numpy())
        known = (row >= 0) & (col >= 0)
        can[row[known], col[known]] = True
    can[~can.any(axis=1)] = True
    return can


def backtest_newest_campaign(
    history: pd.DataFrame,
    priors: Priors,
    params: ResponseParams,
    catalogue: pd.DataFrame,
    channel_cost: dict[str, float],
    *,
    n_bootstrap: int = 500,
    seed: int = 0,
    alpha: float = 0.05,
    held_out: HeldOut | None = None,
    reachable: pd.DataFrame | None = None,
) -> BacktestResult | None:
    """The backtest of the newest randomized campaign (control group and treated
    contacts); None without one, or without a contact before it to learn from. The
    policy's model learns from the contacts before that campaign (the priors alone when
    there are too few). ``held_out``: :func:`hold_out_newest` of the same history, when
    the caller has it (the nightly validation fitted it). ``reachable``: the channels each
    customer can be reached on (customer_id, channel; :func:`expected_offer_profit`)."""
    held_out = held_out or hold_out_newest(history, params, priors)
    if held_out is None:
        return None
    campaign_id, first_contact, model = (
        held_out.campaign_id,
        held_out.first_contact,
        held_out.model,
    )
    first = first_contacts(history[held_out.mask])
    cap = value_cap(first, params.backtest_value_quantile)
    first = campaign_rewards(first, catalogue, channel_cost, cap)
    treated = first[first["group"] == "treatment"]
    offers = sorted(treated["offer_code"].dropna().astype(str).unique().tolist())
    channels = sorted(treated["channel"].dropna().astype(str).unique().tolist())
    profits = expected_offer_profit(
        model,
        priors,
        first,
        offers=offers,
        channels=channels,
        catalogue=catalogue,
        channel_cost=channel_cost,
        window_days=params.window_days,
        reachable=reachable,
    )
    best = profits.idxmax(axis=1)
    action = best.where(profits.max(axis=1) > 0, "none")
    policy = pd.Series(action.to_numpy(), index=first["customer_id"].to_numpy())
    policies: dict[str, str | pd.Series] = {POLICY_NAME: policy}
    policies |= {f"everyone: {offer}": offer for offer in offers}
    policies[NONE_NAME] = "none"
    estimates = compare_policies(
        LoggedCampaign.from_contacts(first),
        policies,
        baseline=NONE_NAME,
        n_bootstrap=n_bootstrap,
        seed=seed,
        alpha=alpha,
    )
    return BacktestResult(
        campaign_id=campaign_id,
        first_contact=first_contact,
        customers=len(first),
        learned=model.learned,
        estimates=estimates,
        policy_mix=action.value_counts().sort_index(),
        policy=policy,
        first_contacts=first,
        value_cap=cap,
    )
