"""The truth evaluator: what a win-back plan would really bring in a demo shop.

Benchmarks and tests value the product's plans with the world that generated the shop
(``truth/world.json``) and each customer's state at as_of (``truth/response_truth.parquet``);
the product never imports this module.

A plan is one row of ``customer_id, channel, offer_1, offer_2, offer_3`` (``offer_2`` and
``offer_3`` null for shorter plans; a null offer means no contact at that step). Contact
``k`` goes out at as_of + 14 (k - 1) days on the plan's channel, unless the customer came
back earlier (a customer who returned leaves the sequence, R12). Contact by contact, the
world's :func:`~winback.demo.world.contact_response` gives u_k, P(the contact brings the
customer back within its 14-day window), with fatigue from the plan's earlier contacts and
from the customer's own recent win-back contacts (those still inside the world's fatigue
window on the day of contact k, R12/R13), the dispute penalty (R7; the dispute state is
held at its as_of value), the channel, segment and age-band effects (R11) and the
price-hunter row (R6). Unknown offer codes and channels, and visits to B2C customers,
have no effect beyond the baseline (u = 0; the contact still counts as sent).

With p0 = P(paid order within 14 days without contact) (``p_return_if_not_contacted``,
the convention of ``offer_response_truth``: those who would return anyway do so in the
first window):

* ``p_return = 1 - (1 - p0) × prod_k (1 - u_k)``, ``incremental_return`` = that - p0;
* ``p_sent_k``: 1 for the first contact, ``(1 - p0) × prod_{j<k} (1 - u_j)`` later;
  ``expected_contacts`` = their sum over the plan's contacts;
* ``p_redeem_k``: P(an order in contact k's window while its offer is valid): responders,
  plus in the first window those who would have bought anyway.

A single contact's ``p_return`` is exactly the ``p_return__<OFFER>__<channel>`` column of
``response_truth`` (one definition).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.compute as pc
import pyarrow.parquet as pq

from winback.demo.world import (
    AGE_BANDS,
    CHANNELS,
    ROWS,
    contact_response,
    read_world,
)

PLAN_SPACING_DAYS = 14.0
MAX_CONTACTS = 3
SURVIVAL_SHARE_OF_YEAR = 0.71
_STATE_COLUMNS = [
    "customer_id",
    "response_row",
    "is_b2b",
    "age_band",
    "open_dispute_at_as_of",
    "recent_contact_ages_days",
    "expected_order_value",
    "p_return_if_not_contacted",
]


def true_return_value(truth: pd.DataFrame) -> pd.Series:
    """V: the margin a return brings over the next year beyond what comes anyway.

    The true margin of an order × (1 + 0.71 × orders a year at the customer's own
    cadence, at most 26) − the true future value the customer brings anyway (at least one
    order's margin); 0.71 is the mean share of a year a B2C customer survives at ~6.5%
    a month (R2). ``truth`` is ``customers_truth`` (copied from
    ``benchmarks/winback_policy_bench.py``).
    """
    margin = truth["expected_order_margin"].astype(float)
    orders = np.minimum(365.0 / truth["cadence_days"].astype(float), 26.0)
    won = margin * (1.0 + SURVIVAL_SHARE_OF_YEAR * orders)
    extra = won - truth["future_value_12m"].astype(float)
    return pd.Series(np.where(margin > 0, np.maximum(extra, margin), won), index=truth.index)


def plan_outcomes(truth_dir: Path, plans: pd.DataFrame) -> pd.DataFrame:
    """Per plan row: ``p_return_base``, ``p_return``, ``incremental_return``,
    ``expected_contacts``, ``p_sent_k`` and ``p_redeem_k`` (k = 1..3), next to the plan's
    own columns (same index)."""
    out, _ = _outcomes(Path(truth_dir), plans)
    return out


def realised_profit(
    truth_dir: Path,
    plans: pd.DataFrame,
    channel_cost: dict[str, float],
    catalogue: pd.DataFrame,
) -> pd.DataFrame:
    """:func:`plan_outcomes` plus money: ``value_of_return`` (V, :func:`true_return_value`),
    ``gain`` = incremental_return × V, ``contact_cost`` = Σ_k p_sent_k × (channel cost +
    the offer's fixed cost), ``discount_cost`` = Σ_k discount depth × the customer's true
    order value × p_redeem_k, and ``profit`` = gain − contact_cost − discount_cost.

    ``catalogue`` has ``offer_code, discount_depth, fixed_cost`` (offers missing from it
    cost nothing); ``channel_cost`` must name every channel a plan sends a contact on. The
    true order value is the expected basket behind ``customers_truth.expected_order_margin``
    (``response_truth.expected_order_value``). A plan without contacts has profit 0.
    """
    truth_dir = Path(truth_dir)
    out, state = _outcomes(truth_dir, plans)
    sends = np.zeros(len(out), dtype=bool)
    for k in range(1, MAX_CONTACTS + 1):
        sends |= out[f"p_sent_{k}"].to_numpy() > 0
    channels = out["channel"].astype(object)
    missing = sorted({str(c) for c in channels[sends]} - set(channel_cost))
    if missing:
        raise ValueError(f"no cost given for channel(s) {missing}")
    per_contact = channels.map(lambda c: channel_cost.get(c, 0.0)).astype(float).to_numpy()
    cat = catalogue.set_index("offer_code")
    truth = pd.read_parquet(
        truth_dir / "customers_truth.parquet",
        columns=["customer_id", "expected_order_margin", "cadence_days", "future_value_12m"],
    ).set_index("customer_id")
    value = true_return_value(truth).reindex(out["customer_id"]).to_numpy()
    order_value = state["expected_order_value"]
    contact_cost = np.zeros(len(out))
    discount_cost = np.zeros(len(out))
    for k in range(1, MAX_CONTACTS + 1):
        codes = _offers(plans, k)
        fixed = cat["fixed_cost"].reindex(codes).fillna(0.0).to_numpy(dtype=float)
        depth = cat["discount_depth"].reindex(codes).fillna(0.0).to_numpy(dtype=float)
        sent = out[f"p_sent_{k}"].to_numpy()
        contact_cost += sent * (per_contact + fixed)
        discount_cost += depth * order_value * out[f"p_redeem_{k}"].to_numpy()
    gain = out["incremental_return"].to_numpy() * value
    return out.assign(
        value_of_return=value,
        gain=gain,
        contact_cost=contact_cost,
        discount_cost=discount_cost,
        profit=gain - contact_cost - discount_cost,
    )


def _offers(plans: pd.DataFrame, k: int) -> np.ndarray:
    """Offer codes of contact ``k`` (None where there is none)."""
    column = f"offer_{k}"
    if column not in plans.columns:
        return np.full(len(plans), None, dtype=object)
    values = plans[column].astype(object).to_numpy(copy=True)
    values[pd.isna(values)] = None
    return values


def _outcomes(truth_dir: Path, plans: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
    world = read_world(truth_dir / "world.json")
    table = pq.read_table(truth_dir / "response_truth.parquet", columns=_STATE_COLUMNS)
    ids = pd.Index(table.column("customer_id").to_pandas())
    pos = ids.get_indexer(plans["customer_id"])
    if (pos < 0).any():
        unknown = plans["customer_id"].to_numpy()[pos < 0][:5].tolist()
        raise ValueError(f"customers not in the shop's truth: {unknown}")

    def column(name: str) -> np.ndarray:
        return table.column(name).to_numpy()[pos]

    row = pd.Categorical(column("response_row"), categories=ROWS).codes
    band = pd.Categorical(column("age_band"), categories=AGE_BANDS).codes
    is_b2b = column("is_b2b").astype(bool)
    dispute = column("open_dispute_at_as_of").astype(bool)
    p0 = column("p_return_if_not_contacted").astype(np.float64)
    ages = table.column("recent_contact_ages_days").combine_chunks()
    age = pc.list_flatten(ages).to_numpy()
    owner = pc.list_parent_indices(ages).to_numpy()
    lookup = {c: i for i, c in enumerate(CHANNELS)}
    channel = np.array([lookup.get(c, -1) for c in plans["channel"].astype(object)], np.int64)
    window = world.fatigue_window_days

    n = len(plans)
    has = [pd.notna(_offers(plans, k)) for k in range(1, MAX_CONTACTS + 1)]
    stay_away = 1.0 - p0
    prod = np.ones(n)
    expected = np.zeros(n)
    result: dict[str, np.ndarray] = {}
    for k in range(1, MAX_CONTACTS + 1):
        lag = PLAN_SPACING_DAYS * (k - 1)
        # The customer's own contacts still inside the window on the day of contact k,
        # plus the plan's earlier contacts (all sent if the customer is still away).
        own = np.bincount(owner[age + lag < window], minlength=len(ids))[pos]
        earlier = sum(
            (has[j - 1] & (PLAN_SPACING_DAYS * (k - j) < window)).astype(np.int64)
            for j in range(1, k)
        )
        u = contact_response(
            world,
            reason_row=row,
            offer=world.offer_index(_offers(plans, k)),
            channel=channel,
            is_b2b=is_b2b,
            age_band=band,
            recent_contacts=own + earlier,
            open_dispute=dispute,
            step=k,
        )
        u = np.where(has[k - 1], u, 0.0)
        sent = np.where(has[k - 1], 1.0 if k == 1 else stay_away, 0.0)
        redeem = np.where(has[k - 1], (p0 if k == 1 else 0.0) + stay_away * u, 0.0)
        expected += sent
        result[f"p_sent_{k}"] = sent
        result[f"p_redeem_{k}"] = redeem
        stay_away = stay_away * (1.0 - u)
        prod = prod * (1.0 - u)
    base_cols = [c for c in ("customer_id", "channel") if c in plans.columns]
    base_cols += [f"offer_{k}" for k in range(1, MAX_CONTACTS + 1) if f"offer_{k}" in plans]
    out = plans[base_cols].copy()
    out["p_return_base"] = p0
    out["p_return"] = 1.0 - stay_away
    out["incremental_return"] = (1.0 - p0) * (1.0 - prod)
    out["expected_contacts"] = expected
    for k in range(1, MAX_CONTACTS + 1):
        out[f"p_sent_{k}"] = result[f"p_sent_{k}"]
    for k in range(1, MAX_CONTACTS + 1):
        out[f"p_redeem_{k}"] = result[f"p_redeem_{k}"]
    state = {"expected_order_value": column("expected_order_value").astype(np.float64)}
    return out, state
