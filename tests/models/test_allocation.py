"""The Lagrangian multiple-choice knapsack: within the budget, near the exact optimum,
never contacting a customer who may not be contacted."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from winback.models.allocation import PlanSet, _Live, allocate, best_plans


def random_plans(rng: np.random.Generator, candidates: int, most: int = 4) -> PlanSet:
    counts = rng.integers(0, most + 1, candidates)
    offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    n = int(offsets[-1])
    spend = rng.uniform(0.5, 10.0, n)
    profit = rng.normal(3.0, 6.0, n)  # some plans lose money
    committed = spend * rng.uniform(1.0, 2.0, n)
    return PlanSet(offsets, profit, spend, committed)


def exact_optimum(plans: PlanSet, budget: float, allowed: np.ndarray | None = None) -> float:
    """Brute force over every combination (small instances only)."""
    options = []
    for i in range(plans.candidates):
        rows = [-1]
        if allowed is None or allowed[i]:
            rows += list(range(plans.offsets[i], plans.offsets[i + 1]))
        options.append(rows)
    best = 0.0
    for combo in itertools.product(*options):
        rows = [r for r in combo if r >= 0]
        if plans.spend[rows].sum() <= budget + 1e-9:
            best = max(best, float(plans.profit[rows].sum()))
    return best


@pytest.mark.parametrize("seed", range(12))
def test_within_budget_and_close_to_the_exact_optimum(seed: int) -> None:
    rng = np.random.default_rng(seed)
    plans = random_plans(rng, candidates=7, most=3)
    budget = float(rng.uniform(3, 25))
    result = allocate(plans, budget)
    assert result.expected_spend <= budget + 1e-9
    optimum = exact_optimum(plans, budget)
    # The Lagrangian + greedy completion is at most one plan's profit from the optimum.
    assert result.expected_profit <= optimum + 1e-9
    assert result.expected_profit >= optimum - plans.profit.max(initial=0.0) - 1e-9
    # Never a plan that loses money, never two plans for one customer.
    chosen = result.choice[result.choice >= 0]
    assert (plans.profit[chosen] > 0).all()
    owner = plans.owner()
    assert (owner[chosen] == np.flatnonzero(result.choice >= 0)).all()


def test_spends_the_budget_on_many_small_plans() -> None:
    rng = np.random.default_rng(3)
    plans = random_plans(rng, candidates=5000)
    budget = 2000.0
    result = allocate(plans, budget)
    assert budget - 10.0 <= result.expected_spend <= budget  # less than one plan left over
    assert result.lagrange_multiplier > 0
    # Versus a plain greedy by profit per spend of each customer's best plan:
    best = best_plans(plans, 0.0)
    rows = best[best >= 0]
    order = np.argsort(-(plans.profit[rows] / plans.spend[rows]))
    taken = rows[order][np.cumsum(plans.spend[rows][order]) <= budget]
    assert result.expected_profit >= plans.profit[taken].sum()


def test_what_the_next_plan_at_the_margin_leaves_buys_cheaper_plans() -> None:
    # The best plan per unit of spend (A: 10 for 10) does not fit a budget of 7, so the
    # Lagrangian's λ lands where nothing is bought; C (0.9 for 1) and B (5 for 6) fit
    # what is left, and together they are the optimum.
    plans = PlanSet(
        np.array([0, 1, 2, 3]),
        profit=np.array([10.0, 5.0, 0.9]),
        spend=np.array([10.0, 6.0, 1.0]),
        committed=np.array([10.0, 6.0, 1.0]),
    )
    result = allocate(plans, 7.0)
    np.testing.assert_array_equal(result.choice, [-1, 1, 2])
    assert result.expected_profit == pytest.approx(exact_optimum(plans, 7.0)) == 5.9
    assert result.expected_spend == pytest.approx(7.0)
    # The committed cost cap limits the filling as it limits the rest.
    capped = allocate(plans, 7.0, committed_cap=1.5)
    np.testing.assert_array_equal(capped.choice, [-1, -1, 2])


def test_dropping_plans_below_the_lower_price_never_changes_a_choice() -> None:
    rng = np.random.default_rng(21)
    plans = random_plans(rng, candidates=3000)
    allowed = rng.random(3000) < 0.8
    live = _Live(plans)
    for lam_lo in (0.2, 0.5, 1.0, 2.0):
        live.prune(lam_lo)
        assert len(live.plans.profit) < len(plans.profit)
        for lam in (lam_lo, lam_lo * 1.3, lam_lo * 3):
            np.testing.assert_array_equal(live.best(lam, allowed), best_plans(plans, lam, allowed))


def test_a_loose_budget_takes_every_profitable_plan() -> None:
    plans = random_plans(np.random.default_rng(5), candidates=300)
    result = allocate(plans, 1e9)
    assert result.lagrange_multiplier == 0.0
    np.testing.assert_array_equal(result.choice, best_plans(plans, 0.0))


def test_customers_who_may_not_be_contacted_never_are() -> None:
    rng = np.random.default_rng(8)
    plans = random_plans(rng, candidates=400)
    allowed = rng.random(400) < 0.6
    for budget in (50.0, 1e9):
        result = allocate(plans, budget, allowed=allowed)
        assert (result.choice[~allowed] == -1).all()
        assert (result.choice[allowed] >= 0).any()
    small = random_plans(np.random.default_rng(9), candidates=6, most=3)
    mask = np.array([True, False, True, True, False, True])
    result = allocate(small, 12.0, allowed=mask)
    assert result.expected_profit >= exact_optimum(small, 12.0, mask) - small.profit.max() - 1e-9


def test_the_committed_cost_cap_binds_too() -> None:
    plans = random_plans(np.random.default_rng(11), candidates=2000)
    loose = allocate(plans, 1e9)
    capped = allocate(plans, 1e9, committed_cap=loose.committed_cost / 3)
    assert capped.committed_cost <= loose.committed_cost / 3 + 1e-9
    assert capped.expected_profit < loose.expected_profit


def test_bad_inputs_are_refused() -> None:
    with pytest.raises(ValueError, match="offsets"):
        PlanSet(np.array([0, 2]), np.zeros(3), np.zeros(3), np.zeros(3))
    with pytest.raises(ValueError, match="negative"):
        PlanSet(np.array([0, 1]), np.zeros(1), -np.ones(1), np.zeros(1))
    with pytest.raises(ValueError, match="budget"):
        allocate(random_plans(np.random.default_rng(0), 3), -1.0)
