"""The response model learns what contacts do from randomized history, also where the
merchant's priors say otherwise, and plans are valued with it."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from winback.config import ResponseParams
from winback.models import plans as plan_maths
from winback.models.allocation import allocate, best_plans
from winback.models.response import (
    Priors,
    ResponseModel,
    _control_input,
    _positive,
    _treated_input,
    baseline_response,
    contact_response,
    customer_input,
    fit_response,
    hold_out_newest,
    qini_coefficient,
    sample_history,
    validate_on_latest_campaign,
)

REASONS = ("price", "forgot")
OFFERS = ("REMIND", "NEWARRIVALS", "DISC20", "FREESHIP")
CHANNELS = ("email", "phone")
# The planted truth: reminders work (more by phone), the 20% discount barely does —
# the opposite of the merchant's priors below.
TRUE_UPLIFT = {
    ("REMIND", "email"): 0.10,
    ("REMIND", "phone"): 0.16,
    ("NEWARRIVALS", "email"): 0.05,
    ("NEWARRIVALS", "phone"): 0.06,
    ("DISC20", "email"): 0.01,
    ("DISC20", "phone"): 0.01,
    ("FREESHIP", "email"): 0.0,
    ("FREESHIP", "phone"): 0.0,
}
PRIORS = Priors(
    reason_offer=pd.DataFrame(
        [
            (reason, offer, value)
            for reason in REASONS
            for offer, value in {
                "REMIND": 0.01,
                "NEWARRIVALS": 0.02,
                "DISC20": 0.15,
                "FREESHIP": 0.01,
            }.items()
        ],
        columns=["reason", "offer_code", "prior_return_probability"],
    ),
    channel_effect={"email": 1.0, "phone": 1.0},
    third_contact_fatigue=0.7,
)


def customers(rng: np.random.Generator, n: int) -> pd.DataFrame:
    price = rng.uniform(0, 1, n)
    return pd.DataFrame(
        {
            "customer_id": [f"C{i:06d}" for i in range(n)],
            "recency_days": rng.uniform(60, 700, n),
            "purchase_count": rng.integers(1, 12, n).astype(float),
            f"reason_conf__{REASONS[0]}": price,
            f"reason_conf__{REASONS[1]}": 1 - price,
        }
    )


def history(seed: int = 0, n: int = 12_000, campaigns: int = 3) -> pd.DataFrame:
    """Randomized campaigns: treated get a random offer on a random channel, 20% control."""
    rng = np.random.default_rng(seed)
    people = customers(rng, n)
    rows = []
    for c in range(campaigns):
        who = people.sample(frac=0.6, random_state=seed + c)
        control = rng.random(len(who)) < 0.2
        offer = rng.choice(OFFERS, len(who))
        channel = np.where(control, "none", rng.choice(CHANNELS, len(who)))
        base = 0.02 + 0.04 * (who["recency_days"].to_numpy() < 200)
        lift = np.array(
            [TRUE_UPLIFT.get((o, ch), 0.0) for o, ch in zip(offer, channel, strict=True)]
        )
        converted = rng.random(len(who)) < base + np.where(control, 0.0, lift)
        rows.append(
            who.assign(
                contact_id=[f"K{c}-{i}" for i in range(len(who))],
                campaign_id=f"camp-{c}",
                contact_date=pd.Timestamp("2026-01-01") + pd.Timedelta(days=60 * c),
                step=1,
                offer_code=offer,
                channel=channel,
                is_control=control,
                is_converted=converted,
            )
        )
    return pd.concat(rows, ignore_index=True)


PARAMS = ResponseParams(min_treated=300, min_control=100, prior_strength=50.0)


def test_learning_recovers_a_planted_ordering_that_contradicts_the_priors() -> None:
    model = fit_response(history(), PARAMS)
    assert model.learned and model.weight("REMIND", "phone") > 0.8
    rng = np.random.default_rng(9)
    candidates = customers(rng, 3000).assign(
        churn_probability=0.8,
        value_if_retained_12m=100.0,
        avg_order_value=60.0,
        median_gap_days=60.0,
        is_company_fault=False,
    )
    catalogue = pd.DataFrame(
        {
            "offer_code": list(OFFERS),
            "discount_depth": [0.0, 0.0, 0.2, 0.0],
            "fixed_cost": [0.0, 0.2, 0.0, 6.0],
            "channels": ["email|phone"] * 4,
        }
    )
    eligible = pd.DataFrame(
        [(cid, o) for cid in candidates["customer_id"] for o in OFFERS],
        columns=["customer_id", "offer_code"],
    )
    channels = pd.DataFrame(
        [
            (cid, ch, cost)
            for cid in candidates["customer_id"]
            for ch, cost in (("email", 0.05), ("phone", 0.5))
        ],
        columns=["customer_id", "channel", "cost_per_contact"],
    )
    rules = plan_maths.PlanRules("REMIND", "NEWARRIVALS", 14.0)
    valued = plan_maths.value_plans(candidates, eligible, channels, catalogue, model, PRIORS, rules)
    chosen = valued.frame(best_plans(valued.plan_set, 0.0))
    # The planted best single contact (a reminder by phone) wins, not the prior's discount.
    assert (chosen["step_1_offer"] == "REMIND").mean() > 0.8
    assert (chosen["channel"] == "phone").mean() > 0.8
    # The discount is at most a marginal third contact, never the lead (its planted uplift is
    # small but positive, so a 3rd contact with it may still pay).
    assert (chosen["step_1_offer"] != "DISC20").all()
    # With the priors alone the same candidates would get the discount.
    prior_only = fit_response(history().head(50), PARAMS)
    assert not prior_only.learned
    naive = plan_maths.value_plans(
        candidates, eligible, channels, catalogue, prior_only, PRIORS, rules
    )
    naive_chosen = naive.frame(best_plans(naive.plan_set, 0.0))
    assert (naive_chosen[["step_1_offer", "step_2_offer", "step_3_offer"]] == "DISC20").any(
        axis=1
    ).mean() > 0.8
    # The budget allocation spends within the budget on these plans.
    result = allocate(valued.plan_set, 500.0)
    assert 0 < result.expected_spend <= 500.0


def test_the_history_moves_the_merchants_priors_toward_the_planted_truth() -> None:
    """The priors' own structure (reason x offer x channel) learned from the history: the
    reminder, which the priors rate lowest, overtakes the discount they rate highest; the
    phone beats e-mail as planted; a tight penalty keeps the merchant's values."""
    frame = history(seed=4)
    model = fit_response(frame, PARAMS, PRIORS)
    assert model.priors is not None
    table = model.priors.reason_offer.pivot(
        index="reason", columns="offer_code", values="prior_return_probability"
    )
    for reason in REASONS:
        assert table.loc[reason, "REMIND"] > table.loc[reason, "DISC20"]
        assert table.loc[reason, "REMIND"] > 0.05  # planted 0.10-0.16, prior 0.01
    assert model.priors.channel_effect["phone"] > model.priors.channel_effect["email"]
    # Pooling now leans toward the updated priors: a thin cell follows them.
    rows = frame.head(200)
    base = np.zeros(len(rows))
    thin = ResponseModel(None, None, model.features, [], [], {}, 0, 50.0, model.priors)
    got = contact_response(thin, PRIORS, rows, offer="REMIND", channel="phone", step=1,
                           baseline=base)  # fmt: skip
    assert got.uplift.mean() > 0.05 > PRIORS.uplift(rows, "REMIND", "phone", 1).mean()
    # A tight penalty keeps the merchant's values; none updates nothing.
    tight = fit_response(frame, PARAMS.model_copy(update={"prior_update_sigma": 1e-4}), PRIORS)
    assert tight.priors is not None
    kept = tight.priors.reason_offer.merge(PRIORS.reason_offer, on=["reason", "offer_code"])
    np.testing.assert_allclose(
        kept["prior_return_probability_x"], kept["prior_return_probability_y"], rtol=1e-3
    )
    # Contacts with an offer or channel the priors do not know are left out of the update.
    odd = frame.copy()
    treated = ~odd["is_control"].astype(bool)
    odd.loc[treated & (odd.index % 7 == 0), "offer_code"] = "MYSTERY"
    odd.loc[treated & (odd.index % 11 == 0), "channel"] = "fax"
    unknown = fit_response(odd, PARAMS, PRIORS)
    assert unknown.priors is not None
    assert set(unknown.priors.reason_offer["offer_code"]) == set(PRIORS.reason_offer["offer_code"])
    assert set(unknown.priors.channel_effect) == set(PRIORS.channel_effect)
    off = fit_response(frame, PARAMS.model_copy(update={"prior_update_sigma": 0.0}), PRIORS)
    assert off.priors is None and fit_response(frame, PARAMS).priors is None


