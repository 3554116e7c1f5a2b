"""The scale paths of scoring and training: vectorised reasons, cheap attributions for
the long tail, sampled training snapshots."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd

from winback.config import ModelParams, TrainParams
from winback.models import explain, scoring, snapshots, training
from winback.warehouse import FeatureRead, read_features, snapshot_summaries


def _reference_reasons(
    contributions: pd.DataFrame, features: pd.DataFrame, count: int
) -> list[list[str | None]]:
    """The per-customer loop the vectorised version replaced (the specification)."""
    values = contributions.to_numpy()
    names = list(contributions.columns)
    rows = []
    for i, ranked in enumerate(np.argsort(-values, axis=1, kind="stable")):
        reasons: list[str | None] = []
        for j in ranked:
            if values[i, j] <= 0 or len(reasons) == count:
                break
            raw = features.iloc[i][names[j]] if names[j] in features.columns else None
            text = explain.readable_reason(names[j], raw if isinstance(raw, str) else None)
            if text not in reasons:
                reasons.append(text)
        rows.append(reasons + [None] * (count - len(reasons)))
    return rows


def test_vectorised_reasons_equal_the_per_customer_loop() -> None:
    rng = np.random.default_rng(0)
    columns = [
        "recency_vs_cadence",
        "indicator_overdue",
        "purchase_count_trend_90d",
        "indicator_falling_frequency",
        "region",
        "lapse_status",
        "loyalty_points_90d",
    ]
    values = rng.normal(size=(500, len(columns)))
    values[rng.random(values.shape) < 0.2] = 0.0
    values[:3] = -1.0  # nothing pushes these customers towards churn
    values[3:6, 0] = values[3:6, 1] = 0.7  # ties between features with the same phrase
    contributions = pd.DataFrame(values, columns=columns, index=np.arange(500) + 1000)
    features = pd.DataFrame(
        {
            "region": rng.choice(["north", "south", "", None], 500),
            "lapse_status": pd.Categorical(rng.choice(["lost", "at_risk"], 500)),
        }
    )
    for count in (1, 3, 5):
        got = explain.top_reasons(contributions, features, count)
        got = got[[f"reason_{k + 1}" for k in range(count)]]
        assert got.index.equals(contributions.index)
        expected = _reference_reasons(contributions, features, count)
        assert got.astype(object).where(got.notna(), None).to_numpy().tolist() == expected


def test_training_rows_are_sampled_evenly_per_snapshot() -> None:
    """The snapshot plan is the one definition of the sample: the same share of every
    training snapshot (the warehouse read takes exactly these quotas, tested below)."""
    day = dt.date
    summaries = [
        snapshots.SnapshotSummary(day(2026, 1, 1), 6000, labelled=True, scoring=False),
        snapshots.SnapshotSummary(day(2026, 2, 1), 2000, labelled=True, scoring=False),
        snapshots.SnapshotSummary(day(2026, 3, 1), 500, labelled=True, scoring=False),
        snapshots.SnapshotSummary(day(2026, 4, 1), 500, labelled=True, scoring=False),
        snapshots.SnapshotSummary(day(2026, 5, 1), 500, labelled=False, scoring=True),
    ]
    plan = snapshots.plan_snapshots(summaries, TrainParams(max_train_rows=4000).max_train_rows)
    assert plan.train_rows == 4000
    assert plan.train_quotas == {day(2026, 1, 1): 3000, day(2026, 2, 1): 1000}
    whole = snapshots.plan_snapshots(summaries, TrainParams().max_train_rows)
    assert whole.train_quotas == {day(2026, 1, 1): 6000, day(2026, 2, 1): 2000}
    assert whole.quota(day(2026, 1, 1)) is None  # read whole, not sampled


def test_long_tail_gets_path_reasons_and_the_riskiest_exact_ones(
    shop_features: pd.DataFrame, monkeypatch
) -> None:
    frame = training.split_by_snapshot(shop_features)
    trained = training.train(frame, ModelParams())
    current = shop_features[shop_features["is_scoring_snapshot"]].reset_index(drop=True)
    params = ModelParams(exact_reason_rows=50)
    scores = scoring.score(trained.model, current, trained.features, params)
    methods = scores["reason_method"].value_counts().to_dict()
    assert methods["tree_shap"] == 50 and methods.get("path", 0) > 0
    # exact reasons go where the most value is at stake (where the win-back list is drawn)
    stake = pd.Series(
        scoring.value_at_stake(
            scores["churn_probability"].to_numpy(),
            pd.DataFrame(
                {"expected_value": scores["expected_value_12m"], "p_alive": scores["p_alive"]}
            ),
        )
    )
    exact = stake[scores["reason_method"] == "tree_shap"]
    cheap = stake[scores["reason_method"] == "path"]
    assert exact.min() >= cheap.max()
    assert (
        scores.loc[exact.index, "churn_probability"].min()
        < scores.loc[cheap.index, "churn_probability"].max()
    )  # not simply the likeliest churners: a likely but worthless churner waits
    risky = scores[scores["churn_probability"] >= params.explain_min_probability]
    assert risky["reason_1"].notna().all()
    # Path attributions are on SHAP's scale: they sum to the same log-odds margin.
    sample = current.head(200)
    shap = explain.shap_values(trained.model, sample, trained.features).sum(axis=1)
    path = explain.path_contributions(trained.model, sample, trained.features).sum(axis=1)
    assert np.corrcoef(shap, path)[0, 1] > 0.99
    # Validation metrics take both probabilities from one pass through the trees.
    x = training.model_input(current, trained.features)
    calibrated, uncalibrated = training.calibrated_and_uncalibrated(trained.model, x)
    assert np.array_equal(calibrated, trained.model.predict_proba(x)[:, 1])
    np.testing.assert_allclose(
        uncalibrated, trained.booster.predict_proba(x)[:, 1], rtol=1e-12, atol=0
    )
    assert not np.allclose(calibrated, uncalibrated)
    # Scoring walks the trees once: the leaves give the score, bit for bit, and the
    # path reasons.
    leaves = explain.leaf_indices(trained.model, x, chunk_rows=101)
    assert leaves.dtype == np.uint8 and leaves.shape == (len(x), trained.best_iteration)
    log_odds = explain.log_odds_from_leaves(trained.model, leaves)
    assert np.array_equal(log_odds, trained.booster.predict(x, raw_score=True))
    assert np.array_equal(scores["churn_probability"], calibrated)
    with_leaves = explain.path_contributions(
        trained.model, sample, trained.features, leaves=leaves[:200]
    )
    pd.testing.assert_series_equal(with_leaves.sum(axis=1), path)
    # Explained in chunks (memory at scale), with the same result as in one piece.
    monkeypatch.setattr(scoring, "EXPLAIN_CHUNK_ROWS", 37)
    chunked = scoring.score(trained.model, current, trained.features, params)
    pd.testing.assert_frame_equal(chunked, scores)
    pieces = explain.path_contributions(trained.model, sample, trained.features, chunk_rows=9)
    pd.testing.assert_series_equal(pieces.sum(axis=1), path)


def read_features_for_run(path: Path, max_train_rows: int, seed: int) -> FeatureRead:
    """What the nightly flow's read task does: plan the snapshots, read by the plan."""
    plan = snapshots.plan_snapshots(snapshot_summaries(path), max_train_rows)
    return read_features(path, plan, seed)


