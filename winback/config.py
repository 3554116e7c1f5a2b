"""Every setting of the product, in one typed object: the only place a default is written.

``Settings`` has one section per concern (``warehouse``, ``features``, ``validation``,
``mlflow``, ``model``, ``decisions``, ``reminders``, ``shop``, ``schedule``, ``demo``).
Values come, highest priority first, from the command line (one run), environment
variables, a git-ignored ``.env`` file, a TOML file (``winback.toml`` in the working
directory, or the file ``WINBACK_CONFIG_FILE`` names) and the defaults below.

One environment scheme: ``WINBACK_`` + the section + ``__`` + the field, upper case, e.g.
``WINBACK_DECISIONS__BUDGET=8000`` or ``WINBACK_MODEL__LIGHTGBM__NUM_LEAVES=63``; the
two top-level fields are ``WINBACK_DATA_DIR`` and ``WINBACK_AS_OF``. List values take JSON
(``WINBACK_REMINDERS__CUTOFF_HOURS='[10, 16]'``). ``winback config show`` prints every
effective value and where it came from; the README's settings table is generated from
this module (``winback config docs``).

dbt reads its vars from here too (:meth:`Settings.dbt_vars`): a field marked with
``dbt_var(...)`` below is passed to every dbt invocation under that name, and the SQL
has no defaults of its own. Rule ids (R1–R22) are defined in ``docs/rules.md``.
"""

from __future__ import annotations

import datetime as dt
import difflib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal, Self
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    DotEnvSettingsSource,
    EnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DBT_PROJECT_DIR = PROJECT_ROOT / "dbt_project"

ENV_PREFIX = "WINBACK_"
ENV_NESTED_DELIMITER = "__"
CONFIG_FILE_ENV = "WINBACK_CONFIG_FILE"
DEFAULT_CONFIG_FILE = Path("winback.toml")
# Environment variables with the prefix that are not settings: values the product passes
# to dbt's profile and macros (set only by winback.transform), the runtime home, the
# config-file path, the Spark target's schema, the failure-drill hooks (tests/ops) and the
# allocator switch (winback._runtime.keep_freed_memory, read before settings exist).
INTERNAL_ENV_PREFIXES = ("WINBACK_DBT_",)
INTERNAL_ENV_NAMES = frozenset(
    {
        CONFIG_FILE_ENV,
        "WINBACK_HOME",
        "WINBACK_SPARK_SCHEMA",
        "WINBACK_DRILL_KILL_AT",
        "WINBACK_DRILL_HANG_AT",
        "WINBACK_LOG_FILE",
        "WINBACK_KEEP_FREED_MEMORY",
    }
    | {"WINBACK_ALL_DRILLS"}
)


def dbt_var(name: str) -> dict[str, Any]:
    """Mark a field as the dbt var ``name`` (``Field(..., json_schema_extra=dbt_var(...))``)."""
    return {"dbt_var": name}


class Section(BaseModel):
    """A section of the settings: no unknown keys (a typo in a TOML file is an error)."""

    model_config = ConfigDict(extra="forbid", validate_default=True)


# --- warehouse ------------------------------------------------------------------------


class WarehouseSettings(Section):
    """Where the data lives and how runs share it."""

    path: Path = Field(
        Path("warehouse/winback.duckdb"),
        description="The flows' private DuckDB working warehouse.",
    )
    published_path: Path | None = Field(
        None,
        description="The file analysts query, replaced atomically at the end of each "
        "successful run. Default: published.duckdb beside the warehouse.",
    )
    duckdb_memory_limit: str = Field(
        "3GB",
        pattern=r"^[0-9]+(\.[0-9]+)?\s*([KMGT]i?B|B)$",
        description="Most memory DuckDB may use in ingestion, reads, scoring, the decisions "
        "and publishing (it spills to disk beyond; without a cap it took 17 GB loading a "
        "1M-customer shop). Measured at 1M customers: a second night as fast at 3GB as at "
        "6GB, with a peak 2.4 GB lower (those stages also hold large pandas frames).",
    )
    duckdb_feature_build_memory_limit: str = Field(
        "5GB",
        pattern=r"^[0-9]+(\.[0-9]+)?\s*([KMGT]i?B|B)$",
        description="DuckDB's cap while dbt builds a point-in-time snapshot model (the "
        "feature build's largest queries): building the 12 snapshots of a 1M-customer shop "
        "from scratch ran out of memory at 3GB and 4GB; at 5GB it took 111 s with a peak of "
        "5,822 MiB, at 6GB 108 s and 6,907 MiB.",
    )
    lock_timeout_seconds: float = Field(
        0.0,
        ge=0,
        description="How long a run waits for another run's lock on the warehouse before "
        "it refuses (0: refuse at once with a message naming the holder).",
    )

    def published_file(self) -> Path:
        """The analysts' published file, absolute."""
        return (self.published_path or self.path.parent / "published.duckdb").resolve()


# --- features (dbt: the point-in-time snapshots and the R1 status index) ----------------


