"""Validation metrics, reliability table, lift and expected-profit curve (scikit-learn)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.metrics import average_precision_score, brier_score_loss, log_loss, roc_auc_score

from winback.config import ProfitAssumptions

_EPS = 1e-6


def evaluate(
    y_true: np.ndarray, probabilities: np.ndarray, profit: ProfitAssumptions, bins: int = 10
) -> dict[str, float]:
    """Every run's metrics on the validation snapshot: discrimination, calibration, lift,
    and the best expected profit of a campaign that contacts the riskiest customers."""
    y = np.asarray(y_true, dtype=int)
    p = np.clip(np.asarray(probabilities, dtype="float64"), _EPS, 1 - _EPS)
    curve = profit_curve(y, p, profit)
    best = curve.loc[curve["profit_per_customer"].idxmax()]
    # With one class only (a shop where every labelled customer churned) ranking
    # metrics are undefined: NaN, which MLflow stores and the leaderboard shows as empty.
    both = 0 < y.sum() < len(y)
    return {
        "roc_auc": float(roc_auc_score(y, p)) if both else float("nan"),
        "pr_auc": float(average_precision_score(y, p)) if both else float("nan"),
        "brier": float(brier_score_loss(y, p)),
        "log_loss": float(log_loss(y, p, labels=[0, 1])),
        "ece": expected_calibration_error(y, p, bins),
        "lift_top_decile": lift_at(y, p, 0.1),
        "max_profit_per_customer": float(best["profit_per_customer"]),
        "best_contact_share": float(best["contact_share"]),
        "churn_rate": float(y.mean()),
        "mean_probability": float(p.mean()),
        "valid_rows": float(len(y)),
    }


def _order(probabilities: np.ndarray) -> np.ndarray:
    """Riskiest first; ties broken by position so the order is deterministic."""
    return np.lexsort((np.arange(len(probabilities)), -probabilities))


def lift_at(y_true: np.ndarray, probabilities: np.ndarray, share: float) -> float:
    """Churn rate among the top ``share`` by probability over the overall churn rate."""
    y = np.asarray(y_true, dtype=float)
    k = max(1, round(share * len(y)))
    top = y[_order(np.asarray(probabilities))[:k]]
    return float(top.mean() / y.mean()) if y.mean() > 0 else float("nan")


def calibration_table(
    y_true: np.ndarray, probabilities: np.ndarray, bins: int = 10
) -> pd.DataFrame:
    """Reliability table: equal-count bins of the predicted probability."""
    frame = pd.DataFrame({"y": np.asarray(y_true, dtype=float), "p": np.asarray(probabilities)})
    ranks = frame["p"].rank(method="first")
    frame["bin"] = np.minimum((ranks - 1) * bins // len(frame), bins - 1).astype(int)
    table = frame.groupby("bin").agg(
        customers=("y", "size"), mean_predicted=("p", "mean"), observed_churn_rate=("y", "mean")
    )
    table["gap"] = table["observed_churn_rate"] - table["mean_predicted"]
    return table.reset_index()


def expected_calibration_error(
    y_true: np.ndarray, probabilities: np.ndarray, bins: int = 10
) -> float:
    """Customer-weighted mean |observed − predicted| over the reliability bins."""
    table = calibration_table(y_true, probabilities, bins)
    weights = table["customers"] / table["customers"].sum()
    return float((weights * table["gap"].abs()).sum())


def lift_table(y_true: np.ndarray, probabilities: np.ndarray, groups: int = 10) -> pd.DataFrame:
    """Churn rate and cumulative lift per decile, riskiest first."""
    y = np.asarray(y_true, dtype=float)[_order(np.asarray(probabilities))]
    decile = np.arange(len(y)) * groups // len(y) + 1
    frame = pd.DataFrame({"decile": decile, "y": y})
    table = frame.groupby("decile").agg(customers=("y", "size"), churners=("y", "sum"))
    table["churn_rate"] = table["churners"] / table["customers"]
    table["lift"] = table["churn_rate"] / y.mean()
    table["cumulative_lift"] = table["churners"].cumsum() / table["customers"].cumsum() / y.mean()
    table["share_of_churners_caught"] = table["churners"].cumsum() / y.sum()
    return table.reset_index()


def profit_curve(
    y_true: np.ndarray, probabilities: np.ndarray, assumptions: ProfitAssumptions, points: int = 100
) -> pd.DataFrame:
    """Expected profit of contacting the riskiest k% (k = 0..100), per customer in the base.

    A contacted churner is kept with probability ``acceptance_rate`` (value minus offer),
    a contacted non-churner takes the offer anyway; every contact costs ``contact_cost``.
    """
    y = np.asarray(y_true, dtype=float)[_order(np.asarray(probabilities))]
    a = assumptions
    per_contact = np.where(
        y == 1,
        a.acceptance_rate * (a.customer_value - a.offer_cost) - a.contact_cost,
        -(a.offer_cost + a.contact_cost),
    )
    cumulative = np.concatenate([[0.0], np.cumsum(per_contact)])
    shares = np.linspace(0, 1, points + 1)
    contacted = np.round(shares * len(y)).astype(int)
    profit = cumulative[contacted]
    return pd.DataFrame(
        {
            "contact_share": shares,
            "contacted": contacted,
            "profit": profit,
            "profit_per_customer": profit / len(y),
        }
    )
