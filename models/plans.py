"""Every contact plan a win-back candidate could get, valued with the response model
(R8, R9, R11, R12), ready for the budget allocation (``models/allocation.py``).

A plan is a sequence of offers sent on one channel, one contact window apart:

- one contact with any offer the candidate is eligible for (R8: it answers a likely
  reason, R9: within the tier's discount cap; decided in SQL,
  ``int_winback_offers_eligible``);
- the R12 sequence: reminder, then new arrivals, then a personal offer (cut after 2 or 3);
- when the shop was at fault (logistics, quality, service attitude; R8): the fix or the
  apology first, then new arrivals — never a cheerful reminder first.

Every channel the candidate consented to and all the plan's offers allow is tried (R11:
the channel is chosen by expected profit; the merchant's channel ranks enter only as
priors of the response model). For a plan with per-contact chances ``q_k`` of an order in
contact k's window (with the contact) and ``b_k`` (without), value ``V`` of a won-back
customer (``value_if_retained_12m``), order value ``A``:

- reached at contact k (no order yet): ``s_k = Π_{j<k} (1 − q_j)``
- incremental return: ``Π_k (1 − b_k) − Π_k (1 − q_k)``; gain = that × V
- expected spend (the budget's unit): ``Σ_k s_k · (channel cost + offer fixed cost)
  + Σ_k s_k · q_k · discount depth_k · A`` (a discount is redeemed by whoever orders in
  its window, including those who would have anyway)
- committed cost: every contact sent and every discount redeemed once
- expected profit = gain − expected spend.

Everything is vectorised over (candidate, sequence, channel): the response model predicts
once per (offer, channel, step) for the candidates who can get it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from winback.models.allocation import PlanSet
from winback.models.response import (
    Priors,
    ResponseModel,
    baseline_response,
    contact_response,
    customer_input,
)
from winback.models.response_priors import PriorRows

# Candidates valued at a time (bounds the memory of the response grid).
CHUNK_CANDIDATES = 50_000
NO_OFFER = -1


@dataclass(frozen=True)
class PlanRules:
    """The product's plan rules (R12) in the merchant's offer codes."""

    reminder_offer: str
    new_arrivals_offer: str
    window_days: float


@dataclass
class ValuedPlans:
    """Every plan of every candidate, valued: the allocation's input, and what the list
    shows of the chosen one."""

    plan_set: PlanSet
    offer_codes: list[str]
    channel_names: list[str]
    candidate: np.ndarray  # candidate position of each plan
    channel: np.ndarray  # index into channel_names
    offers: np.ndarray  # plans × 3 indices into offer_codes, NO_OFFER after the last
    incremental_return: np.ndarray
    expected_gain: np.ndarray
    expected_contacts: np.ndarray
    learned_weight: np.ndarray  # share of the response taken from history (0 = priors)

    def frame(self, rows: np.ndarray) -> pd.DataFrame:
        """The plans at ``rows`` as a table (``rows`` may be -1: no plan → nulls)."""
        take = rows >= 0
        safe = np.where(take, rows, 0)
        empty = len(self.candidate) == 0

        def pick(values: np.ndarray) -> np.ndarray:
            out = np.full(len(rows), None, dtype=object)
            if not empty:
                out[take] = np.asarray(values)[safe][take]
            return out

        codes = np.array([*self.offer_codes, None], dtype=object)
        names = np.array(self.channel_names, dtype=object)
        offers = self.offers[safe] if not empty else np.full((len(rows), 3), NO_OFFER)
        frame = pd.DataFrame(
            {
                "channel": pick(names[self.channel]) if not empty else pick(np.zeros(0)),
                "planned_contacts": pick((self.offers >= 0).sum(axis=1)),
                "step_1_offer": np.where(take, codes[offers[:, 0]], None),
                "step_2_offer": np.where(take, codes[offers[:, 1]], None),
                "step_3_offer": np.where(take, codes[offers[:, 2]], None),
                "incremental_return": pick(self.incremental_return),
                "expected_gain": pick(self.expected_gain),
                "expected_cost": pick(self.plan_set.spend),
                "expected_profit": pick(self.plan_set.profit),
                "committed_cost": pick(self.plan_set.committed),
                "expected_contacts": pick(self.expected_contacts),
                "learned_weight": pick(self.learned_weight),
            }
        )
        for name in frame.columns:
            if name not in {"channel", "step_1_offer", "step_2_offer", "step_3_offer"}:
                frame[name] = pd.to_numeric(frame[name])
        return frame


def sequences(
    offer_codes: list[str], rules: PlanRules
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every offer sequence the rules allow (R8, R12), as a (sequences × 3) array of offer
    indices (NO_OFFER after the last), and for each whether it is allowed for a candidate
    whose reason is the shop's fault, and for one whose is not."""
    index = {code: i for i, code in enumerate(offer_codes)}
    reminder = index.get(rules.reminder_offer)
    arrivals = index.get(rules.new_arrivals_offer)
    generic = {reminder, arrivals}
    rows: list[tuple[int, int, int]] = []
    for_fault: list[bool] = []
    for_others: list[bool] = []
    for i in range(len(offer_codes)):
        rows.append((i, NO_OFFER, NO_OFFER))
        for_fault.append(True)
        for_others.append(True)
    specific = [i for i in range(len(offer_codes)) if i not in generic]
    if arrivals is not None:
        for i in specific:  # R8: the fix or the apology first, then new arrivals
            rows.append((i, arrivals, NO_OFFER))
            for_fault.append(True)
            for_others.append(False)
    if reminder is not None and arrivals is not None:  # R12: reminder → new arrivals → offer
        rows.append((reminder, arrivals, NO_OFFER))
        for_fault.append(False)
        for_others.append(True)
        for i in specific:
            rows.append((reminder, arrivals, i))
            for_fault.append(False)
            for_others.append(True)
    return np.array(rows, dtype=np.int64), np.array(for_fault), np.array(for_others)


