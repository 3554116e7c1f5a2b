"""The churn model's lifecycle as plain functions: train or reuse, compare, promote, and
choose the version that scores a date. The nightly flow calls them in that order; none of
them imports Prefect.

Point in time: every registered version carries the as-of date of the data it was
trained on. A date D is scored by the best version trained on data up to D
(:func:`choose_model_for`), never by one that has seen later answers, so a rerun or
backfill of an older date after newer ones gets the model it would have had. A new
version for D is compared with that same point-in-time champion on D's validation
snapshot (like with like) before it is promoted (:func:`promote`). The registry alias
``champion`` names the champion of the newest as-of date (what ``models:/…@champion``
loads); ``challenger`` the newest version not promoted.

Reuse: a version is tagged with ``features_digest``, a content hash of what it learns
from (the labelled snapshots it read: training, calibration, validation), the model
parameters and the horizon. A run whose digest matches a registered, decided version
trained on data up to its as-of date reuses it instead of training again
(:func:`train_or_reuse`): same data, same seed, same model. Resumed runs and reruns reuse
their version; so does the next night (issue 19), since the labelled snapshots fall on a
fixed calendar and stay the same until a new label is observed or old rows are
corrected: the model is retrained when what it learns from changes, and every night
scores. The DuckDB engine digests the labelled rows in SQL before reading anything
(``warehouse.labelled_rows_digest``), so a night that reuses a version reads the
scoring snapshot alone; the Spark engine hashes the rows it read (:func:`features_digest`).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from winback.config import ModelParams
from winback.models import baselines, promotion, tracking, training, value
from winback.models.evaluation import evaluate
from winback.models.promotion import PromotionDecision
from winback.models.snapshots import SnapshotPlan
from winback.models.tracking import RegisteredModel, VersionRecord

# DuckDB sums doubles in parallel, so the same input can give features that differ in the
# last bits from run to run; the digest compares them at this many decimals.
DIGEST_DECIMALS = 6


class NoModelForDateError(LookupError):
    """No promoted version was trained on data up to the date to score."""


@dataclass
class TrainingOutcome:
    """The version trained (or reused) for a run, its validation metrics, the baselines'
    and the point-in-time champion's on the same rows, and the promotion decision."""

    registered: RegisteredModel
    as_of: dt.date
    metrics: dict[str, float]
    decision: PromotionDecision
    reused: bool = False
    valid_date: str = ""
    baseline_metrics: dict[str, dict[str, float]] = field(default_factory=dict)
    champion: RegisteredModel | None = None
    champion_metrics: dict[str, float] | None = None
    label_warning: str | None = None

    @property
    def verdict(self) -> str:
        if self.reused:
            return "reused from an earlier run on the same features"
        return "promoted" if self.decision.promote else "kept as challenger"

    def to_markdown(self) -> str:
        """The metrics table of the run's ``model-metrics`` artifact."""
        if self.reused:
            return (
                f"## Model v{self.registered.version} reused\n\nTrained earlier on the same "
                f"features; promotion then: {self.decision.reason}."
            )
        names = tracking.LEADERBOARD_METRICS
        rows = {"model": self.metrics}
        rows |= {f"baseline {name}": m for name, m in self.baseline_metrics.items()}
        if self.champion is not None and self.champion_metrics is not None:
            rows[f"champion v{self.champion.version}"] = self.champion_metrics
        lines = [
            f"## Model v{self.registered.version} on validation snapshot {self.valid_date}",
            "",
            "| | " + " | ".join(names) + " |",
            "|---" * (len(names) + 1) + "|",
        ]
        for label, metrics in rows.items():
            lines.append(f"| {label} | " + " | ".join(f"{metrics[n]:.4f}" for n in names) + " |")
        lines += ["", f"**Promotion:** {self.verdict}: {self.decision.reason}"]
        if self.label_warning:
            lines += ["", f"**Warning:** {self.label_warning}"]
        return "\n".join(lines)


def features_digest(
    features: pd.DataFrame, inputs: dict[str, object], rows: np.ndarray | None = None
) -> str:
    """Content hash of the features read (``rows`` of them) and the run's inputs."""
    return run_digest(
        tracking.dataset_digest(features, round_floats=DIGEST_DECIMALS, rows=rows), inputs
    )


