"""The true response model of a demo shop: how its customers answer win-back contacts.

A *world* is everything the merchant would have to learn from its campaign history
(``campaign_contacts``): which offer brings back which kind of lapsed customer (R8), how
much a channel matters (R11), how fast repeated contacts wear out and drive customers to
opt out (R12, R13), what a promotion does to a customer with an open dispute (R7: fix
first) and how price hunters react (R6). The campaign simulation
(``winback.demo.dynamics``), the truth files (``truth/world.json``,
``truth/response_truth.parquet``, ``truth/offer_response_truth.parquet``) and the truth
evaluator (``winback.demo.evaluate``) all use :func:`contact_response` and
:func:`opt_out_probability` below: there is one definition.

A contact's effect is P(the contact brings the customer back within the 14-day
attribution window), *on top of* the customer's own chance of returning anyway:

    p = response[row, offer] × channel[ch] × b2b[ch] (B2B only) × age[band, ch]
        × fatigue_per_contact ** (earlier win-back contacts sent within the window)
        × step3_factor (3rd contact of a sequence only)
        × dispute_response_factor (open dispute and an offer other than
          APOLOGY_SENIOR / WARRANTY / FREESHIP)

clipped to [0, 0.95]. ``row`` is the customer's reason for leaving if dead (the 7 R7
reasons), ``alive_lapsing`` if alive, ``price_hunter`` for price hunters (whatever their
state). The reference cell (all modifiers 1) is an e-mail to a B2C customer aged 35-55
with no recent contact and no open dispute. An *open dispute* is an unresolved ticket
(``tickets.resolved = false``) of kind logistics, product or attitude opened within
``dispute_memory_days`` before the contact. *Earlier contacts* are win-back contacts
actually sent (treatment rows; control rows are never contacted) within
``fatigue_window_days`` before this one, across steps and campaigns; newsletters do not
count. The age band is the age at as_of: under 35, 35-55, over 55. A visit exists only
for B2B accounts (with phone consent: visits are arranged by phone); a visit to a B2C
customer, an unknown offer or an unknown channel has no effect (p = 0).

After a contact that did not bring the customer back, the customer opts out with

    q = opt_out_base[ch] × (1 + opt_out_growth) ** (earlier contacts within the window)
        × dispute_opt_out_factor (open dispute and a promotional offer)

clipped to [0, 0.5]; a share ``opt_out_dnc_share`` of opt-outs set do-not-contact, the
rest withdraw consent for that channel (a visit: phone consent). Opt-outs end up in the
``customers`` table (consent flags false, ``do_not_contact`` true at the end).

How worlds are drawn
--------------------
**World 0 is the documented default**: the hand-written table ``UPLIFT`` below (10
offers, no ``EVENT_INVITE``), which follows the textbook R8 mapping and matches the
product's priors; past campaigns on the customer's preferred channel (R11); no channel,
segment or age effects; no fatigue from earlier contacts but the 3rd contact of a
sequence damped by ``STEP3_FATIGUE`` (0.7, R12); no dispute penalty; no opt-outs. Its
shops are byte-identical to those generated before worlds existed.

**World W >= 1** is drawn by ``numpy.random.default_rng([WORLD_SEED, W])``: it depends
on the world number only, never on the shop's seed, so shops of different seeds and
sizes can share a world. It uses the product's 11 offer codes (``WORLD_OFFERS``).
Ranges (LogU(a, b) = log-uniform between a and b; U = uniform; N = normal):

* response of the 7 reason rows and ``alive_lapsing`` (8 × 11 cells):
  ``log p = log(level) + w × (log textbook[row, offer] − row mean) + sigma × N(0, 1)``
  with ``level ~ LogU(0.015, 0.06)`` (the typical cell), ``w ~ U(0, 1)`` (how much the
  world follows the textbook R8 mapping, ``TEXTBOOK`` = ``UPLIFT`` plus an
  ``EVENT_INVITE`` column), ``sigma ~ U(0.7, 1.3)``; then each row, with probability
  0.35, has its 11 values randomly re-ordered (a reason whose textbook offer does not
  work at all); clipped to [0.001, 0.35]. Orderings therefore differ between worlds and
  from R8: in some worlds a reminder beats a discount for price-driven customers, or
  free shipping barely helps logistics leavers.
* ``price_hunter`` row (R6): ``DISC20 ~ U(0.12, 0.35)``, ``DISC10 = DISC20 × U(0.1,
  0.5)``, ``BUNDLE = DISC20 × U(0.05, 0.3)``, every other offer ``LogU(0.001, 0.01)``.
* channel multiplier: email 1 (reference), sms ``LogU(0.5, 1.5)``, push
  ``LogU(0.25, 1.0)``, phone ``LogU(1.0, 3.0)``, visit ``LogU(1.5, 4.0)``: a call or a
  visit moves people more than a push, by a different amount in every world.
* B2B modifier per channel ``exp(N(0, 0.3))`` (visit: 1, it exists for B2B only); age
  modifier per channel for under 35 and over 55 ``exp(N(0, 0.35))`` (35-55: 1).
* fatigue (R12, R13): window ``U(30, 60)`` days (whole days), factor per earlier contact
  ``U(0.45, 0.9)``; ``step3_factor`` = 1 (the wear-out of a sequence is carried by the
  earlier contacts, which fall within the window).
* opt-outs (R13): base per contact email ``LogU(0.002, 0.01)``, sms ``LogU(0.004,
  0.02)``, push ``LogU(0.004, 0.02)``, phone ``LogU(0.005, 0.03)``, visit ``LogU(0.001,
  0.01)``; growth per earlier contact ``U(0.5, 2.0)``; do-not-contact share ``U(0.1,
  0.4)``.
* open dispute (R7): memory ``U(90, 365)`` days (whole days), response factor of a
  promotion ``U(0.05, 0.4)``, opt-out factor ``U(2, 6)``.

Past campaigns in a drawn world keep world 0's calendar and designs (R12 sequences:
reminder, new arrivals, then a random offer other than those two; R10 offer tests: a
random offer among all 11 at every step; a control share that is never contacted and
logged with channel ``none``), but every treated contact goes out on a channel drawn
uniformly from those the customer can still be reached on, and only customers with at
least one such channel are targeted. With the default 4 campaigns the last contact is
about 14 weeks before as_of, so fatigue acts within campaigns (steps 14 days apart);
across campaigns only when they are closer (``n_campaigns`` >= 6), and at as_of only
when the last campaign ends inside the window (``n_campaigns`` of 8 or more).

Drawn values are rounded to 6 decimals; ``truth/world.json`` holds them all
(:func:`world_to_dict`), so the evaluator reads exactly the model that generated the shop.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

REASONS = (
    "price",
    "logistics",
    "quality",
    "service_attitude",
    "forgot",
    "needs_changed",
    "competitor",
)
OFFERS = (
    "REMIND",
    "NEWARRIVALS",
    "DISC10",
    "DISC20",
    "BUNDLE",
    "FREESHIP",
    "APOLOGY_SENIOR",
    "WARRANTY",
    "INSTALMENT",
    "VIP_EARLY",
)
# World 0: the chance that a contact with this offer brings the customer back within the
# attribution window (R8: the offer follows the reason). Rows: the 7 reasons of dead
# customers, then live-but-lapsing customers, then price hunters (R6: answer deep
# discounts only).
UPLIFT = np.array(
    [
        # REM  NEW   D10   D20   BUN   FSH   APO   WAR   INS   VIP
        [0.01, 0.02, 0.10, 0.18, 0.15, 0.03, 0.01, 0.01, 0.06, 0.02],  # price
        [0.01, 0.01, 0.02, 0.03, 0.02, 0.22, 0.05, 0.01, 0.01, 0.01],  # logistics
        [0.01, 0.03, 0.02, 0.03, 0.02, 0.02, 0.12, 0.16, 0.01, 0.01],  # quality
        [0.01, 0.01, 0.01, 0.02, 0.01, 0.01, 0.22, 0.02, 0.01, 0.04],  # service_attitude
        [0.15, 0.20, 0.07, 0.08, 0.06, 0.04, 0.02, 0.02, 0.02, 0.08],  # forgot
        [0.01, 0.05, 0.01, 0.02, 0.02, 0.01, 0.01, 0.01, 0.01, 0.01],  # needs_changed
        [0.01, 0.02, 0.05, 0.08, 0.05, 0.02, 0.01, 0.01, 0.01, 0.06],  # competitor
        [0.06, 0.08, 0.08, 0.10, 0.07, 0.06, 0.03, 0.03, 0.03, 0.06],  # alive, lapsing
        [0.005, 0.005, 0.08, 0.45, 0.05, 0.01, 0.005, 0.005, 0.005, 0.005],  # price hunter
    ]
)
STEP3_FATIGUE = 0.7  # world 0, R12: a third contact after two failed ones works less
WORLD_SEED = 20_260_701  # fixed: a world depends on its number only
ROWS = (*REASONS, "alive_lapsing", "price_hunter")
ALIVE_ROW, HUNTER_ROW = 7, 8
WORLD_OFFERS = (*OFFERS, "EVENT_INVITE")  # the product's 11 offer codes (worlds >= 1)
CHANNELS = ("email", "sms", "push", "phone", "visit")
VISIT = 4
# Consent column of each channel in ``Customers.consent`` (email, sms, phone, push);
# a visit is arranged by phone.
CHANNEL_CONSENT = np.array([0, 1, 3, 2, 2])
AGE_BANDS = ("under_35", "35_to_55", "over_55")
SAFE_IN_DISPUTE = ("APOLOGY_SENIOR", "WARRANTY", "FREESHIP")  # R7: fix first
ATTRIBUTION_DAYS = 14.0
MAX_RESPONSE = 0.95
MAX_OPT_OUT = 0.5

# The textbook R8 mapping: world 0's table plus an EVENT_INVITE column (members' events
# for forgetful, competitor-drawn and changed-needs customers).
_EVENT_INVITE = np.array([0.01, 0.01, 0.01, 0.02, 0.06, 0.03, 0.04, 0.03, 0.005])
TEXTBOOK = np.column_stack([UPLIFT, _EVENT_INVITE])


@dataclass(frozen=True, eq=False)
class World:
    """One shop's true response model (see the module docstring for each parameter).
    Its arrays are read-only; compare worlds with :func:`world_json`."""

    number: int
    offers: tuple[str, ...]
    response: np.ndarray  # (len(ROWS), len(offers)): the reference cell per row and offer
    channel_effect: np.ndarray  # (5,) per CHANNELS
    b2b_channel_effect: np.ndarray  # (5,) extra multiplier for B2B accounts
    age_channel_effect: np.ndarray  # (3, 5) per AGE_BANDS × CHANNELS
    fatigue_window_days: float
    fatigue_per_contact: float
    step3_factor: float
    opt_out_base: np.ndarray  # (5,) per contact, per CHANNELS
    opt_out_growth: float
    opt_out_dnc_share: float
    dispute_memory_days: float
    dispute_response_factor: float
    dispute_opt_out_factor: float

    def __post_init__(self) -> None:
        for values in (
            self.response,
            self.channel_effect,
            self.b2b_channel_effect,
            self.age_channel_effect,
            self.opt_out_base,
        ):
            values.setflags(write=False)

    @property
    def safe_in_dispute(self) -> np.ndarray:
        """(len(offers),) True for the offers a dispute does not penalise (R7)."""
        return np.array([o in SAFE_IN_DISPUTE for o in self.offers])

    def offer_index(self, codes: Any) -> np.ndarray:
        """Offer codes → column of ``response``; -1 for unknown codes or nulls."""
        lookup = {o: i for i, o in enumerate(self.offers)}
        return np.array([lookup.get(c, -1) if isinstance(c, str) else -1 for c in codes])

    @property
    def has_opt_outs(self) -> bool:
        """Whether contacts can make customers opt out (not in world 0)."""
        return bool(np.any(self.opt_out_base > 0))


def age_band(birth_year: np.ndarray, year: int) -> np.ndarray:
    """Index into AGE_BANDS of the age reached in ``year``: <35, 35-55, >55."""
    age = year - np.asarray(birth_year)
    return np.where(age < 35, 0, np.where(age <= 55, 1, 2)).astype(np.int8)


def draw_world(number: int) -> World:
    """World ``number``: 0 is the documented default, >= 1 drawn from its own generator."""
    if number < 0:
        raise ValueError("the world number must be >= 0")
    if number == 0:
        return World(
            number=0,
            offers=OFFERS,
            response=UPLIFT.copy(),
            channel_effect=np.ones(5),
            b2b_channel_effect=np.ones(5),
            age_channel_effect=np.ones((3, 5)),
            fatigue_window_days=30.0,
            fatigue_per_contact=1.0,
            step3_factor=STEP3_FATIGUE,
            opt_out_base=np.zeros(5),
            opt_out_growth=0.0,
            opt_out_dnc_share=0.0,
            dispute_memory_days=180.0,
            dispute_response_factor=1.0,
            dispute_opt_out_factor=1.0,
        )
    rng = np.random.default_rng([WORLD_SEED, number])

    def log_u(lo: float, hi: float, size: int | tuple[int, ...] | None = None) -> Any:
        return np.exp(rng.uniform(np.log(lo), np.log(hi), size))

    k = len(WORLD_OFFERS)
    level = log_u(0.015, 0.06)
    weight = rng.uniform(0.0, 1.0)
    sigma = rng.uniform(0.7, 1.3)
    log_t = np.log(TEXTBOOK[:HUNTER_ROW])
    log_p = (
        np.log(level)
        + weight * (log_t - log_t.mean(axis=1, keepdims=True))
        + sigma * rng.standard_normal((HUNTER_ROW, k))
    )
    for r in range(HUNTER_ROW):
        if rng.random() < 0.35:
            log_p[r] = rng.permutation(log_p[r])
    response = np.empty((len(ROWS), k))
    response[:HUNTER_ROW] = np.clip(np.exp(log_p), 0.001, 0.35)
    hunter = log_u(0.001, 0.01, k)
    disc20 = rng.uniform(0.12, 0.35)
    hunter[3] = disc20
    hunter[2] = disc20 * rng.uniform(0.1, 0.5)
    hunter[4] = disc20 * rng.uniform(0.05, 0.3)
    response[HUNTER_ROW] = hunter

    channel = np.array([1.0, log_u(0.5, 1.5), log_u(0.25, 1.0), log_u(1.0, 3.0), log_u(1.5, 4.0)])
    b2b = np.exp(rng.normal(0.0, 0.3, 5))
    b2b[VISIT] = 1.0
    age = np.ones((3, 5))
    age[0] = np.exp(rng.normal(0.0, 0.35, 5))
    age[2] = np.exp(rng.normal(0.0, 0.35, 5))
    window = float(np.round(rng.uniform(30.0, 60.0)))
    fatigue = rng.uniform(0.45, 0.9)
    opt_out = np.array(
        [
            log_u(0.002, 0.01),
            log_u(0.004, 0.02),
            log_u(0.004, 0.02),
            log_u(0.005, 0.03),
            log_u(0.001, 0.01),
        ]
    )
    growth = rng.uniform(0.5, 2.0)
    dnc_share = rng.uniform(0.1, 0.4)
    memory = float(np.round(rng.uniform(90.0, 365.0)))
    dispute = rng.uniform(0.05, 0.4)
    dispute_out = rng.uniform(2.0, 6.0)

    def r6(x: Any) -> Any:
        return np.round(x, 6)

    return World(
        number=number,
        offers=WORLD_OFFERS,
        response=r6(response),
        channel_effect=r6(channel),
        b2b_channel_effect=r6(b2b),
        age_channel_effect=r6(age),
        fatigue_window_days=window,
        fatigue_per_contact=float(r6(fatigue)),
        step3_factor=1.0,
        opt_out_base=r6(opt_out),
        opt_out_growth=float(r6(growth)),
        opt_out_dnc_share=float(r6(dnc_share)),
        dispute_memory_days=memory,
        dispute_response_factor=float(r6(dispute)),
        dispute_opt_out_factor=float(r6(dispute_out)),
    )


def contact_response(
    world: World,
    *,
    reason_row: np.ndarray,
    offer: np.ndarray,
    channel: np.ndarray,
    is_b2b: np.ndarray,
    age_band: np.ndarray,
    recent_contacts: np.ndarray,
    open_dispute: np.ndarray,
    step: int | np.ndarray,
) -> np.ndarray:
    """P(this contact brings the customer back within the 14-day window), vectorised.

    ``reason_row`` indexes ROWS, ``offer`` the world's offers (-1 = unknown: no effect),
    ``channel`` CHANNELS (-1 = unknown: no effect), ``age_band`` AGE_BANDS;
    ``recent_contacts`` counts win-back contacts sent within the fatigue window before
    this one (R12, R13); ``step`` is the contact's place in its sequence (1-3).
    """
    offer = np.asarray(offer)
    channel = np.asarray(channel)
    is_b2b = np.asarray(is_b2b, dtype=bool)
    ok = (offer >= 0) & (channel >= 0) & ((channel != VISIT) | is_b2b)
    o = np.maximum(offer, 0)
    ch = np.maximum(channel, 0)
    p = world.response[np.asarray(reason_row), o]
    p = p * world.channel_effect[ch]
    p = p * np.where(is_b2b, world.b2b_channel_effect[ch], 1.0)
    p = p * world.age_channel_effect[np.asarray(age_band), ch]
    p = p * world.fatigue_per_contact ** np.asarray(recent_contacts)
    promo = ~world.safe_in_dispute[o]
    p = p * np.where(np.asarray(open_dispute) & promo, world.dispute_response_factor, 1.0)
    p = p * np.where(np.asarray(step) == 3, world.step3_factor, 1.0)
    return np.where(ok, np.clip(p, 0.0, MAX_RESPONSE), 0.0)


def opt_out_probability(
    world: World,
    *,
    offer: np.ndarray,
    channel: np.ndarray,
    recent_contacts: np.ndarray,
    open_dispute: np.ndarray,
) -> np.ndarray:
    """P(a contact that did not bring the customer back makes them opt out) (R13)."""
    offer = np.asarray(offer)
    channel = np.asarray(channel)
    ch = np.maximum(channel, 0)
    promo = ~world.safe_in_dispute[np.maximum(offer, 0)]
    q = world.opt_out_base[ch] * (1.0 + world.opt_out_growth) ** np.asarray(recent_contacts)
    q = q * np.where(np.asarray(open_dispute) & promo, world.dispute_opt_out_factor, 1.0)
    return np.where(channel >= 0, np.clip(q, 0.0, MAX_OPT_OUT), 0.0)


def world_to_dict(world: World) -> dict[str, Any]:
    """Every parameter of the world, JSON-ready (``truth/world.json``)."""

    def by_channel(values: np.ndarray) -> dict[str, float]:
        return {c: float(v) for c, v in zip(CHANNELS, values, strict=True)}

    return {
        "number": world.number,
        "reference": "an e-mail to a B2C customer aged 35-55, first contact, no recent "
        "contact, no open dispute",
        "attribution_days": ATTRIBUTION_DAYS,
        "response": {
            "rows": list(ROWS),
            "offers": list(world.offers),
            "p_return": world.response.tolist(),
        },
        "channels": {
            "effect": by_channel(world.channel_effect),
            "b2b_effect": by_channel(world.b2b_channel_effect),
            "age_band_effect": {
                band: by_channel(world.age_channel_effect[i]) for i, band in enumerate(AGE_BANDS)
            },
            "visit_only_for": "b2b",
        },
        "fatigue": {
            "window_days": world.fatigue_window_days,
            "factor_per_recent_contact": world.fatigue_per_contact,
            "step3_factor": world.step3_factor,
        },
        "opt_out": {
            "base": by_channel(world.opt_out_base),
            "growth_per_recent_contact": world.opt_out_growth,
            "do_not_contact_share": world.opt_out_dnc_share,
        },
        "dispute": {
            "memory_days": world.dispute_memory_days,
            "response_factor": world.dispute_response_factor,
            "opt_out_factor": world.dispute_opt_out_factor,
            "safe_offers": list(SAFE_IN_DISPUTE),
        },
        "hunters": {
            "row": "price_hunter",
            "best_offer": world.offers[int(np.argmax(world.response[HUNTER_ROW]))],
        },
    }


def world_from_dict(data: dict[str, Any]) -> World:
    """The world described by :func:`world_to_dict` (exact: JSON keeps every float)."""

    def by_channel(values: dict[str, float]) -> np.ndarray:
        return np.array([float(values[c]) for c in CHANNELS])

    if tuple(data["response"]["rows"]) != ROWS:
        raise ValueError(f"unexpected response rows {data['response']['rows']}")
    ch = data["channels"]
    return World(
        number=int(data["number"]),
        offers=tuple(data["response"]["offers"]),
        response=np.array(data["response"]["p_return"], dtype=np.float64),
        channel_effect=by_channel(ch["effect"]),
        b2b_channel_effect=by_channel(ch["b2b_effect"]),
        age_channel_effect=np.stack([by_channel(ch["age_band_effect"][b]) for b in AGE_BANDS]),
        fatigue_window_days=float(data["fatigue"]["window_days"]),
        fatigue_per_contact=float(data["fatigue"]["factor_per_recent_contact"]),
        step3_factor=float(data["fatigue"]["step3_factor"]),
        opt_out_base=by_channel(data["opt_out"]["base"]),
        opt_out_growth=float(data["opt_out"]["growth_per_recent_contact"]),
        opt_out_dnc_share=float(data["opt_out"]["do_not_contact_share"]),
        dispute_memory_days=float(data["dispute"]["memory_days"]),
        dispute_response_factor=float(data["dispute"]["response_factor"]),
        dispute_opt_out_factor=float(data["dispute"]["opt_out_factor"]),
    )


def world_json(world: World) -> str:
    """``truth/world.json``: sorted keys, two-space indent, a final newline."""
    return json.dumps(world_to_dict(world), sort_keys=True, indent=2) + "\n"


def read_world(path: Path) -> World:
    """Read ``truth/world.json``."""
    return world_from_dict(json.loads(Path(path).read_text(encoding="utf-8")))