def value_plans(
    candidates: pd.DataFrame,
    eligible: pd.DataFrame,
    channels: pd.DataFrame,
    catalogue: pd.DataFrame,
    model: ResponseModel,
    priors: Priors,
    rules: PlanRules,
) -> ValuedPlans:
    """Every plan of every candidate (the rows of ``candidates``, in order), valued.

    ``candidates``: customer_id, is_company_fault, value_if_retained_12m,
    avg_order_value, churn_probability, median_gap_days, reason confidences and the
    features the response model reads; ``eligible``: customer_id, offer_code (R8/R9);
    ``channels``: customer_id, channel, cost_per_contact (consented, R13);
    ``catalogue``: offer_code, discount_depth, fixed_cost, channels (pipe-separated)."""
    offer_codes = catalogue["offer_code"].astype(str).tolist()
    channel_names = sorted(channels["channel"].astype(str).unique().tolist())
    seqs, for_fault, for_others = sequences(offer_codes, rules)
    allowed_channel = np.array(
        [
            [name in str(spec).split("|") for name in channel_names]
            for spec in catalogue["channels"]
        ],
        dtype=bool,
    ).reshape(len(offer_codes), len(channel_names))
    # A sequence may use a channel when every offer in it allows the channel.
    seq_channel = np.ones((len(seqs), len(channel_names)), dtype=bool)
    for k in range(3):
        has = seqs[:, k] >= 0
        seq_channel[has] &= allowed_channel[seqs[has, k]]
    fixed = catalogue["fixed_cost"].to_numpy(dtype="float64")
    depth = catalogue["discount_depth"].to_numpy(dtype="float64")
    # Candidate positions of the eligibility and consent rows, once (rows of unknown
    # customers are dropped), sorted so each chunk takes a contiguous slice.
    position = pd.Index(candidates["customer_id"].to_numpy())
    eligible = _positioned(eligible, position)
    channels = _positioned(channels, position)
    parts = []
    for start in range(0, len(candidates), CHUNK_CANDIDATES):
        chunk = candidates.iloc[start : start + CHUNK_CANDIDATES]
        stop = start + len(chunk)
        parts.append(
            _value_chunk(
                chunk, start, _rows_between(eligible, start, stop),
                _rows_between(channels, start, stop), offer_codes, channel_names, seqs,
                for_fault, for_others, seq_channel, fixed, depth, model, priors, rules,
            )
        )  # fmt: skip
    return _concat(parts, len(candidates), offer_codes, channel_names)