class FeatureSettings(Section):
    """The snapshot grid of ``marts.customer_features`` and the R1 status index."""

    horizon_days: int = Field(
        90,
        ge=7,
        le=730,
        description="Churn horizon: no paid order within this many days after a snapshot "
        "counts as churn.",
        json_schema_extra=dbt_var("horizon_days"),
    )
    snapshot_cadence_days: int = Field(
        30,
        ge=1,
        description="Days between point-in-time snapshots.",
        json_schema_extra=dbt_var("snapshot_cadence_days"),
    )
    snapshot_anchor_date: dt.date = Field(
        dt.date(2000, 1, 1),
        description="The snapshots before the scoring one fall on this date plus multiples of "
        "the cadence (a fixed calendar, so a night reuses the snapshots built before it; "
        "changing it rebuilds them all).",
        json_schema_extra=dbt_var("snapshot_anchor_date"),
    )
    snapshot_count: int = Field(
        12,
        ge=1,
        description="Most snapshots (as-of dates) to build, newest first.",
        json_schema_extra=dbt_var("snapshot_count"),
    )
    min_history_days: int = Field(
        60,
        ge=0,
        description="A snapshot needs this much order history before it to say anything "
        "(the scoring snapshot is always built).",
        json_schema_extra=dbt_var("min_history_days"),
    )
    one_time_buyer_overdue_days: int = Field(
        120,
        ge=1,
        description="R1: a one-time buyer counts as overdue after this many days.",
        json_schema_extra=dbt_var("one_time_buyer_overdue_days"),
    )
    lost_after_days: int = Field(
        365,
        ge=1,
        description="R1: status 'lost' after this many days without a purchase (still a "
        "win-back candidate).",
        json_schema_extra=dbt_var("lost_after_days"),
    )
    long_lost_after_days: int = Field(
        730,
        ge=1,
        description="Customers silent longer than this are left out of customer_features: "
        "not churn candidates any more.",
        json_schema_extra=dbt_var("long_lost_after_days"),
    )


# --- validation gates ---------------------------------------------------------------------


class ValidationSettings(Section):
    """Gates that stop a run before anything is published, and the score-drift flag."""

    max_quarantined_share: float = Field(
        0.2,
        ge=0,
        le=1,
        description="Stop the nightly run (raw-data gate) when a larger share of the order "
        "rows than this is quarantined: a broken export, not a few bad rows.",
    )
    psi_threshold: float = Field(
        0.2,
        ge=0,
        description="Flag the run when the PSI of churn probabilities against the last "
        "published run exceeds this.",
    )


# --- MLflow -------------------------------------------------------------------------------


class MlflowSettings(Section):
    """Where model runs and the registry live."""

    tracking_uri: str = Field(
        "sqlite:///mlflow/mlflow.db",
        description="MLflow tracking and registry store; a sqlite file needs no server.",
    )
    artifact_dir: Path = Field(
        Path("mlflow/artifacts"), description="Where MLflow stores run artifacts (models, plots)."
    )
    experiment: str = Field("winback-churn", description="MLflow experiment name.")
    model_name: str = Field("winback_churn", description="Registered model name in MLflow.")
    response_experiment: str = Field(
        "winback-response",
        description="MLflow experiment of the response (uplift) model behind the decisions.",
    )
    response_model_name: str = Field(
        "winback_response", description="Registered name of the response model in MLflow."
    )
    reuse_trained_model: bool = Field(
        True,
        description="Reuse a registered version fitted on the same inputs instead of "
        "fitting it again: the churn model's labelled snapshots and parameters, the "
        "response model's completed campaign history, priors and parameters (reruns, "
        "resumed runs, and nights on which those did not change).",
    )


# --- the churn model ----------------------------------------------------------------------


class TrainParams(Section):
    """LightGBM settings; every run logs them to MLflow."""

    n_estimators: int = Field(400, description="Most boosting rounds (early stopping picks fewer).")
    learning_rate: float = Field(0.05, description="Shrinkage per round.")
    num_leaves: int = Field(31, description="Leaves per tree.")
    min_child_samples: int = Field(50, description="Fewest rows in a leaf.")
    subsample: float = Field(0.8, description="Row share per bagging round.")
    subsample_freq: int = Field(1, description="Bagging every k rounds.")
    colsample_bytree: float = Field(0.8, description="Feature share per tree.")
    reg_lambda: float = Field(1.0, description="L2 regularisation.")
    early_stopping_rounds: int = Field(30, description="Stop after this many rounds without gain.")
    n_jobs: int = Field(2, description="Threads (the machines have 2 cores).")
    seed: int = Field(
        42, description="Seed for bagging, feature sampling and the training-row sample."
    )
    max_train_rows: int = Field(
        750_000,
        ge=1000,
        description="Most rows of the stacked training snapshots the booster sees; larger "
        "shops are sampled (the same share of every snapshot, seeded). Calibration and "
        "validation snapshots are never sampled. On the 1M-customer shop 750k, 1M and "
        "1.5M rows gave the same validation ROC-AUC and Brier at half the time of 1.5M.",
    )


class ProfitAssumptions(Section):
    """Campaign economics for the expected-profit curve (in the spirit of EMP, Verbraken
    et al. 2013): a contacted churner accepts the offer with ``acceptance_rate`` and is
    then worth ``customer_value`` minus the offer; a contacted non-churner takes the offer
    anyway (pure cost); every contact costs ``contact_cost``."""

    customer_value: float = Field(200.0, gt=0, description="Value of a retained customer.")
    offer_cost: float = Field(10.0, ge=0, description="Cost of the incentive when accepted.")
    contact_cost: float = Field(1.0, ge=0, description="Cost of one contact.")
    acceptance_rate: float = Field(
        0.3, gt=0, le=1, description="Share of contacted churners the offer keeps."
    )


class PromotionRule(Section):
    """When a challenger may replace the champion (both scored on the same validation)."""

    auc_tolerance: float = Field(
        0.005, ge=0, description="Challenger ROC-AUC may be at most this much below the champion's."
    )
    brier_tolerance: float = Field(
        0.01, ge=0, description="Challenger Brier may be at most this share above the champion's."
    )
    ece_tolerance: float = Field(
        0.01,
        ge=0,
        description="Challenger expected calibration error may be at most this much above.",
    )


