"""MLflow: log training runs, register models, promote by alias, load the champion."""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import subprocess
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
from mlflow import MlflowClient
from mlflow.data.pandas_dataset import from_pandas
from mlflow.exceptions import MlflowException
from mlflow.models import infer_signature
from sklearn.calibration import CalibratedClassifierCV

from winback.config import ModelParams
from winback.models import plots
from winback.models.evaluation import calibration_table, evaluate, lift_table, profit_curve
from winback.models.explain import feature_importance, shap_values
from winback.models.features import model_input
from winback.models.promotion import PromotionDecision
from winback.models.training import TrainedModel, input_columns, labels

CHAMPION = "champion"
CHALLENGER = "challenger"
# MLflow 3 saves scikit-learn models with skops, which loads only types it was told to
# trust; these are the LightGBM and calibration classes inside our model, and the
# label-free baseline a shop whose labels carry no signal is scored with.
TRUSTED_TYPES = [
    "collections.OrderedDict",
    "lightgbm.basic.Booster",
    "lightgbm.sklearn.LGBMClassifier",
    "sklearn.calibration.CalibratedClassifierCV",
    "sklearn.calibration._CalibratedClassifier",
    "sklearn.calibration._SigmoidCalibration",
    "sklearn.frozen._frozen.FrozenEstimator",
    "sklearn.isotonic.IsotonicRegression",
    "winback.models.baselines.LabelFreeChurnModel",
]
# Metrics the leaderboard shows, in order.
LEADERBOARD_METRICS = (
    "roc_auc",
    "pr_auc",
    "brier",
    "log_loss",
    "ece",
    "lift_top_decile",
    "max_profit_per_customer",
)


@dataclass(frozen=True)
class RegisteredModel:
    """A model version in the registry and the run that produced it."""

    name: str
    version: str
    run_id: str


# Tags every model version carries (and its run), read by ``lifecycle``: the as-of date
# of the data it was trained on, the content hash of that data, and the promotion
# decision taken for it.
AS_OF_TAG = "as_of_date"
DIGEST_TAG = "features_digest"
DECISION_TAG = "promotion_decision"
PROMOTED = "promoted"
KEPT_CHALLENGER = "kept_challenger"


@dataclass(frozen=True)
class VersionRecord:
    """A registered version with what the lifecycle needs to know about it."""

    model: RegisteredModel
    as_of: dt.date | None
    digest: str | None
    decision: str | None  # PROMOTED, KEPT_CHALLENGER, or None (not decided)

    @property
    def promoted(self) -> bool:
        return self.decision == PROMOTED


def use_store(tracking_uri: str, experiment: str, artifact_dir: Path) -> str:
    """Point MLflow at the store and return the experiment id (created on first use)."""
    if tracking_uri.startswith("sqlite:///"):
        Path(tracking_uri.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_registry_uri(tracking_uri)
    found = mlflow.get_experiment_by_name(experiment)
    if found is not None:
        experiment_id = found.experiment_id
    else:
        artifact_dir.mkdir(parents=True, exist_ok=True)
        experiment_id = mlflow.create_experiment(
            experiment, artifact_location=artifact_dir.resolve().as_uri()
        )
    mlflow.set_experiment(experiment_id=experiment_id)
    return experiment_id


def git_commit() -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
            cwd=Path(__file__).parent,
        )
        return out.stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


DATASET_SCHEMA_ROWS = 1000


def dataset_digest(
    frame: pd.DataFrame, round_floats: int | None = None, rows: np.ndarray | None = None
) -> str:
    """Content hash of a snapshot frame (column names, rows and values), for lineage.

    Column by column, so hashing millions of rows never copies the frame (``rows``, a
    boolean mask, hashes only those rows, one column at a time); ``round_floats`` rounds
    float columns first (digits), for hashes that must not move with the last bits of a
    floating-point sum.
    """
    digest = hashlib.sha256()
    for name in frame.columns:
        column = frame[name] if rows is None else frame[name][rows]
        if round_floats is not None and pd.api.types.is_float_dtype(column):
            column = column.round(round_floats)
        digest.update(str(name).encode())
        digest.update(pd.util.hash_pandas_object(column, index=False).to_numpy().tobytes())
    return digest.hexdigest()[:16]


