"""The merchant's assumptions (R8–R12): shipped defaults that follow a documented rule,
merchant files that replace them (validated with file, row and column), and the offer
codes of the campaign history that the catalogue lacks. Through the real ingestion and
dbt on a small hand-made shop."""

from __future__ import annotations

import csv
import datetime as dt
import inspect
import shutil
from pathlib import Path

import pandas as pd
import pytest

from tests.shops import settings_for
from winback.assumptions import (
    SCHEMA,
    TABLES,
    AssumptionsError,
    AssumptionsReport,
    Problem,
    check_assumptions,
    load_assumptions,
)
from winback.cli import WHAT_TO_DO
from winback.config import DBT_PROJECT_DIR, Settings
from winback.decisions.run import run_decisions
from winback.flows import nightly as nightly_module
from winback.ingest import load_data_dir
from winback.transform import FEATURE_BUILD, run_dbt
from winback.warehouse import connect, write_scores

AS_OF = dt.date(2026, 6, 30)
SEEDS = DBT_PROJECT_DIR / "seeds" / "winback"
CUSTOMERS = ["A1", "A2", "A3", "A4"]
UNKNOWN = "SPRING15"  # used by the merchant's past campaigns, not in the shipped catalogue


def seed_rows(name: str) -> list[dict[str, str]]:
    with (SEEDS / f"{name}.csv").open(encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def write_csv(path: Path, rows: list[dict[str, str]], columns: list[str] | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    columns = columns or list(rows[0])
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, columns, extrasaction="ignore", lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    return path


# --- a small shop ----------------------------------------------------------------------------


def write_shop(data: Path) -> None:
    """Four lapsed customers (four purchases 30 days apart, the last 200 days ago) who
    consent to email, and past campaigns that used REMIND and the unknown SPRING15."""
    last = pd.Timestamp("2025-12-12T10:00:00Z")
    orders = [
        {
            "order_id": f"{cid}-{k}",
            "customer_id": cid,
            "order_ts": (last - pd.Timedelta(days=30 * k)).isoformat(),
            "amount": 80.0,
            "status": "paid",
        }
        for cid in CUSTOMERS
        for k in range(4)
    ]
    customers = [
        {
            "customer_id": cid,
            "consent_email": True,
            "consent_sms": False,
            "consent_phone": False,
            "consent_push": False,
            "preferred_channel": "email",
            "preferred_contact_hour": 19,
            "do_not_contact": False,
            "segment": "b2c",
            "timezone": "Asia/Shanghai",
        }
        for cid in CUSTOMERS
    ]
    contacts = [
        {
            "contact_id": f"K{n}",
            "customer_id": cid,
            "campaign_id": campaign,
            "contact_ts": ts,
            "channel": "email",
            "offer_code": offer,
            "group": group,
            "step": 1,
            "converted_order_id": None,
        }
        for n, (cid, campaign, ts, offer, group) in enumerate(
            [
                ("A1", "C-2026-05a", "2026-05-10T11:00:00Z", UNKNOWN, "treatment"),
                ("A2", "C-2026-05a", "2026-05-10T11:00:00Z", UNKNOWN, "control"),
                ("A3", "C-2026-05b", "2026-05-20T11:00:00Z", UNKNOWN, "treatment"),
                ("A4", "C-2026-05b", "2026-05-20T11:00:00Z", "REMIND", "treatment"),
            ],
            start=1,
        )
    ]
    data.mkdir(parents=True, exist_ok=True)
    for name, rows in {
        "orders": orders,
        "customers": customers,
        "campaign_contacts": contacts,
    }.items():
        pd.DataFrame(rows).to_csv(data / f"{name}.csv", index=False)


def query(settings: Settings, sql: str) -> pd.DataFrame:
    with connect(settings.warehouse) as con:
        return con.execute(sql).df()


def assumption_tables(settings: Settings) -> set[str]:
    frame = query(
        settings,
        f"select table_name from duckdb_tables() where schema_name = '{SCHEMA}'",
    )
    return set(frame["table_name"])


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """The shop loaded and its features built (once); each test then loads the
    assumptions and runs the decisions build, as the nightly flow does."""
    root = tmp_path_factory.mktemp("assumptions")
    write_shop(root / "data")
    warehouse = root / "wh.duckdb"
    load_data_dir(warehouse, root / "data", AS_OF)
    settings = settings_for(
        warehouse,
        data_dir=root / "data",
        # snapshots 06-30, 05-31, 05-01 (the calendar through 2026-05-01): the campaigns of
        # 05-10 and 05-20 are read at the 05-01 snapshot
        features={"snapshot_count": 3, "snapshot_anchor_date": "2026-05-01"},
        decisions={"budget": 1000, "control_share": 0.0},
    )
    run_dbt(FEATURE_BUILD, settings, AS_OF)
    write_scores(
        warehouse,
        AS_OF,
        pd.DataFrame({"customer_id": CUSTOMERS, "churn_probability": 0.8, "model_version": "1"}),
    )
    return settings


def decide(settings: Settings) -> AssumptionsReport:
    """The nightly order: assumptions right after the load, then the decisions build."""
    report = load_assumptions(settings)
    run_decisions(settings, AS_OF)
    return report


# --- the shipped defaults ----------------------------------------------------------------------


def test_the_shipped_priors_follow_the_documented_rule_and_pass_the_checks() -> None:
    """R8: 0.08 when the offer answers the reason (listed in eligible_reasons, or a generic
    contact for `forgot`), 0.03 for a generic contact otherwise, 0.01 for the rest; one
    row for every reason x offer; the channels carry a prior effect."""
    _, report = check_assumptions(Settings(data_dir=Path("/nonexistent")))
    assert {t.source for t in report.tables.values()} == {"default"}
    assert report.derived_prior_offers == []
    reasons = [r["reason"] for r in seed_rows("winback_reasons")]
    catalogue = {
        r["offer_code"]: r["eligible_reasons"] for r in seed_rows("winback_offer_catalogue")
    }
    priors = {
        (r["reason"], r["offer_code"]): float(r["prior_return_probability"])
        for r in seed_rows("winback_reason_offer_priors")
    }
    assert set(priors) == {(reason, code) for reason in reasons for code in catalogue}
    for (reason, code), prior in priors.items():
        eligible = catalogue[code]
        if eligible == "any":
            expected = 0.08 if reason == "forgot" else 0.03
        else:
            expected = 0.08 if reason in eligible.split("|") else 0.01
        assert prior == expected, (reason, code)
    effect = {r["channel"]: float(r["prior_effect"]) for r in seed_rows("winback_channels")}
    assert effect == {"email": 1.0, "sms": 1.0, "push": 0.7, "phone": 1.5, "visit": 2.0}


def test_the_default_run_reads_the_seeds_and_reports_unknown_offers(shop: Settings) -> None:
    report = decide(shop)
    assert report.merchant_tables() == []
    assert assumption_tables(shop) == set()
    for model, seed, key in [
        ("stg_assumptions__offer_catalogue", "winback_offer_catalogue", "offer_code"),
        ("stg_assumptions__channels", "winback_channels", "channel"),
        ("stg_assumptions__discount_caps", "winback_discount_caps", "value_tier"),
    ]:
        staged = query(shop, f"select * from staging.{model} order by {key}")
        seeded = query(shop, f"select * from reference.{seed} order by {key}")
        pd.testing.assert_frame_equal(staged, seeded[list(staged.columns)], check_dtype=False)
    priors = query(shop, "select * from staging.stg_assumptions__reason_offer_priors")
    assert len(priors) == 77 and set(priors["prior_source"]) == {"given"}
    # The unknown code is reported by the task and by the mart, with its use.
    [unknown] = report.unknown_offers
    assert (unknown.offer_code, unknown.contacts, unknown.campaigns) == (UNKNOWN, 3, 2)
    assert unknown.last_contact_date == dt.date(2026, 5, 20)
    mart = query(shop, "select * from marts.winback_unknown_offers")
    assert mart.to_dict("records") == [
        {
            "offer_code": UNKNOWN,
            "contacts": 3,
            "control_contacts": 1,
            "campaigns": 2,
            "customers": 3,
            "first_contact_date": pd.Timestamp("2026-05-10"),
            "last_contact_date": pd.Timestamp("2026-05-20"),
        }
    ]
    # Not in the catalogue: never offered, though its contacts stay in the history.
    eligible = query(
        shop, "select distinct offer_code from intermediate.int_winback_offers_eligible"
    )
    assert UNKNOWN not in set(eligible["offer_code"]) and len(eligible) > 0
    chosen = query(
        shop,
        "select step_1_offer, step_2_offer, step_3_offer from decisions.plan_choices",
    )
    assert UNKNOWN not in set(chosen.stack())


def test_an_override_changes_what_dbt_sees_and_removing_it_reverts(shop: Settings) -> None:
    folder = shop.data_dir / "assumptions"
    catalogue = seed_rows("winback_offer_catalogue")
    for row in catalogue:
        if row["offer_code"] == "FREESHIP":
            row["fixed_cost"] = "9.50"
    spring = dict(catalogue[0]) | {
        "offer_code": UNKNOWN,
        "offer_type": "personal_discount",
        "description": "15% off the spring collection",
        "discount_depth": "0.15",
        "fixed_cost": "0.00",
        "eligible_reasons": "any",
        "min_tier": "5",
        "channels": "email",
        "validity_days": "21",
    }
    write_csv(folder / "offer_catalogue.csv", [*catalogue, spring])
    try:
        report = decide(shop)
        assert report.merchant_tables() == ["offer_catalogue"]
        assert report.unknown_offers == []
        assert report.derived_prior_offers == [UNKNOWN]
        assert assumption_tables(shop) == {"offer_catalogue"}
        staged = query(shop, "select * from staging.stg_assumptions__offer_catalogue")
        assert UNKNOWN in set(staged["offer_code"])
        assert staged.set_index("offer_code").loc["FREESHIP", "fixed_cost"] == 9.5
        # The new offer gets priors by the rule (a generic contact: the lowest given prior of
        # the generic kind, 0.03), the decisions learn from its history and may offer it.
        priors = query(
            shop,
            "select * from staging.stg_assumptions__reason_offer_priors "
            f"where offer_code = '{UNKNOWN}'",
        )
        assert len(priors) == 7 and set(priors["prior_source"]) == {"derived"}
        assert set(priors["prior_return_probability"]) == {0.03}
        history = query(
            shop,
            "select * from intermediate.int_winback_response_history "
            f"where offer_code = '{UNKNOWN}'",
        )
        assert len(history) == 3 and (~history["is_control"]).sum() > 0
        eligible = query(
            shop,
            "select customer_id from intermediate.int_winback_offers_eligible "
            f"where offer_code = '{UNKNOWN}'",
        )
        candidates = query(
            shop, "select customer_id from intermediate.int_winback_allocation_candidates"
        )
        assert set(eligible["customer_id"]) == set(candidates["customer_id"]) != set()
        assert query(shop, "select * from marts.winback_unknown_offers").empty
    finally:
        shutil.rmtree(folder)
    report = decide(shop)
    assert report.merchant_tables() == []
    assert assumption_tables(shop) == set()
    staged = query(shop, "select * from staging.stg_assumptions__offer_catalogue")
    assert UNKNOWN not in set(staged["offer_code"])
    assert staged.set_index("offer_code").loc["FREESHIP", "fixed_cost"] == 6.0
    assert list(
        query(shop, "select offer_code from marts.winback_unknown_offers")["offer_code"]
    ) == [UNKNOWN]


# --- bad files: every problem names the file, the row and the column -------------------------------


def _rows(name: str, change: dict[int, dict[str, str]] | None = None) -> list[dict[str, str]]:
    rows = seed_rows(name)
    for index, values in (change or {}).items():
        rows[index] = rows[index] | values
    return rows


BAD_FILES = {
    "unknown_and_missing_column": (
        "offer_catalogue.csv",
        [
            {("discount" if k == "discount_depth" else k): v for k, v in row.items()}
            for row in seed_rows("winback_offer_catalogue")
        ],
        [
            Problem(
                "offer_catalogue.csv",
                "unknown column (did you mean 'discount_depth'?); the columns are "
                "offer_code, offer_type, description, discount_depth, fixed_cost, "
                "eligible_reasons, min_tier, channels, validity_days",
                column="discount",
            ),
            Problem("offer_catalogue.csv", "missing column", column="discount_depth"),
        ],
    ),
    "duplicate_key": (
        "channels.csv",
        _rows("winback_channels", {2: {"channel": "email"}}),
        [
            Problem(
                "channels.csv",
                "duplicate key: channel 'email' is already on row 1",
                row=3,
                column="channel",
            )
        ],
    ),
    "discount_deeper_than_0_9": (
        "offer_catalogue.csv",
        _rows("winback_offer_catalogue", {3: {"discount_depth": "0.95"}}),
        [
            Problem(
                "offer_catalogue.csv",
                "0.95 is out of range: must be at least 0 and at most 0.9 (a share of the "
                "order value, R9)",
                row=4,
                column="discount_depth",
            )
        ],
    ),
    "not_a_number": (
        "discount_caps.csv",
        _rows("winback_discount_caps", {1: {"max_discount_depth": "20%"}}),
        [
            Problem(
                "discount_caps.csv",
                "'20%' is not a number",
                row=2,
                column="max_discount_depth",
            )
        ],
    ),
    "missing_tier": (
        "discount_caps.csv",
        _rows("winback_discount_caps")[:4],
        [
            Problem(
                "discount_caps.csv",
                "no row for value tier 5: every tier 1-5 needs a cap (a tier without one "
                "gets no offer at all)",
                column="value_tier",
            )
        ],
    ),
    "unknown_reason": (
        "reason_offer_priors.csv",
        _rows("winback_reason_offer_priors", {0: {"reason": "prices"}}),
        [
            Problem(
                "reason_offer_priors.csv",
                "unknown reason 'prices' (did you mean 'price'?); the reasons are price, "
                "logistics, quality, service_attitude, forgot, needs_changed, competitor",
                row=1,
                column="reason",
            )
        ],
    ),
    "prior_for_an_offer_not_in_the_catalogue": (
        "reason_offer_priors.csv",
        [
            *seed_rows("winback_reason_offer_priors"),
            {"reason": "price", "offer_code": "XMAS", "prior_return_probability": "0.05"},
        ],
        [
            Problem(
                "reason_offer_priors.csv",
                "offer 'XMAS' is not in the offer catalogue in effect (the shipped "
                "winback_offer_catalogue.csv): add it there or remove the row",
                row=78,
                column="offer_code",
            )
        ],
    ),
    "consent_flag": (
        "channels.csv",
        _rows("winback_channels", {0: {"consent_flag": "mail"}}),
        [
            Problem(
                "channels.csv",
                "'mail' is not a consent flag (did you mean 'email'?); the channel needs one "
                "of the customers' consents: email, sms, phone, push",
                row=1,
                column="consent_flag",
            )
        ],
    ),
    "catalogue_names_an_unknown_reason_and_channel": (
        "offer_catalogue.csv",
        _rows(
            "winback_offer_catalogue",
            {5: {"eligible_reasons": "logistic", "channels": "email|fax"}},
        ),
        [
            Problem(
                "offer_catalogue.csv",
                "unknown reason 'logistic' (did you mean 'logistics'?); the reasons are "
                "price, logistics, quality, service_attitude, forgot, needs_changed, "
                "competitor (|-separated), or 'any'",
                row=6,
                column="eligible_reasons",
            ),
            Problem(
                "offer_catalogue.csv",
                "unknown channel 'fax'; the channels in effect (the shipped "
                "winback_channels.csv) are email, push, sms, phone, visit",
                row=6,
                column="channels",
            ),
        ],
    ),
    "catalogue_without_the_reminder": (
        "offer_catalogue.csv",
        _rows("winback_offer_catalogue")[1:],
        [
            Problem(
                "offer_catalogue.csv",
                "no row for offer 'REMIND', which every R12 sequence uses (setting "
                "decisions.reminder_offer, WINBACK_DECISIONS__REMINDER_OFFER): add it or "
                "change the setting",
                column="offer_code",
            )
        ],
    ),
    "prior_effect_not_positive": (
        "channels.csv",
        _rows("winback_channels", {1: {"prior_effect": "0"}}),
        [
            Problem(
                "channels.csv",
                "0 is out of range: must be above 0 and at most 10 (a multiplier on a "
                "contact's effect, email = 1, R11)",
                row=2,
                column="prior_effect",
            )
        ],
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_FILES))
def test_a_bad_file_is_refused_naming_file_row_and_column(case: str, tmp_path: Path) -> None:
    file_name, rows, expected = BAD_FILES[case]
    write_csv(tmp_path / "data" / "assumptions" / file_name, rows)
    settings = settings_for(tmp_path / "wh.duckdb", data_dir=tmp_path / "data")
    with pytest.raises(AssumptionsError) as caught:
        load_assumptions(settings)
    assert caught.value.problems == expected
    for problem in expected:
        assert str(problem) in str(caught.value)
    assert not (tmp_path / "wh.duckdb").exists()  # nothing written


def test_a_misspelt_file_or_another_format_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "assumptions"
    write_csv(folder / "offer_catalog.csv", seed_rows("winback_offer_catalogue"))
    (folder / "channels.xlsx").write_bytes(b"PK")
    (folder / "notes.md").write_text("our assumptions", encoding="utf-8")
    settings = settings_for(tmp_path / "wh.duckdb", decisions={"assumptions_dir": folder})
    with pytest.raises(AssumptionsError) as caught:
        check_assumptions(settings)
    assert caught.value.problems == [
        Problem("channels.xlsx", "assumption files are CSV: save it as channels.csv"),
        Problem(
            "offer_catalog.csv",
            "not an assumptions file (did you mean 'offer_catalogue.csv'?); the files are "
            "channels.csv, discount_caps.csv, offer_catalogue.csv, reason_offer_priors.csv",
        ),
    ]
    missing = settings_for(
        tmp_path / "wh.duckdb", decisions={"assumptions_dir": tmp_path / "nowhere"}
    )
    with pytest.raises(AssumptionsError, match="WINBACK_DECISIONS__ASSUMPTIONS_DIR"):
        check_assumptions(missing)


def test_a_bad_file_leaves_the_last_good_assumptions_and_stops_the_nightly_run(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "data" / "assumptions"
    settings = settings_for(tmp_path / "wh.duckdb", data_dir=tmp_path / "data")
    write_csv(
        folder / "discount_caps.csv",
        _rows("winback_discount_caps", {4: {"max_discount_depth": "0.05"}}),
    )
    load_assumptions(settings)
    write_csv(
        folder / "discount_caps.csv",
        _rows("winback_discount_caps", {4: {"max_discount_depth": "1.5"}}),
    )
    write_csv(folder / "channels.csv", seed_rows("winback_channels"))
    with pytest.raises(AssumptionsError):
        load_assumptions(settings)
    assert assumption_tables(settings) == {"discount_caps"}
    caps = query(settings, f"select * from {SCHEMA}.discount_caps order by value_tier")
    assert caps["max_discount_depth"].tolist() == [0.2, 0.2, 0.15, 0.1, 0.05]
    # The nightly flow checks them right after the raw-data gate, before any dbt build; the
    # command line says what to do.
    # (The flow runs its steps through Steps, under the lock: nightly_module._chain.)
    source = inspect.getsource(nightly_module._chain)
    gate = source.index("run(validate_raw, settings, load, reuse=not full_refresh)")
    assumptions = source.index("run(load_merchant_assumptions, settings)")
    assert gate < assumptions < source.index("run(build_features,")
    assert "AssumptionsError" in WHAT_TO_DO


def test_every_table_has_the_columns_of_its_seed() -> None:
    for table in TABLES:
        with table.seed_path.open(encoding="utf-8") as handle:
            header = next(csv.reader(handle))
        assert header == table.column_names, table.name