class ModelParams(Section):
    """The whole churn-model lifecycle: training, calibration, evaluation, promotion,
    scoring and future value. Logged with every run (and part of the resume digest)."""

    lightgbm: TrainParams = Field(default_factory=TrainParams, description="LightGBM settings.")
    calibration_method: Literal["isotonic", "sigmoid"] = Field(
        "sigmoid",
        description="Calibrator fitted on the calibration snapshot: sigmoid (Platt scaling) "
        "keeps the ranking and is stable on small shops; isotonic is more flexible but "
        "needs a few thousand rows and turns scores into steps.",
    )
    min_rows_for_isotonic: int = Field(
        2000, description="Below this many calibration rows Platt scaling is used instead."
    )
    calibration_bins: int = Field(10, ge=2, description="Quantile bins of the reliability table.")
    min_minority_labels: int = Field(
        50,
        ge=1,
        description="When the labelled churn rate is degenerate (below 1% or above 99.5%, "
        "e.g. nearly every customer bought once), a part (training, calibration, "
        "validation) with fewer than this many of the rarer outcome means the labels "
        "carry no signal: the shop is scored with the label-free BG/NBD baseline. Same "
        "as LightGBM's fewest rows per leaf.",
    )
    profit: ProfitAssumptions = Field(
        default_factory=ProfitAssumptions, description="Economics of the profit curve."
    )
    promotion: PromotionRule = Field(
        default_factory=PromotionRule, description="When a challenger becomes champion."
    )
    risk_band_edges: list[float] = Field(
        [0.25, 0.5, 0.75],
        description="Churn-probability cut points between the risk bands (ascending).",
    )
    risk_band_names: list[str] = Field(
        ["low", "medium", "high", "very_high"],
        description="Band names, one more than the cut points.",
    )
    reason_count: int = Field(3, ge=1, le=3, description="Reason codes per customer (1-3).")
    explain_min_probability: float = Field(
        0.5,
        ge=0,
        le=1,
        description="Customers at or above this churn probability get reason codes "
        "(exact TreeSHAP costs ~1 ms per customer, so it is spent where someone reads it).",
    )
    explain_lapse_statuses: list[str] = Field(
        ["at_risk", "lapsed", "lost"],
        description="Customers with these lapse statuses (the win-back candidates) get "
        "reason codes whatever their probability; everyone else's stay empty.",
    )
    exact_reason_rows: int = Field(
        10_000,
        ge=0,
        description="At most this many explained customers (most value at stake first: "
        "churn probability x 12-month revenue if retained) get exact TreeSHAP reasons; the "
        "others get path attributions (Saabas), ~20x cheaper.",
    )
    value_horizon_days: int = Field(
        365, ge=30, description="Window of the expected future value (R3): 12 months."
    )
    bgnbd_penalizer: float = Field(
        0.001, ge=0, description="L2 penalty of the BG/NBD and Gamma-Gamma fits (lifetimes)."
    )

    @model_validator(mode="after")
    def _bands_fit(self) -> Self:
        if len(self.risk_band_names) != len(self.risk_band_edges) + 1:
            raise ValueError("risk_band_names needs one more name than risk_band_edges")
        if sorted(self.risk_band_edges) != self.risk_band_edges:
            raise ValueError("risk_band_edges must ascend")
        return self


# --- the response model: what a contact does (models/response.py) ---------------------------


class ResponseParams(Section):
    """How the response to win-back contacts is learned from campaign history (R8, R10)."""

    window_days: float = Field(
        14.0,
        gt=0,
        description="Attribution window of a contact: an order within it counts (also "
        "how the contacts Winback exported are attributed, int_campaign_contacts).",
        json_schema_extra=dbt_var("winback_attribution_window_days"),
    )
    min_treated: int = Field(
        300, ge=1, description="Fewest treated contacts in the history to learn from it at all."
    )
    min_control: int = Field(
        100, ge=1, description="Fewest control contacts in the history to learn from it at all."
    )
    prior_strength: float = Field(
        float("inf"),
        ge=0,
        description="Pseudo-contacts behind the history-updated priors for each offer x "
        "channel: the T-learner's per-customer uplift of a cell counts n / (n + this), n its "
        "effective treated-vs-control sample. inf (default): contacts are valued by the "
        "updated priors' structure and the learned no-contact baseline alone; the T-learner "
        "is still fitted, validated and logged. Measured (make bench-decisions): inf earned "
        "7-28% more than 200 in the unseen worlds and skips the per-contact tree predictions.",
    )
    prior_update_sigma: float = Field(
        1.0,
        ge=0,
        description="How far the history may move the merchant's priors (reason x offer effects "
        "and channel effects, models/response_priors.py): the standard deviation of a "
        "log-normal penalty around them. 0: the priors stay as the merchant set them.",
    )
    qini_tolerance: float = Field(
        0.002,
        ge=0,
        description="Promotion gate: a new response model replaces the champion unless its "
        "held-out Qini is below the champion's on the same campaign by more than this.",
    )
    n_estimators: int = Field(
        100,
        ge=1,
        description="Boosting rounds of each learner (100 chose as well as 200 in the "
        "development worlds 11-12 and predicts twice as fast at 1M customers).",
    )
    max_history_rows: int = Field(
        300_000,
        ge=1000,
        description="Most past contacts each response learner sees (a seeded sample of the "
        "campaign history; every contact still counts as evidence for pooling toward the "
        "priors). Bounds the time of the response fits on a 1M-customer shop's ~1.8M past "
        "contacts.",
    )
    max_holdout_customers: int = Field(
        25_000,
        ge=100,
        description="Most customers of the held-out newest campaign that the nightly "
        "validation and backtest judge (a seeded sample of a larger campaign; its intervals "
        "widen accordingly).",
    )
    backtest_value_quantile: float = Field(
        0.99,
        gt=0.5,
        le=1.0,
        description="The backtest values a return at most at this quantile of the campaign's "
        "values (winsorized, as experimentation platforms do for revenue; 1.0 = no cap): a few "
        "very valuable accounts otherwise decide the estimate by luck.",
    )
    learning_rate: float = Field(0.05, gt=0, description="Shrinkage per round.")
    num_leaves: int = Field(15, ge=2, description="Leaves per tree.")
    min_child_samples: int = Field(100, ge=1, description="Fewest contacts in a leaf.")
    reg_lambda: float = Field(5.0, ge=0, description="L2 regularisation.")
    n_jobs: int = Field(2, ge=1, description="Threads.")
    seed: int = Field(42, description="Seed for bagging and feature sampling.")


