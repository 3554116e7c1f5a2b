"""The allocation step of the decisions: learn the response from the campaign history,
value every plan of every candidate, and spend the budget where it earns most
(``models/response.py``, ``models/plans.py``, ``models/allocation.py``).

dbt prepares the inputs (candidates that passed the rule-based exclusions, their eligible
offers and consented channels, the history of contacts with the customers' features at
the time) and reads the result, ``decisions.plan_choices``, to build the win-back list.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pandas as pd

from winback.config import Settings
from winback.models.allocation import Allocation, allocate, best_plans
from winback.models.plans import PlanRules, ValuedPlans, value_plans
from winback.models.response import (
    Priors,
    ResponseModel,
    ResponseValidation,
    fit_response,
    validate_on_latest_campaign,
)
from winback.tables import TableStore, date_literal, store_for
from winback.warehouse import Warehouse

PLAN_CHOICES = "decisions.plan_choices"
# Each input and its grain: read in that order, so the same warehouse always gives the
# same frames (LightGBM's bagging and the plans' tie-breaks depend on row order; a
# DuckDB scan without ORDER BY does not promise one).
INPUTS = {
    "history": ("intermediate.int_winback_response_history", "contact_id"),
    "candidates": ("intermediate.int_winback_allocation_candidates", "customer_id"),
    "eligible": ("intermediate.int_winback_offers_eligible", "customer_id, offer_code"),
    "channels": ("intermediate.int_winback_channels_ranked", "customer_id, channel"),
    "catalogue": ("staging.stg_assumptions__offer_catalogue", "offer_code"),
    "channel_assumptions": ("staging.stg_assumptions__channels", "channel"),
    "priors": ("staging.stg_assumptions__reason_offer_priors", "reason, offer_code"),
}


@dataclass(frozen=True)
class AllocationOutcome:
    """What the allocation step did, for the run summary and MLflow."""

    candidates: int
    contactable: int
    contacted: int
    plans: int
    expected_spend: float
    committed_cost: float
    expected_profit: float
    budget: float
    lagrange_multiplier: float
    history_contacts: int
    learned: bool
    validation: ResponseValidation | None
    # Which response model decided (tonight's, the champion, the priors) and why.
    response_used: str = "fitted in this run"
    response_decision: str = ""


def read_inputs(where: Warehouse | TableStore) -> dict[str, pd.DataFrame]:
    """The allocation's inputs as dbt built them (in the DuckDB warehouse or another
    engine's store), each in the order of its grain.

    ``history`` holds only contacts whose outcome is known (attribution window closed by
    the as-of day); the others, e.g. last night's exported campaign, are ``history_open``
    until then: counted as not converted they would teach that contacts do nothing."""
    store = store_for(where)
    inputs = {
        name: store.read(f"select * from {table} order by {grain}")
        for name, (table, grain) in INPUTS.items()
        if name != "history"
    }
    # Split by the engine, not in pandas: a boolean index copies every column of ~2M
    # contacts (8 s at 1M customers). A missing flag counts as open (not_null-tested).
    table, grain = INPUTS["history"]
    for name, where_clause in (
        ("history", "coalesce(is_outcome_complete, false)"),
        ("history_open", "not coalesce(is_outcome_complete, false)"),
    ):
        part = store.read(f"select * from {table} where {where_clause} order by {grain}")
        # The flag is constant on each part: not a column the models should see.
        del part["is_outcome_complete"]
        inputs[name] = part
    return inputs


def priors_from(inputs: dict[str, pd.DataFrame], settings: Settings) -> Priors:
    channels = inputs["channel_assumptions"]
    effect = (
        dict(zip(channels["channel"], channels["prior_effect"].astype(float), strict=True))
        if "prior_effect" in channels
        else {}
    )
    return Priors(
        reason_offer=inputs["priors"][["reason", "offer_code", "prior_return_probability"]],
        channel_effect=effect,
        third_contact_fatigue=settings.decisions.third_contact_fatigue,
    )


def channel_costs(inputs: dict[str, pd.DataFrame]) -> dict[str, float]:
    """Cost per contact of each channel, from the merchant's channel assumptions."""
    channels = inputs["channel_assumptions"]
    return dict(zip(channels["channel"], channels["cost_per_contact"].astype(float), strict=True))


