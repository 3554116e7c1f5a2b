"""Budget-optimal allocation of win-back plans: a Lagrangian multiple-choice knapsack.

Every candidate has a handful of plans (offer sequence × channel × number of contacts),
each with an expected profit and an expected spend, and may also get no contact (profit
0, spend 0). The list should maximise the total expected profit subject to the budget:
the expected spend (contacts sent + discounts redeemed) of everyone contacted, and, when
the merchant caps it too, their committed cost (every planned contact and every discount
redeemed once).

For a price ``λ`` per unit of spend, each candidate independently takes the plan with
the highest ``profit − λ × spend`` (no contact if none is positive). The spend of those
choices falls as ``λ`` rises, so bisection finds the smallest ``λ`` whose choices fit the
budget; the candidates whose choice differs between that ``λ`` and a slightly lower one
are then moved to their richer plan, best extra profit per extra spend first, while the
budget allows (the classic greedy completion of the Lagrangian relaxation; its gap to
the optimum is at most one candidate's plan), and what is still left buys the upgrades
that fit it, best extra profit per extra spend first. Plans are stored flat, grouped by
candidate (``offsets``), so each step is a few vectorised passes over all plans: ~10M
plans take seconds.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

BISECTION_STEPS = 60
# Bisection stops once λ is known to this relative precision; the greedy completion
# below then spends what the last step leaves (its gap is at most one candidate's plan).
LAMBDA_TOLERANCE = 1e-7


@dataclass(frozen=True)
class PlanSet:
    """Every plan of every candidate, flat and grouped by candidate.

    Candidate ``i``'s plans are rows ``offsets[i]:offsets[i + 1]``; a candidate may have
    none (``offsets[i] == offsets[i + 1]``)."""

    offsets: np.ndarray  # int64, len = candidates + 1
    profit: np.ndarray  # expected profit (expected gain − expected spend)
    spend: np.ndarray  # expected spend: the budget's unit
    committed: np.ndarray  # committed cost: every contact and every discount once

    def __post_init__(self) -> None:
        n = len(self.profit)
        if not (len(self.spend) == len(self.committed) == n):
            raise ValueError("profit, spend and committed must have one value per plan")
        if len(self.offsets) == 0 or self.offsets[0] != 0 or self.offsets[-1] != n:
            raise ValueError("offsets must start at 0 and end at the number of plans")
        if np.any(np.diff(self.offsets) < 0):
            raise ValueError("offsets must not decrease")
        if np.any(self.spend < 0) or np.any(self.committed < 0):
            raise ValueError("spend and committed cost cannot be negative")

    @property
    def candidates(self) -> int:
        return len(self.offsets) - 1

    def owner(self) -> np.ndarray:
        """The candidate of each plan."""
        return np.repeat(np.arange(self.candidates), np.diff(self.offsets))

    @cached_property
    def groups(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The candidates with plans, where their plans start, and each plan's position
        among those candidates: computed once for the bisection's many passes."""
        sizes = np.diff(self.offsets)
        has = np.flatnonzero(sizes > 0)
        return has, self.offsets[:-1][has], np.repeat(np.arange(len(has)), sizes[has])


@dataclass(frozen=True)
class Allocation:
    """The chosen plan per candidate (-1: no contact) and what the choice costs."""

    choice: np.ndarray  # plan row per candidate, -1 for no contact
    lagrange_multiplier: float  # λ: the profit a unit of budget must earn at the margin
    expected_profit: float
    expected_spend: float
    committed_cost: float
    budget: float
    committed_cap: float | None

    @property
    def contacted(self) -> int:
        return int((self.choice >= 0).sum())


def _rows(n: int) -> np.ndarray:
    return np.arange(n, dtype=np.int64)


def best_plans(plans: PlanSet, lam: float, allowed: np.ndarray | None = None) -> np.ndarray:
    """Each candidate's plan with the highest ``profit − lam × spend`` if positive, else
    -1 (ties: the lower plan row, the caller's order). ``allowed`` (per candidate)
    forces -1 where False. Linear in the plans: candidates' plans are contiguous."""
    choice = np.full(plans.candidates, -1, dtype=np.int64)
    if len(plans.profit) == 0:
        return choice
    score = plans.profit - lam * plans.spend
    has, starts, group = plans.groups
    top = np.maximum.reduceat(score, starts)
    last = len(score)
    best = np.minimum.reduceat(np.where(score == top[group], _rows(last), last), starts)
    take = top > 0
    choice[has[take]] = best[take]
    if allowed is not None:
        choice[~allowed] = -1
    return choice