# --- win-back decisions (dbt: models/*/winback) -----------------------------------------------


class DecisionSettings(Section):
    """What the merchant tunes per campaign, and the business assumptions of the
    win-back decisions (R3–R13)."""

    budget: float = Field(
        5000.0,
        ge=0,
        description="Campaign budget in the shop currency, as expected spend: every contact "
        "the plans are expected to send and every discount expected to be redeemed. The "
        "allocation (models/allocation.py) maximises expected profit within it.",
    )
    committed_cost_cap: float | None = Field(
        None,
        ge=0,
        description="Optional cap on the list's committed cost as well: every planned contact "
        "sent and every discount redeemed once (the worst case). Empty: no cap.",
    )
    control_share: float = Field(
        0.10,
        ge=0.0,
        lt=1.0,
        description="Share of the list held out as control group (R10).",
        json_schema_extra=dbt_var("winback_control_share"),
    )
    campaign_id: str = Field(
        "",
        description="Campaign id; seeds the control-group draw. Empty: winback-<yyyy-mm> of "
        "the as-of date, so the control group stays the same within a month.",
        json_schema_extra=dbt_var("winback_campaign_id"),
    )
    recalibrate_value_tiers: bool = Field(
        False,
        description="Recompute the stored value-tier boundaries (R5) instead of reusing them.",
        json_schema_extra=dbt_var("winback_recalibrate_value_tiers"),
    )
    report_dir: Path = Field(
        Path("reports"), description="Where the HTML campaign report is written."
    )
    frequency_cap_days: int = Field(
        30,
        ge=0,
        description="R13: no win-back contact within this many days of the last one.",
        json_schema_extra=dbt_var("winback_frequency_cap_days"),
    )
    step_gap_days: int = Field(
        14,
        ge=1,
        description="R12/R13: days between the 1st, 2nd and 3rd contact.",
        json_schema_extra=dbt_var("winback_step_gap_days"),
    )
    third_contact_fatigue: float = Field(
        0.7,
        ge=0,
        le=1,
        description="R12: a 3rd contact after two failed ones works this much as well.",
    )
    default_margin_rate: float = Field(
        0.35,
        ge=0,
        le=1,
        description="Gross margin when products carry no unit_cost (R3).",
        json_schema_extra=dbt_var("winback_default_margin_rate"),
    )
    monthly_churn_norm_b2c: float = Field(
        0.065,
        gt=0,
        lt=1,
        description="R2: monthly churn-rate norm of B2C customers; a won-back customer's "
        "12-month value counts each month's orders by the chance of still being a customer.",
        json_schema_extra=dbt_var("winback_monthly_churn_norm_b2c"),
    )
    monthly_churn_norm_b2b: float = Field(
        0.038,
        gt=0,
        lt=1,
        description="R2: monthly churn-rate norm of B2B customers (as for B2C).",
        json_schema_extra=dbt_var("winback_monthly_churn_norm_b2b"),
    )
    cost_per_ticket: float = Field(
        4.0,
        ge=0,
        description="Cost to serve one ticket (R6), per ticket in the last year.",
        json_schema_extra=dbt_var("winback_cost_per_ticket"),
    )
    advocacy_value_per_referral: float = Field(
        40.0,
        ge=0,
        description="R4: value of a referral that led to a purchase.",
        json_schema_extra=dbt_var("winback_advocacy_value_per_referral"),
    )
    advocacy_value_per_review: float = Field(
        4.0,
        ge=0,
        description="R4: value of a review written.",
        json_schema_extra=dbt_var("winback_advocacy_value_per_review"),
    )
    advocacy_value_per_contribution: float = Field(
        2.0,
        ge=0,
        description="R4: value of a forum post or answer, survey or suggestion.",
        json_schema_extra=dbt_var("winback_advocacy_value_per_contribution"),
    )
    min_reason_confidence: float = Field(
        0.20,
        ge=0,
        le=1,
        description="R7/R8: a reason at least this likely can unlock its offers.",
        json_schema_extra=dbt_var("winback_min_reason_confidence"),
    )
    late_payer_min_invoices: int = Field(
        3,
        ge=1,
        description="R6: a chronic late payer has at least this many invoices ...",
        json_schema_extra=dbt_var("winback_late_payer_min_invoices"),
    )
    late_payer_share: float = Field(
        0.5,
        ge=0,
        le=1,
        description="R6: ... of which at least this share were paid late.",
        json_schema_extra=dbt_var("winback_late_payer_share"),
    )
    price_hunter_discount_share: float = Field(
        0.7,
        ge=0,
        le=1,
        description="R6: a price hunter buys mostly on discount (at least this share) ...",
        json_schema_extra=dbt_var("winback_price_hunter_discount_share"),
    )
    price_hunter_min_price_disputes: int = Field(
        1,
        ge=0,
        description="R6: ... and has complained about price at least this often.",
        json_schema_extra=dbt_var("winback_price_hunter_min_price_disputes"),
    )
    attention_min_tickets: int = Field(
        3,
        ge=1,
        description="R6: high attention means at least this many tickets ...",
        json_schema_extra=dbt_var("winback_attention_min_tickets"),
    )
    attention_tickets_per_purchase: float = Field(
        0.5,
        ge=0,
        description="R6: ... and at least this many tickets per purchase.",
        json_schema_extra=dbt_var("winback_attention_tickets_per_purchase"),
    )
    default_contact_hour_b2c: int = Field(
        19,
        ge=0,
        le=23,
        description="R11: local contact hour of a B2C customer who gave none.",
        json_schema_extra=dbt_var("winback_default_contact_hour_b2c"),
    )
    default_contact_hour_b2b: int = Field(
        10,
        ge=0,
        le=23,
        description="R11: local contact hour of a B2B customer who gave none.",
        json_schema_extra=dbt_var("winback_default_contact_hour_b2b"),
    )
    reminder_offer: str = Field(
        "REMIND",
        description="R12: offer code of the first contact of a sequence (a reminder).",
    )
    new_arrivals_offer: str = Field(
        "NEWARRIVALS",
        description="R12: offer code of the second contact (new products from the history).",
    )
    assumptions_dir: Path | None = Field(
        None,
        description="Folder of the merchant's assumption files (offer_catalogue.csv, "
        "channels.csv, discount_caps.csv, reason_offer_priors.csv; each optional, each "
        "replaces its shipped default table; R8-R12). Default: <data_dir>/assumptions "
        "when that folder exists.",
    )


