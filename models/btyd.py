"""Buy-till-you-die models (BG/NBD for purchases and P(alive), Gamma-Gamma for spend).

Library: ``lifetimes`` 0.11.3. It is unmaintained since 2020 but imports and fits with
numpy 2.4 / pandas 3.1 here, adds ~5 MB (lifetimes, autograd, dill) and fits 20k
customers in ~0.4 s. pymc-marketing (the maintained successor) added ~460 MB (pymc,
pytensor, arviz, xarray...), a 17 s first MAP fit (C compilation) and BLAS warnings, for
the same point estimates. Everything lifetimes-specific stays in this module so swapping
it is one file.

Inputs come from the feature mart, in weeks: frequency = repeat purchases
(``purchase_count - 1``), recency = age at the last purchase
(``tenure_days - recency_days``), T = age (``tenure_days``).
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

with warnings.catch_warnings():
    # lifetimes sets a pandas option at import that pandas 3 deprecates (harmless).
    warnings.simplefilter("ignore")
    from lifetimes import BetaGeoFitter, GammaGammaFitter
    from lifetimes.utils import ConvergenceError

_DAYS_PER_UNIT = 7.0


@dataclass(frozen=True)
class PurchaseHistory:
    """Per-customer BTYD summary at one snapshot (time in weeks)."""

    frequency: np.ndarray
    recency: np.ndarray
    age: np.ndarray
    avg_order_value: np.ndarray


def purchase_history(snapshot: pd.DataFrame) -> PurchaseHistory:
    """Frequency / recency / T from one snapshot of the feature mart."""
    tenure = snapshot["tenure_days"].astype("float64").clip(lower=1.0).to_numpy()
    recency_days = snapshot["recency_days"].astype("float64").to_numpy()
    count = snapshot["purchase_count"].astype("float64").fillna(1.0).to_numpy()
    value = snapshot["avg_order_value"].astype("float64").to_numpy()
    age = tenure / _DAYS_PER_UNIT
    last = np.clip(tenure - recency_days, 0.0, tenure) / _DAYS_PER_UNIT
    frequency = np.maximum(count - 1.0, 0.0)
    # One-time buyers have recency 0 by the model's definition.
    last = np.where(frequency > 0, last, 0.0)
    return PurchaseHistory(frequency, last, age, np.nan_to_num(value, nan=0.0))


@dataclass
class BuyTillYouDie:
    """A fitted BG/NBD (+ Gamma-Gamma when there are repeat buyers)."""

    purchases: BetaGeoFitter
    spend: GammaGammaFitter | None
    mean_order_value: float

    def p_alive(self, h: PurchaseHistory) -> np.ndarray:
        return np.asarray(
            self.purchases.conditional_probability_alive(h.frequency, h.recency, h.age),
            dtype="float64",
        )

    def p_no_purchase_within(self, h: PurchaseHistory, days: float) -> np.ndarray:
        """P(no purchase in the next ``days``), including the chance the customer is gone.

        BG/NBD customers drop out only right after a purchase, so an active customer makes
        no purchase in the window iff the Poisson clock does not tick:
        E[exp(-lambda t)] over the Gamma(r + x, alpha + T) posterior.
        """
        params = self.purchases.params_
        quiet_if_alive = np.power(
            (params["alpha"] + h.age) / (params["alpha"] + h.age + days / _DAYS_PER_UNIT),
            params["r"] + h.frequency,
        )
        alive = self.p_alive(h)
        return np.clip(1.0 - alive * (1.0 - quiet_if_alive), 0.0, 1.0)

    def expected_purchases(self, h: PurchaseHistory, days: float) -> np.ndarray:
        return np.asarray(
            self.purchases.conditional_expected_number_of_purchases_up_to_time(
                days / _DAYS_PER_UNIT, h.frequency, h.recency, h.age
            ),
            dtype="float64",
        )

    def expected_order_value(self, h: PurchaseHistory) -> np.ndarray:
        if self.spend is None:
            return np.full(len(h.frequency), self.mean_order_value)
        value = self.spend.conditional_expected_average_profit(
            pd.Series(h.frequency), pd.Series(np.maximum(h.avg_order_value, 0.01))
        )
        return np.asarray(value, dtype="float64")

    def median_days_to_next_purchase(self, h: PurchaseHistory) -> np.ndarray:
        """Median wait for the next purchase if the customer is still active: the posterior
        purchase rate is Gamma(r + x, alpha + T), so the wait is Lomax-distributed."""
        params = self.purchases.params_
        shape = params["r"] + h.frequency
        scale = params["alpha"] + h.age
        with np.errstate(over="ignore"):  # a rate near zero: an infinite wait
            return scale * (np.power(2.0, 1.0 / shape) - 1.0) * _DAYS_PER_UNIT


BGNBD_PARAMETERS = ("r", "alpha", "a", "b")


def bgnbd_parameters(model: BuyTillYouDie) -> list[float]:
    """The fitted BG/NBD population parameters (r, alpha, a, b), as plain floats."""
    return [float(model.purchases.params_[name]) for name in BGNBD_PARAMETERS]


def bgnbd_from_parameters(parameters: list[float], mean_order_value: float = 0.0) -> BuyTillYouDie:
    """A BG/NBD with the given population parameters (from :func:`bgnbd_parameters`),
    ready to predict; order values fall back to ``mean_order_value``."""
    fitter = BetaGeoFitter()
    fitter.params_ = pd.Series(dict(zip(BGNBD_PARAMETERS, parameters, strict=True)))
    return BuyTillYouDie(fitter, None, mean_order_value)


# Penalties tried in turn when a fit does not converge (heavy-tailed spend or very short
# histories make the unpenalised likelihood flat).
PENALTY_STEPS = (1.0, 10.0, 100.0)


def _fit(make: Callable[[float], Any], args: tuple[Any, ...], penalizer: float) -> Any | None:
    for step in PENALTY_STEPS:
        fitter = make(max(penalizer, 1e-4) * step if step > 1 else penalizer)
        try:
            # On a degenerate history (nearly nobody bought twice) the optimiser steps
            # through log(0) and overflows, and lifetimes' standard errors (never read)
            # take the root of a negative variance; a fit that fails raises ConvergenceError.
            with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
                fitter.fit(*args)
        except ConvergenceError:
            continue
        return fitter
    return None


# BG/NBD and Gamma-Gamma have 4 and 3 population-level parameters; a seeded sample of
# this many customers pins them down, and keeps a fit at a million customers to seconds
# (predictions are still made for every customer).
MAX_FIT_CUSTOMERS = 100_000


def fit_sample(snapshot: pd.DataFrame, max_customers: int = MAX_FIT_CUSTOMERS) -> pd.DataFrame:
    """The customers a BTYD fit uses: all of them, or a seeded sample of ``max_customers``."""
    if len(snapshot) <= max_customers:
        return snapshot
    return snapshot.sample(n=max_customers, random_state=0)


def fit_btyd(snapshot: pd.DataFrame, penalizer: float) -> BuyTillYouDie:
    """Fit BG/NBD on one snapshot (no labels used) and Gamma-Gamma on its repeat buyers,
    on at most ``MAX_FIT_CUSTOMERS`` of them (seeded sample).

    A fit that does not converge is retried with a larger penalty; if Gamma-Gamma still
    fails, order values fall back to the mean order value (said in the log).
    """
    h = purchase_history(fit_sample(snapshot))
    purchases = _fit(
        lambda c: BetaGeoFitter(penalizer_coef=c), (h.frequency, h.recency, h.age), penalizer
    )
    if purchases is None:
        raise ValueError(
            "BG/NBD did not converge even with a penalty of "
            f"{max(penalizer, 1e-4) * PENALTY_STEPS[-1]:g}; the order history is too short "
            "or too irregular for a buy-till-you-die model"
        )
    repeat = (h.frequency > 0) & (h.avg_order_value > 0)
    spend: GammaGammaFitter | None = None
    if repeat.sum() >= 20:
        spend = _fit(
            lambda c: GammaGammaFitter(penalizer_coef=c),
            (pd.Series(h.frequency[repeat]), pd.Series(h.avg_order_value[repeat])),
            penalizer,
        )
        if spend is None:
            logging.getLogger(__name__).warning(
                "Gamma-Gamma did not converge; expected order values use the mean order value"
            )
    positive = h.avg_order_value[h.avg_order_value > 0]
    mean_value = float(positive.mean()) if len(positive) else 0.0
    return BuyTillYouDie(purchases, spend, mean_value)
