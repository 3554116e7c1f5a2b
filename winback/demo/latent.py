"""Latent per-customer drivers of the demo shop, drawn once per customer.

Nothing here is written to the merchant files directly; the drivers shape what the
customers do (``dynamics``) and what the shop records about it (``tables``). The truth
folder exposes the most useful ones so that tests and model evaluations can check that
the pipeline recovers them.

Drivers (all numpy arrays of length ``n``):

* segment: B2B accounts (``b2b_share``, ~5%) buy more often, in bulk, on invoice, and
  churn more slowly (R2 reference: B2C ~6.5%, B2B ~3.8% per month).
* cadence: a base purchase rate per day, gamma-distributed across customers (mean gap
  ~60 days B2C, ~25 days B2B). Together with the one-time drop-out after the first order
  (BG/NBD's ``p``, beta-distributed) and per-customer drift this gives most customers a
  single order, repeat customers ~20 orders over three years and heavy-tailed gaps.
* price_sensitivity in [0, 1] (beta): more discounted orders, more orders in promotions,
  a higher price-churn hazard, stronger reaction to competitor promotions. A small group
  of *price hunters* (R6) buys almost only with deep discounts and files price tickets.
* competitor_exposure: how much competitor promotions pull this customer away.
* forgetfulness: the rate at which a customer drifts away when purchases lapse (R7
  "forgot", R14).
* needs_change: the rate at which needs change (grows with tenure).
* logistics / product / attitude risks: per-order chances of a bad experience, which
  become tickets; unresolved ones raise the churn hazard more than resolved ones.
* advocacy: a minority refers friends, writes reviews and forum answers (R4).
* email_affinity: the base chance of opening a newsletter.
* payment behaviour: chronic late payers (mostly B2B) pay receivables weeks late (R6, R22).
* high attention, low spend: many tickets and inquiries, small baskets (R6).
* unprofitable: small baskets, many refunds and tickets: margin below cost to serve (R6).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# Regions with their IANA time zone and UTC offset in hours (standard time; DST is
# ignored for the time of day of simulated actions, it only shifts them by an hour).
REGIONS: tuple[tuple[str, str, float, float], ...] = (
    # name, timezone, utc offset, share
    ("cn_east", "Asia/Shanghai", 8.0, 0.30),
    ("cn_south", "Asia/Shanghai", 8.0, 0.22),
    ("cn_north", "Asia/Shanghai", 8.0, 0.16),
    ("cn_west", "Asia/Shanghai", 8.0, 0.08),
    ("hk", "Asia/Hong_Kong", 8.0, 0.04),
    ("sg", "Asia/Singapore", 8.0, 0.04),
    ("de", "Europe/Berlin", 1.0, 0.05),
    ("uk", "Europe/London", 0.0, 0.04),
    ("us_east", "America/New_York", -5.0, 0.04),
    ("us_west", "America/Los_Angeles", -8.0, 0.03),
)
# Remote regions get more late deliveries: the per-order logistics risk multiplier.
REGION_LOGISTICS_RISK = np.array([0.8, 0.9, 1.0, 2.2, 1.0, 1.2, 1.6, 1.6, 2.0, 2.0])

CITY_TIERS = ("tier1", "tier2", "tier3", "tier4")
GENDERS = ("female", "male", "unspecified")
OCCUPATIONS = ("office", "student", "self_employed", "manual", "retired", "homemaker", "other")
HOUSEHOLDS = ("single", "couple", "family", "shared")
ACQUISITION = ("search", "social", "ads", "referral", "marketplace", "offline", "sales_team")
CONTACT_CHANNELS = ("email", "sms", "phone", "push", "chat")

N_CATEGORIES = 12  # must match tables.CATEGORIES


@dataclass
class Customers:
    """Latent drivers and observable profile of every customer (index = customer number)."""

    n: int
    is_b2b: np.ndarray
    signup_day: np.ndarray  # days relative to the end of as_of (negative = history)
    region: np.ndarray
    tz_offset: np.ndarray
    base_rate: np.ndarray  # orders per day while engaged, before seasonality
    p_one_time: np.ndarray  # chance to drop out right after the first order
    price_sensitivity: np.ndarray
    is_price_hunter: np.ndarray
    competitor_exposure: np.ndarray
    forgetfulness: np.ndarray
    needs_change: np.ndarray
    logistics_risk: np.ndarray
    product_risk: np.ndarray
    attitude_risk: np.ndarray
    is_advocate: np.ndarray
    advocacy: np.ndarray
    email_affinity: np.ndarray
    pay_prob: np.ndarray  # chance a (non-first) order gets paid
    is_chronic_late_payer: np.ndarray
    is_high_attention: np.ndarray
    is_unprofitable_type: np.ndarray
    distribution_propensity: np.ndarray
    items_mean: np.ndarray  # mean extra items per order
    qty_mean: np.ndarray  # mean extra units per item
    fav_category: np.ndarray  # (n, 2) favourite categories
    contact_hour: np.ndarray
    consent: np.ndarray  # (n, 4) email, sms, phone, push
    do_not_contact: np.ndarray
    preferred_channel: np.ndarray  # index into CONTACT_CHANNELS
    acquisition: np.ndarray
    birth_year: np.ndarray
    gender: np.ndarray
    city_tier: np.ndarray
    occupation: np.ndarray
    household: np.ndarray

    @property
    def cadence_days(self) -> np.ndarray:
        """Mean days between orders while engaged (the customer's own cadence, R1/R14)."""
        return 1.0 / self.base_rate


def draw_customers(
    n: int,
    history_days: float,
    b2b_share: float,
    distribution_share: float,
    rng: np.random.Generator,
) -> Customers:
    """Draw the latent drivers and the profile of ``n`` customers (vectorised)."""
    is_b2b = rng.random(n) < b2b_share
    # More recent sign-ups than old ones (a growing shop); the first order is at sign-up.
    signup_day = -history_days * (1.0 - rng.beta(1.35, 1.0, n))
    signup_day = np.minimum(signup_day, -1.0 / 24)

    shares = np.array([r[3] for r in REGIONS])
    region = rng.choice(len(REGIONS), size=n, p=shares / shares.sum())
    tz_offset = np.array([r[2] for r in REGIONS])[region]

    # Cadence: gamma heterogeneity of the purchase rate (BG/NBD's lambda).
    mean_gap = np.where(is_b2b, 25.0, 60.0)
    shape = 1.6
    base_rate = rng.gamma(shape, 1.0 / (shape * mean_gap)).clip(1 / 720, 1 / 2)
    # One-time drop-out after the first order (BG/NBD's p); B2B accounts stay more often.
    p_one_time = np.where(is_b2b, rng.beta(1.5, 4.0, n), rng.beta(2.4, 2.2, n))

    price_sensitivity = rng.beta(2.0, 4.0, n)
    is_price_hunter = (~is_b2b) & (rng.random(n) < 0.04)
    price_sensitivity = np.where(is_price_hunter, rng.uniform(0.85, 1.0, n), price_sensitivity)
    competitor_exposure = rng.beta(1.5, 3.5, n)
    forgetfulness = rng.gamma(2.0, 0.5, n)
    needs_change = rng.gamma(2.0, 0.5, n)

    logistics_risk = 0.028 * REGION_LOGISTICS_RISK[region] * rng.lognormal(0.0, 0.5, n)
    product_risk = 0.024 * rng.lognormal(0.0, 0.6, n)
    attitude_risk = 0.012 * rng.lognormal(0.0, 0.6, n)

    is_advocate = rng.random(n) < 0.08
    advocacy = np.where(is_advocate, rng.gamma(2.0, 1.0, n), rng.gamma(0.5, 0.1, n))
    email_affinity = rng.beta(2.0, 3.0, n)

    pay_prob = np.where(is_b2b, 0.98, rng.beta(30.0, 2.0, n))
    is_chronic_late_payer = np.where(is_b2b, rng.random(n) < 0.22, rng.random(n) < 0.02)
    is_high_attention = rng.random(n) < 0.03
    is_unprofitable_type = (~is_b2b) & (rng.random(n) < 0.04)
    logistics_risk = np.where(is_high_attention, logistics_risk * 3, logistics_risk)
    product_risk = np.where(
        is_high_attention | is_unprofitable_type, product_risk * 3, product_risk
    )
    attitude_risk = np.where(is_high_attention, attitude_risk * 4, attitude_risk)

    # Most customers never buy on a platform; a few buy there mostly (mean ~ share).
    distribution_propensity = rng.beta(
        0.25, 0.25 * (1 - distribution_share) / max(distribution_share, 1e-6), n
    )

    items_mean = np.where(is_b2b, rng.gamma(2.0, 1.2, n), rng.gamma(2.0, 0.3, n))
    qty_mean = np.where(is_b2b, rng.gamma(3.0, 3.0, n), rng.gamma(1.0, 0.25, n))
    small = is_high_attention | is_unprofitable_type
    items_mean = np.where(small, items_mean * 0.2, items_mean)
    qty_mean = np.where(small, qty_mean * 0.2, qty_mean)

    fav_category = np.stack(
        [rng.integers(0, N_CATEGORIES, n), rng.integers(0, N_CATEGORIES, n)], axis=1
    )

    contact_hour = np.clip(np.round(rng.normal(np.where(is_b2b, 10.0, 19.0), 2.5)), 0, 23)
    consent = np.stack(
        [
            rng.random(n) < 0.62,
            rng.random(n) < 0.45,
            rng.random(n) < np.where(is_b2b, 0.9, 0.25),
            rng.random(n) < 0.35,
        ],
        axis=1,
    )
    do_not_contact = rng.random(n) < 0.03
    # Preferred channel: one the customer consented to, else chat.
    pref_w = np.where(consent, rng.random((n, 4)) + np.array([0.5, 0.2, 0.0, 0.1]), -1.0)
    preferred_channel = np.where(pref_w.max(axis=1) > 0, pref_w.argmax(axis=1), 4)
    preferred_channel = np.where(is_b2b & consent[:, 2], 2, preferred_channel)

    acq_p = np.array([0.28, 0.2, 0.18, 0.1, 0.14, 0.06, 0.04])
    acquisition = rng.choice(len(ACQUISITION), size=n, p=acq_p)
    acquisition = np.where(is_b2b & (rng.random(n) < 0.6), 6, acquisition)
    birth_year = np.clip(np.round(rng.normal(1988, 11, n)), 1940, 2008).astype(np.int64)
    gender = rng.choice(3, size=n, p=[0.56, 0.40, 0.04])
    city_tier = rng.choice(4, size=n, p=[0.3, 0.35, 0.22, 0.13])
    occupation = rng.choice(len(OCCUPATIONS), size=n, p=[0.4, 0.1, 0.15, 0.12, 0.08, 0.1, 0.05])
    household = rng.choice(len(HOUSEHOLDS), size=n, p=[0.3, 0.25, 0.38, 0.07])

    return Customers(
        n=n,
        is_b2b=is_b2b,
        signup_day=signup_day,
        region=region,
        tz_offset=tz_offset,
        base_rate=base_rate,
        p_one_time=p_one_time,
        price_sensitivity=price_sensitivity,
        is_price_hunter=is_price_hunter,
        competitor_exposure=competitor_exposure,
        forgetfulness=forgetfulness,
        needs_change=needs_change,
        logistics_risk=logistics_risk,
        product_risk=product_risk,
        attitude_risk=attitude_risk,
        is_advocate=is_advocate,
        advocacy=advocacy,
        email_affinity=email_affinity,
        pay_prob=pay_prob,
        is_chronic_late_payer=is_chronic_late_payer,
        is_high_attention=is_high_attention,
        is_unprofitable_type=is_unprofitable_type,
        distribution_propensity=distribution_propensity,
        items_mean=items_mean,
        qty_mean=qty_mean,
        fav_category=fav_category,
        contact_hour=contact_hour.astype(np.int64),
        consent=consent,
        do_not_contact=do_not_contact,
        preferred_channel=preferred_channel,
        acquisition=acquisition,
        birth_year=birth_year,
        gender=gender,
        city_tier=city_tier,
        occupation=occupation,
        household=household,
    )