def test_the_held_out_campaign_ranks_learned_uplift_above_the_priors() -> None:
    validation = validate_on_latest_campaign(history(seed=3), PRIORS, PARAMS)
    assert validation is not None and validation.campaign_id == "camp-2"
    assert validation.qini > validation.qini_prior
    assert validation.qini > 0
    assert validation.calibration_error < 0.05
    assert set(validation.metrics()) >= {"qini", "qini_prior_only", "uplift_calibration_error"}


def test_the_learners_see_a_seeded_sample_and_the_evidence_counts_every_contact() -> None:
    full = history(seed=6, n=6_000)
    capped = PARAMS.model_copy(update={"max_history_rows": 4_000})
    sample = sample_history(full, capped)
    assert len(sample) == 4_000
    assert sample.index.is_monotonic_increasing and sample.index.isin(full.index).all()
    assert sample.index.equals(sample_history(full, capped).index)
    assert sample_history(full, PARAMS) is full  # under the cap: the whole history
    got, whole = fit_response(full, capped), fit_response(full, PARAMS)
    assert got.learned and got.cell_evidence == whole.cell_evidence
    assert got.contacts == len(full)
    rows = full.head(500)
    # A different sample gives a different (but still learned) model.
    assert not np.allclose(baseline_response(got, rows, 1, 14.0),
                           baseline_response(whole, rows, 1, 14.0))  # fmt: skip