def run_digest(data_digest: str, inputs: dict[str, object]) -> str:
    """What a version is trained on: a digest of its labelled rows (``features_digest``
    in memory, ``warehouse.labelled_rows_digest`` in SQL) and of the run's inputs."""
    payload = data_digest + json.dumps(inputs, sort_keys=True, default=str)
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def training_inputs(params: ModelParams, horizon_days: int) -> dict[str, object]:
    """The run's inputs besides the rows that decide what a version learns."""
    return {"params": params.model_dump(), "horizon_days": horizon_days}


def reused_outcome(found: VersionRecord, as_of: dt.date) -> TrainingOutcome:
    """The outcome of a run that reuses ``found`` (trained earlier on the same rows and
    inputs): its metrics, promotion and label warning as that run recorded them."""
    metrics, reason, warning = tracking.run_record(found.model)
    decision = PromotionDecision(found.promoted, f"reused: {reason}", {})
    return TrainingOutcome(
        found.model, as_of, metrics, decision, reused=True, label_warning=warning
    )


def trained_version_for(model_name: str, digest: str, as_of: dt.date) -> VersionRecord | None:
    """The newest registered version trained on ``digest`` with data up to ``as_of`` whose
    promotion was decided."""
    found = [
        v
        for v in tracking.versions(model_name)
        if v.digest == digest
        and v.decision is not None
        and v.as_of is not None
        and v.as_of <= as_of
    ]
    return found[-1] if found else None


def choose_model_for(model_name: str, as_of: dt.date) -> VersionRecord:
    """The version that scores ``as_of``: of the promoted versions trained on data up to
    ``as_of`` (their as-of date ≤ it), the newest by as-of date, then by version. Never a
    version trained on later data, which has seen the answers of ``as_of``'s horizon."""
    eligible = [
        v for v in tracking.versions(model_name) if v.promoted and v.as_of and v.as_of <= as_of
    ]
    if not eligible:
        raise NoModelForDateError(
            f"no promoted version of model {model_name!r} was trained on data up to {as_of}; "
            "run the nightly flow for this date (it trains one) before scoring it."
        )
    return max(eligible, key=lambda v: (v.as_of, int(v.model.version)))


def _champion_for(model_name: str, as_of: dt.date) -> VersionRecord | None:
    try:
        return choose_model_for(model_name, as_of)
    except NoModelForDateError:
        return None


def train_or_reuse(
    features: pd.DataFrame,
    plan: SnapshotPlan,
    params: ModelParams,
    *,
    model_name: str,
    as_of: dt.date,
    horizon_days: int,
    purchases: pd.DataFrame | Callable[[], pd.DataFrame] | None,
    reuse: bool = True,
    digest: str | None = None,
) -> TrainingOutcome:
    """Train, calibrate and evaluate a version for ``as_of`` on the features read by
    ``plan``, measure the baselines and the point-in-time champion on the same validation
    snapshot, log it all to MLflow (the store :func:`tracking.use_store` set), register
    the version and :func:`promote` it if it is not worse. With ``reuse``, a version
    already trained on the same labelled snapshots and inputs, on data up to ``as_of``,
    is returned instead (the scoring snapshot, new every night, is not part of what a
    model learns from). ``digest``: what the version is trained on (:func:`run_digest`),
    when the caller computed it without the rows in memory; by default the labelled rows
    of ``features`` are hashed. ``purchases`` (for the value model's check) may be given
    as a function, called only when a version is trained."""
    digest = digest or features_digest(
        features,
        training_inputs(params, horizon_days),
        rows=features["is_label_observed"].astype(bool).to_numpy(),
    )
    found = trained_version_for(model_name, digest, as_of) if reuse else None
    if found is not None:
        return reused_outcome(found, as_of)
    if callable(purchases):
        purchases = purchases()
    frame = training.split_by_snapshot(features, plan)
    trained, label_warning = fit_best_model(frame, params, horizon_days)
    baseline_probabilities = baselines.baseline_probabilities(
        frame, horizon_days, params.bgnbd_penalizer
    )
    value_metrics = value.validate_future_value(features, purchases, params.bgnbd_penalizer)
    champion = _champion_for(model_name, as_of)
    champion_metrics = None
    try:
        if champion is not None:
            champion_metrics = tracking.metrics_on(champion.model, frame.valid, params)
        decision = promotion.decide(trained.metrics, champion_metrics, params.promotion)
    except ValueError as exc:
        decision = PromotionDecision(True, f"champion cannot be compared: {exc}", {})
    registered = tracking.log_training_run(
        trained,
        params,
        model_name=model_name,
        tags={
            tracking.AS_OF_TAG: as_of.isoformat(),
            "horizon_days": str(horizon_days),
            tracking.DIGEST_TAG: digest,
        },
        baseline_probabilities=baseline_probabilities,
        extra_metrics=value_metrics,
        label_warning=label_warning,
    )
    promote(registered, as_of, decision, compared_with=champion.model if champion else None)
    labels = training.labels(frame.valid)
    return TrainingOutcome(
        registered=registered,
        as_of=as_of,
        metrics=trained.metrics,
        decision=decision,
        valid_date=frame.valid_date,
        baseline_metrics={
            name: evaluate(labels, np.asarray(p), params.profit, params.calibration_bins)
            for name, p in baseline_probabilities.items()
        },
        champion=champion.model if champion else None,
        champion_metrics=champion_metrics,
        label_warning=label_warning,
    )


