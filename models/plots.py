"""Diagnostic plots of a run, written as PNG files for MLflow (matplotlib, Agg backend)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from sklearn.metrics import precision_recall_curve, roc_curve

from winback.models.evaluation import calibration_table, lift_table


def _save(fig: plt.Figure, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def roc_plot(y: np.ndarray, scores: dict[str, np.ndarray], path: Path) -> Path:
    fig, ax = plt.subplots(figsize=(5, 5))
    for name, p in scores.items():
        fpr, tpr, _ = roc_curve(y, p)
        ax.plot(fpr, tpr, label=name)
    ax.plot([0, 1], [0, 1], "k:", lw=1)
    ax.set(xlabel="false positive rate", ylabel="true positive rate", title="ROC (validation)")
    ax.legend()
    return _save(fig, path)


def pr_plot(y: np.ndarray, scores: dict[str, np.ndarray], path: Path) -> Path:
    fig, ax = plt.subplots(figsize=(5, 5))
    for name, p in scores.items():
        # Only the corners of the curve: the same picture, without drawing a point per
        # customer (~1.5 s for four curves of a million customers).
        precision, recall, _ = precision_recall_curve(y, p, drop_intermediate=True)
        ax.plot(recall, precision, label=name)
    ax.axhline(float(np.mean(y)), color="k", ls=":", lw=1)
    ax.set(xlabel="recall", ylabel="precision", title="Precision-recall (validation)")
    ax.legend()
    return _save(fig, path)


def calibration_plot(y: np.ndarray, scores: dict[str, np.ndarray], bins: int, path: Path) -> Path:
    fig, ax = plt.subplots(figsize=(5, 5))
    for name, p in scores.items():
        table = calibration_table(y, p, bins)
        ax.plot(table["mean_predicted"], table["observed_churn_rate"], "o-", label=name)
    ax.plot([0, 1], [0, 1], "k:", lw=1)
    ax.set(
        xlabel="predicted churn probability",
        ylabel="observed churn rate",
        title="Reliability (validation)",
    )
    ax.legend()
    return _save(fig, path)


def lift_plot(y: np.ndarray, scores: dict[str, np.ndarray], path: Path) -> Path:
    fig, ax = plt.subplots(figsize=(6, 4))
    for name, p in scores.items():
        table = lift_table(y, p)
        ax.plot(table["decile"], table["cumulative_lift"], "o-", label=name)
    ax.axhline(1.0, color="k", ls=":", lw=1)
    ax.set(xlabel="decile (riskiest first)", ylabel="cumulative lift", title="Lift (validation)")
    ax.legend()
    return _save(fig, path)


def profit_plot(curves: dict[str, pd.DataFrame], path: Path) -> Path:
    fig, ax = plt.subplots(figsize=(6, 4))
    for name, curve in curves.items():
        ax.plot(100 * curve["contact_share"], curve["profit_per_customer"], label=name)
    ax.axhline(0.0, color="k", ls=":", lw=1)
    ax.set(
        xlabel="customers contacted (top k %)",
        ylabel="expected profit per customer",
        title="Expected profit of a campaign (validation)",
    )
    ax.legend()
    return _save(fig, path)


def importance_plot(importance: pd.DataFrame, path: Path, top: int = 20) -> Path:
    head = importance.head(top).iloc[::-1]
    fig, ax = plt.subplots(figsize=(6, 0.3 * len(head) + 1))
    ax.barh(head["feature"], head["gain"])
    ax.set(xlabel="total gain", title="Feature importance (LightGBM gain)")
    return _save(fig, path)


def shap_summary_plot(
    contributions: pd.DataFrame, values: pd.DataFrame, path: Path, top: int = 15
) -> Path:
    """Beeswarm-style summary: one row per feature, SHAP value on x, colour = feature
    value rank (high = red)."""
    order = contributions.abs().mean().sort_values(ascending=False).head(top).index[::-1]
    fig, ax = plt.subplots(figsize=(7, 0.35 * len(order) + 1.2))
    rng = np.random.default_rng(0)
    for row, feature in enumerate(order):
        shap = contributions[feature].to_numpy()
        raw = values[feature]
        numeric = pd.to_numeric(raw, errors="coerce") if raw.dtype != "category" else raw.cat.codes
        colour = pd.Series(numeric).rank(pct=True).fillna(0.5).to_numpy()
        jitter = rng.uniform(-0.3, 0.3, len(shap))
        ax.scatter(shap, row + jitter, c=colour, cmap="coolwarm", s=3, alpha=0.5)
    ax.set_yticks(range(len(order)), list(order))
    ax.axvline(0.0, color="k", lw=0.5)
    ax.set(xlabel="SHAP value (log-odds of churn)", title="SHAP summary (validation)")
    return _save(fig, path)


def uplift_calibration_plot(table: pd.DataFrame, path: Path) -> Path:
    """Observed against predicted uplift by decile of the prediction (held-out campaign)."""
    fig, ax = plt.subplots(figsize=(5, 5))
    ax.plot(table["predicted_uplift"], table["observed_uplift"], "o-", label="response model")
    low = float(np.nanmin([table["predicted_uplift"].min(), table["observed_uplift"].min(), 0.0]))
    high = float(np.nanmax([table["predicted_uplift"].max(), table["observed_uplift"].max(), 0.0]))
    ax.plot([low, high], [low, high], "k:", lw=1)
    ax.set(
        xlabel="predicted uplift (P(order | contact) − P(order | none))",
        ylabel="observed uplift (treated − control)",
        title="Uplift calibration (newest campaign, held out)",
    )
    ax.legend()
    return _save(fig, path)
