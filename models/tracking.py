"""MLflow: log training runs, register models, promote by alias, load the champion."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

import mlflow
from mlflow import MlflowClient
from mlflow.models import infer_signature

from winback.models.features import model_input
from winback.models.training import TrainedModel, TrainParams

CHAMPION = "champion"
# MLflow 3 saves scikit-learn models with skops, which loads only types it was told to
# trust; these are the LightGBM classes inside our model.
TRUSTED_TYPES = [
    "collections.OrderedDict",
    "lightgbm.basic.Booster",
    "lightgbm.sklearn.LGBMClassifier",
]


@dataclass(frozen=True)
class RegisteredModel:
    """A model version in the registry and the run that produced it."""

    name: str
    version: str
    run_id: str


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


def log_and_register(
    trained: TrainedModel,
    params: TrainParams,
    *,
    model_name: str,
    tags: dict[str, str],
) -> RegisteredModel:
    """Log params, metrics and the model in one MLflow run; register a new version."""
    frame = trained.frame
    example = model_input(frame.valid.head(5), trained.features)
    with mlflow.start_run(run_name=f"lightgbm-{tags.get('as_of_date', '')}") as run:
        mlflow.set_tags({**tags, "git_commit": git_commit(), "model_kind": "lightgbm"})
        mlflow.log_params(params.model_dump())
        mlflow.log_params(
            {
                "n_features": len(trained.features),
                "best_iteration": trained.best_iteration,
                "train_rows": len(frame.train),
                "valid_rows": len(frame.valid),
                "train_snapshots": ",".join(frame.train_dates),
                "valid_snapshot": frame.valid_date,
            }
        )
        mlflow.log_metrics(trained.metrics)
        signature = infer_signature(example, trained.model.predict_proba(example))
        info = mlflow.sklearn.log_model(
            trained.model,
            name="model",
            signature=signature,
            input_example=example,
            registered_model_name=model_name,
            skops_trusted_types=TRUSTED_TYPES,
            # Named here because uv's venv has no pip for MLflow to ask.
            pip_requirements=_requirements(),
        )
    version = str(info.registered_model_version)
    return RegisteredModel(model_name, version, run.info.run_id)


def _requirements() -> list[str]:
    from importlib.metadata import version

    return [f"{p}=={version(p)}" for p in ("lightgbm", "scikit-learn", "pandas", "numpy")]


def set_champion(model: RegisteredModel) -> None:
    """Make ``model`` the version that scores (alias ``champion``)."""
    MlflowClient().set_registered_model_alias(model.name, CHAMPION, model.version)


def load_champion(model_name: str) -> tuple[object, str, list[str]]:
    """The champion model, its version and its input columns."""
    version = MlflowClient().get_model_version_by_alias(model_name, CHAMPION).version
    model = mlflow.sklearn.load_model(f"models:/{model_name}@{CHAMPION}")
    columns = list(model.feature_name_)  # type: ignore[attr-defined]
    return model, str(version), columns
