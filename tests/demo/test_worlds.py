"""Worlds: the demo shop's true response model (winback.demo.world) and its evaluator.

World 0 is the documented default and reproduces the shops generated before worlds
existed, byte for byte; worlds >= 1 are drawn from the world number alone, their past
campaigns randomise offers and channels, and ``winback.demo.evaluate`` values plans with
the same response model the campaigns used.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from winback.demo import ShopSpec, generate_shop
from winback.demo.evaluate import plan_outcomes, realised_profit
from winback.demo.world import (
    AGE_BANDS,
    CHANNELS,
    OFFERS,
    REASONS,
    ROWS,
    WORLD_OFFERS,
    contact_response,
    draw_world,
    read_world,
    world_from_dict,
    world_json,
    world_to_dict,
)
from winback.ingest.contract import CHANNELS as CONTRACT_CHANNELS

SMALL = ShopSpec(n_customers=1500, seed=7, as_of=dt.date(2026, 3, 31), fmt="csv")
# sha256 of the small shop's CSV tables, recorded before worlds existed.
BEFORE_WORLDS_CSV = {
    "campaign_contacts.csv": "596d94df8c7ffbc46e54d8f33fc7b0eef5e2e9f896221a90f1a438145fea6235",
    "customers.csv": "cb9f60827017c85c5038ea4453d56aee3254ed5bbe416baf0453aa8432cb5b88",
    "events.csv": "85434a701a6db7e16bb6e50ce1b5392d399da7e593fa0b1aea862993c1cd0f1d",
    "order_items.csv": "a4c6e86627ba762d640d371e23ac9c774cc7a9ee76fb8051d29acb65712581a0",
    "orders.csv": "063f95cc2e66d4a637abedca9dc41cedfd8ee49ead6bbf9c9422916b51dfb951",
    "payments.csv": "afff5214a7e5e6f9d0830eb66be4a7aacc4b541abbc4d5aa712ffbc21bc8e845",
    "products.csv": "985d738403f015b2eeb678ed07d64b568eb8ed85d3d8c6a21e88432c3d717ca9",
    "tickets.csv": "4cae745624cb9c1f5f3a46f171448cab84eec8c6c8610f6fe945104c16a10353",
}
# The truth files of the same shop, as sha256 of their content written as CSV with float
# columns rounded to 9 decimals. (First recorded unrounded, byte for byte; on an AMD EPYC
# with AVX-512, numpy's vectorised exp/log differ from the recording machine's in the last
# bits, so customers_truth and offer_response_truth no longer hashed the same although the
# CSV tables above still do. Rounded digests recorded 2026-12-06 on that machine.)
BEFORE_WORLDS_TRUTH = {
    "campaign_contacts_truth": "a0e18be8cbbc56f864842456960f335303e33d15c5be2569e2ef939e5bb8f580",
    "customers_truth": "f292b25985b2e10a88e1b8edaff310d52d20a2bf39128f6991ba2cff2546b141",
    "offer_response_truth": "60bd55d15ffe921fc6d8af2861505736e2da6c827e328eadd8b2e07782d58d24",
}
CATALOGUE = pd.DataFrame(
    {
        "offer_code": list(WORLD_OFFERS),
        "discount_depth": [0.0, 0.0, 0.1, 0.2, 0.12, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0],
        "fixed_cost": [0.0, 0.2, 0.0, 0.0, 1.0, 6.0, 12.0, 5.0, 2.0, 3.0, 15.0],
    }
)
CHANNEL_COST = {"email": 0.05, "sms": 0.08, "push": 0.02, "phone": 2.5, "visit": 40.0}


# Columns added to the demo's customers after the digests were recorded (issue 17: the
# contact fields a sender needs); they are the file's last columns, cut before hashing.
ADDED_CUSTOMER_COLUMNS = ("email", "phone")


def _sha(path: Path) -> str:
    data = path.read_bytes()
    if path.name == "customers.csv":
        lines = data.decode("utf-8").splitlines(keepends=True)
        header = [c.strip().strip('"') for c in lines[0].split(",")]
        assert tuple(header[-len(ADDED_CUSTOMER_COLUMNS) :]) == ADDED_CUSTOMER_COLUMNS
        cut = len(ADDED_CUSTOMER_COLUMNS)
        data = "".join(
            line.rstrip("\r\n").rsplit(",", cut)[0] + line[len(line.rstrip("\r\n")) :]
            for line in lines
        ).encode("utf-8")
    return hashlib.sha256(data).hexdigest()


def _digests(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): _sha(p) for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def world1(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 4,000-customer shop of world 1 (Parquet)."""
    out = tmp_path_factory.mktemp("world1")
    spec = ShopSpec(n_customers=4000, seed=5, as_of=dt.date(2026, 3, 31), fmt="parquet", world=1)
    generate_shop(spec, out)
    return out