@pytest.mark.parametrize("cap", [4_000, 100_000])
def test_fitting_on_a_row_mask_is_fitting_on_those_rows(cap: int) -> None:
    """The held-out fit names its rows by a mask instead of copying them (every column of
    ~2M contacts at 1M customers): the same sample, evidence and predictions, capped
    (a sample drawn among the masked rows) or not (all of them)."""
    full = history(seed=6, n=6_000)
    params = PARAMS.model_copy(update={"max_history_rows": cap})
    mask = (full.index % 4 != 0) & (full["contact_date"] < full["contact_date"].max()).to_numpy()
    copied = full[mask]
    assert sample_history(full, params, mask).index.equals(sample_history(copied, params).index)
    by_mask, by_copy = (
        fit_response(full, params, PRIORS, rows=mask),
        fit_response(copied, params, PRIORS),
    )
    assert by_mask.contacts == len(copied) < len(full)
    assert by_mask.cell_evidence == by_copy.cell_evidence
    rows = full.head(500)
    assert np.array_equal(
        baseline_response(by_mask, rows, 1, 14.0), baseline_response(by_copy, rows, 1, 14.0)
    )
    for offer, channel in (("REMIND", "phone"), ("DISC20", "email")):
        got, expected = (
            contact_response(
                model,
                PRIORS,
                rows,
                offer=offer,
                channel=channel,
                step=1,
                baseline=np.zeros(len(rows)),
            )
            for model in (by_mask, by_copy)
        )
        assert np.array_equal(got.treated, expected.treated)


def test_the_customer_matrix_predicts_what_the_learners_predict_from_a_frame() -> None:
    """The plan valuation's float matrix encodes text as LightGBM encodes a frame: the
    same predictions, also for a category unseen in training or missing."""
    frame = history(seed=4)
    frame["segment"] = np.where(frame.index % 3 == 0, "b2b", "b2c")
    model = fit_response(frame, PARAMS)
    rows = frame.head(400).copy()
    rows.loc[rows.index[:5], "segment"] = "wholesale"  # not seen in training
    rows.loc[rows.index[5:10], "segment"] = None
    x = customer_input(model, rows)
    assert x is not None and x.treated.shape == (400, len(model.features) + 3)
    for step in (1, 3):
        via_frame = _positive(model.control, _control_input(rows.assign(step=step), model.features))
        np.testing.assert_array_equal(baseline_response(model, rows, step, 14.0, x), via_frame)
        for offer, channel in (("REMIND", "phone"), ("DISC20", "email")):
            contact = rows.assign(offer_code=offer, channel=channel, step=step)
            inputs = _treated_input(contact, model.features, model.offers, model.channels)
            got = contact_response(model, PRIORS, rows, offer=offer, channel=channel, step=step,
                                   baseline=np.zeros(len(rows)), x=x.rows(np.arange(400)))  # fmt: skip
            w = model.weight(offer, channel)
            expected = w * _positive(model.treated, inputs) + (1 - w) * PRIORS.uplift(
                rows, offer, channel, step
            )
            np.testing.assert_allclose(got.treated, np.clip(expected, 0, 1), rtol=1e-12)
    # At the default infinite prior strength the treated learner is never asked: its
    # input is not built, and a contact is the baseline plus the updated priors' uplift.
    unpooled = fit_response(frame, PARAMS.model_copy(update={"prior_strength": float("inf")}))
    assert not unpooled.pools_learned_uplift and model.pools_learned_uplift
    plain = customer_input(unpooled, rows)
    assert plain is not None and plain.treated is None
    base = baseline_response(unpooled, rows, 1, 14.0, plain)
    got = contact_response(unpooled, PRIORS, rows, offer="REMIND", channel="phone", step=1,
                           baseline=base, x=plain.rows(np.arange(400)))  # fmt: skip
    assert got.learned_weight == 0.0
    np.testing.assert_allclose(
        got.treated, np.clip(base + PRIORS.uplift(rows, "REMIND", "phone", 1), 0, 1)
    )