def lineage_tags(trained: TrainedModel) -> dict[str, str]:
    """Which snapshots a run used and their content hashes."""
    frame = trained.frame
    return {
        "train_snapshots": ",".join(frame.train_dates),
        "calibration_snapshot": frame.calibration_date,
        "valid_snapshot": frame.valid_date,
        "train_digest": dataset_digest(frame.train),
        "calibration_digest": dataset_digest(frame.calibration),
        "valid_digest": dataset_digest(frame.valid),
    }


def _flat(prefix: str, values: dict[str, object]) -> dict[str, object]:
    out: dict[str, object] = {}
    for key, value in values.items():
        if isinstance(value, dict):
            out |= _flat(f"{prefix}{key}.", value)
        else:
            out[f"{prefix}{key}"] = value
    return out


def write_plots(
    trained: TrainedModel,
    baselines: dict[str, np.ndarray],
    params: ModelParams,
    out_dir: Path,
) -> None:
    """Every diagnostic plot and table of a run into ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    y = labels(trained.frame.valid)
    scores = {"model": trained.valid_probabilities, **baselines}
    if 0 < y.sum() < len(y):  # ROC and PR curves need both outcomes
        plots.roc_plot(y, scores, out_dir / "roc.png")
        plots.pr_plot(y, scores, out_dir / "pr.png")
    plots.calibration_plot(y, scores, params.calibration_bins, out_dir / "calibration.png")
    plots.lift_plot(y, scores, out_dir / "lift.png")
    curves = {name: profit_curve(y, p, params.profit) for name, p in scores.items()}
    plots.profit_plot(curves, out_dir / "profit_curve.png")
    calibration_table(y, trained.valid_probabilities, params.calibration_bins).to_csv(
        out_dir / "calibration_table.csv", index=False
    )
    lift_table(y, trained.valid_probabilities).to_csv(out_dir / "lift_table.csv", index=False)
    curves["model"].to_csv(out_dir / "profit_curve.csv", index=False)
    if trained.booster is None:  # the label-free baseline: no trees to read
        return
    importance = feature_importance(trained.model)
    plots.importance_plot(importance, out_dir / "feature_importance.png")
    sample = trained.frame.valid.head(2000)
    contributions = shap_values(trained.model, sample, trained.features)
    plots.shap_summary_plot(
        contributions, model_input(sample, trained.features), out_dir / "shap_summary.png"
    )
    importance.to_csv(out_dir / "feature_importance.csv", index=False)


def log_training_run(
    trained: TrainedModel,
    params: ModelParams,
    *,
    model_name: str,
    tags: dict[str, str],
    baseline_probabilities: dict[str, np.ndarray],
    extra_metrics: dict[str, float],
    label_warning: str | None = None,
) -> RegisteredModel:
    """One MLflow run for the model, one per baseline (same tags, same validation), the
    model registered as a new version with alias ``challenger``. ``label_warning`` says
    why a shop with degenerate labels is scored by the model logged (tag
    ``label_warning``)."""
    frame = trained.frame
    y = labels(frame.valid)
    lineage = lineage_tags(trained)
    common = {**tags, **lineage, "git_commit": git_commit()}
    baseline_metrics = {
        name: evaluate(y, p, params.profit, params.calibration_bins)
        for name, p in baseline_probabilities.items()
    }
    for name, metrics in baseline_metrics.items():
        with mlflow.start_run(run_name=f"baseline-{name}-{tags.get('as_of_date', '')}"):
            mlflow.set_tags({**common, "model_kind": f"baseline_{name}"})
            mlflow.log_metrics(metrics)
    example = model_input(frame.valid.head(5), trained.features)
    kind = trained.kind
    with mlflow.start_run(run_name=f"{kind}-{tags.get('as_of_date', '')}") as run:
        mlflow.set_tags({**common, "model_kind": kind})
        mlflow.log_params(_flat("", params.model_dump()))
        mlflow.log_params(
            {
                "n_features": len(trained.features),
                "best_iteration": trained.best_iteration,
                "calibration_method_used": trained.calibration_method,
                "train_rows": len(frame.train),
                "calibration_rows": len(frame.calibration),
            }
        )
        mlflow.log_metrics(trained.metrics)
        for name, metrics in baseline_metrics.items():
            mlflow.log_metrics({f"baseline_{name}_{k}": metrics[k] for k in LEADERBOARD_METRICS})
            mlflow.log_metrics(
                {
                    f"gain_over_{name}_roc_auc": trained.metrics["roc_auc"] - metrics["roc_auc"],
                    f"gain_over_{name}_brier": metrics["brier"] - trained.metrics["brier"],
                }
            )
        mlflow.log_metrics(extra_metrics)
        if label_warning:
            mlflow.set_tag(LABEL_WARNING_TAG, label_warning)
        for context, part, digest in (
            ("training", frame.train, lineage["train_digest"]),
            ("calibration", frame.calibration, lineage["calibration_digest"]),
            ("validation", frame.valid, lineage["valid_digest"]),
        ):
            with warnings.catch_warnings():
                # Counts are integers by design; nulls never reach them (coalesced in dbt).
                warnings.filterwarnings("ignore", message="Hint: Inferred schema contains integer")
                # MLflow infers the schema value by value (69 s of a 100k-customer run):
                # the schema comes from a sample, the digest from every row.
                dataset = from_pandas(
                    part.head(DATASET_SCHEMA_ROWS),
                    name=f"customer_features[{context}]",
                    digest=digest,  # hashed once, for the lineage tags above
                )
            mlflow.log_input(dataset, context=context)
        with tempfile.TemporaryDirectory() as tmp:
            write_plots(trained, baseline_probabilities, params, Path(tmp))
            mlflow.log_artifacts(tmp, artifact_path="evaluation")
        signature = infer_signature(example, trained.model.predict_proba(example))
        # MLflow re-validates the input example through JSON, which drops the pandas
        # category dtype LightGBM needs; the model itself loads and scores fine (tested).
        logging.getLogger("mlflow.models.model").setLevel(logging.ERROR)
        info = mlflow.sklearn.log_model(
            trained.model,
            name="model",
            signature=signature,
            input_example=example,
            registered_model_name=model_name,
            skops_trusted_types=TRUSTED_TYPES,
            # Named here because uv's venv has no pip for MLflow to ask.
            pip_requirements=requirements(),
        )
    registered = RegisteredModel(model_name, str(info.registered_model_version), run.info.run_id)
    client = MlflowClient()
    for key in (AS_OF_TAG, DIGEST_TAG, "horizon_days"):
        if key in tags:
            client.set_model_version_tag(model_name, registered.version, key, tags[key])
    client.set_registered_model_alias(model_name, CHALLENGER, registered.version)
    return registered


def requirements() -> list[str]:
    from importlib.metadata import version

    return [f"{p}=={version(p)}" for p in ("lightgbm", "scikit-learn", "pandas", "numpy")]


def current_champion(model_name: str) -> RegisteredModel | None:
    """The version with alias ``champion`` (the champion of the newest as-of date), if any."""
    client = MlflowClient()
    try:
        found = client.get_model_version_by_alias(model_name, CHAMPION)
    except MlflowException:
        return None
    return RegisteredModel(model_name, str(found.version), str(found.run_id))


def versions(model_name: str) -> list[VersionRecord]:
    """Every registered version of ``model_name`` with its as-of date, data digest and
    promotion decision, oldest first: from the version's tags (one query), or for a
    version registered before those tags existed, from its run's."""
    client = MlflowClient()
    try:
        found = client.search_model_versions(f"name = '{model_name}'")
    except MlflowException:
        return []
    records = []
    for version in sorted(found, key=lambda v: int(v.version)):
        tags = dict(version.tags or {})
        if AS_OF_TAG not in tags:
            tags = {**client.get_run(str(version.run_id)).data.tags, **tags}
        as_of = tags.get(AS_OF_TAG)
        records.append(
            VersionRecord(
                model=RegisteredModel(model_name, str(version.version), str(version.run_id)),
                as_of=dt.date.fromisoformat(as_of) if as_of else None,
                digest=tags.get(DIGEST_TAG),
                decision=tags.get(DECISION_TAG),
            )
        )
    return records


