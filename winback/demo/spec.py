"""The knobs of the demo shop: one typed, frozen object with a description per field."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class ShopSpec(BaseModel):
    """What demo shop to simulate. Equal specs give byte-identical files."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    n_customers: int = Field(10_000, ge=50, description="Customers who ever signed up.")
    seed: int = Field(42, description="Seed of the numpy Generator; the only randomness.")
    as_of: dt.date = Field(
        dt.date(2026, 6, 30),
        description="Last day of history (inclusive, UTC). Nothing in the main files is later "
        "than as_of 23:59:59 except deadlines and invoice due dates.",
    )
    history_years: int = Field(3, ge=1, le=10, description="Years of order history.")
    fmt: Literal["csv", "parquet"] = Field("csv", description="File format of the tables.")
    horizon_days: int = Field(
        90,
        ge=7,
        le=730,
        description="Churn horizon of the truth label: no paid order in (as_of, as_of+horizon].",
    )
    b2b_share: float = Field(0.05, ge=0.0, le=1.0, description="Share of B2B accounts.")
    distribution_share: float = Field(
        0.10, ge=0.0, le=1.0, description="Share of orders placed via distribution platforms."
    )
    flash_sale_share: float = Field(
        0.05, ge=0.0, le=1.0, description="Share of orders placed in 30-minute flash sales."
    )
    event_history_days: int = Field(
        540,
        ge=30,
        description="Days of high-volume engagement logs kept (emails, visits, carts); "
        "advocacy events (referrals, reviews, NPS, ...) cover the whole history.",
    )
    n_campaigns: int = Field(
        4, ge=0, le=12, description="Past win-back campaigns, spread over the last year."
    )
    control_share: float = Field(
        0.2, gt=0.0, lt=1.0, description="Share of campaign targets held out as control (R10)."
    )
    world: int = Field(
        0,
        ge=0,
        description="The shop's true response model (winback.demo.world): how customers "
        "answer win-back offers and channels, fatigue, opt-outs and dispute penalties. 0 is "
        "the documented default (the textbook R8 table, no channel effects); 1, 2, ... are "
        "drawn from the world number alone, so any seed can be paired with any world.",
    )