def _mart(path: Path) -> None:
    """A feature mart of 6 snapshots: 4 training, calibration, validation (labelled), one
    unlabelled and the scoring snapshot (1000 customers each)."""
    import duckdb

    dates = pd.date_range("2026-01-01", periods=8, freq="30D").date
    rows = pd.DataFrame(
        {
            "customer_id": np.tile([f"C{i:04d}" for i in range(1000)], len(dates)),
            "as_of_date": np.repeat(dates, 1000),
            "is_label_observed": np.repeat([True] * 6 + [False, False], 1000),
            "is_scoring_snapshot": np.repeat([False] * 7 + [True], 1000),
        }
    )
    with duckdb.connect(str(path)) as con:
        con.execute("create schema marts")
        con.register("rows", rows)
        con.execute("create table marts.customer_features as select * from rows")


def test_the_run_reads_held_out_snapshots_whole_and_samples_training_in_sql(
    tmp_path: Path,
) -> None:
    _mart(tmp_path / "w.duckdb")
    read = read_features_for_run(tmp_path / "w.duckdb", max_train_rows=2000, seed=3)
    counts = read.frame.groupby("as_of_date").size()
    dates = sorted(counts.index)
    assert read.rows_in_mart == 8000
    assert read.train_rows_available == 4000
    assert read.train_share == 0.5
    # scoring, validation and calibration whole; the unlabelled snapshot not read
    assert counts[dates[-1]] == counts[dates[-2]] == counts[dates[-3]] == 1000
    assert len(dates) == 7
    # half of every training snapshot, not one snapshot whole and another empty
    assert all(counts[d] == 500 for d in dates[:4])
    # seeded: same rows again, other rows for another seed
    again = read_features_for_run(tmp_path / "w.duckdb", max_train_rows=2000, seed=3)
    pd.testing.assert_frame_equal(read.frame, again.frame)
    other = read_features_for_run(tmp_path / "w.duckdb", max_train_rows=2000, seed=4)
    assert not read.frame.equals(other.frame)
    # small marts are read whole
    whole = read_features_for_run(tmp_path / "w.duckdb", max_train_rows=10_000, seed=3)
    assert whole.train_share == 1.0 and len(whole.frame) == 7000
    frame = training.split_by_snapshot(read.frame, read.plan)
    assert frame.plan.train_rows_available == read.train_rows_available == 4000
    assert len(frame.calibration) == len(frame.valid) == 1000
    # ordered by (as_of_date, customer_id), so every part is a slice of the read, not a
    # copy (at a million customers the read is gigabytes)
    keys = read.frame[["as_of_date", "customer_id"]]
    assert keys.equals(keys.sort_values(["as_of_date", "customer_id"]))
    for part in (frame.train, frame.calibration, frame.valid):
        column = "is_label_observed"
        assert np.shares_memory(part[column].to_numpy(), read.frame[column].to_numpy())
    # once released, the rows are gone but the report of what was read stays
    summary = read.summary()
    read.release()
    assert read.frame.empty and list(read.frame.columns) == list(again.frame.columns)
    assert read.summary() == summary
    # scoring takes its snapshot and lets the rest go before its own memory peak
    current = again.take_scoring_snapshot()
    assert again.frame.empty and again.summary() == summary
    assert current["is_scoring_snapshot"].all() and len(current) == 1000
    assert list(current.index) == list(range(1000))
    assert current["customer_id"].is_unique