LABEL_WARNING_TAG = "label_warning"


def run_record(model: RegisteredModel) -> tuple[dict[str, float], str, str | None]:
    """The validation metrics, the promotion reason and the warning about degenerate
    labels (if any) logged in a version's run."""
    run = MlflowClient().get_run(model.run_id)
    tags = run.data.tags
    return dict(run.data.metrics), tags.get("promotion_reason", ""), tags.get(LABEL_WARNING_TAG)


def metrics_on(
    model: RegisteredModel, valid: pd.DataFrame, params: ModelParams
) -> dict[str, float]:
    """Score a validation snapshot with a registered version (the only fair comparison
    of two versions: the same rows). Raises ValueError when it cannot read today's
    features."""
    loaded = load_model(model)
    columns = input_columns(loaded)
    if missing := set(columns) - set(valid.columns):
        raise ValueError(
            f"version {model.version} needs feature columns the mart no longer has: {missing}"
        )
    probabilities = loaded.predict_proba(model_input(valid, columns))[:, 1]
    return evaluate(labels(valid), probabilities, params.profit, params.calibration_bins)


def record_decision(
    challenger: RegisteredModel,
    champion: RegisteredModel | None,
    decision: PromotionDecision,
) -> None:
    """Log the promotion decision and its figures in the challenger's run and version."""
    client = MlflowClient()
    verdict = PROMOTED if decision.promote else KEPT_CHALLENGER
    client.set_tag(challenger.run_id, DECISION_TAG, verdict)
    client.set_model_version_tag(challenger.name, challenger.version, DECISION_TAG, verdict)
    client.set_tag(challenger.run_id, "promotion_reason", decision.reason)
    if champion is not None:
        client.set_tag(challenger.run_id, "compared_with_champion_version", champion.version)
    for key, value in decision.figures.items():
        client.log_metric(challenger.run_id, f"promotion_{key}", value)