# --- payment reminders (dbt: models/*/reminders) ----------------------------------------------


class ShopSettings(Section):
    """The shop itself."""

    timezone: str = Field(
        "Asia/Shanghai",
        description="IANA time zone of the shop: cut-off hours, 'the same day' (R15) and "
        "the schedules use it; customers without a (valid) time zone are assumed to live "
        "in it.",
        json_schema_extra=dbt_var("shop_timezone"),
    )
    name: str = Field("Winback Shop", description="Shop name used in the reminder texts.")
    currency_symbol: str = Field("¥", description="Currency symbol in the reminder texts.")

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value


class ReminderSettings(Section):
    """How and when payment reminders go out (R15–R21)."""

    cutoff_hours: list[int] = Field(
        [11, 17],
        description="Shipping cut-off hours, shop time (R18). Reminders go in the window "
        "before each.",
        json_schema_extra=dbt_var("reminder_cutoff_hours"),
    )
    window_minutes: int = Field(
        60,
        ge=5,
        le=600,
        description="Length of the reminder window before each cut-off, minutes (R18).",
        json_schema_extra=dbt_var("reminder_window_minutes"),
    )
    continuous_shipping: bool = Field(
        False,
        description="The shop ships continuously: remind some hours after the order instead "
        "of before cut-offs (R18).",
        json_schema_extra=dbt_var("reminder_continuous_shipping"),
    )
    continuous_delay_min_hours: float = Field(
        2,
        ge=0,
        description="Continuous shipping: earliest reminder, hours after the order (R18).",
        json_schema_extra=dbt_var("reminder_continuous_delay_min_hours"),
    )
    continuous_delay_max_hours: float = Field(
        3,
        gt=0,
        description="Continuous shipping: latest reminder, hours after the order (R18).",
        json_schema_extra=dbt_var("reminder_continuous_delay_max_hours"),
    )
    min_order_age_minutes: int = Field(
        30,
        ge=0,
        description="Leave the customer this long to pay on their own before a normal reminder.",
        json_schema_extra=dbt_var("reminder_min_order_age_minutes"),
    )
    night_start_hour: int = Field(
        21,
        ge=1,
        le=24,
        description="Customer-local hour the night starts: no reminder from it.",
        json_schema_extra=dbt_var("reminder_night_start_hour"),
    )
    night_end_hour: int = Field(
        8,
        ge=0,
        le=23,
        description="Customer-local hour the night ends: reminders resume.",
        json_schema_extra=dbt_var("reminder_night_end_hour"),
    )
    deadline_lead_minutes: int = Field(
        15,
        ge=1,
        description="A reminder comes at least this long before an order's payment deadline (R19).",
        json_schema_extra=dbt_var("reminder_deadline_lead_minutes"),
    )
    flash_remind_after_minutes: int = Field(
        10,
        ge=0,
        description="Flash-sale orders: remind this long after the order (R19).",
        json_schema_extra=dbt_var("reminder_flash_remind_after_minutes"),
    )
    flash_close_minutes: int = Field(
        30,
        ge=1,
        description="Flash-sale orders without pay_deadline_ts close this long after the "
        "order (R19).",
        json_schema_extra=dbt_var("reminder_flash_close_minutes"),
    )
    max_order_age_hours: int = Field(
        72,
        ge=1,
        description="Orders pending longer than this are not reminded any more (R18).",
        json_schema_extra=dbt_var("reminder_max_order_age_hours"),
    )
    horizon_days: int = Field(
        3,
        ge=1,
        le=14,
        description="Shop days ahead in which a cut-off window is looked for (R18).",
        json_schema_extra=dbt_var("reminder_horizon_days"),
    )
    promotion_available: bool = Field(
        False,
        description="A promotion runs that a second-time buyer can be offered (R20); "
        "without it only customers with a member tier are reminded on their second "
        "purchase.",
        json_schema_extra=dbt_var("reminder_promotion_available"),
    )
    promotion_text: str = Field(
        "",
        description="How the running promotion is described in reminder texts (R20), "
        "e.g. '满199减20' / '10% off over ¥199'.",
    )
    sent_rule: Literal["auto", "log", "time"] = Field(
        "auto",
        description="When a scheduled reminder counts as sent (it is then never sent again "
        "and is measured): 'log' when the sender's contact_log says sent; 'time' once its "
        "time has passed (for a sender that reports nothing); 'auto' the log once it holds "
        "any reminder row, time until then.",
        json_schema_extra=dbt_var("reminder_sent_rule"),
    )
    zh_timezones: list[str] = Field(
        [
            "Asia/Shanghai",
            "Asia/Chongqing",
            "Asia/Harbin",
            "Asia/Urumqi",
            "Asia/Hong_Kong",
            "Asia/Macau",
            "Asia/Taipei",
            "PRC",
            "Asia/Singapore",
        ],
        description="Customers in these time zones get Chinese texts, everyone else English "
        "(the contract has no language column).",
        json_schema_extra=dbt_var("reminder_zh_timezones"),
    )

    @field_validator("cutoff_hours")
    @classmethod
    def _hours(cls, value: list[int]) -> list[int]:
        if not value or any(not 0 < h <= 24 for h in value):
            raise ValueError("cut-off hours must be 1..24 and at least one")
        return sorted(set(value))

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.night_end_hour >= self.night_start_hour:
            raise ValueError(
                "night_end_hour must come before night_start_hour (night spans midnight)"
            )
        if self.continuous_delay_min_hours >= self.continuous_delay_max_hours:
            raise ValueError("continuous_delay_min_hours must be below continuous_delay_max_hours")
        return self


