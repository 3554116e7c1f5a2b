"""The response model's lifecycle in MLflow, like the churn model's (``lifecycle.py``):
its own experiment and registered model, and the same challenger → champion gate, here
on the held-out newest campaign (R10: the merchant's randomized evidence).

Every night the model is fitted on the whole campaign history (the challenger) and
validated by refitting on the contacts before the newest randomized campaign and scoring
that campaign (Qini,
uplift calibration: ``response.validate_on_latest_campaign``). It is promoted when

- it ranks the held-out campaign better than the merchant's priors alone (a learned
  model that does not beat the assumptions it is pooled toward is not worth using), and
- the point-in-time champion (the newest promoted version of an as-of date ≤ tonight's),
  scored on the same held-out campaign, is not better by more than
  ``response.qini_tolerance``. The champion is compared only when that campaign was not
  in its own training history (its ``history_through`` tag is before it); otherwise the
  comparison would favour the model that has seen the answers.

The decisions use the promoted challenger, else the point-in-time champion, else the
priors alone (:attr:`ResponseLifecycle.model`). A shop without enough history logs a run
with its figures and registers nothing.

Reuse (issue 19), like the churn model's: a version is tagged with ``features_digest``, a
content hash of the completed history it was fitted on, the merchant's priors and the
parameters (:func:`history_digest`). A night whose digest matches a registered, decided
version of an as-of date up to tonight's reuses it, with the model it fitted before the
held-out campaign (kept in the same artifact), instead of fitting both again: same rows,
same seed, same models. Its figures on the held-out campaign are computed again (cheap);
its promotion stands as recorded. A rerun of a night and a night on which no contact's
outcome completed reuse; a night with new outcomes fits again.
"""

from __future__ import annotations

import datetime as dt
import logging
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pandas as pd
from mlflow import MlflowClient
from mlflow.models import infer_signature
from mlflow.pyfunc import PythonModel

from winback.config import ResponseParams
from winback.models import plots, tracking
from winback.models.lifecycle import (
    DIGEST_DECIMALS,
    NoModelForDateError,
    promote,
    run_digest,
    trained_version_for,
)
from winback.models.promotion import PromotionDecision
from winback.models.response import (
    HeldOut,
    Priors,
    ResponseModel,
    ResponseValidation,
    fit_response,
    held_out_qini,
    hold_out_newest,
    learned_uplift,
    split_newest_campaign,
    validate_on_latest_campaign,
)

HISTORY_THROUGH_TAG = "history_through"


class ResponsePyfunc(PythonModel):
    """The fitted response model as an MLflow pyfunc: rows of customer features with
    ``offer_code``, ``channel`` and ``step`` → the learned uplift of that contact
    (before pooling toward the priors, which are the merchant's files, not the model).
    ``held_out``: the model fitted before the held-out campaign, kept so that a night
    reusing this version need not fit it again."""

    def __init__(
        self, model: ResponseModel, window_days: float, held_out: ResponseModel | None = None
    ) -> None:
        self.model = model
        self.window_days = window_days
        self.held_out = held_out

    def predict(self, context: Any, model_input: pd.DataFrame, params: Any = None) -> np.ndarray:
        out = np.zeros(len(model_input))
        frame = model_input.reset_index(drop=True)
        for (offer, channel, step), index in frame.groupby(
            ["offer_code", "channel", "step"]
        ).groups.items():
            part = frame.loc[index]
            out[frame.index.get_indexer(index)] = learned_uplift(
                self.model, part, offer=str(offer), channel=str(channel), step=int(step)
            )
        return out


@dataclass
class ResponseLifecycle:
    """Tonight's response model, its validation, and what the gate decided."""

    challenger: ResponseModel
    validation: ResponseValidation | None
    decision: PromotionDecision
    registered: tracking.RegisteredModel | None
    champion: tracking.RegisteredModel | None
    champion_model: ResponseModel | None
    champion_qini: float | None
    # The newest randomized campaign held out and the model fitted before it (None when
    # there is nothing to hold out): the backtest reuses it.
    held_out: HeldOut | None = None
    # Whether ``registered`` was reused: fitted by an earlier run on the same inputs.
    reused: bool = False

    @property
    def model(self) -> ResponseModel:
        """The model the decisions use tonight."""
        if self.decision.promote or self.champion_model is None:
            return self.challenger if self.decision.promote else _priors_only(self.challenger)
        return self.champion_model

    @property
    def used(self) -> str:
        if self.decision.promote:
            version = f" v{self.registered.version}" if self.registered else ""
            if self.reused:
                return f"model{version}, reused (fitted earlier on the same history)"
            return f"tonight's model{version}"
        if self.champion_model is not None and self.champion is not None:
            return f"champion v{self.champion.version}"
        return "the priors alone"


def _priors_only(model: ResponseModel) -> ResponseModel:
    return ResponseModel(None, None, model.features, [], [], {}, model.contacts, 0.0)