def _totals(plans: PlanSet, choice: np.ndarray) -> tuple[float, float, float]:
    rows = choice[choice >= 0]
    return (
        float(plans.profit[rows].sum()),
        float(plans.spend[rows].sum()),
        float(plans.committed[rows].sum()),
    )


def allocate(
    plans: PlanSet,
    budget: float,
    *,
    committed_cap: float | None = None,
    allowed: np.ndarray | None = None,
) -> Allocation:
    """The plans that maximise expected profit with expected spend ≤ ``budget`` (and
    committed cost ≤ ``committed_cap`` when given). ``allowed`` marks the candidates who
    may be contacted at all (consent, exclusions and the control group are decided
    before and are never traded for profit)."""
    if budget < 0:
        raise ValueError("the budget cannot be negative")

    def fits(choice: np.ndarray) -> bool:
        _, spend, committed = _totals(plans, choice)
        return spend <= budget + 1e-9 and (
            committed_cap is None or committed <= committed_cap + 1e-9
        )

    unconstrained = best_plans(plans, 0.0, allowed)
    if fits(unconstrained):
        return _result(plans, unconstrained, 0.0, budget, committed_cap)
    # Bracket λ: at λ_hi even the richest plan per unit of spend is not worth buying.
    ratio = plans.profit / np.maximum(plans.spend, 1e-12)
    lam_lo, lam_hi = 0.0, float(max(ratio.max(initial=0.0), 0.0)) + 1.0
    while not fits(best_plans(plans, lam_hi, allowed)):  # committed cost of free plans
        lam_hi *= 2.0
        if lam_hi > 1e12:
            break
    live = _Live(plans)
    for _ in range(BISECTION_STEPS):
        if lam_hi - lam_lo <= LAMBDA_TOLERANCE * lam_hi:
            break
        mid = 0.5 * (lam_lo + lam_hi)
        if fits(live.best(mid, allowed)):
            lam_hi = mid
        else:
            lam_lo = mid
            live.prune(lam_lo)
    feasible = live.best(lam_hi, allowed)
    richer = live.best(lam_lo, allowed)
    completed = _complete(plans, feasible, richer, budget, committed_cap)
    return _result(
        plans,
        _fill(plans, completed, budget, committed_cap, allowed),
        lam_hi,
        budget,
        committed_cap,
    )


class _Live:
    """The plans that can still be chosen while the bisection narrows λ: a plan with
    ``profit − λ_lo × spend ≤ 0`` is never a candidate's choice at any λ ≥ λ_lo (its
    score only falls as λ rises), so each raise of λ_lo drops such plans and later passes
    read fewer. The choices are the same as over every plan (ties keep plan order)."""

    def __init__(self, plans: PlanSet) -> None:
        self.plans = plans
        self.rows = np.arange(len(plans.profit), dtype=np.int64)  # rows in the full set

    def best(self, lam: float, allowed: np.ndarray | None) -> np.ndarray:
        choice = best_plans(self.plans, lam, allowed)
        return np.where(choice >= 0, self.rows[np.maximum(choice, 0)], -1)

    def prune(self, lam: float) -> None:
        keep = self.plans.profit - lam * self.plans.spend > 0
        if keep.all():
            return
        has, _, group = self.plans.groups
        counts = np.bincount(has[group][keep], minlength=self.plans.candidates)
        self.plans = PlanSet(
            np.concatenate([[0], np.cumsum(counts)]).astype(np.int64),
            self.plans.profit[keep],
            self.plans.spend[keep],
            self.plans.committed[keep],
        )
        self.rows = self.rows[keep]


def _complete(
    plans: PlanSet,
    feasible: np.ndarray,
    richer: np.ndarray,
    budget: float,
    committed_cap: float | None,
) -> np.ndarray:
    """Move candidates from their feasible choice to their richer one, best extra profit
    per extra spend first, while the budget (and the cap) allow."""
    choice = feasible.copy()
    differs = np.flatnonzero(feasible != richer)
    if len(differs) == 0:
        return choice

    def value(rows: np.ndarray, array: np.ndarray) -> np.ndarray:
        return np.where(rows >= 0, array[np.maximum(rows, 0)], 0.0)

    extra_profit = value(richer[differs], plans.profit) - value(feasible[differs], plans.profit)
    extra_spend = value(richer[differs], plans.spend) - value(feasible[differs], plans.spend)
    extra_committed = value(richer[differs], plans.committed) - value(
        feasible[differs], plans.committed
    )
    order = np.argsort(-(extra_profit / np.maximum(extra_spend, 1e-12)), kind="stable")
    _, spend, committed = _totals(plans, choice)
    for k in order:
        if extra_profit[k] <= 0:
            continue
        new_spend = spend + extra_spend[k]
        new_committed = committed + extra_committed[k]
        if new_spend > budget + 1e-9:
            continue
        if committed_cap is not None and new_committed > committed_cap + 1e-9:
            continue
        choice[differs[k]] = richer[differs[k]]
        spend, committed = new_spend, new_committed
    return choice


