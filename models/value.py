"""Future value and timing per customer (R3, R14).

Model: BG/NBD (purchases and P(alive)) × Gamma-Gamma (order value), from lifetimes.
Why: it needs only the order history (works on an orders-only directory), it prices in
the chance that the customer is already gone, it needs no label (a 12-month label would
need a year of history after the newest training snapshot), and it gives the timing of
the next purchase from the same fitted model. Validated on the longest window the
snapshots allow (the oldest snapshot → the scoring snapshot).
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
from scipy.stats import spearmanr

from winback.models.btyd import BuyTillYouDie, fit_btyd, purchase_history

# Next-order waits longer than this (ten years) are reported as no expected date.
MAX_WAIT_DAYS = 3650


def future_value(
    snapshot: pd.DataFrame,
    horizon_days: int,
    penalizer: float,
    model: BuyTillYouDie | None = None,
) -> pd.DataFrame:
    """Per customer: P(alive), expected purchases and value over ``horizon_days``, and
    the expected next order date if still active (the median wait). ``model``: the BTYD
    model fitted on the whole snapshot, when ``snapshot`` holds only some of its customers
    (default: fitted here, on ``snapshot``)."""
    model = model or fit_btyd(snapshot, penalizer)
    h = purchase_history(snapshot)
    purchases = model.expected_purchases(h, horizon_days)
    as_of = pd.to_datetime(snapshot["as_of_date"]).dt.normalize()
    wait = np.ceil(model.median_days_to_next_purchase(h))
    # A shop where (nearly) nobody buys twice fits a purchase rate near zero: the wait
    # is then beyond any date worth naming, and the next order date stays empty.
    wait = np.where(np.isfinite(wait) & (wait <= MAX_WAIT_DAYS), wait, np.nan)
    return pd.DataFrame(
        {
            "customer_id": snapshot["customer_id"].to_numpy(),
            "p_alive": model.p_alive(h),
            "expected_purchases": purchases,
            "expected_value": purchases * model.expected_order_value(h),
            "expected_next_order_date": (
                as_of + pd.to_timedelta(wait, unit="D")
            ).dt.date.to_numpy(),
        },
        index=snapshot.index,
    )


def validate_future_value(
    features: pd.DataFrame, purchases: pd.DataFrame | None, penalizer: float
) -> dict[str, float]:
    """Fit at the oldest snapshot, predict spend and purchases up to the newest one, and
    compare with what happened (spend from the snapshots' lifetime totals). With
    ``purchases`` (customer_id, ordered_at) the next-order date is checked too.

    Baselines for context: last-365-day spend scaled to the window, and "last purchase +
    own median gap" for the date.
    """
    dates = sorted(features["as_of_date"].unique())
    start, end = dates[0], dates[-1]
    window = float((pd.Timestamp(end) - pd.Timestamp(start)).days)
    before = features[features["as_of_date"] == start].set_index("customer_id")
    after = features[features["as_of_date"] == end].set_index("customer_id")
    predicted = future_value(before.reset_index(), int(window), penalizer).set_index("customer_id")
    spend_after = after["monetary_lifetime"].reindex(before.index)
    count_after = after["purchase_count"].reindex(before.index)
    # Customers missing later were dropped for being gone too long: no purchases since.
    actual_spend = (spend_after - before["monetary_lifetime"]).fillna(0.0).clip(lower=0)
    actual_count = (count_after - before["purchase_count"]).fillna(0.0).clip(lower=0)
    naive = before["monetary_365d"].astype("float64").fillna(0.0) * window / 365.0
    value = predicted["expected_value"]
    metrics = {
        "value_window_days": window,
        "value_mae": float((value - actual_spend).abs().mean()),
        "value_rmse": float(np.sqrt(((value - actual_spend) ** 2).mean())),
        "value_total_ratio": float(value.sum() / max(actual_spend.sum(), 1e-9)),
        "value_spearman": _spearman(value, actual_spend),
        "value_naive_mae": float((naive - actual_spend).abs().mean()),
        "value_naive_spearman": _spearman(naive, actual_spend),
        "purchases_mae": float((predicted["expected_purchases"] - actual_count).abs().mean()),
    }
    if purchases is not None:
        metrics |= _validate_next_order(before, predicted, purchases, start, end)
    return metrics


def _spearman(a: pd.Series, b: pd.Series) -> float:
    """Rank correlation; NaN when either side is constant (e.g. nobody bought again)."""
    if a.nunique() < 2 or b.nunique() < 2:
        return float("nan")
    return float(spearmanr(a, b).statistic)


def _validate_next_order(
    before: pd.DataFrame,
    predicted: pd.DataFrame,
    purchases: pd.DataFrame,
    start: object,
    end: object,
) -> dict[str, float]:
    """Absolute error in days of the next-order date, over customers who did buy again
    within the window (the date is undefined for the others)."""
    start_ts, end_ts = pd.Timestamp(start) + pd.Timedelta(days=1), pd.Timestamp(end)
    ordered = pd.to_datetime(purchases["ordered_at"]).dt.tz_localize(None)
    after = purchases[(ordered >= start_ts) & (ordered < end_ts + pd.Timedelta(days=1))]
    first_next = (
        pd.to_datetime(after["ordered_at"])
        .dt.tz_localize(None)
        .dt.normalize()
        .groupby(after["customer_id"])
        .min()
    )
    buyers = first_next.index.intersection(predicted.index)
    if len(buyers) == 0:
        return {}
    actual = first_next.loc[buyers]
    guess = pd.to_datetime(pd.Series(predicted.loc[buyers, "expected_next_order_date"]))
    error = (guess.to_numpy() - actual.to_numpy()) / np.timedelta64(1, "D")
    gap = before.loc[buyers, "median_gap_days"].astype("float64")
    gap = gap.fillna(gap.median() if gap.notna().any() else 30.0)
    last = pd.Timestamp(start) - pd.to_timedelta(before.loc[buyers, "recency_days"], unit="D")
    naive = np.maximum(last + pd.to_timedelta(gap.round(), unit="D"), start_ts)
    naive_error = (naive.to_numpy() - actual.to_numpy()) / np.timedelta64(1, "D")
    return {
        "next_order_mae_days": float(np.abs(error).mean()),
        "next_order_median_ae_days": float(np.median(np.abs(error))),
        "next_order_naive_mae_days": float(np.abs(naive_error).mean()),
        "next_order_buyers": float(len(buyers)),
    }


def as_of_date(snapshot: pd.DataFrame) -> dt.date:
    return pd.Timestamp(snapshot["as_of_date"].iloc[0]).date()