# --- schedules and the demo shop --------------------------------------------------------------


class ScheduleSettings(Section):
    """When the deployed flows run (cron, in the shop's time zone ``shop.timezone``)."""

    nightly_cron: str = Field("0 2 * * *", description="The nightly flow.")
    reminders_cron: str = Field("*/15 * * * *", description="The payment-reminder flow.")


class ExportSettings(Section):
    """What senders take (issue 17): the planned win-back contacts and the due payment
    reminders as files, one per channel, with a manifest (``winback export``)."""

    dir: Path = Field(
        Path("exports"),
        description="Where exports are published: <dir>/winback/<as-of>/ and "
        "<dir>/reminders/<time>/, each with one file per channel and manifest.json.",
    )
    format: Literal["csv", "parquet"] = Field("csv", description="File format of the exports.")
    after_nightly: bool = Field(
        True, description="Export the list at the end of every nightly run."
    )
    contact_columns: dict[str, list[str]] = Field(
        {
            "email": ["email"],
            "sms": ["phone", "mobile"],
            "phone": ["phone", "mobile"],
            "push": ["push_token", "device_token"],
            "chat": ["chat_id", "phone"],
            "visit": ["address", "phone"],
        },
        description="Per channel, the customers columns (extra columns of the merchant's "
        "customers file) a sender needs to reach the customer; those present in the data "
        "are exported, the missing ones are named in the manifest and the summary.",
    )


class TimeoutSettings(Section):
    """How long each step (Prefect task) of a run may take before it is stopped: the run
    then fails naming the step, releases the warehouse lock and publishes nothing. A
    step's limit grows with the data: ``minimum_seconds`` plus ``seconds_per_million_rows``
    per million rows loaded (the load step: ``load_seconds_per_gb`` per GB of input files).
    The defaults give a 1M-customer shop (38M rows, 0.26 GB of parquet; its slowest step
    took 112 s, benchmarks/results/nightly.md) about 29 minutes per step: a hang is
    stopped within the night, a slow night is not."""

    minimum_seconds: float = Field(
        600, ge=1, description="Every step's limit on a small shop (seconds)."
    )
    seconds_per_million_rows: float = Field(
        30, ge=0, description="Added to a step's limit per million rows loaded."
    )
    load_seconds_per_gb: float = Field(
        600, ge=0, description="Added to the load step's limit per GB of input files."
    )
    step_seconds: dict[str, float] = Field(
        {},
        description='Fixed limits by step (task) name, e.g. {"train_model": 3600}; '
        "0 turns a step's limit off.",
    )
    hard_stop_grace_seconds: float = Field(
        120,
        ge=1,
        description="A step that does not stop within this long after its limit (stuck "
        "inside native code, where Python cannot interrupt it) ends the whole process: "
        "the failure is recorded first; the kernel frees the lock; nothing is published.",
    )

    def for_step(self, step: str, rows: int = 0, input_bytes: int = 0) -> float | None:
        """The limit of ``step`` (seconds; None: no limit) for a run of ``rows`` rows
        loaded from ``input_bytes`` of files."""
        if step in self.step_seconds:
            fixed = self.step_seconds[step]
            return fixed if fixed > 0 else None
        return (
            self.minimum_seconds
            + self.seconds_per_million_rows * rows / 1e6
            + self.load_seconds_per_gb * input_bytes / 1e9
        )


class DemoSettings(Section):
    """The demo shop that ``make run`` and ``winback demo-data`` generate."""

    customers: int = Field(20_000, ge=100, description="Customers in the demo shop.")
    seed: int = Field(42, description="Seed of the simulator; the same seed gives the same shop.")
    as_of: dt.date = Field(dt.date(2026, 6, 30), description="Last day of the shop's history.")
    world: int = Field(
        0,
        ge=0,
        description="The demo shop's true response to offers and channels (winback.demo.world): "
        "0 is the documented default; 1, 2, ... are drawn worlds the decisions must learn.",
    )


# --- spark (WINBACK_ENGINE=spark: the nightly on Apache Spark) ---------------------------


class SparkSettings(Section):
    """The Spark engine (``engine = "spark"``): where the session runs and what it may use.
    A local session by default (``local[2]``, nothing to start); a cluster through
    ``master`` (e.g. ``spark://host:7077``, ``yarn``) and ``conf``."""

    master: str = Field(
        "local[2]",
        description="Spark master URL: local[N] runs Spark inside the flow's process "
        "(N cores); spark://host:7077, yarn or k8s://... hand the work to a cluster.",
    )
    warehouse_dir: str = Field(
        "warehouse/spark",
        description="Spark SQL warehouse directory (spark.sql.warehouse.dir): where the "
        "raw, staging, intermediate and marts tables are kept. On a cluster, a path every "
        "executor can reach (hdfs://, s3a://).",
    )
    driver_memory: str = Field(
        "2g",
        pattern=r"^[0-9]+[kmgt]?$",
        description="spark.driver.memory (for local[N], the memory of all of Spark).",
    )
    shuffle_partitions: int = Field(
        4,
        ge=1,
        description="spark.sql.shuffle.partitions: a few per core (Spark's 200 is for clusters).",
    )
    conf: dict[str, str] = Field(
        default_factory=dict,
        description="Any other Spark configuration, key → value (e.g. spark.executor.memory); "
        "WINBACK_SPARK__CONF takes JSON.",
    )
    training_sample_rows: int = Field(
        500_000,
        ge=1_000,
        description="Most labelled snapshot rows the driver reads from Spark to train on "
        "(a seeded sample of them when there are more).",
    )

    def warehouse_location(self) -> str:
        """The warehouse directory, absolute when it is a local path (no scheme)."""
        if "://" in self.warehouse_dir:
            return self.warehouse_dir
        return str(Path(self.warehouse_dir).resolve())