FILL_PASSES = 20


def _fill(
    plans: PlanSet,
    choice: np.ndarray,
    budget: float,
    committed_cap: float | None,
    allowed: np.ndarray | None,
) -> np.ndarray:
    """Spend what the completion leaves: the candidate that jumps next at the final λ
    may need more than is left while cheaper upgrades elsewhere would fit. Each pass
    offers every candidate its upgrade (a plan with more profit whose extra spend fits
    what is left) with the most extra profit per extra spend, takes them best ratio first
    while the budget allows, and stops when a pass takes none. Every move adds profit
    and stays within the budget (and the cap)."""
    choice = choice.copy()
    _, spend, committed = _totals(plans, choice)
    left = budget - spend
    cap_left = np.inf if committed_cap is None else committed_cap - committed
    if len(plans.profit) == 0 or left <= 1e-9 or cap_left <= 1e-9:
        return choice
    owner = plans.owner()
    may = np.ones(plans.candidates, dtype=bool) if allowed is None else allowed.astype(bool)
    has = choice >= 0
    now = {
        name: np.where(has, array[np.maximum(choice, 0)], 0.0)
        for name, array in (
            ("profit", plans.profit),
            ("spend", plans.spend),
            ("committed", plans.committed),
        )
    }
    # One pass over every plan: later upgrades are among the plans that fit now (what is
    # left only shrinks, and an upgraded candidate's next upgrade fitted before too).
    pool = np.flatnonzero(
        may[owner]
        & (plans.profit > now["profit"][owner])
        & (plans.spend - now["spend"][owner] <= left + 1e-9)
        & (plans.committed - now["committed"][owner] <= cap_left + 1e-9)
    )
    for _ in range(FILL_PASSES):
        who = owner[pool]
        extra_profit = plans.profit[pool] - now["profit"][who]
        extra_spend = plans.spend[pool] - now["spend"][who]
        extra_committed = plans.committed[pool] - now["committed"][who]
        fits = (extra_profit > 0) & (extra_spend <= left + 1e-9)
        fits &= extra_committed <= cap_left + 1e-9
        pool, who = pool[fits], who[fits]
        extra_profit, extra_spend = extra_profit[fits], extra_spend[fits]
        extra_committed = extra_committed[fits]
        if len(pool) == 0:
            break
        ratio = extra_profit / np.maximum(extra_spend, 1e-12)
        # The best-ratio upgrade of each candidate (the pool is in plan order, so each
        # candidate's plans are contiguous; ties: the lower plan), then candidates best
        # ratio first.
        starts = np.flatnonzero(np.r_[True, who[1:] != who[:-1]])
        best = np.maximum.reduceat(ratio, starts)
        segment = np.repeat(np.arange(len(starts)), np.diff(np.r_[starts, len(who)]))
        positions = np.arange(len(ratio))
        offers = np.minimum.reduceat(
            np.where(ratio == best[segment], positions, len(ratio)), starts
        )
        offers = offers[np.argsort(-best, kind="stable")]
        # The cheapest upgrade still to come: once what is left is below it, stop.
        cheapest_after = np.minimum.accumulate(extra_spend[offers][::-1])[::-1]
        taken = 0
        for j, k in enumerate(offers):
            if cheapest_after[j] > left + 1e-9:
                break
            if extra_spend[k] > left + 1e-9 or extra_committed[k] > cap_left + 1e-9:
                continue
            row, i = pool[k], who[k]
            choice[i] = row
            now["profit"][i] = plans.profit[row]
            now["spend"][i] = plans.spend[row]
            now["committed"][i] = plans.committed[row]
            left -= extra_spend[k]
            cap_left -= extra_committed[k]
            taken += 1
        if taken == 0:
            break
    return choice


def _result(
    plans: PlanSet,
    choice: np.ndarray,
    lam: float,
    budget: float,
    committed_cap: float | None,
) -> Allocation:
    profit, spend, committed = _totals(plans, choice)
    return Allocation(choice, lam, profit, spend, committed, budget, committed_cap)
