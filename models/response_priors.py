"""The merchant's priors, updated by the campaign history (R8, R10, R11).

The priors (:class:`Priors`) say how a contact moves a lapsing customer: churn
probability × the customer's reason mix × ``theta[reason, offer]`` (the merchant's
``reason_offer_priors``) × ``phi[channel]`` (the channel's ``prior_effect``, R11) × the
R12 fatigue of a third contact. That structure has few parameters (reasons × offers +
channels) and shares strength across customers: every contact with an offer informs that
offer's effect for every reason in proportion to the customer's reason confidences.

This module keeps the structure and learns its parameters from the randomized history
by penalised maximum likelihood. For a treated contact with baseline chance ``b`` (the
control model's P(order | no contact)) the chance of an order in the window is
``1 − (1 − b)(1 − u)`` with ``u`` the structured uplift above; the log-likelihood of the
treated contacts is maximised over ``log theta`` and ``log phi`` with a Gaussian penalty
of standard deviation ``sigma`` (``response.prior_update_sigma``) around the merchant's
values: with little history the result stays at the merchant's priors, with much it
follows the evidence. The learned T-learner is then pooled toward these updated priors
instead of the merchant's own (``response.fit_response``).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pandas as pd
from scipy.optimize import minimize

REASON_PREFIX = "reason_conf__"
MAX_STEPS = 3
# A prior of 0 has no log: the smallest effect a (reason, offer) cell starts from.
FLOOR = 0.002
MAX_UPLIFT = 0.95


@dataclass(frozen=True)
class PriorRows:
    """What the priors read of each row, as numbers: the churn probability times each
    R7 reason's confidence (a missing confidence counts 0). Taking rows of it is a plain
    array take, for the plan valuation's many (offer, channel) cells."""

    reasons: tuple[str, ...]
    weighted: np.ndarray  # rows x reasons

    @classmethod
    def of(cls, frame: pd.DataFrame) -> PriorRows:
        columns = [c for c in frame.columns if c.startswith(REASON_PREFIX)]
        confidence = np.nan_to_num(frame[columns].to_numpy(dtype="float64")).reshape(
            len(frame), len(columns)
        )
        churn = (
            frame["churn_probability"].to_numpy(dtype="float64")
            if "churn_probability" in frame
            else np.ones(len(frame))
        )
        return cls(
            tuple(c.removeprefix(REASON_PREFIX) for c in columns), confidence * churn[:, None]
        )

    def rows(self, who: np.ndarray) -> PriorRows:
        return PriorRows(self.reasons, self.weighted[who])

    def __len__(self) -> int:
        return len(self.weighted)


@dataclass(frozen=True)
class Priors:
    """The merchant's assumptions the learned response is pooled toward."""

    reason_offer: pd.DataFrame  # reason, offer_code, prior_return_probability
    channel_effect: dict[str, float]  # channel -> prior multiplier (R11)
    third_contact_fatigue: float  # R12

    @cached_property
    def _by_offer(self) -> dict[str, dict[str, float]]:
        table = self.reason_offer
        return {
            str(offer): dict(
                zip(rows["reason"], rows["prior_return_probability"].astype(float), strict=True)
            )
            for offer, rows in table.groupby("offer_code", sort=False)
        }

    def uplift(
        self, frame: pd.DataFrame | PriorRows, offer: str, channel: str, step: int
    ) -> np.ndarray:
        """Prior P(a contact brings the customer back) per row of ``frame``: churn
        probability × the reason-weighted prior of the offer × the channel's effect."""
        rows = frame if isinstance(frame, PriorRows) else PriorRows.of(frame)
        by_reason = self._by_offer.get(offer, {})
        effect = np.array([by_reason.get(reason, 0.0) for reason in rows.reasons])
        fatigue = self.third_contact_fatigue if step >= 3 else 1.0
        return (rows.weighted @ effect) * self.channel_effect.get(channel, 1.0) * fatigue


