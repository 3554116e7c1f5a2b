"""Settings of the win-back decisions (environment prefix ``WINBACK_DECISION_``)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class DecisionSettings(BaseSettings):
    """What the merchant tunes per campaign; business defaults live in dbt_project.yml."""

    model_config = SettingsConfigDict(
        env_prefix="WINBACK_DECISION_", env_file=".env", extra="ignore"
    )

    budget: float = Field(
        5000.0,
        ge=0,
        description="Campaign budget in the shop currency; the list's committed cost "
        "(every planned contact sent, every discount redeemed once) never exceeds it.",
    )
    control_share: float = Field(
        0.10, ge=0.0, lt=1.0, description="Share of the list held out as control group (R10)."
    )
    campaign_id: str = Field(
        "",
        description="Campaign id; seeds the control-group draw. Empty: winback-<yyyy-mm> of "
        "the as-of date, so the control group stays the same within a month.",
    )
    recalibrate_value_tiers: bool = Field(
        False,
        description="Recompute the stored value-tier boundaries (R5) instead of reusing them.",
    )
    report_dir: Path = Field(
        Path("reports"), description="Where the HTML campaign report is written."
    )

    def dbt_vars(self) -> dict[str, object]:
        """The dbt vars of ``dbt_project/models/decisions`` these settings override."""
        return {
            "winback_budget": self.budget,
            "winback_control_share": self.control_share,
            "winback_campaign_id": self.campaign_id,
            "winback_recalibrate_value_tiers": self.recalibrate_value_tiers,
        }
