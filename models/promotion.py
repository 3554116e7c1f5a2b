"""Champion/challenger: the new model replaces the champion only if it is not worse on the
same validation rows."""

from __future__ import annotations

from dataclasses import dataclass

from winback.config import PromotionRule


@dataclass(frozen=True)
class PromotionDecision:
    """Whether the challenger becomes champion, and the figures that decided it."""

    promote: bool
    reason: str
    figures: dict[str, float]


def decide(
    challenger: dict[str, float], champion: dict[str, float] | None, rule: PromotionRule
) -> PromotionDecision:
    """Promote when there is no champion, or when the challenger's ROC-AUC is within
    ``auc_tolerance`` of the champion's and its calibration (Brier, ECE) is not worse
    beyond the tolerances. Both metric sets must come from the same validation frame."""
    if champion is None:
        return PromotionDecision(True, "no champion yet", {})
    figures = {
        "champion_roc_auc": champion["roc_auc"],
        "champion_brier": champion["brier"],
        "champion_ece": champion["ece"],
        "delta_roc_auc": challenger["roc_auc"] - champion["roc_auc"],
        "delta_brier": challenger["brier"] - champion["brier"],
        "delta_ece": challenger["ece"] - champion["ece"],
    }
    failures = []
    if challenger["roc_auc"] < champion["roc_auc"] - rule.auc_tolerance:
        failures.append(f"ROC-AUC {figures['delta_roc_auc']:+.4f} beyond -{rule.auc_tolerance}")
    if challenger["brier"] > champion["brier"] * (1 + rule.brier_tolerance):
        failures.append(f"Brier {figures['delta_brier']:+.4f} beyond +{rule.brier_tolerance:.0%}")
    if challenger["ece"] > champion["ece"] + rule.ece_tolerance:
        failures.append(f"ECE {figures['delta_ece']:+.4f} beyond +{rule.ece_tolerance}")
    if failures:
        return PromotionDecision(False, "worse than champion: " + "; ".join(failures), figures)
    return PromotionDecision(True, "not worse than champion on the same validation", figures)
