"""The churn model as a Spark UDF (``WINBACK_ENGINE=spark``): a registered version,
wrapped as an MLflow pyfunc that returns the calibrated churn probability of feature rows,
for ``mlflow.pyfunc.spark_udf``.

The registered versions are scikit-learn models (``tracking.log_model``) that expect the
model's input form (numbers as float64, text as pandas categories: ``model_input``);
their scikit-learn pyfunc would answer class labels, and a Spark batch arrives as plain
columns. The wrapper holds the registered version's own files (MLflow copies them from
``models:/name/version``) and computes the probability with the same function the
DuckDB engine scores with (``scoring.churn_probability``): the same version gives the
same probability on either engine. Nothing changes in the registry, so every version,
old or new, can score on Spark.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import mlflow
import pandas as pd
from mlflow.models import ModelSignature
from mlflow.pyfunc import PythonModel
from mlflow.types import ColSpec, Schema

from winback.config import ModelParams
from winback.models import tracking
from winback.models.btyd import BuyTillYouDie
from winback.models.scoring import (
    assemble_scores,
    churn_probability,
    needs_explanation,
    value_at_stake,
)
from winback.models.training import input_columns
from winback.models.value import future_value

ARTIFACT = "churn_model"


class ChurnProbabilityModel(PythonModel):
    """Feature rows (the columns the version was trained on) → churn probability."""

    def load_context(self, context: Any) -> None:
        self.model = mlflow.sklearn.load_model(context.artifacts[ARTIFACT])
        self.columns = input_columns(self.model)

    def predict(self, context: Any, model_input: pd.DataFrame, params: Any = None) -> pd.Series:
        probabilities, _ = churn_probability(self.model, model_input, self.columns)
        return pd.Series(probabilities, index=model_input.index, dtype="float64")


def save_udf_model(
    registered: tracking.RegisteredModel, column_types: dict[str, str], path: Path
) -> list[str]:
    """Write the pyfunc wrapping ``registered`` to ``path`` (a fresh directory) and return
    the input columns, in order, that the UDF must be called with. ``column_types`` maps
    each feature column to its UDF type: ``double`` (every number: Spark hands a bigint with
    nulls to pandas as float, and the model reads numbers as float64 anyway) or ``string``."""
    model = tracking.load_model(registered)
    columns = input_columns(model)
    missing = [c for c in columns if c not in column_types]
    if missing:
        raise ValueError(
            f"model {registered.name} v{registered.version} needs feature columns the "
            f"feature table lacks: {', '.join(missing)}"
        )
    signature = ModelSignature(
        inputs=Schema([ColSpec(column_types[c], c) for c in columns]),
        outputs=Schema([ColSpec("double")]),
    )
    # MLflow notes that the wrapper is pickled and has no input example; both are by design.
    quiet = [logging.getLogger(n) for n in ("mlflow.pyfunc", "mlflow.models.model")]
    levels = [logger.level for logger in quiet]
    for logger in quiet:
        logger.setLevel(logging.ERROR)
    try:
        mlflow.pyfunc.save_model(
            str(path),
            python_model=ChurnProbabilityModel(),
            artifacts={ARTIFACT: f"models:/{registered.name}/{registered.version}"},
            signature=signature,
            pip_requirements=tracking.requirements(),
        )
    finally:
        for logger, level in zip(quiet, levels, strict=True):
            logger.setLevel(level)
    return columns


# --- the rest of a score, partition by partition (``winback.spark.score_snapshot``) ------
#
# What ``scoring.score`` decides about the whole snapshot is decided once on Spark too:
# the BTYD value model is fitted on the driver (the four columns it reads), and the
# customers explained exactly are the top of the value at stake, found in Spark SQL. What
# is left is row by row, and runs on the executors with the functions below.


def priority_batch(
    batch: pd.DataFrame, value_model: BuyTillYouDie, params: ModelParams
) -> pd.DataFrame:
    """customer_id, the value at stake (the exact-reasons priority) and whether the
    customer gets reasons at all, for rows carrying ``churn_probability``."""
    probabilities = batch["churn_probability"].to_numpy(dtype="float64")
    value = future_value(
        batch, params.value_horizon_days, params.bgnbd_penalizer, model=value_model
    )
    return pd.DataFrame(
        {
            "customer_id": batch["customer_id"].to_numpy(),
            "priority": value_at_stake(probabilities, value),
            "is_explained": needs_explanation(batch, probabilities, params),
        }
    )


def scores_batch(
    batch: pd.DataFrame,
    model: Any,
    columns: list[str],
    value_model: BuyTillYouDie,
    params: ModelParams,
) -> pd.DataFrame:
    """The score rows (``warehouse.SCORE_COLUMNS`` but the model version) of feature rows
    carrying ``churn_probability`` and ``reason_method`` (the method decided for the
    snapshot, null for no reasons)."""
    batch = batch.reset_index(drop=True)
    value = future_value(
        batch, params.value_horizon_days, params.bgnbd_penalizer, model=value_model
    )
    methods = batch["reason_method"].astype(object).where(batch["reason_method"].notna(), None)
    scores = assemble_scores(
        model,
        batch,
        columns,
        batch["churn_probability"].to_numpy(dtype="float64"),
        value,
        methods.to_numpy(dtype=object),
        params,
    )
    scores["expected_next_order_date"] = pd.to_datetime(scores["expected_next_order_date"]).dt.date
    return scores
