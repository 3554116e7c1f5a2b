"""The shop's calendar: simulation steps, seasonality, own promotions, competitor promotions.

Time inside the simulator is a float number of days relative to the *end* of ``as_of``
(``as_of + 1 day, 00:00 UTC``): history is negative, the forward-simulated horizon that
produces the truth labels is positive and never written to the merchant files.
"""

from __future__ import annotations

import datetime as dt
import itertools
import math
from dataclasses import dataclass

import numpy as np

STEP_DAYS = 7
VALUE_DAYS = 365  # forward window of future_value_12m / realised_value_12m

# Own shop-wide promotions (month, day, length in days): new year, women's day, "618",
# Singles' Day, Black Friday week, "double 12". Price-sensitive customers buy here (R8/R9).
SHOP_PROMOS: tuple[tuple[int, int, int], ...] = (
    (1, 2, 5),
    (3, 6, 3),
    (6, 10, 9),
    (11, 1, 11),
    (11, 24, 6),
    (12, 10, 3),
)


@dataclass(frozen=True)
class Calendar:
    """Step grid and per-step global conditions (all arrays indexed by step)."""

    end: dt.datetime  # as_of + 1 day, 00:00 UTC: day 0 of the simulator clock
    starts: np.ndarray  # step start, days relative to end
    lengths: np.ndarray  # step length in days
    n_history: int  # steps before day 0
    horizon_steps: int  # future steps that make up (0, horizon_days]
    season: np.ndarray  # purchase-rate multiplier
    shop_promo: np.ndarray  # share of the step's days inside an own promotion
    competitor_promo: np.ndarray  # share of the step's days inside a competitor promotion

    @property
    def history_days(self) -> float:
        """Length of the simulated history in days."""
        return float(-self.starts[0])

    def day_to_datetime64(self, days: np.ndarray) -> np.ndarray:
        """Simulator days → numpy datetime64[s] (UTC), truncated to whole seconds."""
        secs = np.floor(np.asarray(days, dtype=np.float64) * 86400.0).astype(np.int64)
        return np.datetime64(self.end.replace(tzinfo=None), "s") + secs.astype("timedelta64[s]")


def build_calendar(
    as_of: dt.date, history_years: int, horizon_days: int, rng: np.random.Generator
) -> Calendar:
    """Steps of a week over the history; the future split at the horizon so the label is exact."""
    end = dt.datetime.combine(as_of + dt.timedelta(days=1), dt.time(), tzinfo=dt.UTC)
    n_hist = math.ceil(history_years * 365 / STEP_DAYS)
    hist_starts = [-(n_hist - k) * STEP_DAYS for k in range(n_hist)]
    future_end = max(VALUE_DAYS, horizon_days)
    bounds = sorted(
        {*range(0, horizon_days, STEP_DAYS), horizon_days}
        | {*range(horizon_days, future_end, STEP_DAYS), future_end}
    )
    fut_starts = bounds[:-1]
    fut_lengths = [b - a for a, b in itertools.pairwise(bounds)]
    horizon_steps = sum(1 for s in fut_starts if s < horizon_days)
    starts = np.array(hist_starts + fut_starts, dtype=np.float64)
    lengths = np.array([STEP_DAYS] * n_hist + fut_lengths, dtype=np.float64)

    # Per-day conditions, then averaged per step.
    first_day = int(starts[0])
    days = np.arange(first_day, future_end)
    dates = np.datetime64(end.date()) + days.astype("timedelta64[D]")
    doy = (dates - dates.astype("datetime64[Y]")).astype(np.int64)
    month = dates.astype("datetime64[M]").astype(np.int64) % 12 + 1
    dom = (dates - dates.astype("datetime64[M]")).astype(np.int64) + 1
    # Seasonality: a winter peak and a summer dip of B2C demand.
    season_day = 1.0 + 0.22 * np.cos(2 * np.pi * (doy - 350) / 365.25)
    promo_day = np.zeros(days.size, dtype=bool)
    for m, d, length in SHOP_PROMOS:
        promo_day |= (month == m) & (dom >= d) & (dom < d + length)
    # Competitor promotions: ~9 a year at random times, 4-10 days each.
    comp_day = np.zeros(days.size, dtype=bool)
    n_comp = round(9 * days.size / 365)
    comp_start = rng.integers(0, days.size, n_comp)
    comp_len = rng.integers(4, 11, n_comp)
    for s, length in zip(comp_start, comp_len, strict=True):
        comp_day[s : s + length] = True

    idx0 = (starts - first_day).astype(np.int64)
    idx1 = idx0 + lengths.astype(np.int64)

    def per_step(values: np.ndarray) -> np.ndarray:
        csum = np.concatenate([[0.0], np.cumsum(values.astype(np.float64))])
        return (csum[idx1] - csum[idx0]) / lengths

    return Calendar(
        end=end,
        starts=starts,
        lengths=lengths,
        n_history=n_hist,
        horizon_steps=horizon_steps,
        season=per_step(season_day),
        shop_promo=per_step(promo_day),
        competitor_promo=per_step(comp_day),
    )
