"""The response model's lifecycle in MLflow: its own experiment and registered model, and
the challenger → champion gate on the held-out newest campaign (real MLflow store)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from mlflow import MlflowClient

from tests.models.test_response import PRIORS, history
from winback.config import ResponseParams
from winback.models import tracking
from winback.models.response import ResponseValidation, fit_response, learned_uplift
from winback.models.response_lifecycle import (
    HISTORY_THROUGH_TAG,
    decide,
    fit_validate_and_gate,
    load_response_model,
)

PARAMS = ResponseParams(n_estimators=80, prior_strength=50.0)
NAME = "winback_response_test"


def validation(qini: float, prior: float) -> ResponseValidation:
    return ResponseValidation("c", 100, qini, prior, 0.01, pd.DataFrame())


def test_gate_needs_history_beats_the_priors_and_is_not_worse_than_the_champion() -> None:
    learned = fit_response(history(n=3_000, campaigns=2), PARAMS)
    priors_only = fit_response(history(n=3_000, campaigns=2).head(10), PARAMS)
    assert not decide(priors_only, validation(0.05, 0.0), None, 0.002).promote
    assert not decide(learned, validation(0.01, 0.02), None, 0.002).promote
    assert decide(learned, validation(0.03, 0.01), None, 0.002).promote
    assert not decide(learned, validation(0.03, 0.01), 0.04, 0.002).promote
    assert decide(learned, validation(0.03, 0.01), 0.031, 0.002).promote
    assert decide(learned, None, None, 0.002).promote  # one campaign: nothing held out


def _dated(frame: pd.DataFrame, start: str) -> pd.DataFrame:
    """Campaign k's contacts dated 60 days apart from ``start``."""
    k = frame["campaign_id"].str.extract(r"(\d+)$")[0].astype(int)
    return frame.assign(
        contact_date=pd.Timestamp(start) + pd.to_timedelta(k * 60, unit="D"),
        campaign_id=frame["campaign_id"] + "@" + start,
    )


def test_tonight_is_logged_registered_and_promoted_then_compared_with_its_champion(
    tmp_path: Path,
) -> None:
    tracking.use_store(f"sqlite:///{tmp_path}/mlflow.db", "winback-response", tmp_path / "art")
    first = _dated(history(seed=1, n=8_000, campaigns=3), "2026-01-01")
    one = fit_validate_and_gate(first, PRIORS, PARAMS, model_name=NAME, as_of=dt.date(2026, 6, 1))
    assert one.validation is not None and one.validation.qini > one.validation.qini_prior
    assert one.decision.promote and one.registered is not None
    assert one.model is one.challenger
    assert tracking.current_champion(NAME) == one.registered
    client = MlflowClient()
    run = client.get_run(one.registered.run_id)
    assert run.data.metrics["qini"] == pytest.approx(one.validation.qini)
    assert "validation/uplift_calibration.png" in {
        a.path for a in client.list_artifacts(run.info.run_id, "validation")
    }
    # The priors as the history updated them are kept with the run.
    assert one.challenger.priors is not None
    assert {"updated_priors/reason_offer.csv", "updated_priors/channels.csv"} <= {
        a.path for a in client.list_artifacts(run.info.run_id, "updated_priors")
    }
    version = client.get_model_version(NAME, one.registered.version)
    assert version.tags[HISTORY_THROUGH_TAG] == first["contact_date"].max().date().isoformat()
    # The registered model loads and predicts the same learned uplift.
    loaded = load_response_model(one.registered)
    assert loaded.offers == one.challenger.offers
    # A later night with a newer campaign the champion has not seen: compared on it.
    newer = _dated(history(seed=2, n=8_000, campaigns=1), "2026-09-01")
    both = pd.concat([first, newer], ignore_index=True)
    two = fit_validate_and_gate(both, PRIORS, PARAMS, model_name=NAME, as_of=dt.date(2026, 12, 1))
    assert two.champion == one.registered
    assert two.champion_qini is not None and np.isfinite(two.champion_qini)
    assert "champion_qini" in two.decision.figures
    if two.decision.promote:
        assert tracking.current_champion(NAME) == two.registered
    else:  # the champion keeps deciding
        assert two.model is two.champion_model


