"""Training, calibration, baselines, promotion and scoring on a small real feature mart."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest
from mlflow import MlflowClient

from tests.shops import settings_for
from winback.config import ModelParams, ProfitAssumptions, TrainParams
from winback.models import (
    baselines,
    explain,
    lifecycle,
    promotion,
    scoring,
    tracking,
    training,
    value,
)
from winback.models.evaluation import evaluate, profit_curve
from winback.transform import run_dbt
from winback.warehouse import write_scores


def test_snapshot_roles_are_ordered_in_time_and_disjoint(shop_features: pd.DataFrame) -> None:
    frame = training.split_by_snapshot(shop_features)
    assert max(frame.train_dates) < frame.calibration_date < frame.valid_date
    assert set(frame.valid["as_of_date"].astype(str)) == {frame.valid_date}
    assert set(frame.calibration["as_of_date"].astype(str)) == {frame.calibration_date}
    assert "is_churned" not in frame.features and "as_of_date" not in frame.features


def test_same_seed_and_data_give_the_same_metrics(shop_features: pd.DataFrame) -> None:
    frame = training.split_by_snapshot(shop_features)
    first = training.train(frame, ModelParams())
    second = training.train(frame, ModelParams())
    assert first.metrics == second.metrics
    np.testing.assert_array_equal(first.valid_probabilities, second.valid_probabilities)
    a = baselines.baseline_probabilities(frame, 90, 0.001)
    b = baselines.baseline_probabilities(frame, 90, 0.001)
    for name in baselines.BASELINES:
        np.testing.assert_array_equal(a[name], b[name])


def test_model_is_calibrated_and_ahead_of_the_cadence_rule(shop_features: pd.DataFrame) -> None:
    frame = training.split_by_snapshot(shop_features)
    trained = training.train(frame, ModelParams())
    y = training.labels(frame.valid)
    cadence = evaluate(y, baselines.cadence_baseline(frame), ModelParams().profit)
    assert trained.metrics["roc_auc"] > cadence["roc_auc"]
    assert trained.metrics["brier"] < cadence["brier"]
    assert trained.metrics["ece"] < 0.05
    assert abs(trained.metrics["mean_probability"] - trained.metrics["churn_rate"]) < 0.03


def test_profit_curve_is_zero_without_contacts_and_counts_every_contact() -> None:
    y = np.array([1, 1, 0, 0])
    p = np.array([0.9, 0.8, 0.2, 0.1])
    economics = ProfitAssumptions(
        customer_value=100, offer_cost=10, contact_cost=1, acceptance_rate=0.5
    )
    curve = profit_curve(y, p, economics, points=4)
    assert curve["profit"].tolist() == [0.0, 44.0, 88.0, 77.0, 66.0]


def test_reasons_are_readable_and_unknown_features_fall_back() -> None:
    assert explain.readable_reason("recency_vs_cadence", None) == "overdue by own purchase rhythm"
    assert explain.readable_reason("loyalty_points_90d", None) == (
        "loyalty points 90d points to churn"
    )
    contributions = pd.DataFrame({"recency_vs_cadence": [0.9, -0.1], "region": [0.2, -0.3]})
    features = pd.DataFrame({"recency_vs_cadence": [4.0, 0.5], "region": ["north", "south"]})
    reasons = explain.top_reasons(contributions, features, count=3)
    reasons = reasons[["reason_1", "reason_2", "reason_3"]]
    assert reasons.iloc[0].tolist() == [
        "overdue by own purchase rhythm",
        "region points to churn (north)",
        None,
    ]
    assert reasons.iloc[1].isna().all()  # nothing pushes this customer towards churn


def test_scores_carry_band_reasons_value_and_next_order(shop_features: pd.DataFrame) -> None:
    frame = training.split_by_snapshot(shop_features)
    trained = training.train(frame, ModelParams())
    current = shop_features[shop_features["is_scoring_snapshot"]].reset_index(drop=True)
    scores = scoring.score(trained.model, current, trained.features)
    assert len(scores) == len(current)
    assert scores["risk_band"].isin(["low", "medium", "high", "very_high"]).all()
    risky = scores[scores["churn_probability"] > 0.5]
    assert risky["reason_1"].notna().all()
    assert scores["p_alive"].between(0, 1).all()
    assert (scores["expected_value_12m"] >= 0).all()
    as_of = pd.Timestamp(current["as_of_date"].iloc[0])
    assert (pd.to_datetime(scores["expected_next_order_date"]) > as_of).all()


def test_future_value_beats_the_naive_spend_projection(shop_features: pd.DataFrame) -> None:
    metrics = value.validate_future_value(shop_features, None, 0.001)
    assert metrics["value_window_days"] > 300
    assert metrics["value_mae"] < metrics["value_naive_mae"]
    assert metrics["value_spearman"] > metrics["value_naive_spearman"]


def test_worse_challenger_stays_challenger(workspace: Path, shop_features: pd.DataFrame) -> None:
    tracking.use_store(
        f"sqlite:///{workspace}/mlflow/mlflow.db", "test-churn", workspace / "mlflow" / "art"
    )
    frame = training.split_by_snapshot(shop_features)
    params = ModelParams()
    as_of = dt.date(2026, 6, 15)
    tags = {"as_of_date": as_of.isoformat(), "horizon_days": "90"}
    good = training.train(frame, params)
    champion = tracking.log_training_run(
        good, params, model_name="m", tags=tags, baseline_probabilities={}, extra_metrics={}
    )
    lifecycle.promote(champion, as_of, promotion.decide(good.metrics, None, params.promotion))

    # Deliberately weakened: two stumps and only the tenure feature to learn from.
    weak_frame = training.split_by_snapshot(shop_features)
    weak_frame.features = ["tenure_days"]
    weak_params = ModelParams(
        lightgbm=TrainParams(n_estimators=2, num_leaves=2, early_stopping_rounds=1)
    )
    weak = training.train(weak_frame, weak_params)
    current = lifecycle.choose_model_for("m", as_of).model
    assert current == champion
    current_metrics = tracking.metrics_on(current, frame.valid, params)
    assert current_metrics["roc_auc"] == pytest.approx(good.metrics["roc_auc"])  # same rows
    decision = promotion.decide(weak.metrics, current_metrics, params.promotion)
    challenger = tracking.log_training_run(
        weak, weak_params, model_name="m", tags=tags, baseline_probabilities={}, extra_metrics={}
    )
    lifecycle.promote(challenger, as_of, decision, compared_with=current)

    client = MlflowClient()
    assert not decision.promote and "ROC-AUC" in decision.reason
    assert str(client.get_model_version_by_alias("m", "champion").version) == champion.version
    assert str(client.get_model_version_by_alias("m", "challenger").version) == challenger.version
    run = client.get_run(challenger.run_id)
    assert run.data.tags["promotion_decision"] == "kept_challenger"
    assert run.data.metrics["promotion_delta_roc_auc"] < -0.05
    board = tracking.leaderboard("test-churn", "m")
    assert board["version"].tolist() == [f"v{challenger.version} challenger", "v1 champion"]
    # the logged datasets carry the content hashes of the lineage tags (hashed once)
    inputs = {i.tags[0].value: i.dataset for i in run.inputs.dataset_inputs}
    assert inputs["training"].digest == run.data.tags["train_digest"]
    assert inputs["calibration"].digest == run.data.tags["calibration_digest"]
    assert inputs["validation"].digest == run.data.tags["valid_digest"]
    assert inputs["validation"].digest == tracking.dataset_digest(weak_frame.valid)
    assert inputs["validation"].digest != inputs["training"].digest


def test_a_warehouse_from_the_old_schema_gains_the_new_columns(tmp_path: Path) -> None:
    path = tmp_path / "old.duckdb"
    con = duckdb.connect(str(path))
    con.execute("create schema marts")
    con.execute(
        "create table marts.churn_scores (as_of_date date not null, customer_id varchar not "
        "null, churn_probability double not null, model_version varchar not null, scored_at "
        "timestamp not null, primary key (as_of_date, customer_id))"
    )
    con.execute("insert into marts.churn_scores values ('2026-01-01', 'C1', 0.5, '1', now())")
    con.close()
    scores = pd.DataFrame(
        {
            "customer_id": ["C1"],
            "churn_probability": [0.8],
            "model_version": ["2"],
            "risk_band": ["very_high"],
            "reason_1": ["overdue by own purchase rhythm"],
        }
    )
    # Scoring writes tonight's rows; dbt's incremental mart adds them to the old table.
    as_of = pd.Timestamp("2026-02-01").date()
    assert write_scores(path, as_of, scores) == 1
    build = ["build", "--select", "tag:scores", "--indirect-selection", "cautious"]
    run_dbt(build, settings_for(path), as_of)
    con = duckdb.connect(str(path))
    rows = con.execute(
        "select as_of_date, risk_band, reason_1 from marts.churn_scores order by 1"
    ).fetchall()
    con.close()
    assert [r[1] for r in rows] == [None, "very_high"]


def test_a_date_is_scored_by_the_newest_promoted_version_trained_up_to_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def record(version: int, as_of: str | None, decision: str | None) -> tracking.VersionRecord:
        return tracking.VersionRecord(
            tracking.RegisteredModel("m", str(version), f"run{version}"),
            dt.date.fromisoformat(as_of) if as_of else None,
            digest=None,
            decision=decision,
        )

    registry = [
        record(1, "2026-03-01", tracking.PROMOTED),
        record(2, "2026-05-01", tracking.PROMOTED),
        record(3, "2026-05-01", tracking.KEPT_CHALLENGER),  # worse: never scores
        record(4, "2026-06-30", tracking.PROMOTED),  # trained later: has seen May's answers
        record(5, "2026-04-01", tracking.PROMOTED),  # a backfill registered afterwards
        record(6, "2026-05-01", None),  # promotion never decided (run died)
        record(7, None, tracking.PROMOTED),  # no as-of tag: cannot be placed in time
    ]
    monkeypatch.setattr(tracking, "versions", lambda name: registry)

    def chosen(day: str) -> str:
        return lifecycle.choose_model_for("m", dt.date.fromisoformat(day)).model.version

    assert chosen("2026-05-15") == "2"
    assert chosen("2026-05-01") == "2"  # its own date counts: trained on data up to it
    assert chosen("2026-04-20") == "5"
    assert chosen("2026-03-31") == "1"
    assert chosen("2026-07-01") == "4"
    with pytest.raises(lifecycle.NoModelForDateError, match="up to 2026-02-28"):
        chosen("2026-02-28")
