"""Properties of the list over generated demo shops (issue 6 acceptance)."""

from __future__ import annotations

import datetime as dt

import duckdb
import pandas as pd
import pytest

from tests.shops import settings_for
from winback.decisions.run import run_decisions
from winback.demo import ShopSpec, generate_shop
from winback.ingest import load_data_dir
from winback.transform import FEATURE_BUILD, run_dbt

AS_OF = dt.date(2026, 6, 30)
CONSENT_OF = {"email": "email", "sms": "sms", "push": "push", "phone": "phone", "visit": "phone"}
SHOPS = [(2000, 5, 800.0, 0.1), (3000, 8, 2500.0, 0.25)]


@pytest.fixture(scope="module", params=SHOPS, ids=lambda p: f"n{p[0]}-seed{p[1]}")
def shop(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, object]:
    n, seed, budget, control_share = request.param
    root = tmp_path_factory.mktemp(f"shop{n}_{seed}")
    generate_shop(ShopSpec(n_customers=n, seed=seed, as_of=AS_OF, fmt="parquet"), root / "data")
    warehouse = root / "wh.duckdb"
    load_data_dir(warehouse, root / "data", AS_OF)
    settings = settings_for(warehouse, decisions={"budget": budget, "control_share": control_share})
    run_dbt(FEATURE_BUILD, settings, AS_OF)
    run_decisions(settings, AS_OF)
    con = duckdb.connect(str(warehouse))
    try:
        frames = {
            "list": con.execute("select * from marts.winback_list").df(),
            "excluded": con.execute("select * from marts.winback_exclusions").df(),
            "queue": con.execute("select * from marts.service_recovery_queue").df(),
            "customers": con.execute("select * from staging.stg_shop__customers").df(),
            "features": con.execute(
                "select * from marts.customer_features where is_scoring_snapshot"
            ).df(),
            "catalogue": con.execute("select * from reference.winback_offer_catalogue").df(),
            "caps": con.execute("select * from reference.winback_discount_caps").df(),
            "reasons": con.execute(
                "select customer_id, reason from intermediate.int_winback_reasons_scored "
                "where is_scoring_snapshot and (reason_rank = 1 or reason_confidence >= 0.2)"
            ).df(),
        }
    finally:
        con.close()
    return frames | {"budget": budget, "control_share": control_share}


def test_nobody_excluded_is_in_the_list(shop: dict[str, pd.DataFrame]) -> None:
    listed, excluded = shop["list"], shop["excluded"]
    assert len(listed) > 50 and len(excluded) > 0
    assert not set(listed["customer_id"]) & set(excluded["customer_id"])
    candidates = shop["features"].query("lapse_status in ['at_risk', 'lapsed', 'lost']")
    assert set(listed["customer_id"]) | set(excluded["customer_id"]) == set(
        candidates["customer_id"]
    )
    assert set(shop["queue"]["customer_id"]) == set(
        excluded.loc[excluded["exclusion_reason"] == "open_dispute", "customer_id"]
    )


def test_no_contact_without_consent_or_against_do_not_contact(
    shop: dict[str, pd.DataFrame],
) -> None:
    contacted = shop["list"].query("is_contacted").merge(shop["customers"], on="customer_id")
    assert len(contacted) > 0
    for row in contacted.itertuples():
        assert getattr(row, f"has_consent_{CONSENT_OF[row.channel]}"), row.customer_id
        assert not row.is_do_not_contact
    assert shop["list"].query("not is_contacted")["channel"].isna().all()


def test_control_group_is_never_contacted(shop: dict[str, pd.DataFrame]) -> None:
    listed = shop["list"]
    control = listed[listed["is_control_group"]]
    assert len(control) > 0
    assert not control["is_contacted"].any()
    for column in ("channel", "contact_1_at", "contact_2_at", "contact_3_at"):
        assert control[column].isna().all()
    share = listed["is_control_group"].mean()
    assert abs(share - shop["control_share"]) < 0.06  # type: ignore[operator]


def test_discounts_within_tier_caps_and_never_blanket(shop: dict[str, pd.DataFrame]) -> None:
    listed = shop["list"].merge(shop["caps"], on="value_tier")
    assert (listed["discount_depth"] <= listed["max_discount_depth"] + 1e-9).all()
    catalogue = shop["catalogue"].set_index("offer_code")
    # An offer answers one of the customer's likely reasons (the first, or one >= 20%).
    likely = shop["reasons"].groupby("customer_id")["reason"].agg(set)
    for row in listed.itertuples():
        eligible = catalogue.at[row.recommended_offer, "eligible_reasons"]
        assert row.value_tier <= catalogue.at[row.recommended_offer, "min_tier"]
        if eligible != "any":
            assert likely[row.customer_id] & set(eligible.split("|")), row.customer_id


def test_frequency_cap_and_sequence(shop: dict[str, pd.DataFrame]) -> None:
    contacted = shop["list"].query("is_contacted").merge(shop["features"], on="customer_id")
    recent = contacted["days_since_winback_contact"].dropna()
    assert (recent >= 30).all()
    first = contacted["contact_1_at"]
    second = contacted["contact_2_at"].dropna()
    third = contacted["contact_3_at"].dropna()
    assert first.notna().all() and (contacted["planned_contacts"].between(1, 3)).all()
    assert ((second - first[second.index]).dt.days >= 14).all()
    assert ((third - second[third.index]).dt.days >= 14).all()
    assert (first > pd.Timestamp(AS_OF)).all()


def test_budget_is_spent_and_never_exceeded(shop: dict[str, pd.DataFrame]) -> None:
    """The budget is expected spend (contacts sent + discounts redeemed): the allocation
    spends it (it binds: profitable plans are left out) and never goes over."""
    listed = shop["list"]
    contacted = listed[listed["is_contacted"]]
    spent = contacted["expected_cost"].sum()
    budget = float(shop["budget"])  # type: ignore[arg-type]
    assert 0.9 * budget <= spent <= budget + 1e-6
    assert listed["action"].eq("not_selected_budget").any()
    left_out = listed[listed["action"].eq("not_selected_budget")]
    assert (left_out["expected_profit"] > 0).any()
    assert (contacted["expected_profit"] > 0).all()
    assert contacted["cumulative_expected_cost"].max() == pytest.approx(spent)