def decide(
    challenger: ResponseModel,
    validation: ResponseValidation | None,
    champion_qini: float | None,
    tolerance: float,
) -> PromotionDecision:
    """The gate (module docstring), as a plain function."""
    if not challenger.learned:
        return PromotionDecision(False, "too little campaign history: the priors decide", {})
    if validation is None:
        return PromotionDecision(
            True, "one campaign only: nothing to hold out, used without a held-out check", {}
        )
    figures = {"qini": validation.qini, "qini_prior_only": validation.qini_prior}
    if validation.qini <= validation.qini_prior:
        return PromotionDecision(
            False,
            f"held-out Qini {validation.qini:.4f} not above the priors' {validation.qini_prior:.4f}",
            figures,
        )
    if champion_qini is None:
        return PromotionDecision(True, "beats the priors; no comparable champion", figures)
    figures["champion_qini"] = champion_qini
    if validation.qini < champion_qini - tolerance:
        return PromotionDecision(
            False,
            f"held-out Qini {validation.qini:.4f} below the champion's {champion_qini:.4f} "
            f"beyond {tolerance}",
            figures,
        )
    return PromotionDecision(True, "beats the priors and not worse than the champion", figures)


def _champion_for(model_name: str, as_of: dt.date) -> tracking.VersionRecord | None:
    eligible = [
        v for v in tracking.versions(model_name) if v.promoted and v.as_of and v.as_of <= as_of
    ]
    return max(eligible, key=lambda v: (v.as_of, int(v.model.version))) if eligible else None


def load_response_model(model: tracking.RegisteredModel) -> ResponseModel:
    """A registered version's fitted :class:`ResponseModel`."""
    return _load(model).model


def _load(model: tracking.RegisteredModel) -> ResponsePyfunc:
    loaded = mlflow.pyfunc.load_model(f"models:/{model.name}/{model.version}")
    wrapper = loaded.unwrap_python_model()
    if not isinstance(wrapper, ResponsePyfunc):
        raise NoModelForDateError(
            f"version {model.version} of {model.name} is not a response model"
        )
    return wrapper


def history_digest(history: pd.DataFrame, priors: Priors, params: ResponseParams) -> str:
    """What a response version learns from: a content hash of the completed history
    (floats rounded, like the churn model's digest), the merchant's priors and the
    parameters. The same inputs give the same digest; a new outcome changes it."""
    return run_digest(
        tracking.dataset_digest(history, round_floats=DIGEST_DECIMALS),
        {
            "params": params.model_dump(),
            "reason_offer": priors.reason_offer.to_dict("split"),
            "channel_effect": sorted(priors.channel_effect.items()),
            "third_contact_fatigue": priors.third_contact_fatigue,
        },
    )


def fit_validate_and_gate(
    history: pd.DataFrame,
    priors: Priors,
    params: ResponseParams,
    *,
    model_name: str,
    as_of: dt.date,
    reuse: bool = True,
) -> ResponseLifecycle:
    """Fit, validate, log and register tonight's response model, compare it with the
    point-in-time champion, and decide (MLflow store and experiment set by the caller,
    :func:`tracking.use_store`). With ``reuse``, a version fitted on the same history,
    priors and parameters is reused instead (module docstring)."""
    digest = history_digest(history, priors, params)
    found = trained_version_for(model_name, digest, as_of) if reuse else None
    if found is not None:
        return _reused(found, history, priors, params, model_name, as_of)
    challenger = fit_response(history, params, priors)
    held_out = hold_out_newest(history, params, priors)
    validation = validate_on_latest_campaign(history, priors, params, held_out)
    champion_record = _champion_for(model_name, as_of)
    champion_model = champion_qini = None
    if champion_record is not None:
        champion_model = load_response_model(champion_record.model)
        champion_qini = _comparable_qini(champion_record, champion_model, history, priors, params)
    decision = decide(challenger, validation, champion_qini, params.qini_tolerance)
    registered = _log(
        challenger, held_out, validation, decision, params, history, model_name, as_of, digest
    )
    if registered is not None:
        promote(
            registered,
            as_of,
            decision,
            compared_with=champion_record.model if champion_record else None,
        )
    return ResponseLifecycle(
        challenger,
        validation,
        decision,
        registered,
        champion_record.model if champion_record else None,
        champion_model,
        champion_qini,
        held_out,
    )