# --- the whole object ---------------------------------------------------------------------------


class Settings(BaseSettings):
    """Run-time configuration. Relative paths are resolved against the working directory
    (:meth:`resolved`)."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter=ENV_NESTED_DELIMITER,
        env_file=".env",
        extra="forbid",
        validate_default=True,
    )

    data_dir: Path = Field(
        Path("data/demo"),
        description="Directory of the merchant's input files (one <table>.csv|parquet each).",
    )
    as_of: dt.date | None = Field(
        None,
        description="Date the nightly run scores as of (data up to the end of that day, "
        "UTC). Default: the date of the latest order in the data.",
    )
    max_data_age_days: int = Field(
        3,
        ge=0,
        description="A nightly run without an as-of date (scheduled, or `winback nightly` "
        "without --as-of) is refused, before anything is loaded or published, when the "
        "newest order is more than this many days before today (UTC): a stale export must "
        "not become tonight's list. An explicit as-of date is never refused.",
    )
    engine: Literal["duckdb", "spark"] = Field(
        "duckdb",
        description="Where the nightly computes (WINBACK_ENGINE): duckdb, the embedded "
        "warehouse file; spark, Apache Spark through the spark section (local or a cluster).",
    )
    warehouse: WarehouseSettings = Field(default_factory=WarehouseSettings)
    spark: SparkSettings = Field(default_factory=SparkSettings)
    features: FeatureSettings = Field(default_factory=FeatureSettings)
    validation: ValidationSettings = Field(default_factory=ValidationSettings)
    mlflow: MlflowSettings = Field(default_factory=MlflowSettings)
    model: ModelParams = Field(default_factory=ModelParams)
    response: ResponseParams = Field(default_factory=ResponseParams)
    decisions: DecisionSettings = Field(default_factory=DecisionSettings)
    shop: ShopSettings = Field(default_factory=ShopSettings)
    reminders: ReminderSettings = Field(default_factory=ReminderSettings)
    schedule: ScheduleSettings = Field(default_factory=ScheduleSettings)
    export: ExportSettings = Field(default_factory=ExportSettings)
    timeouts: TimeoutSettings = Field(default_factory=TimeoutSettings)
    alert_webhook_url: str | None = Field(
        None,
        description="A failed scheduled or CLI run POSTs its failure record (flow, step, "
        "error, what to do) as JSON to this URL (WINBACK_ALERT_WEBHOOK_URL), besides "
        "writing it to meta.run_failures and logs/run_failures.jsonl.",
    )
    demo: DemoSettings = Field(default_factory=DemoSettings)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Command line > environment > .env > TOML file > defaults."""
        return init_settings, env_settings, dotenv_settings, _toml_source(settings_cls)

    def resolved(self) -> Self:
        """Copy with every path made absolute (dbt and MLflow run with other cwds)."""
        uri = self.mlflow.tracking_uri
        prefix = "sqlite:///"
        if uri.startswith(prefix) and not uri.startswith(prefix + "/"):
            uri = prefix + str(Path(uri[len(prefix) :]).resolve())
        warehouse = self.warehouse.model_copy(
            update={
                "path": self.warehouse.path.resolve(),
                "published_path": self.warehouse.published_file(),
            }
        )
        return self.model_copy(
            update={
                "data_dir": self.data_dir.resolve(),
                "warehouse": warehouse,
                "mlflow": self.mlflow.model_copy(
                    update={"tracking_uri": uri, "artifact_dir": self.mlflow.artifact_dir.resolve()}
                ),
                "decisions": self.decisions.model_copy(
                    update={"report_dir": self.decisions.report_dir.resolve()}
                ),
                "export": self.export.model_copy(update={"dir": self.export.dir.resolve()}),
                "spark": self.spark.model_copy(
                    update={"warehouse_dir": self.spark.warehouse_location()}
                ),
            }
        )

    def dbt_vars(self) -> dict[str, object]:
        """Every dbt var, from the fields marked ``dbt_var``: the one way settings reach
        dbt (``winback.transform.run_dbt`` passes them to every invocation)."""
        return {
            var: value
            for path, field, value in _leaves(self)
            if (var := _dbt_var_name(field)) is not None
        }


def _toml_source(settings_cls: type[BaseSettings]) -> PydanticBaseSettingsSource:
    named = os.environ.get(CONFIG_FILE_ENV)
    path = Path(named) if named else DEFAULT_CONFIG_FILE
    if named and not path.is_file():
        raise SettingsError(f"{CONFIG_FILE_ENV} names {path}, which is not a file.")
    return TomlConfigSettingsSource(settings_cls, toml_file=path if path.is_file() else None)


class SettingsError(ValueError):
    """A setting is unknown or invalid; the message names it and what to do."""


# --- introspection: names, env vars, sources ------------------------------------------------


def _dbt_var_name(field: Any) -> str | None:
    extra = getattr(field, "json_schema_extra", None)
    return extra.get("dbt_var") if isinstance(extra, dict) else None


def _leaves(model: BaseModel, prefix: str = "") -> Iterator[tuple[str, Any, Any]]:
    """(dotted path, field info, value) of every leaf setting, in declaration order."""
    for name, field in type(model).model_fields.items():
        value = getattr(model, name)
        path = f"{prefix}{name}"
        if isinstance(value, BaseModel):
            yield from _leaves(value, path + ".")
        else:
            yield path, field, value


def env_name(path: str) -> str:
    """The environment variable of a dotted setting path (``decisions.budget`` →
    ``WINBACK_DECISIONS__BUDGET``)."""
    return ENV_PREFIX + path.replace(".", ENV_NESTED_DELIMITER).upper()


