"""Why a customer scores high: SHAP values from LightGBM, turned into readable reasons."""

from __future__ import annotations

import numpy as np
import pandas as pd

from winback.models.features import model_input
from winback.models.training import booster_of

# Phrases for the features a merchant meets most; others get a generic text.
REASON_PHRASES: dict[str, str] = {
    "recency_days": "long time since the last purchase",
    "recency_vs_cadence": "overdue by own purchase rhythm",
    "indicator_overdue": "overdue by own purchase rhythm",
    "purchase_count_trend_90d": "buying less often than before",
    "indicator_falling_frequency": "buying less often than before",
    "monetary_trend_90d": "spending less than before",
    "indicator_falling_value": "spending less than before",
    "purchase_count": "few purchases so far",
    "purchase_count_365d": "few purchases in the last year",
    "purchase_count_90d": "no or few purchases in the last 90 days",
    "purchase_count_prev_90d": "buying pattern changed since last quarter",
    "monetary_lifetime": "low lifetime spend",
    "monetary_365d": "low spend in the last year",
    "monetary_90d": "low spend in the last 90 days",
    "avg_order_value": "order value typical of churners",
    "median_gap_days": "long gaps between purchases",
    "gap_days_stddev": "irregular purchase rhythm",
    "tenure_days": "customer tenure typical of churners",
    "discounted_purchase_share": "buys mostly on discount",
    "refund_count": "has returned orders",
    "abandoned_unpaid_order_count": "leaves orders unpaid",
    "cart_adds_90d": "carts that no longer turn into orders",
    "indicator_intent_not_converting": "carts and inquiries that no longer turn into orders",
    "email_opens_90d": "stopped opening emails",
    "days_since_email_open": "stopped opening emails",
    "indicator_disengaged": "no longer opens emails or answers calls",
    "calls_unanswered_180d": "no longer answers calls",
    "site_visits_90d": "visits the shop less",
    "days_since_site_visit": "has not visited the shop for a while",
    "participations_180d": "stopped taking part in activities",
    "indicator_stopped_participating": "stopped taking part in activities",
    "open_tickets": "has an unresolved complaint",
    "indicator_unresolved_dispute": "has an unresolved complaint",
    "disputes_product": "had a product-quality dispute",
    "disputes_logistics": "had a delivery dispute",
    "disputes_attitude": "had a service-attitude dispute",
    "disputes_price": "had a price dispute",
    "avg_ticket_satisfaction": "unhappy with customer service",
    "last_nps": "low satisfaction score (NPS)",
    "churn_risk_score": "several warning signs at once",
    "lapse_status": "lapse status",
    "winback_contacts_90d": "contacted often without effect",
}


def readable_reason(feature: str, value: object) -> str:
    """A phrase for one feature pushing the risk up; unknown features still read well."""
    phrase = REASON_PHRASES.get(feature)
    if phrase is None:
        phrase = f"{feature.replace('_', ' ')} points to churn"
    if isinstance(value, str) and value:
        return f"{phrase} ({value})"
    return phrase


def shap_values(model: object, features: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """Per-customer SHAP contributions (log-odds of the uncalibrated booster; the
    calibrator is monotone, so the order of reasons is the same)."""
    booster = booster_of(model)
    contributions = booster.predict(model_input(features, columns), pred_contrib=True)
    return pd.DataFrame(
        np.asarray(contributions)[:, : len(columns)], columns=columns, index=features.index
    )


def reason_codes(
    contributions: pd.DataFrame, features: pd.DataFrame, count: int = 3
) -> pd.DataFrame:
    """The ``count`` strongest churn-raising reasons per customer, as readable text;
    features that point the same way collapse into one reason. Empty when none."""
    values = contributions.to_numpy()
    order = np.argsort(-values, axis=1, kind="stable")
    names = contributions.columns.to_numpy()
    rows: list[list[str | None]] = []
    for i, ranked in enumerate(order):
        reasons: list[str | None] = []
        for j in ranked:
            if values[i, j] <= 0 or len(reasons) == count:
                break
            raw = features.iloc[i][names[j]] if names[j] in features.columns else None
            text = readable_reason(str(names[j]), raw if isinstance(raw, str) else None)
            if text not in reasons:
                reasons.append(text)
        rows.append(reasons + [None] * (count - len(reasons)))
    return pd.DataFrame(
        rows, columns=[f"reason_{k + 1}" for k in range(count)], index=contributions.index
    )


def feature_importance(model: object) -> pd.DataFrame:
    """Total gain per feature, largest first."""
    booster = booster_of(model)
    gain = booster.booster_.feature_importance(importance_type="gain")
    return (
        pd.DataFrame({"feature": booster.feature_name_, "gain": gain})
        .sort_values(["gain", "feature"], ascending=[False, True])
        .reset_index(drop=True)
    )