def test_the_run_read_in_chunks_keeps_types_and_rows(tmp_path: Path, monkeypatch) -> None:
    """Chunked fetching gives the rows and column types of a one-piece read, also when a
    chunk's text column is all null (DuckDB's own .df() hands that chunk over as objects)."""
    import duckdb

    from winback import warehouse

    _mart(tmp_path / "w.duckdb")
    with duckdb.connect(str(tmp_path / "w.duckdb")) as con:
        con.execute("alter table marts.customer_features add column region varchar default null")
        con.execute(
            "update marts.customer_features set region = 'north' "
            "where as_of_date >= date '2026-04-01' and customer_id >= 'C0900'"
        )
        whole = con.execute(
            "select * from marts.customer_features where is_scoring_snapshot "
            "or is_label_observed order by as_of_date, customer_id"
        ).df()
    monkeypatch.setattr(warehouse, "FETCH_CHUNK_ROWS", 2_048)
    read = read_features_for_run(tmp_path / "w.duckdb", 100_000, seed=3)
    pd.testing.assert_frame_equal(read.frame, whole.reset_index(drop=True))


def test_btyd_fits_on_a_seeded_sample_of_large_snapshots() -> None:
    from winback.models import btyd

    small = pd.DataFrame({"customer_id": range(500)})
    assert btyd.fit_sample(small) is small
    big = pd.DataFrame({"customer_id": range(250_000)})
    sample = btyd.fit_sample(big, max_customers=100_000)
    assert len(sample) == 100_000 and sample["customer_id"].is_unique
    assert sample.equals(btyd.fit_sample(big, max_customers=100_000))  # seeded
    # spread over the whole snapshot, not its head
    assert sample["customer_id"].max() > 240_000 and sample["customer_id"].min() < 10_000


def test_value_at_stake_weighs_churn_by_revenue_if_retained() -> None:
    value = pd.DataFrame(
        {"expected_value": [100.0, 100.0, np.nan, 10.0], "p_alive": [0.5, 0.01, 0.5, 1.0]}
    )
    stake = scoring.value_at_stake(np.array([0.5, 0.5, 0.9, 0.9]), value)
    # revenue if retained is the expectation given alive (P(alive) floored at 0.05)
    assert stake.tolist() == [100.0, 1000.0, 0.9, 9.0]