def setting_paths() -> list[str]:
    """Every leaf setting's dotted path."""
    return [path for path, _, _ in _leaves(Settings.model_construct())]


def _check_environment() -> None:
    """Refuse ``WINBACK_*`` variables that are no setting (a renamed or misspelt one would
    otherwise be ignored without a word), suggesting the setting meant."""
    known = {env_name(p) for p in setting_paths()}
    sections = {env_name(name) for name, f in Settings.model_fields.items()}
    for name in sorted(os.environ):
        upper = name.upper()
        if not upper.startswith(ENV_PREFIX) or upper in known | sections:
            continue
        if upper in INTERNAL_ENV_NAMES or upper.startswith(INTERNAL_ENV_PREFIXES):
            continue
        if any(upper.startswith(s + ENV_NESTED_DELIMITER) for s in sections):
            continue  # pydantic-settings reports a wrong field of a section itself
        suggestion = _closest(upper, known)
        raise SettingsError(
            f"{name} is not a Winback setting"
            + (f": did you mean {suggestion}?" if suggestion else ".")
            + " `winback config show` lists every setting and its variable."
        )


def _closest(name: str, known: set[str]) -> str | None:
    """The known variable most like ``name``: first by the field's own name (a renamed
    section keeps it), then by spelling."""
    field = name.rsplit("__", 1)[-1].removeprefix(ENV_PREFIX)
    by_field = sorted(k for k in known if k.endswith("__" + field) or k == ENV_PREFIX + field)
    if len(by_field) == 1:
        return by_field[0]
    for candidate in sorted(known, key=len, reverse=True):
        if field.endswith("_" + candidate.rsplit("__", 1)[-1]):
            return candidate
    found = difflib.get_close_matches(name, sorted(known), n=1, cutoff=0.6)
    return found[0] if found else None


def load_settings(**overrides: Any) -> Settings:
    """The effective settings: ``overrides`` (the command line's, nested as the object:
    ``load_settings(features={"horizon_days": 60})``) over the environment, ``.env``, the
    TOML file and the defaults. Raises :class:`SettingsError` naming the setting and
    variable on a bad value."""
    _check_environment()
    try:
        return Settings(**overrides)
    except SettingsError:
        raise
    except ValueError as exc:
        raise SettingsError(_readable(exc)) from exc


def _readable(exc: ValueError) -> str:
    errors = getattr(exc, "errors", None)
    if not callable(errors):
        return str(exc)
    lines = ["Invalid setting(s):"]
    for error in errors():
        path = ".".join(str(p) for p in error.get("loc", ()))
        where = f"{path} ({env_name(path)})" if path else "settings"
        lines.append(f"  - {where}: {error.get('msg')} (got {error.get('input')!r})")
    return "\n".join(lines)


def sources_of(overrides: dict[str, Any] | None = None) -> dict[str, str]:
    """Where each set setting came from: 'command line', 'environment', '.env' or the
    TOML file's path; settings not listed keep their default."""
    found: dict[str, str] = {}
    named = os.environ.get(CONFIG_FILE_ENV)
    toml_path = Path(named) if named else DEFAULT_CONFIG_FILE
    layers: list[tuple[str, dict[str, Any]]] = [
        ("command line", overrides or {}),
        ("environment", EnvSettingsSource(Settings)()),
        (".env", DotEnvSettingsSource(Settings)()),
    ]
    if toml_path.is_file():
        layers.append((str(toml_path), TomlConfigSettingsSource(Settings, toml_path)()))
    for label, values in reversed(layers):  # higher priority overwrites
        for path in _set_paths(values):
            found[path] = label
    return found


def _set_paths(values: dict[str, Any], prefix: str = "") -> Iterator[str]:
    for key, value in values.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict) and key in _section_names(prefix):
            yield from _set_paths(value, path + ".")
        else:
            yield path


def _section_names(prefix: str) -> set[str]:
    """Names of the nested sections under a dotted prefix."""
    model: Any = Settings
    for part in [p for p in prefix.split(".") if p]:
        model = model.model_fields[part].annotation
    return {
        name
        for name, field in model.model_fields.items()
        if isinstance(field.annotation, type) and issubclass(field.annotation, BaseModel)
    }


def describe(settings: Settings, overrides: dict[str, Any] | None = None) -> list[dict[str, str]]:
    """One row per leaf setting: path, environment variable, effective value, where the
    value came from, dbt var and description (``winback config show``)."""
    sources = sources_of(overrides)
    rows = []
    for path, field, value in _leaves(settings):
        source = next(
            (
                label
                for prefix, label in sources.items()
                if path == prefix or path.startswith(prefix + ".")
            ),
            "default",
        )
        rows.append(
            {
                "setting": path,
                "variable": env_name(path),
                "value": _show(value),
                "source": source,
                "dbt_var": _dbt_var_name(field) or "",
                "description": field.description or "",
            }
        )
    return rows


def _show(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        return "[" + ", ".join(str(v) for v in value) + "]"
    return str(value)


def _cell(text: str) -> str:
    """Text safe inside a markdown table cell (no column breaks, no HTML tags)."""
    return text.replace("|", "\\|").replace("<", "&lt;").replace(">", "&gt;")


def settings_table_markdown() -> str:
    """The README's settings table: every setting with its variable, default and meaning
    (generated from this module; ``tests/test_config.py`` keeps the README in step)."""
    lines = ["| variable | default | meaning |", "|---|---|---|"]
    for path, field, value in _leaves(Settings.model_construct()):
        default = _cell(_show(value))
        meaning = _cell(field.description or "")
        var = _dbt_var_name(field)
        if var:
            meaning += f" (dbt var `{var}`)"
        shown = f"`{default}`" if default else ""
        lines.append(f"| `{env_name(path)}` | {shown} | {meaning} |")
    return "\n".join(lines)