def _reused(
    found: tracking.VersionRecord,
    history: pd.DataFrame,
    priors: Priors,
    params: ResponseParams,
    model_name: str,
    as_of: dt.date,
) -> ResponseLifecycle:
    """Tonight's lifecycle when ``found`` was fitted on the same inputs: its models, its
    recorded promotion, and its figures on the held-out campaign computed again."""
    stored = _load(found.model)
    held_out = hold_out_newest(history, params, priors, fitted=getattr(stored, "held_out", None))
    validation = validate_on_latest_campaign(history, priors, params, held_out)
    _, reason, _ = tracking.run_record(found.model)
    decision = PromotionDecision(found.promoted, f"reused: {reason}", {})
    champion_record = _champion_for(model_name, as_of)
    champion_model = None
    if champion_record is not None and not found.promoted:
        champion_model = load_response_model(champion_record.model)
    return ResponseLifecycle(
        stored.model,
        validation,
        decision,
        found.model,
        champion_record.model if champion_record else None,
        champion_model,
        None,
        held_out,
        reused=True,
    )


def _comparable_qini(
    champion: tracking.VersionRecord,
    model: ResponseModel,
    history: pd.DataFrame,
    priors: Priors,
    params: ResponseParams,
) -> float | None:
    split = split_newest_campaign(history)
    if split is None:
        return None
    _, first_contact, held = split
    through = MlflowClient().get_model_version(champion.model.name, champion.model.version).tags
    seen = through.get(HISTORY_THROUGH_TAG)
    if seen is None or pd.Timestamp(seen) >= first_contact:
        return None
    return held_out_qini(model, priors, history[held], params.window_days)


def _log(
    model: ResponseModel,
    held_out: HeldOut | None,
    validation: ResponseValidation | None,
    decision: PromotionDecision,
    params: ResponseParams,
    history: pd.DataFrame,
    model_name: str,
    as_of: dt.date,
    digest: str,
) -> tracking.RegisteredModel | None:
    through = pd.Timestamp(history["contact_date"].max()).date().isoformat() if len(history) else ""
    tags = {
        tracking.AS_OF_TAG: as_of.isoformat(),
        HISTORY_THROUGH_TAG: through,
        tracking.DIGEST_TAG: digest,
        "model_kind": "response_t_learner" if model.learned else "response_priors_only",
        "held_out_campaign": validation.campaign_id if validation else "",
        "git_commit": tracking.git_commit(),
    }
    with mlflow.start_run(run_name=f"response-{as_of.isoformat()}") as run:
        mlflow.set_tags(tags | {"promotion_reason": decision.reason})
        mlflow.log_params(params.model_dump())
        mlflow.log_metrics(
            {
                "history_contacts": float(len(history)),
                "history_control_share": float(history["is_control"].astype(bool).mean())
                if len(history)
                else 0.0,
                "cells_learned": float(len(model.cell_evidence)),
            }
        )
        if validation is not None:
            mlflow.log_metrics(validation.metrics())
            with tempfile.TemporaryDirectory() as tmp:
                validation.calibration.to_csv(Path(tmp) / "uplift_calibration.csv", index=False)
                plots.uplift_calibration_plot(
                    validation.calibration, Path(tmp) / "uplift_calibration.png"
                )
                mlflow.log_artifacts(tmp, artifact_path="validation")
        for key, value in decision.figures.items():
            mlflow.log_metric(f"promotion_{key}", value)
        if model.priors is not None:
            # The merchant's priors as the history updated them (models/response_priors.py).
            with tempfile.TemporaryDirectory() as tmp:
                model.priors.reason_offer.to_csv(Path(tmp) / "reason_offer.csv", index=False)
                pd.DataFrame(
                    sorted(model.priors.channel_effect.items()),
                    columns=["channel", "prior_effect"],
                ).to_csv(Path(tmp) / "channels.csv", index=False)
                mlflow.log_artifacts(tmp, artifact_path="updated_priors")
        if not model.learned:
            return None
        example = history.head(5).reset_index(drop=True)
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Hint: Inferred schema contains integer")
            signature = infer_signature(
                example, ResponsePyfunc(model, params.window_days).predict(None, example)
            )
        # The model is a Python object by design (two fitted learners and their
        # categories); MLflow's notes on pickling it and on the missing input example
        # (its serving check drops the pandas categories LightGBM needs) go to the log
        # only at error level.
        quiet = [logging.getLogger(n) for n in ("mlflow.pyfunc", "mlflow.models.model")]
        levels = [logger.level for logger in quiet]
        for logger in quiet:
            logger.setLevel(logging.ERROR)
        try:
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", message=".*input example was not provided.*")
                info = mlflow.pyfunc.log_model(
                    name="model",
                    python_model=ResponsePyfunc(
                        model, params.window_days, held_out.model if held_out else None
                    ),
                    signature=signature,
                    registered_model_name=model_name,
                    pip_requirements=tracking.requirements(),
                )
        finally:
            for logger, level in zip(quiet, levels, strict=True):
                logger.setLevel(level)
    registered = tracking.RegisteredModel(
        model_name, str(info.registered_model_version), run.info.run_id
    )
    client = MlflowClient()
    for key in (tracking.AS_OF_TAG, HISTORY_THROUGH_TAG, tracking.DIGEST_TAG):
        client.set_model_version_tag(model_name, registered.version, key, tags[key])
    return registered
