"""One settings object for the whole product (environment prefix ``WINBACK_``).

Every field can be set as an environment variable (``WINBACK_WAREHOUSE_PATH=...``) or in
a git-ignored ``.env`` file; command-line options override both for one run.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DBT_PROJECT_DIR = PROJECT_ROOT / "dbt_project"


class Settings(BaseSettings):
    """Run-time configuration. Relative paths are resolved against the working directory."""

    model_config = SettingsConfigDict(env_prefix="WINBACK_", env_file=".env", extra="ignore")

    warehouse_path: Path = Field(
        Path("warehouse/winback.duckdb"),
        description="DuckDB warehouse file the flows write and analysts query.",
    )
    data_dir: Path = Field(
        Path("data/demo"),
        description="Directory of the merchant's input files (one <table>.csv|parquet each).",
    )
    duckdb_memory_limit: str = Field(
        "6GB",
        description="Most memory DuckDB may use in ingestion and dbt (it spills to disk beyond).",
    )
    mlflow_tracking_uri: str = Field(
        "sqlite:///mlflow/mlflow.db",
        description="MLflow tracking and registry store; a sqlite file needs no server.",
    )
    mlflow_artifact_dir: Path = Field(
        Path("mlflow/artifacts"),
        description="Where MLflow stores run artifacts (models, plots).",
    )
    mlflow_experiment: str = Field("winback-churn", description="MLflow experiment name.")
    model_name: str = Field("winback_churn", description="Registered model name in MLflow.")
    as_of: dt.date | None = Field(
        None,
        description="Date the run scores as of (data up to the end of that day, UTC). "
        "Default: the date of the latest order in the data.",
    )
    horizon_days: int = Field(
        90, ge=7, le=730, description="Churn horizon: no paid order within this many days."
    )
    snapshot_cadence_days: int = Field(
        30, ge=1, description="Days between point-in-time training snapshots."
    )
    snapshot_count: int = Field(
        12, ge=1, description="Most snapshots (as-of dates) to build, newest first."
    )
    seed: int = Field(42, description="Random seed for the model and the demo shop.")
    nightly_cron: str = Field(
        "0 2 * * *",
        description="When the deployed nightly flow runs (cron, in the shop's time zone "
        "WINBACK_REMINDER_SHOP_TIMEZONE).",
    )
    reminders_cron: str = Field(
        "*/15 * * * *", description="When the deployed payment-reminder flow runs (cron)."
    )
    demo_customers: int = Field(
        20_000, ge=100, description="Customers in the demo shop that `make run` generates."
    )

    def resolved(self) -> Settings:
        """Copy with every path made absolute (dbt and MLflow run with other cwds)."""
        updates = {
            "warehouse_path": self.warehouse_path.resolve(),
            "data_dir": self.data_dir.resolve(),
            "mlflow_artifact_dir": self.mlflow_artifact_dir.resolve(),
        }
        uri = self.mlflow_tracking_uri
        prefix = "sqlite:///"
        if uri.startswith(prefix) and not uri.startswith(prefix + "/"):
            uri = prefix + str(Path(uri[len(prefix) :]).resolve())
        updates["mlflow_tracking_uri"] = uri
        return self.model_copy(update=updates)

    # Operations (issue 8): published snapshot, run lock, drift flag.
    published_path: Path | None = Field(
        None,
        description="The file analysts query, replaced atomically at the end of each "
        "successful run. Default: published.duckdb beside the warehouse.",
    )
    lock_timeout_seconds: float = Field(
        0.0,
        ge=0,
        description="How long a run waits for another run's lock on the warehouse before "
        "it refuses (0: refuse at once with a message naming the holder).",
    )
    psi_threshold: float = Field(
        0.2,
        ge=0,
        description="Flag the run when the PSI of churn probabilities against the last "
        "published run exceeds this.",
    )

    max_quarantined_share: float = Field(
        0.2,
        ge=0,
        le=1,
        description="Stop the nightly run (raw-data gate) when a larger share of the order "
        "rows than this is quarantined: a broken export, not a few bad rows.",
    )

    reuse_trained_model: bool = Field(
        True,
        description="Resume: reuse the newest model version when it was trained on the same "
        "features, parameters and as-of date instead of training it again.",
    )

    def published_file(self) -> Path:
        """The analysts' published file, absolute."""
        path = self.published_path or self.warehouse_path.parent / "published.duckdb"
        return path.resolve()