def fit_best_model(
    frame: training.TrainingFrame, params: ModelParams, horizon_days: int
) -> tuple[training.TrainedModel, str | None]:
    """LightGBM, unless the labels are degenerate (valid data, e.g. a shop where nearly
    every customer bought once). Then the model is the better on the validation
    snapshot's log loss of LightGBM and the label-free BG/NBD baseline, and the
    baseline alone when the labels carry no signal (too few of the rarer outcome in a
    part to fit, calibrate and judge a model). The second value says why, for the run's
    warning; None for ordinary labels."""
    signal = training.label_signal(frame, params.min_minority_labels)
    if not signal.degenerate:
        return training.train(frame, params), None
    label_free = baselines.train_label_free(frame, params, horizon_days)
    how = (
        "the label-free BG/NBD baseline (no purchase within the horizon)"
        if label_free.model.uses_bgnbd
        else "the shop's churn rate for everyone (BG/NBD could not be fitted)"
    )
    head = f"degenerate labels: {signal.describe()}"
    if not signal.learnable:
        return label_free, (
            f"{head}; fewer than {params.min_minority_labels} of the rarer outcome in a part, "
            f"so the labels carry no signal to learn: scored with {how}"
        )
    trained = training.train(frame, params)
    ours, theirs = trained.metrics["log_loss"], label_free.metrics["log_loss"]
    if ours <= theirs:
        return trained, (
            f"{head}; LightGBM kept: its validation log loss {ours:.5g} is not worse than "
            f"{theirs:.5g} of {how}"
        )
    return label_free, (
        f"{head}; scored with {how}: its validation log loss {theirs:.5g} beats "
        f"LightGBM's {ours:.5g}"
    )


def promote(
    challenger: RegisteredModel,
    as_of: dt.date,
    decision: PromotionDecision,
    *,
    compared_with: RegisteredModel | None = None,
) -> None:
    """Record the decision on the challenger (run and version tags). A promoted version
    becomes the champion of ``as_of`` for :func:`choose_model_for`; it takes the
    ``champion`` alias only when no champion of a later as-of date holds it (a backfill of
    an old date never demotes tonight's model)."""
    tracking.record_decision(challenger, compared_with, decision)
    if not decision.promote:
        return
    holder = tracking.current_champion(challenger.name)
    records = {v.model.version: v for v in tracking.versions(challenger.name)}
    holder_as_of = records[holder.version].as_of if holder else None
    if holder is None or holder_as_of is None or holder_as_of <= as_of:
        tracking.set_alias(challenger, tracking.CHAMPION)
    tracking.delete_alias(challenger.name, tracking.CHALLENGER)