def update_priors(
    treated: pd.DataFrame, baseline: np.ndarray, priors: Priors, sigma: float
) -> Priors:
    """``priors`` updated by the treated contacts of the history (``baseline``: each
    contact's P(order | no contact)). Offers and channels not in the history keep the
    merchant's values."""
    reasons = [c.removeprefix(REASON_PREFIX) for c in treated if c.startswith(REASON_PREFIX)]
    table = priors.reason_offer.pivot_table(
        index="reason", columns="offer_code", values="prior_return_probability"
    )
    offers = [str(o) for o in table.columns]
    channels = sorted(priors.channel_effect)
    # Positions in the priors' offers and channels (-1: not in them, left out).
    offer = pd.Index(offers).get_indexer(treated["offer_code"].astype(str).to_numpy())
    channel = pd.Index(channels).get_indexer(treated["channel"].astype(str).to_numpy())
    known = (offer >= 0) & (channel >= 0)
    if not reasons or known.sum() == 0:
        return priors
    prior = table.reindex(index=reasons, columns=offers).fillna(FLOOR).to_numpy(float)
    theta0 = np.log(np.maximum(prior, FLOOR))
    phi0 = np.log(np.maximum([priors.channel_effect[c] for c in channels], FLOOR))
    needed = [REASON_PREFIX + r for r in reasons] + ["step", "is_converted"]
    needed += ["churn_probability"] if "churn_probability" in treated else []
    rows = treated.loc[known, needed]
    churn = rows["churn_probability"].to_numpy(float) if "churn_probability" in rows else 1.0
    mix = np.nan_to_num(rows[[REASON_PREFIX + r for r in reasons]].to_numpy(float))
    mix = mix * np.reshape(churn, (-1, 1))
    fatigue = np.where(rows["step"].to_numpy() >= MAX_STEPS, priors.third_contact_fatigue, 1.0)
    o, c = offer[known], channel[known]
    b = np.clip(np.asarray(baseline, dtype=float)[known], 0.0, 1.0 - 1e-6)
    y = rows["is_converted"].astype(float).to_numpy()
    # Rows in offer order, so each offer's rows are one contiguous block.
    order = np.argsort(o, kind="stable")
    o, c, b, y, mix = o[order], c[order], b[order], y[order], mix[order]
    fatigue = np.broadcast_to(fatigue, o.shape)[order]
    present = np.unique(o)
    starts = np.searchsorted(o, present)
    # Each offer's rows as one block: its reason-weighted effect is one matrix-vector
    # product, and so is its gradient.
    blocks = list(zip(present, starts, np.append(starts[1:], len(o)), strict=True))
    mix = np.ascontiguousarray(mix)
    converted = y > 0
    not_base = 1.0 - b
    n_theta = theta0.size

    def objective(v: np.ndarray) -> tuple[float, np.ndarray]:
        log_theta, log_phi = v[:n_theta].reshape(theta0.shape), v[n_theta:]
        theta, phi = np.exp(log_theta), np.exp(log_phi)
        m = np.empty(len(o))  # reason-weighted effect of the offer
        for k, lo, hi in blocks:
            m[lo:hi] = mix[lo:hi] @ theta[:, k]
        g = phi[c] * fatigue
        raw = m * g
        u = np.minimum(raw, MAX_UPLIFT)
        q = np.clip(1.0 - not_base * (1.0 - u), 1e-9, 1.0 - 1e-9)
        nll = -float(np.sum(np.log(np.where(converted, q, 1.0 - q))))
        dq = np.where(converted, -1.0 / q, 1.0 / (1.0 - q)) * not_base * (raw < MAX_UPLIFT)
        weight = dq * g
        grad_theta = np.zeros_like(theta)
        for k, lo, hi in blocks:
            grad_theta[:, k] = weight[lo:hi] @ mix[lo:hi]
        grad_theta = grad_theta * theta + (log_theta - theta0) / sigma**2
        grad_phi = (
            np.bincount(c, weights=dq * raw, minlength=len(channels)) + (log_phi - phi0) / sigma**2
        )
        penalty = (np.sum((log_theta - theta0) ** 2) + np.sum((log_phi - phi0) ** 2)) / (
            2.0 * sigma**2
        )
        return nll + penalty, np.concatenate([grad_theta.ravel(), grad_phi])

    start = np.concatenate([theta0.ravel(), phi0])
    fitted = minimize(objective, start, jac=True, method="L-BFGS-B").x
    theta = np.exp(fitted[:n_theta].reshape(theta0.shape))
    phi = np.exp(fitted[n_theta:])
    learned = pd.DataFrame(
        [
            (reason, offer_code, float(theta[i, j]))
            for i, reason in enumerate(reasons)
            for j, offer_code in enumerate(offers)
        ],
        columns=["reason", "offer_code", "prior_return_probability"],
    )
    # Reasons the history's features do not carry keep the merchant's rows.
    kept = priors.reason_offer[~priors.reason_offer["reason"].isin(reasons)]
    return Priors(
        reason_offer=pd.concat(
            [learned, kept[["reason", "offer_code", "prior_return_probability"]]],
            ignore_index=True,
        ),
        channel_effect=dict(zip(channels, map(float, phi), strict=True)),
        third_contact_fatigue=priors.third_contact_fatigue,
    )