def test_too_little_history_registers_nothing_and_the_priors_decide(tmp_path: Path) -> None:
    tracking.use_store(f"sqlite:///{tmp_path}/mlflow.db", "winback-response", tmp_path / "art")
    thin = _dated(history(seed=3, n=300, campaigns=2), "2026-01-01").assign(
        churn_probability=0.7,
        median_gap_days=90.0,  # what the priors' baseline reads
    )
    got = fit_validate_and_gate(thin, PRIORS, PARAMS, model_name=NAME, as_of=dt.date(2026, 6, 1))
    assert got.registered is None and not got.decision.promote
    assert not got.model.learned and got.used == "the priors alone"


def test_the_same_history_reuses_the_version_and_its_held_out_model(tmp_path: Path) -> None:
    """Issue 19: a night whose completed history, priors and parameters match a decided
    version reuses it (no fit, nothing registered), with the model it fitted before the
    held-out campaign, so the figures on that campaign come out the same; one changed
    outcome, or reuse turned off, fits again."""
    tracking.use_store(f"sqlite:///{tmp_path}/mlflow.db", "winback-response", tmp_path / "art")
    first = _dated(history(seed=4, n=8_000, campaigns=3), "2026-01-01")
    one = fit_validate_and_gate(first, PRIORS, PARAMS, model_name=NAME, as_of=dt.date(2026, 6, 1))
    assert one.registered is not None and not one.reused
    assert one.held_out is not None and one.validation is not None

    again = fit_validate_and_gate(first, PRIORS, PARAMS, model_name=NAME, as_of=dt.date(2026, 6, 2))
    assert again.reused and again.registered == one.registered
    assert [v.model for v in tracking.versions(NAME)] == [one.registered]
    assert again.decision.promote == one.decision.promote
    assert again.decision.reason.startswith("reused: ")
    assert "reused" in again.used
    assert again.validation is not None
    assert again.validation.qini == pytest.approx(one.validation.qini, abs=1e-12)
    assert again.validation.qini_prior == pytest.approx(one.validation.qini_prior, abs=1e-12)
    assert again.held_out is not None
    assert again.held_out.campaign_id == one.held_out.campaign_id
    assert again.held_out.mask.equals(one.held_out.mask)
    # The stored models predict what the fitted ones did.
    rows = first.head(500).reset_index(drop=True)
    offer, channel = next(iter(one.challenger.cell_evidence))
    for got, want in ((again.model, one.model), (again.held_out.model, one.held_out.model)):
        assert got.cell_evidence == want.cell_evidence
        assert np.array_equal(
            learned_uplift(got, rows, offer=offer, channel=channel, step=1),
            learned_uplift(want, rows, offer=offer, channel=channel, step=1),
        )

    # An earlier as-of date than the version's own may not reuse it (point in time).
    earlier = fit_validate_and_gate(
        first, PRIORS, PARAMS, model_name=NAME, as_of=dt.date(2026, 5, 1)
    )
    assert not earlier.reused and earlier.registered != one.registered

    changed = first.copy()
    changed.loc[changed.index[0], "is_converted"] = not bool(changed["is_converted"].iloc[0])
    refit = fit_validate_and_gate(
        changed, PRIORS, PARAMS, model_name=NAME, as_of=dt.date(2026, 6, 3)
    )
    assert not refit.reused and refit.registered not in (one.registered, earlier.registered)
    off = fit_validate_and_gate(
        first, PRIORS, PARAMS, model_name=NAME, as_of=dt.date(2026, 6, 4), reuse=False
    )
    assert not off.reused and off.registered not in (one.registered, refit.registered)