@pytest.fixture(scope="module")
def world1_as_world0(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The same shop (seed, size) in world 0."""
    out = tmp_path_factory.mktemp("world0")
    spec = ShopSpec(n_customers=4000, seed=5, as_of=dt.date(2026, 3, 31), fmt="parquet")
    generate_shop(spec, out)
    return out


def _response_truth(shop: Path) -> pd.DataFrame:
    return pd.read_parquet(shop / "truth" / "response_truth.parquet")


# --- world 0 is the documented default ----------------------------------------------------


def test_world_0_reproduces_the_shop_from_before_worlds(tmp_path: Path) -> None:
    explicit, omitted = tmp_path / "explicit", tmp_path / "omitted"
    generate_shop(SMALL.model_copy(update={"world": 0}), explicit)
    generate_shop(SMALL, omitted)
    assert _digests(explicit) == _digests(omitted)
    assert {name: _sha(explicit / name) for name in BEFORE_WORLDS_CSV} == BEFORE_WORLDS_CSV
    for name, digest in BEFORE_WORLDS_TRUTH.items():
        frame = pd.read_parquet(explicit / "truth" / f"{name}.parquet")
        floats = frame.select_dtypes("float").columns
        frame[floats] = frame[floats].round(9)
        assert hashlib.sha256(frame.to_csv(index=False).encode()).hexdigest() == digest, name
    shipped = (explicit / "truth" / "world.json").read_text(encoding="utf-8")
    assert shipped == world_json(draw_world(0))


# --- drawn worlds -------------------------------------------------------------------------


def test_drawn_worlds_differ_from_each_other_and_from_the_textbook() -> None:
    default = draw_world(0)
    worlds = [draw_world(w) for w in (1, 2, 3)]
    shared = len(OFFERS)  # world 0 has no EVENT_INVITE
    for i, world in enumerate(worlds):
        assert world.offers == WORLD_OFFERS and world.response.shape == (len(ROWS), 11)
        assert not np.allclose(world.response[:, :shared], default.response)
        for other in worlds[i + 1 :]:
            assert not np.allclose(world.response, other.response)
        # Offer orderings differ from world 0's (the product's priors) for some reason.
        reordered = [
            r
            for r in range(len(REASONS))
            if not np.array_equal(
                np.argsort(-world.response[r, :shared], kind="stable"),
                np.argsort(-default.response[r, :shared], kind="stable"),
            )
        ]
        assert reordered, f"world {world.number} orders every reason's offers like world 0"
        best = world.response[: len(REASONS), :shared].argmax(axis=1)
        assert (best != default.response[: len(REASONS)].argmax(axis=1)).any()
        # Channels matter, and differently in every world.
        assert not np.allclose(world.channel_effect, 1.0)
        assert world.fatigue_per_contact < 1.0 and world.dispute_response_factor < 1.0
        assert world.opt_out_base.min() > 0.0
    for i, world in enumerate(worlds):
        for other in worlds[i + 1 :]:
            assert not np.allclose(world.channel_effect, other.channel_effect)


def test_worlds_depend_on_their_number_only_and_stay_in_range() -> None:
    for number in range(1, 9):
        world, again = draw_world(number), draw_world(number)
        assert world_json(world) == world_json(again)
        assert world_json(world_from_dict(world_to_dict(world))) == world_json(world)
        assert world.response.min() >= 0.001 and world.response.max() <= 0.35
        # R6: price hunters answer the deep discount, and little else.
        hunter = world.response[ROWS.index("price_hunter")]
        assert hunter.argmax() == WORLD_OFFERS.index("DISC20")
        others = np.delete(hunter, [2, 3, 4])  # DISC10, DISC20, BUNDLE
        assert others.max() <= 0.01 < hunter.max()
        # A call moves people more than a push.
        assert (
            world.channel_effect[CHANNELS.index("phone")]
            > world.channel_effect[CHANNELS.index("push")]
        )
    with pytest.raises(ValueError):
        draw_world(-1)


def test_contact_response_applies_fatigue_disputes_and_no_visits_to_b2c() -> None:
    world = draw_world(2)
    n = 4
    common = {
        "reason_row": np.full(n, ROWS.index("quality")),
        "is_b2b": np.array([False, False, True, False]),
        "age_band": np.ones(n, dtype=np.int64),
        "step": 1,
    }
    disc20, apology = WORLD_OFFERS.index("DISC20"), WORLD_OFFERS.index("APOLOGY_SENIOR")
    visit = CHANNELS.index("visit")

    def p(offer: int, channel: np.ndarray, recent: int, dispute: bool) -> np.ndarray:
        return contact_response(
            world,
            offer=np.full(n, offer),
            channel=channel,
            recent_contacts=np.full(n, recent),
            open_dispute=np.full(n, dispute),
            **common,
        )

    email = np.zeros(n, dtype=np.int64)
    base = p(disc20, email, 0, False)
    np.testing.assert_allclose(p(disc20, email, 2, False), base * world.fatigue_per_contact**2)
    np.testing.assert_allclose(p(disc20, email, 0, True), base * world.dispute_response_factor)
    np.testing.assert_allclose(p(apology, email, 0, True), p(apology, email, 0, False))
    at_visit = p(disc20, np.array([visit, -1, visit, 0]), 0, False)
    assert at_visit[0] == 0.0 and at_visit[1] == 0.0 and at_visit[2] > 0.0
    unknown = p(-1, email, 0, False)
    assert (unknown == 0.0).all()


# --- a shop of world 1 --------------------------------------------------------------------


def test_same_seed_and_world_give_identical_files(tmp_path: Path) -> None:
    spec = SMALL.model_copy(update={"world": 2, "fmt": "parquet"})
    generate_shop(spec, tmp_path / "a")
    generate_shop(spec, tmp_path / "b")
    first, second = _digests(tmp_path / "a"), _digests(tmp_path / "b")
    # 8 tables, 5 truth tables and world.json (drawn worlds add campaign_offer_truth).
    assert len(first) == 14 and first == second
    assert "truth/campaign_offer_truth.parquet" in first
    # ... and the world changes the campaigns but not the customers' latent drivers.
    generate_shop(spec.model_copy(update={"world": 3}), tmp_path / "c")
    third = _digests(tmp_path / "c")
    assert first["products.parquet"] == third["products.parquet"]
    assert first["campaign_contacts.parquet"] != third["campaign_contacts.parquet"]
    assert first["truth/world.json"] != third["truth/world.json"]
    world = json.loads((tmp_path / "a" / "truth" / "world.json").read_text(encoding="utf-8"))
    assert world["number"] == 2
    assert world_json(world_from_dict(world)) == world_json(draw_world(2))


def test_past_campaigns_randomise_offers_and_channels(world1: Path) -> None:
    contacts = pd.read_parquet(world1 / "campaign_contacts.parquet")
    assert set(contacts["channel"]) <= set(CONTRACT_CHANNELS)
    treated = contacts[contacts["group"] == "treatment"]
    control = contacts[contacts["group"] == "control"]
    assert (control["channel"] == "none").all() and control["offer_code"].notna().all()
    shares = treated["channel"].value_counts(normalize=True)
    assert {"email", "sms", "push", "phone"} <= set(shares.index) and "none" not in shares
    assert shares.max() < 0.6
    customers = pd.read_parquet(world1 / "customers.parquet").set_index("customer_id")
    visited = treated.loc[treated["channel"] == "visit", "customer_id"]
    assert (customers.loc[visited, "segment"] == "b2b").all()
    # Offer tests draw every one of the 11 offers; sequences start with a reminder.
    assert set(treated["offer_code"]) == set(WORLD_OFFERS)
    first = treated[treated["step"] == 1]["offer_code"].value_counts(normalize=True)
    assert first.max() < 0.8
    # Treated customers come back more often than the control group (R10).
    converted = contacts["converted_order_id"].notna()
    rate = converted.groupby(contacts["group"]).mean()
    assert rate["treatment"] > rate["control"] + 0.02


def test_opt_outs_end_up_in_the_customers_table(world1: Path, world1_as_world0: Path) -> None:
    after = pd.read_parquet(world1 / "customers.parquet").set_index("customer_id")
    before = pd.read_parquet(world1_as_world0 / "customers.parquet").set_index("customer_id")
    flags = ["consent_email", "consent_sms", "consent_phone", "consent_push"]
    # Same seed: the same customers with the same initial consent; world 1 only removes.
    assert (after[flags] <= before[flags]).all().all()
    assert (after["do_not_contact"] >= before["do_not_contact"]).all()
    changed = (after[flags] != before[flags]).any(axis=1) | (
        after["do_not_contact"] != before["do_not_contact"]
    )
    assert changed.sum() > 10
    contacts = pd.read_parquet(world1 / "campaign_contacts.parquet")
    treated = set(contacts.loc[contacts["group"] == "treatment", "customer_id"])
    assert set(changed[changed].index) <= treated
    assert before.equals(
        pd.read_parquet(world1_as_world0 / "customers.parquet").set_index("customer_id")
    )


def test_response_truth_describes_every_customer(world1: Path) -> None:
    truth = _response_truth(world1)
    customers = pd.read_parquet(world1 / "truth" / "customers_truth.parquet")
    assert truth["customer_id"].tolist() == customers["customer_id"].tolist()
    assert set(truth["response_row"]) <= set(ROWS)
    p_cols = [f"p_return__{o}__{c}" for o in WORLD_OFFERS for c in CHANNELS]
    assert [c for c in truth.columns if c.startswith("p_return__")] == p_cols
    b2c = ~truth["is_b2b"]
    visit_cols = [c for c in p_cols if c.endswith("__visit")]
    assert truth.loc[b2c, visit_cols].isna().all().all()
    assert truth.loc[~b2c, visit_cols].notna().all().all()
    values = truth[p_cols].to_numpy()
    base = truth["p_return_if_not_contacted"].to_numpy()[:, None]
    finite = ~np.isnan(values)
    assert (values[finite] >= np.broadcast_to(base, values.shape)[finite] - 1e-12).all()
    assert (values[finite] <= 1.0).all()
    assert truth["open_dispute_at_as_of"].any()
    assert (truth["recent_contacts_at_as_of"] == truth["recent_contact_ages_days"].map(len)).all()
    # offer_response_truth is the e-mail column of the same model.
    offers = pd.read_parquet(world1 / "truth" / "offer_response_truth.parquet")
    wide = offers.pivot(index="customer_id", columns="offer_type", values="p_return_if_offered")
    for offer in WORLD_OFFERS:
        np.testing.assert_array_equal(
            wide.loc[truth["customer_id"], offer].to_numpy(),
            truth[f"p_return__{offer}__email"].to_numpy(),
        )


def test_campaign_offer_truth_prices_every_first_contact_counterfactually(
    world1: Path, world1_as_world0: Path
) -> None:
    """For judging a policy on a past campaign: every first contact (control included)
    with its no-contact chance and its chance under any offer on any reachable channel;
    the logged contact's own column is the response it was drawn from."""
    assert not (world1_as_world0 / "truth" / "campaign_offer_truth.parquet").exists()
    truth = pd.read_parquet(world1 / "truth" / "campaign_offer_truth.parquet")
    contacts = pd.read_parquet(world1 / "campaign_contacts.parquet").merge(
        pd.read_parquet(world1 / "truth" / "campaign_contacts_truth.parquet"),
        on=["contact_id", "customer_id"],
    )
    first = contacts[contacts["step"] == 1].merge(
        truth, on=["contact_id", "customer_id", "campaign_id"], validate="1:1"
    )
    assert len(first) == len(truth) == (contacts["step"] == 1).sum()
    p_cols = [f"p_return__{o}__{c}" for o in WORLD_OFFERS for c in CHANNELS]
    assert [c for c in truth.columns if c.startswith("p_return__")] == p_cols
    values = first[p_cols].to_numpy()
    base = first["p_return_if_not_contacted"].to_numpy()
    assert ((base >= 0) & (base <= 1)).all()
    assert (values[~np.isnan(values)] >= np.repeat(base, len(p_cols))[~np.isnan(values).ravel()]
            - 1e-12).all()  # fmt: skip
    # Every first contact had a channel to draw from.
    assert (~np.isnan(values)).any(axis=1).all()
    treated = first[first["group"] == "treatment"].reset_index(drop=True)
    logged = np.array(
        [treated.at[i, f"p_return__{o}__{c}"] for i, (o, c) in
         enumerate(zip(treated["offer_code"], treated["channel"], strict=True))]
    )  # fmt: skip
    expected = 1 - (1 - treated["p_return_if_not_contacted"]) * (
        1 - treated["p_return_caused_by_contact"]
    )
    np.testing.assert_allclose(logged, expected.to_numpy(), atol=1e-12)
    # The truth predicts what happened: conversions of each group within a few points.
    converted = first["converted_order_id"].notna()
    control = first["group"] == "control"
    assert abs(converted[control].mean() - base[control.to_numpy()].mean()) < 0.02
    assert abs(converted[~control].mean() - logged.mean()) < 0.02


# --- the evaluator ------------------------------------------------------------------------


def _plans(truth: pd.DataFrame, channel: str, *offers: str | None) -> pd.DataFrame:
    plans = pd.DataFrame({"customer_id": truth["customer_id"], "channel": channel})
    for k in (1, 2, 3):
        plans[f"offer_{k}"] = offers[k - 1] if k <= len(offers) else None
    return plans


def test_one_contact_is_valued_as_the_response_truth_says(world1: Path) -> None:
    truth = _response_truth(world1)
    for offer, channel in (("DISC20", "email"), ("REMIND", "email"), ("FREESHIP", "phone")):
        out = plan_outcomes(world1 / "truth", _plans(truth, channel, offer))
        np.testing.assert_array_equal(
            out["p_return"].to_numpy(), truth[f"p_return__{offer}__{channel}"].to_numpy()
        )
        np.testing.assert_array_equal(out["expected_contacts"].to_numpy(), 1.0)


def test_a_second_contact_wears_off(world1: Path) -> None:
    truth = _response_truth(world1)
    world = read_world(world1 / "truth" / "world.json")
    out = plan_outcomes(world1 / "truth", _plans(truth, "sms", "NEWARRIVALS", "NEWARRIVALS"))
    p0 = out["p_return_base"].to_numpy()
    u1 = (out["p_redeem_1"].to_numpy() - p0) / (1.0 - p0)
    u2 = out["p_redeem_2"].to_numpy() / out["p_sent_2"].to_numpy()
    moved = u1 > 0
    assert moved.sum() > 1000
    assert (u2[moved] < u1[moved]).all()
    # 14 days later the first contact is still inside the window: one fatigue factor.
    np.testing.assert_allclose(u2, u1 * world.fatigue_per_contact, rtol=1e-9, atol=1e-15)
    assert (out["expected_contacts"] < 2.0).all() and (out["expected_contacts"] > 1.0).all()


def test_an_open_dispute_calls_for_a_fix_not_a_discount(world1: Path) -> None:
    """R7: during an open dispute a discount works less than an apology, relative to what
    the two do for the same kind of customer without a dispute."""
    truth = _response_truth(world1)
    world = read_world(world1 / "truth" / "world.json")
    disc = plan_outcomes(world1 / "truth", _plans(truth, "email", "DISC20"))
    apology = plan_outcomes(world1 / "truth", _plans(truth, "email", "APOLOGY_SENIOR"))
    ratio = disc["incremental_return"] / apology["incremental_return"]
    row = truth["response_row"].map(ROWS.index).to_numpy()
    table = (
        world.response[row, WORLD_OFFERS.index("DISC20")]
        / world.response[row, WORLD_OFFERS.index("APOLOGY_SENIOR")]
    )
    dispute = truth["open_dispute_at_as_of"].to_numpy()
    assert dispute.sum() > 20
    np.testing.assert_allclose(
        ratio[dispute], table[dispute] * world.dispute_response_factor, rtol=1e-9
    )
    np.testing.assert_allclose(ratio[~dispute], table[~dispute], rtol=1e-9)
    # In world 1, disputed customers get less from the discount than from the apology.
    assert (
        disc.loc[dispute, "incremental_return"].sum()
        < apology.loc[dispute, "incremental_return"].sum()
    )


def test_incremental_return_is_never_negative_and_empty_plans_cost_nothing(
    world1: Path,
) -> None:
    truth = _response_truth(world1)
    rng = np.random.default_rng(0)
    n = len(truth)
    codes = np.array([*WORLD_OFFERS, "NOT_AN_OFFER", None], dtype=object)
    plans = pd.DataFrame(
        {
            "customer_id": truth["customer_id"],
            "channel": rng.choice(np.array([*CHANNELS, "chat"], dtype=object), n),
            "offer_1": rng.choice(codes, n),
            "offer_2": rng.choice(codes, n),
            "offer_3": rng.choice(codes, n),
        }
    )
    cost = CHANNEL_COST | {"chat": 0.5}
    out = realised_profit(world1 / "truth", plans, cost, CATALOGUE)
    assert (out["incremental_return"] >= 0.0).all()
    assert (out["p_return"] >= out["p_return_base"]).all()
    assert out[[f"p_redeem_{k}" for k in (1, 2, 3)]].stack().between(0.0, 1.0).all()
    # Unknown offers and channels, and visits to B2C customers, move nobody.
    inert = (
        ~plans["channel"].isin(CHANNELS)
        | (
            (plans["channel"] == "visit")
            & plans["customer_id"].isin(truth.loc[~truth["is_b2b"], "customer_id"])
        )
        | plans[["offer_1", "offer_2", "offer_3"]]
        .apply(lambda col: col.isna() | (col == "NOT_AN_OFFER"))
        .all(axis=1)
    )
    assert (out.loc[inert, "incremental_return"] == 0.0).all()
    empty = plans.assign(offer_1=None, offer_2=None, offer_3=None)
    nothing = realised_profit(world1 / "truth", empty, {}, CATALOGUE)
    assert (nothing[["profit", "gain", "contact_cost", "discount_cost"]] == 0.0).all().all()
    assert (nothing["expected_contacts"] == 0.0).all()


def test_realised_profit_adds_up(world1: Path) -> None:
    truth = _response_truth(world1)
    plans = _plans(truth, "phone", "REMIND", "DISC20", "APOLOGY_SENIOR")
    out = realised_profit(world1 / "truth", plans, CHANNEL_COST, CATALOGUE)
    np.testing.assert_allclose(out["gain"], out["incremental_return"] * out["value_of_return"])
    expected_contact_cost = (
        out["p_sent_1"] * (2.5 + 0.0) + out["p_sent_2"] * 2.5 + out["p_sent_3"] * (2.5 + 12.0)
    )
    np.testing.assert_allclose(out["contact_cost"], expected_contact_cost)
    np.testing.assert_allclose(
        out["discount_cost"], 0.2 * truth["expected_order_value"] * out["p_redeem_2"]
    )
    np.testing.assert_allclose(
        out["profit"], out["gain"] - out["contact_cost"] - out["discount_cost"]
    )
    with pytest.raises(ValueError, match="phone"):
        realised_profit(world1 / "truth", plans, {"email": 0.05}, CATALOGUE)
    with pytest.raises(ValueError, match="not in the shop"):
        plan_outcomes(world1 / "truth", plans.assign(customer_id="C9999999"))


def test_recent_contacts_before_as_of_tire_the_customer(tmp_path: Path) -> None:
    """R13: with campaigns close to as_of, a customer's own recent win-back contacts damp
    the plan's contacts while they are inside the fatigue window, and only then."""
    spec = ShopSpec(
        n_customers=2000,
        seed=3,
        as_of=dt.date(2026, 3, 31),
        fmt="parquet",
        world=4,
        n_campaigns=12,
    )
    generate_shop(spec, tmp_path)
    truth = _response_truth(tmp_path)
    world = read_world(tmp_path / "truth" / "world.json")
    tired = truth["recent_contacts_at_as_of"].to_numpy() > 0
    assert tired.sum() > 50
    out = plan_outcomes(tmp_path / "truth", _plans(truth, "email", "REMIND", "REMIND"))
    p0 = out["p_return_base"].to_numpy()
    u1 = (out["p_redeem_1"].to_numpy() - p0) / (1.0 - p0)
    u2 = out["p_redeem_2"].to_numpy() / out["p_sent_2"].to_numpy()
    fresh = contact_response(
        world,
        reason_row=truth["response_row"].map(ROWS.index).to_numpy(),
        offer=np.full(len(truth), WORLD_OFFERS.index("REMIND")),
        channel=np.zeros(len(truth), dtype=np.int64),
        is_b2b=truth["is_b2b"].to_numpy(),
        age_band=truth["age_band"].map(list(AGE_BANDS).index).to_numpy(),
        recent_contacts=np.zeros(len(truth), dtype=np.int64),
        open_dispute=truth["open_dispute_at_as_of"].to_numpy(),
        step=1,
    )
    f, window = world.fatigue_per_contact, world.fatigue_window_days
    np.testing.assert_allclose(u1, fresh * f ** truth["recent_contacts_at_as_of"], rtol=1e-9)
    still = truth["recent_contact_ages_days"].map(lambda ages: int((ages + 14.0 < window).sum()))
    np.testing.assert_allclose(u2, fresh * f ** (still + 1), rtol=1e-9)
    assert (still[tired] < truth.loc[tired, "recent_contacts_at_as_of"]).any()
