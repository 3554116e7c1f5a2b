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
the optimum is at most one candidate's plan). Plans are stored flat, grouped by
candidate (``offsets``), so each step is a few vectorised passes over all plans: ~10M
plans take seconds.
"""

from __future__ import annotations

from dataclasses import dataclass

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


def best_plans(plans: PlanSet, lam: float, allowed: np.ndarray | None = None) -> np.ndarray:
    """Each candidate's plan with the highest ``profit − lam × spend`` if positive, else
    -1 (ties: the lower plan row, the caller's order). ``allowed`` (per candidate)
    forces -1 where False. Linear in the plans: candidates' plans are contiguous."""
    choice = np.full(plans.candidates, -1, dtype=np.int64)
    if len(plans.profit) == 0:
        return choice
    score = plans.profit - lam * plans.spend
    sizes = np.diff(plans.offsets)
    has = np.flatnonzero(sizes > 0)
    starts = plans.offsets[:-1][has]
    top = np.maximum.reduceat(score, starts)
    rows = np.arange(len(score), dtype=np.int64)
    at_top = score == np.repeat(top, sizes[has])
    best = np.minimum.reduceat(np.where(at_top, rows, len(score)), starts)
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
    for _ in range(BISECTION_STEPS):
        if lam_hi - lam_lo <= LAMBDA_TOLERANCE * lam_hi:
            break
        mid = 0.5 * (lam_lo + lam_hi)
        if fits(best_plans(plans, mid, allowed)):
            lam_hi = mid
        else:
            lam_lo = mid
    feasible = best_plans(plans, lam_hi, allowed)
    richer = best_plans(plans, lam_lo, allowed)
    return _result(
        plans,
        _complete(plans, feasible, richer, budget, committed_cap),
        lam_hi,
        budget,
        committed_cap,
    )


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


def _result(
    plans: PlanSet,
    choice: np.ndarray,
    lam: float,
    budget: float,
    committed_cap: float | None,
) -> Allocation:
    profit, spend, committed = _totals(plans, choice)
    return Allocation(choice, lam, profit, spend, committed, budget, committed_cap)
