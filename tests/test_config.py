"""One settings object: every default written once (winback/config.py), dbt's vars derived
from it, one environment scheme, and a change of one variable reaching dbt."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from tests.reminders import scenarios
from tests.shops import write_orders_only_shop
from winback.cli import app
from winback.config import (
    DBT_PROJECT_DIR,
    PROJECT_ROOT,
    Settings,
    SettingsError,
    describe,
    env_name,
    load_settings,
    settings_table_markdown,
)
from winback.decisions.run import run_decisions
from winback.demo import ShopSpec, generate_shop
from winback.ingest import load_data_dir
from winback.reminders.pipeline import run_once
from winback.transform import FEATURE_BUILD, RUN_VALUE_ENV, run_dbt
from winback.warehouse import connect

AS_OF = dt.date(2026, 6, 30)
VAR_CALL = re.compile(r"""\bvar\(\s*['"]([a-z0-9_]+)['"]\s*(,)?""")


def sql_var_calls() -> dict[str, list[str]]:
    """Every dbt var the project reads → the files reading it (models, macros)."""
    found: dict[str, list[str]] = {}
    for path in sorted(
        [*DBT_PROJECT_DIR.glob("models/**/*.sql"), *DBT_PROJECT_DIR.glob("macros/*.sql")]
    ):
        for match in VAR_CALL.finditer(path.read_text(encoding="utf-8")):
            found.setdefault(match.group(1), []).append(path.name)
    return found


def test_dbt_reads_exactly_the_vars_the_settings_give() -> None:
    used = set(sql_var_calls()) - set(RUN_VALUE_ENV)  # per-run values come from run_value()
    given = set(Settings().dbt_vars())
    assert used - given == set(), f"SQL reads vars no setting gives: {sorted(used - given)}"
    assert given - used == set(), (
        f"settings marked dbt_var that no SQL reads: {sorted(given - used)}"
    )


def test_the_sql_and_dbt_project_write_no_defaults_of_their_own() -> None:
    with_default = [
        f"{path.name}: {m.group(0)}"
        for path in DBT_PROJECT_DIR.glob("models/**/*.sql")
        for m in VAR_CALL.finditer(path.read_text(encoding="utf-8"))
        if m.group(2) and m.group(1) not in RUN_VALUE_ENV
    ]
    assert with_default == []
    project = yaml.safe_load((DBT_PROJECT_DIR / "dbt_project.yml").read_text(encoding="utf-8"))
    assert "vars" not in project
    profile = (DBT_PROJECT_DIR / "profiles.yml").read_text(encoding="utf-8")
    assert "WINBACK_DBT_WAREHOUSE_PATH')" in profile  # no fallback path or memory cap
    assert "WINBACK_DBT_MEMORY_LIMIT')" in profile


def test_one_environment_scheme_and_a_clear_error_for_an_old_or_misspelt_name(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("WINBACK_DECISIONS__BUDGET", "1234.5")
    monkeypatch.setenv("WINBACK_MODEL__LIGHTGBM__NUM_LEAVES", "15")
    monkeypatch.setenv("WINBACK_REMINDERS__CUTOFF_HOURS", "[16, 10]")
    monkeypatch.setenv("WINBACK_DECISIONS__CONTROL_SHARE", "0.2")
    settings = load_settings()
    assert settings.decisions.budget == 1234.5
    assert settings.model.lightgbm.num_leaves == 15
    assert settings.reminders.cutoff_hours == [10, 16]
    assert settings.dbt_vars()["winback_control_share"] == 0.2
    assert "winback_budget" not in settings.dbt_vars()  # the allocation reads it, not SQL
    assert env_name("model.lightgbm.num_leaves") == "WINBACK_MODEL__LIGHTGBM__NUM_LEAVES"

    monkeypatch.setenv("WINBACK_DECISION_BUDGET", "10")  # the old name: refused, not ignored
    with pytest.raises(SettingsError, match="did you mean WINBACK_DECISIONS__BUDGET"):
        load_settings()
    monkeypatch.delenv("WINBACK_DECISION_BUDGET")
    monkeypatch.setenv("WINBACK_REMINDERS__CUTOFF_HOURS", "[0, 30]")
    with pytest.raises(
        SettingsError, match=r"reminders.cutoff_hours \(WINBACK_REMINDERS__CUTOFF_HOURS\)"
    ):
        load_settings()


def test_a_toml_file_sets_values_and_config_show_says_where_each_came_from(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "winback.toml").write_text(
        '[decisions]\nbudget = 800\n\n[shop]\ntimezone = "Europe/Berlin"\n', encoding="utf-8"
    )
    monkeypatch.setenv("WINBACK_SHOP__TIMEZONE", "Asia/Tokyo")  # environment beats the file
    settings = load_settings(features={"horizon_days": 60})  # the command line beats both
    assert settings.decisions.budget == 800
    assert settings.shop.timezone == "Asia/Tokyo"
    rows = {r["setting"]: r for r in describe(settings, {"features": {"horizon_days": 60}})}
    assert rows["decisions.budget"]["source"] == "winback.toml"
    assert rows["shop.timezone"]["source"] == "environment"
    assert rows["features.horizon_days"]["source"] == "command line"
    assert rows["decisions.control_share"]["source"] == "default"
    assert rows["decisions.budget"]["dbt_var"] == ""  # read by the allocation, not dbt
    assert rows["decisions.control_share"]["dbt_var"] == "winback_control_share"

    shown = CliRunner().invoke(app, ["config", "show", "decisions", "--changed"])
    assert shown.exit_code == 0, shown.output
    assert shown.output.splitlines() == [
        line for line in shown.output.splitlines() if line.startswith("decisions.budget")
    ]
    assert "800.0" in shown.output and "[winback.toml]" in shown.output

    (tmp_path / "winback.toml").write_text("[decisions]\nbudgte = 800\n", encoding="utf-8")
    with pytest.raises(SettingsError, match=r"decisions\.budgte"):
        load_settings()


def test_the_readme_settings_table_is_the_generated_one() -> None:
    readme = (PROJECT_ROOT / "README.md").read_text(encoding="utf-8")
    start, end = "<!-- settings-table:start -->\n", "\n<!-- settings-table:end -->"
    assert start in readme and end in readme, "README lacks the settings-table markers"
    table = readme.split(start, 1)[1].split(end, 1)[0]
    assert table == settings_table_markdown(), (
        "README settings table is stale: run `winback config docs --readme README.md`"
    )


# --- one variable, end to end: dbt sees it ---------------------------------------------------


@pytest.fixture
def env_warehouse(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Settings from the environment only, as a scheduled run sees them."""
    monkeypatch.chdir(tmp_path)
    for name in ("WINBACK_AS_OF", "WINBACK_DATA_DIR", "WINBACK_FEATURES__HORIZON_DAYS"):
        monkeypatch.delenv(name, raising=False)
    warehouse = tmp_path / "wh.duckdb"
    monkeypatch.setenv("WINBACK_WAREHOUSE__PATH", str(warehouse))
    return warehouse


def query(warehouse: Path, sql: str) -> pd.DataFrame:
    # Read-write, as dbt's in-process connection to the same file is.
    with connect(warehouse) as con:
        return con.execute(sql).df()


@pytest.mark.e2e
def test_the_horizon_is_one_variable_and_dbt_uses_it(
    env_warehouse: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_orders_only_shop(tmp_path / "shop", n_customers=150)
    load_data_dir(env_warehouse, tmp_path / "shop", AS_OF)
    monkeypatch.setenv("WINBACK_FEATURES__HORIZON_DAYS", "60")
    run_dbt(FEATURE_BUILD, load_settings().resolved(), AS_OF)
    grid = query(
        env_warehouse,
        "select as_of_date, date_diff('day', as_of_end_at, horizon_end_at) as horizon, "
        "is_label_observed from intermediate.int_snapshot_dates",
    )
    assert set(grid["horizon"]) == {60}
    labelled = grid["as_of_date"] + pd.Timedelta(days=60) <= pd.Timestamp(AS_OF)
    assert (grid["is_label_observed"] == labelled).all()


@pytest.mark.e2e
def test_the_budget_is_one_variable_and_the_allocation_spends_it(
    env_warehouse: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    generate_shop(ShopSpec(n_customers=1500, seed=9, as_of=AS_OF, fmt="parquet"), tmp_path / "shop")
    load_data_dir(env_warehouse, tmp_path / "shop", AS_OF)
    run_dbt(FEATURE_BUILD, load_settings().resolved(), AS_OF)
    contacted = "select sum(expected_cost) as cost, count(*) as n from marts.winback_list where is_contacted"
    over = "select count(*) as n from marts.winback_list where action = 'not_selected_budget'"

    monkeypatch.setenv("WINBACK_DECISIONS__BUDGET", "60")
    run_decisions(load_settings().resolved(), AS_OF)
    tight, left_out = query(env_warehouse, contacted).iloc[0], query(env_warehouse, over)["n"][0]
    assert 0.9 * 60 <= tight["cost"] <= 60 and left_out > 0

    monkeypatch.setenv("WINBACK_DECISIONS__BUDGET", "1000000")
    run_decisions(load_settings().resolved(), AS_OF)
    loose, left_out = query(env_warehouse, contacted).iloc[0], query(env_warehouse, over)["n"][0]
    assert loose["n"] > tight["n"] and left_out == 0


@pytest.mark.e2e
def test_a_reminder_cutoff_is_one_variable_and_dbt_uses_it(
    env_warehouse: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = scenarios.rule_shop(tmp_path / "shop")
    load_data_dir(env_warehouse, data, scenarios.AT.date())
    # Shipping at 13:00 and 17:00 Shanghai time: the first window is 12:00-13:00 (04:00Z),
    # not the default 10:00-11:00 (02:00Z) that tests/reminders/test_rules.py checks.
    monkeypatch.setenv("WINBACK_REMINDERS__CUTOFF_HOURS", "[13, 17]")
    run_once(load_settings().resolved(), scenarios.AT)
    reminded = query(
        env_warehouse, "select remind_at from marts.payment_reminders where order_id = 'O_new'"
    )
    assert reminded["remind_at"].tolist() == [pd.Timestamp("2026-06-30 04:00:00")]


def test_the_mlflow_ui_opens_the_configured_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import os

    store = tmp_path / "elsewhere" / "runs.db"
    monkeypatch.setenv("WINBACK_MLFLOW__TRACKING_URI", f"sqlite:///{store}")
    opened: list[list[str]] = []
    monkeypatch.setattr(os, "execv", lambda path, args: opened.append(list(args)))
    done = CliRunner().invoke(app, ["mlflow-ui", "--port", "5123"])
    assert done.exit_code == 0, done.output
    ((_, *args),) = opened
    assert args == ["ui", "--backend-store-uri", f"sqlite:///{store}", "--port", "5123"]