def set_alias(model: RegisteredModel, alias: str) -> None:
    MlflowClient().set_registered_model_alias(model.name, alias, model.version)


def delete_alias(model_name: str, alias: str) -> None:
    MlflowClient().delete_registered_model_alias(model_name, alias)


def load_model(model: RegisteredModel) -> CalibratedClassifierCV:
    """A registered version, as the scikit-learn model it was logged as."""
    return mlflow.sklearn.load_model(f"models:/{model.name}/{model.version}")


def leaderboard(experiment: str, model_name: str, limit: int = 20) -> pd.DataFrame:
    """Recent runs (model and baselines), newest first, with the metrics every run logs on
    its validation snapshot and which registered version is champion/challenger."""
    client = MlflowClient()
    found = client.get_experiment_by_name(experiment)
    if found is None:
        return pd.DataFrame()
    runs = client.search_runs(
        [found.experiment_id], order_by=["attributes.start_time DESC"], max_results=limit
    )
    aliases: dict[str, str] = {}
    try:
        by_version: dict[str, list[str]] = {}
        for alias, version in client.get_registered_model(model_name).aliases.items():
            by_version.setdefault(str(version), []).append(alias)
        for found_version in client.search_model_versions(f"name='{model_name}'"):
            names = " ".join(sorted(by_version.get(str(found_version.version), [])))
            aliases[str(found_version.run_id)] = f"v{found_version.version} {names}".strip()
    except MlflowException:
        pass
    rows = []
    for run in runs:
        tags = run.data.tags
        rows.append(
            {
                "started": pd.Timestamp(run.info.start_time, unit="ms").strftime("%Y-%m-%d %H:%M"),
                "kind": tags.get("model_kind", ""),
                "as_of": tags.get("as_of_date", ""),
                "valid_snapshot": tags.get("valid_snapshot", ""),
                "valid_digest": tags.get("valid_digest", "")[:8],
                "version": aliases.get(run.info.run_id, ""),
                **{m: run.data.metrics.get(m) for m in LEADERBOARD_METRICS},
                "run_id": run.info.run_id[:8],
            }
        )
    return pd.DataFrame(rows)