def test_the_held_out_model_learns_only_from_contacts_before_the_newest_campaign() -> None:
    frame = history(seed=3)
    held = hold_out_newest(frame, PARAMS, PRIORS)
    assert held is not None and held.campaign_id == "camp-2"
    before = frame[frame["contact_date"] < held.first_contact]
    assert held.model.contacts == len(before) < len(frame)
    assert held.mask.sum() == (frame["campaign_id"] == "camp-2").sum()
    # The validation given the held-out model equals the one that fits it itself.
    again = validate_on_latest_campaign(frame, PRIORS, PARAMS, held)
    fitted = validate_on_latest_campaign(frame, PRIORS, PARAMS)
    assert again is not None and fitted is not None
    assert again.qini == fitted.qini and again.qini_prior == fitted.qini_prior
    # One campaign only: nothing before it to learn from, nothing to hold out.
    assert hold_out_newest(frame[frame["campaign_id"] == "camp-0"], PARAMS) is None
    # A large campaign is judged on a seeded sample of its customers, all their rows.
    small = hold_out_newest(frame, PARAMS.model_copy(update={"max_holdout_customers": 1_000}))
    assert small is not None and small.campaign_id == "camp-2"
    kept = frame.loc[small.mask, "customer_id"]
    assert kept.nunique() == 1_000 and small.mask.sum() < held.mask.sum()
    in_campaign = frame["campaign_id"] == "camp-2"
    assert (frame.loc[in_campaign & frame["customer_id"].isin(kept)].index == kept.index).all()
    again_small = hold_out_newest(frame, PARAMS.model_copy(update={"max_holdout_customers": 1_000}))
    assert again_small is not None and again_small.mask.equals(small.mask)


def test_qini_is_zero_for_random_and_positive_for_a_perfect_ranking() -> None:
    rng = np.random.default_rng(1)
    n = 20_000
    treated = rng.random(n) < 0.5
    good = rng.random(n) < 0.5  # half respond to treatment
    converted = treated & good & (rng.random(n) < 0.6)
    # perfect ranking here: curve rises to 0.3 per treated at half the list, then flat
    assert qini_coefficient(converted, treated, good.astype(float)) > 0.06
    assert abs(qini_coefficient(converted, treated, rng.random(n))) < 0.02


@pytest.mark.parametrize("company_fault", [False, True])
def test_sequences_follow_r8_and_r12(company_fault: bool) -> None:
    rules = plan_maths.PlanRules("REMIND", "NEWARRIVALS", 14.0)
    codes = ["REMIND", "NEWARRIVALS", "DISC20", "APOLOGY"]
    seqs, for_fault, for_others = plan_maths.sequences(codes, rules)
    allowed = seqs[for_fault if company_fault else for_others]
    named = {tuple(codes[i] for i in row if i >= 0) for row in allowed}
    if company_fault:  # the fix first, never a cheerful reminder first (R8)
        assert ("APOLOGY", "NEWARRIVALS") in named
        assert not any(s[0] == "REMIND" and len(s) > 1 for s in named)
    else:  # reminder → new arrivals → the personal offer (R12)
        assert ("REMIND", "NEWARRIVALS", "DISC20") in named
        assert ("REMIND", "NEWARRIVALS") in named
    assert {("DISC20",), ("REMIND",)} <= named