def _positioned(frame: pd.DataFrame, position: pd.Index) -> pd.DataFrame:
    """``frame`` with ``pos``, its customer's candidate position, sorted by it."""
    pos = position.get_indexer(frame["customer_id"].to_numpy())
    kept = frame.loc[pos >= 0].assign(pos=pos[pos >= 0])
    return kept.sort_values("pos", kind="stable").reset_index(drop=True)


def _rows_between(frame: pd.DataFrame, start: int, stop: int) -> pd.DataFrame:
    """The rows of a :func:`_positioned` frame whose position is in [start, stop)."""
    pos = frame["pos"].to_numpy()
    return frame.iloc[np.searchsorted(pos, start) : np.searchsorted(pos, stop)]


def _value_chunk(
    chunk: pd.DataFrame,
    start: int,
    eligible: pd.DataFrame,
    channels: pd.DataFrame,
    offer_codes: list[str],
    channel_names: list[str],
    seqs: np.ndarray,
    for_fault: np.ndarray,
    for_others: np.ndarray,
    seq_channel: np.ndarray,
    fixed: np.ndarray,
    depth: np.ndarray,
    model: ResponseModel,
    priors: Priors,
    rules: PlanRules,
) -> dict[str, np.ndarray]:
    n, n_offers, n_channels = len(chunk), len(offer_codes), len(channel_names)
    # Candidate × offer eligibility, candidate × channel consent (and its cost); the
    # rows are this chunk's (``pos`` from :func:`_positioned`).
    can_offer = np.zeros((n, n_offers), dtype=bool)
    offer = pd.Index(offer_codes).get_indexer(eligible["offer_code"].astype(str).to_numpy())
    known = offer >= 0
    can_offer[eligible["pos"].to_numpy()[known] - start, offer[known]] = True
    cost = np.full((n, n_channels), np.nan)
    channel = pd.Index(channel_names).get_indexer(channels["channel"].astype(str).to_numpy())
    cost[channels["pos"].to_numpy() - start, channel] = channels["cost_per_contact"].to_numpy(
        dtype="float64"
    )
    consented = np.isfinite(cost)
    # Which sequences each candidate may get: every offer eligible, the fault rule (R8).
    fault = chunk["is_company_fault"].fillna(False).astype(bool).to_numpy()
    seq_ok = np.where(fault[:, None], for_fault[None, :], for_others[None, :])
    for k in range(3):
        has = seqs[:, k] >= 0
        seq_ok[:, has] &= can_offer[:, seqs[has, k]]
    # Plans: (candidate, sequence, channel) triples that are allowed.
    valid = seq_ok[:, :, None] & consented[:, None, :] & seq_channel[None, :, :]
    cand, seq, chan = np.nonzero(valid)
    if len(cand) == 0:
        return {}
    # The response grid: P(order in the window) per (step, offer, channel, candidate),
    # predicted only where some plan needs it.
    response = np.full((3, n_offers, n_channels, n), np.nan, dtype="float64")
    weight = np.zeros((3, n_offers, n_channels), dtype="float64")
    baseline = np.zeros((3, n), dtype="float64")
    x = customer_input(model, chunk)
    pooled = x is not None and model.pools_learned_uplift
    # What the priors read of each candidate, as numbers (cheap to take rows of).
    prior_input = PriorRows.of(chunk)
    for k in range(3):
        has = seqs[seq, k] >= 0
        if not has.any():
            continue
        baseline[k] = baseline_response(model, chunk, k + 1, rules.window_days, x)
        # The (offer, channel) cells step k + 1 needs, each with its candidates.
        needed = np.zeros((n_offers, n_channels, n), dtype=bool)
        needed[seqs[seq[has], k], chan[has], cand[has]] = True
        for o, c in zip(*np.nonzero(needed.any(axis=2)), strict=True):
            who = np.flatnonzero(needed[o, c])
            got = contact_response(
                model,
                priors,
                prior_input.rows(who),
                offer=offer_codes[int(o)],
                channel=channel_names[int(c)],
                step=k + 1,
                baseline=baseline[k, who],
                x=x.rows(who) if pooled and x is not None else None,
            )
            response[k, o, c, who] = got.treated
            weight[k, o, c] = got.learned_weight
    value = chunk["value_if_retained_12m"].to_numpy(dtype="float64")[cand]
    order_value = np.nan_to_num(chunk["avg_order_value"].to_numpy(dtype="float64"))[cand]
    channel_cost = cost[cand, chan]
    m = len(cand)
    survive_treated, survive_base = np.ones(m), np.ones(m)
    spend, committed, contacts, learned = np.zeros(m), np.zeros(m), np.zeros(m), np.zeros(m)
    lengths = (seqs[seq] >= 0).sum(axis=1)
    for k in range(3):
        offer = seqs[seq, k]
        has = offer >= 0
        o = np.where(has, offer, 0)
        q = np.where(has, response[k, o, chan, cand], 0.0)
        b = np.where(has, baseline[k, cand], 0.0)
        reached = np.where(has, survive_treated, 0.0)
        contacts += reached
        spend += reached * (channel_cost + fixed[o]) * has + reached * q * depth[o] * order_value
        committed += np.where(has, channel_cost + fixed[o] + depth[o] * order_value, 0.0)
        learned += np.where(has, weight[k, o, chan], 0.0)
        survive_treated *= 1.0 - q
        survive_base *= 1.0 - b
    incremental = survive_base - survive_treated
    gain = incremental * value
    return {
        "candidate": cand + start,
        "channel": chan,
        "offers": seqs[seq],
        "incremental_return": incremental,
        "expected_gain": gain,
        "expected_contacts": contacts,
        "learned_weight": learned / lengths,
        "profit": gain - spend,
        "spend": spend,
        "committed": committed,
    }