def choose_plans(
    inputs: dict[str, pd.DataFrame],
    settings: Settings,
    model: ResponseModel | None = None,
    validation: ResponseValidation | None = None,
) -> tuple[pd.DataFrame, AllocationOutcome, ResponseModel]:
    """The plan of every candidate (the row order of the candidates input) and whether
    the budget takes it: one row per candidate for ``decisions.plan_choices``. ``model``
    is the response model to use (default: fitted and validated here, without MLflow)."""
    history = inputs["history"]
    candidates = inputs["candidates"].sort_values("customer_id").reset_index(drop=True)
    priors = priors_from(inputs, settings)
    if model is None:
        model = fit_response(history, settings.response, priors)
        validation = validate_on_latest_campaign(history, priors, settings.response)
    rules = PlanRules(
        settings.decisions.reminder_offer,
        settings.decisions.new_arrivals_offer,
        settings.response.window_days,
    )
    valued = value_plans(
        candidates,
        inputs["eligible"],
        inputs["channels"],
        inputs["catalogue"],
        model,
        priors,
        rules,
    )
    control = candidates["is_control_group"].fillna(False).astype(bool).to_numpy()
    allowed = ~control & ~consent_unknown(candidates)
    result = allocate(
        valued.plan_set,
        settings.decisions.budget,
        committed_cap=settings.decisions.committed_cost_cap,
        allowed=allowed,
    )
    choices = plan_choices(candidates, valued, result, settings.decisions.reminder_offer)
    outcome = AllocationOutcome(
        candidates=len(candidates),
        contactable=int(allowed.sum()),
        contacted=result.contacted,
        plans=len(valued.plan_set.profit),
        expected_spend=result.expected_spend,
        committed_cost=result.committed_cost,
        expected_profit=result.expected_profit,
        budget=result.budget,
        lagrange_multiplier=result.lagrange_multiplier,
        history_contacts=len(history),
        learned=model.learned,
        validation=validation,
    )
    return choices, outcome, model


def consent_unknown(candidates: pd.DataFrame) -> np.ndarray:
    """R13: the candidates whose data has no consent at all (e.g. only orders.csv): their
    plans are valued on every channel for the ranking, and they are never contacted."""
    if "consent_status" not in candidates:
        return np.zeros(len(candidates), dtype=bool)
    return (candidates["consent_status"] == "unknown").fillna(False).to_numpy(dtype=bool)


def plan_choices(
    candidates: pd.DataFrame, valued: ValuedPlans, result: Allocation, reminder_offer: str
) -> pd.DataFrame:
    """One row per candidate: the chosen plan (or, for those the budget did not take and
    the control group, the plan they would get: the best at the same λ, else the best at
    all), its figures, and how the budget treated it."""
    control = candidates["is_control_group"].fillna(False).astype(bool).to_numpy()
    unknown = consent_unknown(candidates)
    at_lambda = best_plans(valued.plan_set, result.lagrange_multiplier)
    unconstrained = best_plans(valued.plan_set, 0.0)
    shown = np.where(
        result.choice >= 0, result.choice, np.where(at_lambda >= 0, at_lambda, unconstrained)
    )
    plans = valued.frame(shown)
    lam = result.lagrange_multiplier
    frame = pd.DataFrame(
        {
            "customer_id": candidates["customer_id"].to_numpy(),
            "is_control_group": control,
            # A control member counts as selected when the budget would have taken them
            # (their plan pays at the marginal price λ): held out, never contacted (R10).
            # Without consent data (R13) nobody is selected: ranked, never contacted.
            "is_selected": np.where(control, at_lambda >= 0, result.choice >= 0) & ~unknown,
            "has_profitable_plan": unconstrained >= 0,
        }
    )
    frame = pd.concat([frame, plans], axis=1)
    frame["recommended_offer"] = _main_offer(plans, reminder_offer)
    # The priority: profit per unit of budget beyond the marginal price λ (higher first).
    frame["allocation_score"] = (frame["expected_profit"] - lam * frame["expected_cost"]).fillna(
        -np.inf
    )
    frame["lagrange_multiplier"] = lam
    return frame


def _main_offer(plans: pd.DataFrame, reminder_offer: str) -> pd.Series:
    """The offer that makes the plan: the personal offer at the end of the R12 sequence,
    new arrivals after a reminder, the fix before new arrivals (R8), or the only one."""
    main = plans["step_1_offer"].copy()
    three = plans["planned_contacts"] == 3
    main[three] = plans.loc[three, "step_3_offer"]
    after_reminder = (plans["planned_contacts"] == 2) & (plans["step_1_offer"] == reminder_offer)
    main[after_reminder] = plans.loc[after_reminder, "step_2_offer"]
    return main


def write_plan_choices(where: Warehouse | TableStore, as_of: dt.date, choices: pd.DataFrame) -> int:
    """Replace ``decisions.plan_choices`` (one as-of date) in one statement."""
    return store_for(where).replace(
        PLAN_CHOICES,
        choices,
        f"select {date_literal(as_of)} as as_of_date, * from frame order by customer_id",
    )
