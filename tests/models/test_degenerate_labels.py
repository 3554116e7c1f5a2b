"""Valid but degenerate labels (issue 17): a shop where nearly every customer bought once.

The churn-rate expectation warns instead of stopping the run, and training scores with the
best model the labels allow: LightGBM or the label-free BG/NBD baseline, whichever has the
lower validation log loss, and the baseline alone when the labels carry no signal.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tests.models.conftest import AS_OF, build_features
from tests.shops import write_one_time_buyer_shop
from winback.config import ModelParams
from winback.expectations import customer_features as features_suite
from winback.expectations.runner import run_suite
from winback.models import baselines, lifecycle, training
from winback.models.features import model_input

HORIZON = 90


@pytest.fixture(scope="module")
def one_time(tmp_path_factory: pytest.TempPathFactory) -> pd.DataFrame:
    """Every customer bought exactly once."""
    root = tmp_path_factory.mktemp("one_time")
    write_one_time_buyer_shop(root / "shop", n_customers=1500, repeat_share=0.0)
    return build_features(root / "shop", root / "winback.duckdb", AS_OF)


@pytest.fixture(scope="module")
def few_repeat(tmp_path_factory: pytest.TempPathFactory) -> pd.DataFrame:
    """3% of the customers bought a second time."""
    root = tmp_path_factory.mktemp("few_repeat")
    write_one_time_buyer_shop(root / "shop", n_customers=6000, repeat_share=0.03, seed=8)
    return build_features(root / "shop", root / "winback.duckdb", AS_OF)


def test_a_churn_rate_above_the_bound_is_a_warning_not_a_failure(
    one_time: pd.DataFrame,
) -> None:
    suite = features_suite.build_suite()
    frame = features_suite.validation_frame(one_time, suite)
    report = run_suite(frame, features_suite.TABLE, features_suite.SUITE_NAME, suite)
    assert report.success and not report.failures
    assert [w.column for w in report.warnings] == ["churn_label"]
    assert "observed 1" in str(report.warnings[0])
    assert "warning:" in report.to_markdown() and "with 1 warning(s)" in report.to_markdown()
    # A real failure next to it still fails the suite.
    broken = frame.assign(recency_days=-1)
    assert not run_suite(
        broken, features_suite.TABLE, features_suite.SUITE_NAME, features_suite.build_suite()
    ).success


def test_label_signal_counts_the_rarer_outcome_per_part(few_repeat: pd.DataFrame) -> None:
    frame = training.split_by_snapshot(few_repeat)
    signal = training.label_signal(frame, min_minority_labels=1)
    assert set(signal.minority_counts) == {"training", "calibration", "validation"}
    for name, part in (
        ("training", frame.train),
        ("calibration", frame.calibration),
        ("validation", frame.valid),
    ):
        bought_again = int((~part["is_churned"].astype(bool)).sum())
        assert signal.minority_counts[name] == bought_again
    assert signal.degenerate and signal.churn_rate > 0.995
    assert signal.learnable
    many = max(signal.minority_counts.values()) + 1
    assert not training.label_signal(frame, min_minority_labels=many).learnable


def test_labels_without_signal_are_scored_by_the_label_free_baseline(
    one_time: pd.DataFrame,
) -> None:
    frame = training.split_by_snapshot(one_time)
    trained, warning = lifecycle.fit_best_model(frame, ModelParams(), HORIZON)
    assert trained.kind == "label_free_bgnbd" and trained.booster is None
    assert warning is not None
    assert "100.0% of the labelled snapshots churned" in warning
    assert "carry no signal" in warning
    # Scores every customer of a snapshot with a probability and a readable reason.
    scoring = one_time[one_time["is_scoring_snapshot"].astype(bool)]
    x = model_input(scoring, training.input_columns(trained.model))
    p = trained.model.predict_proba(x)[:, 1]
    assert p.shape == (len(scoring),) and np.all((p >= 0) & (p <= 1))


def test_degenerate_but_learnable_labels_keep_the_model_with_the_lower_log_loss(
    few_repeat: pd.DataFrame,
) -> None:
    frame = training.split_by_snapshot(few_repeat)
    params = ModelParams(min_minority_labels=1)
    chosen, warning = lifecycle.fit_best_model(frame, params, HORIZON)
    lightgbm = training.train(frame, params)
    label_free = baselines.train_label_free(frame, params, HORIZON)
    best = min(lightgbm.metrics["log_loss"], label_free.metrics["log_loss"])
    assert chosen.metrics["log_loss"] == pytest.approx(best)
    assert warning is not None and "degenerate labels" in warning
    assert f"{lightgbm.metrics['log_loss']:.5g}" in warning
    assert f"{label_free.metrics['log_loss']:.5g}" in warning
    # Ordinary labels never take this path.
    ordinary_params = ModelParams()
    ordinary = few_repeat.assign(is_churned=np.arange(len(few_repeat)) % 2 == 0)
    model, note = lifecycle.fit_best_model(
        training.split_by_snapshot(ordinary), ordinary_params, HORIZON
    )
    assert model.kind == "lightgbm" and note is None


def test_label_free_model_ranks_older_one_time_buyers_as_more_likely_gone(
    few_repeat: pd.DataFrame,
) -> None:
    frame = training.split_by_snapshot(few_repeat)
    model = baselines.LabelFreeChurnModel(HORIZON).fit(frame.valid, training.labels(frame.valid))
    assert model.uses_bgnbd
    once = frame.valid[frame.valid["purchase_count"] == 1].sort_values("tenure_days")
    x = model_input(once, list(baselines.LABEL_FREE_COLUMNS))
    p = model.churn_probability(x)
    assert np.all(np.diff(p) >= -1e-12) and p[-1] > p[0]
    # The reason for the oldest: their tenure, which raises the risk above the median's.
    contributions = model.contributions(x.tail(20))
    assert (contributions["tenure_days"] > 0).all()
    assert contributions.drop(columns="tenure_days").abs().to_numpy().max() < 1e-9


def test_label_free_model_falls_back_to_the_churn_rate_when_bgnbd_cannot_fit(
    few_repeat: pd.DataFrame, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_fit(*_: object) -> None:
        raise ValueError("did not converge")

    monkeypatch.setattr(baselines, "fit_btyd", no_fit)
    valid = few_repeat[few_repeat["is_label_observed"].astype(bool)].head(999)
    y = valid["is_churned"].astype(int).to_numpy()
    model = baselines.LabelFreeChurnModel(HORIZON).fit(valid, y)
    assert not model.uses_bgnbd
    p = model.predict_proba(model_input(valid, list(baselines.LABEL_FREE_COLUMNS)))[:, 1]
    assert np.allclose(p, (y.sum() + 0.5) / (len(y) + 1))