def _concat(
    parts: list[dict[str, np.ndarray]],
    candidates: int,
    offer_codes: list[str],
    channel_names: list[str],
) -> ValuedPlans:
    parts = [p for p in parts if p]
    if parts:
        joined = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    else:
        joined = {
            "candidate": np.zeros(0, dtype=np.int64),
            "channel": np.zeros(0, dtype=np.int64),
            "offers": np.zeros((0, 3), dtype=np.int64),
            **{
                k: np.zeros(0)
                for k in (
                    "incremental_return", "expected_gain", "expected_contacts",
                    "learned_weight", "profit", "spend", "committed",
                )
            },
        }  # fmt: skip
    # np.nonzero walks candidates in order within a chunk, and chunks come in order.
    counts = np.bincount(joined["candidate"], minlength=candidates)
    offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    return ValuedPlans(
        plan_set=PlanSet(offsets, joined["profit"], joined["spend"], joined["committed"]),
        offer_codes=offer_codes,
        channel_names=channel_names,
        candidate=joined["candidate"],
        channel=joined["channel"],
        offers=joined["offers"],
        incremental_return=joined["incremental_return"],
        expected_gain=joined["expected_gain"],
        expected_contacts=joined["expected_contacts"],
        learned_weight=joined["learned_weight"],
    )
