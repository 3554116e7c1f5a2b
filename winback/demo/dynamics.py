"""Customer dynamics: a weekly, vectorised simulation of orders, tickets, drift and death.

Each customer is *engaged*, *drifting* or *dead* (BG/NBD-like: dead customers never buy
again unless a win-back campaign brings them back). Per step of a week, for all live
customers at once:

1. ticket pressure decays (half-life ``PRESSURE_HALF_LIFE``) and last step's tickets add
   to it, unresolved ones with weight 1 and resolved ones with weight ``W_RESOLVED`` (R7:
   disputes of kind product / logistics / attitude, plus price complaints);
2. win-back campaign contacts go out (R10, R12) and some contacted customers return;
3. engaged customers start drifting at the rates of the *gradual* reasons: ``forgot``
   (grows with recency against the customer's own cadence, R1/R14), ``needs_changed``
   (grows with tenure) and ``competitor`` (spikes during competitor promotions);
4. orders arrive as a Poisson process at the customer's rate, times seasonality and own
   promotions for price-sensitive customers; drifting customers buy at 30% of it (R1:
   falling frequency); each paid order can bring tickets for the next step;
5. customers die at the sum of the *sudden* reasons' hazards (``price``, ``logistics``,
   ``quality``, ``service_attitude``) plus, when drifting, a drift-death hazard; the
   reason is drawn in proportion to the competing hazards, so it leaves its trace.

The reasons map onto R7: price / cost-consciousness, delivery/logistics, product quality,
service attitude, forgot about the shop, needs changed, competitor.

How customers answer win-back contacts (step 2) is the shop's *world*
(``winback.demo.world``): world 0, the documented default, is the fixed ``UPLIFT`` table
with campaigns on the preferred channel; worlds >= 1 draw their response model and send
past campaigns with random offers on random channels, with fatigue, dispute penalties
and opt-outs.

Because tickets come only with paid orders and the forgetting rate depends only on the
time since the last paid order, the chance of *no paid order* over the horizon given the
state at as_of follows from a deterministic two-state recursion (``no_paid_order_prob``),
which is the exact ``p_churn_horizon`` of the discrete model.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from winback.demo.calendar import Calendar
from winback.demo.latent import Customers
from winback.demo.world import (
    ALIVE_ROW,
    CHANNEL_CONSENT,
    HUNTER_ROW,
    OFFERS,
    VISIT,
    World,
    age_band,
    contact_response,
    draw_world,
    opt_out_probability,
)

N_SUDDEN = 4  # reasons 0..3 kill directly; 4..6 act through drifting
TICKET_KINDS = ("logistics", "product", "attitude", "price", "other")

# Hazards are per day. B2C totals ~6.5%/month for active customers, B2B ~3.8% (R2).
SEGMENT_HAZARD_SCALE = {False: 1.15, True: 0.5}
BASE_SUDDEN = np.array([0.00060, 0.00020, 0.00020, 0.00010])
PRESSURE_COEF = np.array([0.0040, 0.0120, 0.0120, 0.0150])  # price, logistics, quality, attitude
W_RESOLVED = 0.2  # R7: an unresolved dispute weighs five times a resolved one
PRESSURE_HALF_LIFE = 45.0
BASE_DRIFT = np.array([0.00050, 0.00030, 0.00090])  # forgot, needs_changed, competitor
DRIFT_DEATH = 1.0 / 75.0
DRIFT_RATE_FACTOR = 0.3
TICKET_RESOLVED_P = np.array([0.72, 0.65, 0.5, 0.6, 0.8])
TICKET_DELAY_DAYS = np.array([[3.0, 10.0], [2.0, 20.0], [0.0, 3.0], [0.0, 2.0], [0.0, 5.0]])

CAMPAIGN_SPACING_STEPS = 2  # contacts two weeks apart; attribution window 14 days
ATTRIBUTION_DAYS = 14.0
LAPSED_AFTER_DAYS = 90.0
# Channel labels of ``campaign_contacts`` (codes as recorded); "visit" only in worlds >= 1.
CHANNEL_NAMES = ("email", "sms", "phone", "push", "chat", "none", "visit")
NO_CHANNEL = 5
# world.CHANNELS (email, sms, push, phone, visit) → code in CHANNEL_NAMES
WORLD_CHANNEL_CODE = np.array([0, 1, 3, 2, 6])
# World 0's campaigns use the preferred channel (email, sms, phone, push or chat); its
# response has no channel effect, so the code only has to be valid (chat → email).
LEGACY_TO_WORLD_CHANNEL = np.array([0, 1, 3, 2, 0])


@dataclass
class Records:
    """Append-only per-step outputs, concatenated at the end."""

    order_cust: list[np.ndarray] = field(default_factory=list)
    order_day: list[np.ndarray] = field(default_factory=list)
    order_paid: list[np.ndarray] = field(default_factory=list)
    order_first: list[np.ndarray] = field(default_factory=list)
    order_drifting: list[np.ndarray] = field(default_factory=list)
    order_offer: list[np.ndarray] = field(default_factory=list)
    ticket_order: list[np.ndarray] = field(default_factory=list)  # global order number
    ticket_kind: list[np.ndarray] = field(default_factory=list)
    ticket_resolved: list[np.ndarray] = field(default_factory=list)
    ticket_day: list[np.ndarray] = field(default_factory=list)
    contact_cust: list[np.ndarray] = field(default_factory=list)
    contact_campaign: list[np.ndarray] = field(default_factory=list)
    contact_step: list[np.ndarray] = field(default_factory=list)
    contact_day: list[np.ndarray] = field(default_factory=list)
    contact_control: list[np.ndarray] = field(default_factory=list)
    contact_offer: list[np.ndarray] = field(default_factory=list)
    contact_channel: list[np.ndarray] = field(default_factory=list)
    contact_reason: list[np.ndarray] = field(default_factory=list)  # -1 = alive at contact
    contact_p: list[np.ndarray] = field(default_factory=list)  # P(return caused by contact)
    contact_back: list[np.ndarray] = field(default_factory=list)  # returned because of it
    # Drawn worlds, first contacts only (NaN at later steps): what any first contact would
    # have done, for judging a policy on a past campaign (``campaign_offer_truth``).
    contact_p_anyway: list[np.ndarray] = field(default_factory=list)  # P(order, no contact)
    contact_u_all: list[np.ndarray] = field(default_factory=list)  # (m, offers x channels)
    n_orders: int = 0


@dataclass
class Campaign:
    """A running win-back campaign: its targets and where they are in the sequence."""

    number: int
    design: str  # "sequence" (R12) or "offer_test" (R10)
    targets: np.ndarray
    control: np.ndarray
    channel: np.ndarray
    next_step: int = 1
    last_contact_day: np.ndarray | None = None


@dataclass
class HistorySnapshot:
    """The latent state at the end of as_of."""

    alive: np.ndarray
    drifting: np.ndarray
    drift_start: np.ndarray
    death_day: np.ndarray
    reason: np.ndarray
    drift_reason: np.ndarray
    last_paid_day: np.ndarray
    n_revived: np.ndarray


class ShopDynamics:
    """State of all customers and the step function shared by history and horizon."""

    def __init__(
        self,
        cust: Customers,
        cal: Calendar,
        rng: np.random.Generator,
        world: World | None = None,
    ):
        self.c = cust
        self.cal = cal
        self.rng = rng
        self.world = draw_world(0) if world is None else world
        n = cust.n
        self.alive = np.zeros(n, dtype=bool)
        self.drifting = np.zeros(n, dtype=bool)
        self.drift_reason = np.full(n, -1, dtype=np.int8)
        self.drift_start = np.full(n, np.nan)
        self.death_day = np.full(n, np.nan)
        self.reason = np.full(n, -1, dtype=np.int8)
        self.last_paid_day = np.full(n, np.nan)
        self.n_revived = np.zeros(n, dtype=np.int32)
        self.future_paid = np.zeros(n)  # paid orders simulated after as_of (never written)
        self.pressure = np.zeros((4, n), dtype=np.float64)
        self.pending_pressure = np.zeros((4, n), dtype=np.float64)
        self.hazard_scale = np.where(
            cust.is_b2b, SEGMENT_HAZARD_SCALE[True], SEGMENT_HAZARD_SCALE[False]
        )
        self.signup_step = np.searchsorted(cal.starts, cust.signup_day, side="right") - 1
        self.rec = Records()
        self.campaign: Campaign | None = None
        # Contact-response state (winback.demo.world): the age band at as_of, win-back
        # contacts actually sent (fatigue, R12/R13), unresolved disputes (R7) and
        # opt-outs (R13; +inf = never). None of it draws random numbers in world 0.
        as_of_year = (cal.end - dt.timedelta(days=1)).year
        self.age_band = age_band(cust.birth_year, as_of_year)
        self.sent_cust: list[np.ndarray] = []
        self.sent_day: list[np.ndarray] = []
        self.dispute_cust: list[np.ndarray] = []
        self.dispute_day: list[np.ndarray] = []
        self.opt_out_day = np.full((n, 4), np.inf)  # per consent column: email, sms, phone, push
        self.dnc_day = np.full(n, np.inf)

    # ------------------------------------------------------------------ rates
    def purchase_rate(self, idx: np.ndarray, s: int) -> np.ndarray:
        """Orders per day of engaged customers ``idx`` in step ``s``."""
        c, cal = self.c, self.cal
        ps = c.price_sensitivity[idx]
        promo = cal.shop_promo[s]
        rate = c.base_rate[idx] * (1.0 + (cal.season[s] - 1.0) * ~c.is_b2b[idx])
        rate = (
            rate
            * (1.0 + 1.5 * ps * promo)
            * (1.0 - 0.3 * cal.competitor_promo[s] * c.competitor_exposure[idx])
        )
        # Price hunters buy almost only in promotions (R6).
        return np.where(c.is_price_hunter[idx], rate * (0.15 + 4.0 * promo), rate)

    def sudden_hazards(self, idx: np.ndarray, s: int, pressure: np.ndarray) -> np.ndarray:
        """(4, m) per-day hazards of the sudden reasons price, logistics, quality, attitude."""
        c, cal = self.c, self.cal
        ps = c.price_sensitivity[idx]
        comp = cal.competitor_promo[s] * c.competitor_exposure[idx]
        hunter = c.is_price_hunter[idx]
        h = np.empty((4, idx.size))
        # Price hunters threaten to leave but rarely do: they stay for the discounts (R6).
        h[0] = BASE_SUDDEN[0] * (0.2 + 1.6 * ps) * (1.0 + 2.0 * comp) * np.where(hunter, 0.3, 1.0)
        h[0] += PRESSURE_COEF[0] * pressure[3] * np.where(hunter, 0.1, 1.0)
        h[1] = BASE_SUDDEN[1] + PRESSURE_COEF[1] * pressure[0]  # R7 logistics disputes
        h[2] = BASE_SUDDEN[2] + PRESSURE_COEF[2] * pressure[1]  # R7 product disputes
        h[3] = BASE_SUDDEN[3] + PRESSURE_COEF[3] * pressure[2]  # R7 attitude disputes
        return h * self.hazard_scale[idx]

    def drift_rates(self, idx: np.ndarray, s: int, last_paid: np.ndarray) -> np.ndarray:
        """(3, m) per-day rates of starting to drift: forgot, needs_changed, competitor."""
        c, cal = self.c, self.cal
        t0 = cal.starts[s]
        recency = np.nan_to_num(t0 - last_paid, nan=0.0)
        lapse = np.minimum(recency * c.base_rate[idx], 5.0)  # recency / own cadence (R1)
        tenure_years = np.maximum(t0 - c.signup_day[idx], 0.0) / 365.0
        q = np.empty((3, idx.size))
        q[0] = BASE_DRIFT[0] * c.forgetfulness[idx] * (0.3 + 0.5 * lapse)
        q[1] = BASE_DRIFT[1] * c.needs_change[idx] * (1.0 + 0.5 * tenure_years)
        q[2] = BASE_DRIFT[2] * c.competitor_exposure[idx] * (1.0 + 3.0 * cal.competitor_promo[s])
        return q * self.hazard_scale[idx]

    # ------------------------------------------------------------------ helpers
    def _times_in_step(self, cust_idx: np.ndarray, s: int) -> np.ndarray:
        """Random times in step ``s``: a local diurnal pattern shifted to UTC."""
        rng, cal = self.rng, self.cal
        t0, length = cal.starts[s], cal.lengths[s]
        day = rng.integers(0, int(length), cust_idx.size)
        local_hour = rng.choice(24, size=cust_idx.size, p=DIURNAL) + rng.random(cust_idx.size)
        offset = day + (local_hour - self.c.tz_offset[cust_idx]) / 24.0
        return t0 + np.mod(offset, length)

    def _add_orders(
        self,
        cust_idx: np.ndarray,
        day: np.ndarray,
        paid: np.ndarray,
        first: bool,
        offer: np.ndarray | None,
        record: bool,
    ) -> np.ndarray:
        """Record orders (history only), update recency, and queue tickets; return their numbers."""
        n0 = self.rec.n_orders
        numbers = np.arange(n0, n0 + cust_idx.size)
        self.rec.n_orders += cust_idx.size
        if record:
            r = self.rec
            r.order_cust.append(cust_idx.astype(np.int32))
            r.order_day.append(day)
            r.order_paid.append(paid)
            r.order_first.append(np.full(cust_idx.size, first))
            r.order_drifting.append(self.drifting[cust_idx])
            r.order_offer.append(
                np.full(cust_idx.size, -1, np.int8) if offer is None else offer.astype(np.int8)
            )
        pc, pd_ = cust_idx[paid], day[paid]
        if not record:
            np.add.at(self.future_paid, pc, 1.0)
        # Latest paid order per customer (orders within a step are unsorted).
        np.fmax.at(self.last_paid_day, pc, pd_)
        self._tickets(pc, pd_, numbers[paid], record)
        return numbers

    def _tickets(
        self, cust_idx: np.ndarray, day: np.ndarray, numbers: np.ndarray, record: bool
    ) -> None:
        """Bad experiences on paid orders become tickets (R7) and next step's pressure."""
        c, rng = self.c, self.rng
        m = cust_idx.size
        probs = np.stack(
            [
                c.logistics_risk[cust_idx],
                c.product_risk[cust_idx],
                c.attitude_risk[cust_idx],
                0.004 + 0.15 * c.is_price_hunter[cust_idx] + 0.02 * c.price_sensitivity[cust_idx],
                np.full(m, 0.01) * np.where(c.is_high_attention[cust_idx], 5.0, 1.0),
            ]
        )
        hit = rng.random((5, m)) < probs
        kind, pos = np.nonzero(hit)
        if kind.size == 0:
            return
        resolved = rng.random(kind.size) < TICKET_RESOLVED_P[kind]
        weight = np.where(resolved, W_RESOLVED, 1.0)
        press = kind < 4
        np.add.at(self.pending_pressure, (kind[press], cust_idx[pos[press]]), weight[press])
        if record:
            lo, hi = TICKET_DELAY_DAYS[kind, 0], TICKET_DELAY_DAYS[kind, 1]
            r = self.rec
            opened = day[pos] + lo + (hi - lo) * rng.random(kind.size)
            r.ticket_order.append(numbers[pos])
            r.ticket_kind.append(kind.astype(np.int8))
            r.ticket_resolved.append(resolved)
            r.ticket_day.append(opened)
            # Open disputes (R7): unresolved tickets of kind logistics, product, attitude.
            dispute = (kind < 3) & ~resolved
            self.dispute_cust.append(cust_idx[pos[dispute]].astype(np.int32))
            self.dispute_day.append(opened[dispute])

    def _kill(self, idx: np.ndarray, day: np.ndarray, reason: np.ndarray) -> None:
        self.alive[idx] = False
        self.death_day[idx] = day
        self.reason[idx] = reason

    # ------------------------------------------------------------------ campaigns
    def start_campaign(
        self, number: int, s: int, sample_share: float, control_share: float
    ) -> None:
        """Select lapsed customers (R12 targets) and randomise treatment/control (R10)."""
        c, rng, t0 = self.c, self.rng, self.cal.starts[s]
        eligible = (
            (self.signup_step < s)
            & ~np.isnan(self.last_paid_day)
            & (t0 - self.last_paid_day >= LAPSED_AFTER_DAYS)
            & (t0 - self.last_paid_day <= 730.0)
            & ~c.do_not_contact
        )
        design = "sequence" if number % 2 == 0 else "offer_test"
        if self.world.number >= 1:
            # Only customers who can still be reached (consent left, no do-not-contact).
            eligible &= np.isinf(self.dnc_day)
            eligible &= self.channels_available(np.arange(c.n)).any(axis=1)
            targets = np.flatnonzero(eligible & (rng.random(c.n) < sample_share))
            control = rng.random(targets.size) < control_share
            self.campaign = Campaign(
                number=number,
                design=design,
                targets=targets,
                control=control,
                channel=np.full(targets.size, -1),  # drawn per contact
            )
            return
        targets = np.flatnonzero(eligible & (rng.random(c.n) < sample_share))
        control = rng.random(targets.size) < control_share
        consented = c.consent[targets]
        pref = c.preferred_channel[targets]
        # R11: the preferred channel if consented, else email/sms/push, else chat.
        ok_pref = (pref == 4) | np.take_along_axis(consented, np.minimum(pref, 3)[:, None], 1)[:, 0]
        fallback = np.where(
            consented[:, 0], 0, np.where(consented[:, 1], 1, np.where(consented[:, 3], 3, 4))
        )
        channel = np.where(ok_pref, pref, fallback)
        self.campaign = Campaign(
            number=number,
            design=design,
            targets=targets,
            control=control,
            channel=channel,
        )

    def channels_available(self, idx: np.ndarray) -> np.ndarray:
        """(m, 5) bool: the world's channels customers ``idx`` can be contacted on now
        (consent not withdrawn, no do-not-contact; a visit only for B2B with phone
        consent, R11/R13)."""
        c = self.c
        consent = c.consent[idx] & np.isinf(self.opt_out_day[idx])
        avail = consent[:, CHANNEL_CONSENT]
        avail[:, VISIT] &= c.is_b2b[idx]
        reachable = ~c.do_not_contact[idx] & np.isinf(self.dnc_day[idx])
        return avail & reachable[:, None]

    def recent_contacts(self, idx: np.ndarray, day: np.ndarray) -> np.ndarray:
        """Win-back contacts sent to each of ``idx`` within the world's fatigue window
        before ``day`` (R12, R13); ``idx`` must be unique."""
        if not self.sent_cust:
            return np.zeros(idx.size, dtype=np.int64)
        cust = np.concatenate(self.sent_cust)
        sent = np.concatenate(self.sent_day)
        at = np.full(self.c.n, np.nan)
        at[idx] = day
        within = (sent < at[cust]) & (sent > at[cust] - self.world.fatigue_window_days)
        return np.bincount(cust[within], minlength=self.c.n)[idx]

    def open_dispute(self, idx: np.ndarray, day: np.ndarray) -> np.ndarray:
        """Whether each of ``idx`` has an unresolved dispute ticket opened within the
        world's dispute memory before ``day`` (R7); ``idx`` must be unique."""
        if not self.dispute_cust:
            return np.zeros(idx.size, dtype=bool)
        cust = np.concatenate(self.dispute_cust)
        opened = np.concatenate(self.dispute_day)
        at = np.full(self.c.n, np.nan)
        at[idx] = day
        within = (opened < at[cust]) & (opened > at[cust] - self.world.dispute_memory_days)
        flag = np.zeros(self.c.n, dtype=bool)
        flag[cust[within]] = True
        return flag[idx]

    def response_row(self, idx: np.ndarray) -> np.ndarray:
        """Row of the response table: reason if dead, alive_lapsing, or price_hunter."""
        row = np.where(self.alive[idx], ALIVE_ROW, np.maximum(self.reason[idx], 0))
        return np.where(self.c.is_price_hunter[idx], HUNTER_ROW, row)

    def campaign_step(self, s: int, record: bool) -> None:
        """Send one step (1st/2nd/3rd contact) to targets who have not converted yet."""
        if self.world.number >= 1:
            self._campaign_step_drawn(s, record)
            return
        camp, c, rng, r = self.campaign, self.c, self.rng, self.rec
        assert camp is not None
        t0 = self.cal.starts[s]
        keep = np.ones(camp.targets.size, dtype=bool)
        if camp.last_contact_day is not None:
            lp = self.last_paid_day[camp.targets]
            keep = lp < camp.last_contact_day  # converted customers leave the sequence
        tg, ctrl, chan = camp.targets[keep], camp.control[keep], camp.channel[keep]
        m = tg.size
        step = camp.next_step
        # R12 sequence: reminder, new arrivals, then a personal offer; else an A/B offer test.
        if camp.design == "sequence" and step < 3:
            offer = np.full(m, 0 if step == 1 else 1)
        elif camp.design == "sequence":
            offer = rng.choice(np.array([2, 3, 4, 5, 6, 7]), size=m)
        else:
            offer = rng.integers(0, len(OFFERS), m)
        hour = c.contact_hour[tg] - c.tz_offset[tg]
        day = t0 + np.mod(hour / 24.0 + rng.random(m) / 24.0, 1.0)
        if record:
            r.contact_cust.append(tg.astype(np.int32))
            r.contact_campaign.append(np.full(m, camp.number, np.int16))
            r.contact_step.append(np.full(m, step, np.int8))
            r.contact_day.append(day)
            r.contact_control.append(ctrl)
            r.contact_offer.append(offer.astype(np.int8))
            r.contact_channel.append(np.where(ctrl, NO_CHANNEL, chan).astype(np.int8))
        # Response: only treated customers can be moved by the contact. World 0 has no
        # channel, fatigue or dispute effects: p = UPLIFT[row, offer] (x 0.7 at step 3).
        p = contact_response(
            self.world,
            reason_row=self.response_row(tg),
            offer=offer,
            channel=LEGACY_TO_WORLD_CHANNEL[chan],
            is_b2b=c.is_b2b[tg],
            age_band=self.age_band[tg],
            recent_contacts=np.zeros(m, dtype=np.int64),
            open_dispute=np.zeros(m, dtype=bool),
            step=step,
        )
        back = (~ctrl) & (rng.random(m) < p)
        if record:
            r.contact_reason.append(np.where(self.alive[tg], -1, self.reason[tg]).astype(np.int8))
            r.contact_p.append(p)
            r.contact_back.append(back)
        self._sent(tg[~ctrl], day[~ctrl])
        self._bring_back(tg[back], day[back], offer[back], s, record)
        # Targets already out of the sequence get -inf: they never come back into it.
        camp.last_contact_day = np.full(camp.targets.size, -np.inf)
        camp.last_contact_day[np.flatnonzero(keep)] = day
        camp.next_step += 1

    def _campaign_step_drawn(self, s: int, record: bool) -> None:
        """One step of a campaign in a drawn world (>= 1): random offers AND random
        channels (R10, R11), fatigue across steps and campaigns (R12, R13), dispute
        penalties (R7) and opt-outs (R13), all by ``winback.demo.world``."""
        camp, c, rng, r, world = self.campaign, self.c, self.rng, self.rec, self.world
        assert camp is not None
        t0 = self.cal.starts[s]
        keep = np.ones(camp.targets.size, dtype=bool)
        if camp.last_contact_day is not None:
            lp = self.last_paid_day[camp.targets]
            keep = lp < camp.last_contact_day  # converted customers leave the sequence
        avail = self.channels_available(camp.targets)
        # Treated customers who can no longer be reached (opted out) leave the sequence.
        keep &= camp.control | avail.any(axis=1)
        tg, ctrl, avail = camp.targets[keep], camp.control[keep], avail[keep]
        m = tg.size
        step = camp.next_step
        k = len(world.offers)
        # R12 sequence: reminder, new arrivals, then a random offer; else an A/B offer test.
        if camp.design == "sequence" and step < 3:
            offer = np.full(m, 0 if step == 1 else 1)
        elif camp.design == "sequence":
            offer = rng.integers(2, k, m)
        else:
            offer = rng.integers(0, k, m)
        hour = c.contact_hour[tg] - c.tz_offset[tg]
        day = t0 + np.mod(hour / 24.0 + rng.random(m) / 24.0, 1.0)
        # A channel drawn uniformly from the ones the customer can be reached on (control
        # rows: the channel they would have got; -1 if none is left).
        n_avail = avail.sum(axis=1)
        cum = np.cumsum(avail, axis=1)
        pick = (rng.random(m) * n_avail).astype(np.int64)
        chan = np.where(n_avail > 0, (cum <= pick[:, None]).sum(axis=1), -1)
        recent = self.recent_contacts(tg, day)
        dispute = self.open_dispute(tg, day)
        p = contact_response(
            world,
            reason_row=self.response_row(tg),
            offer=offer,
            channel=chan,
            is_b2b=c.is_b2b[tg],
            age_band=self.age_band[tg],
            recent_contacts=recent,
            open_dispute=dispute,
            step=step,
        )
        if record:
            # Before anyone answers: the counterfactuals of this contact (no RNG drawn).
            r.contact_p_anyway.append(self._p_order_anyway(tg, s, step))
            r.contact_u_all.append(self._every_first_contact(tg, avail, recent, dispute, step))
        back = (~ctrl) & (rng.random(m) < p)
        q = opt_out_probability(
            world, offer=offer, channel=chan, recent_contacts=recent, open_dispute=dispute
        )
        out = (~ctrl) & ~back & (rng.random(m) < q)
        to_dnc = out & (rng.random(m) < world.opt_out_dnc_share)
        withdraw = out & ~to_dnc
        self.dnc_day[tg[to_dnc]] = np.minimum(self.dnc_day[tg[to_dnc]], day[to_dnc])
        cols = CHANNEL_CONSENT[chan[withdraw]]
        who = tg[withdraw]
        self.opt_out_day[who, cols] = np.minimum(self.opt_out_day[who, cols], day[withdraw])
        if record:
            r.contact_cust.append(tg.astype(np.int32))
            r.contact_campaign.append(np.full(m, camp.number, np.int16))
            r.contact_step.append(np.full(m, step, np.int8))
            r.contact_day.append(day)
            r.contact_control.append(ctrl)
            r.contact_offer.append(offer.astype(np.int8))
            code = WORLD_CHANNEL_CODE[np.maximum(chan, 0)]
            r.contact_channel.append(np.where(ctrl, NO_CHANNEL, code).astype(np.int8))
            r.contact_reason.append(np.where(self.alive[tg], -1, self.reason[tg]).astype(np.int8))
            r.contact_p.append(p)
            r.contact_back.append(back)
        self._sent(tg[~ctrl], day[~ctrl])
        self._bring_back(tg[back], day[back], offer[back], s, record)
        camp.last_contact_day = np.full(camp.targets.size, -np.inf)
        camp.last_contact_day[np.flatnonzero(keep)] = day
        camp.next_step += 1

    def _p_order_anyway(self, idx: np.ndarray, s: int, step: int) -> np.ndarray:
        """P(a paid order within the attribution window without a contact) of each of
        ``idx`` at a first contact in step ``s`` (0 if dead; NaN at later steps)."""
        if step != 1:
            return np.full(idx.size, np.nan)
        ahead = self.cal.starts[s:] - self.cal.starts[s]
        n_window = max(int((ahead < ATTRIBUTION_DAYS).sum()), 1)
        p = np.zeros(idx.size)
        alive = self.alive[idx]
        p[alive] = 1.0 - self.no_paid_order_prob(idx[alive], s, n_window)
        return p

    def _every_first_contact(
        self,
        idx: np.ndarray,
        avail: np.ndarray,
        recent: np.ndarray,
        dispute: np.ndarray,
        step: int,
    ) -> np.ndarray:
        """(len(idx), offers × channels): P(a first contact with each offer on each channel
        brings the customer back), offer-major; NaN where the channel was not available
        (the campaign drew among the available ones) and at later steps."""
        k, n_ch = len(self.world.offers), avail.shape[1]
        out = np.full((idx.size, k * n_ch), np.nan)
        if step != 1:
            return out
        row = self.response_row(idx)
        for o in range(k):
            for ch in range(n_ch):
                u = contact_response(
                    self.world,
                    reason_row=row,
                    offer=np.full(idx.size, o),
                    channel=np.full(idx.size, ch),
                    is_b2b=self.c.is_b2b[idx],
                    age_band=self.age_band[idx],
                    recent_contacts=recent,
                    open_dispute=dispute,
                    step=1,
                )
                out[:, o * n_ch + ch] = np.where(avail[:, ch], u, np.nan)
        return out

    def _sent(self, cust: np.ndarray, day: np.ndarray) -> None:
        """Remember win-back contacts actually sent (fatigue, R12/R13)."""
        self.sent_cust.append(cust.astype(np.int32))
        self.sent_day.append(day)

    def _bring_back(
        self, who: np.ndarray, when: np.ndarray, what: np.ndarray, s: int, record: bool
    ) -> None:
        """Customers brought back by a contact: revived if dead, and a paid order soon."""
        t0 = self.cal.starts[s]
        revived = ~self.alive[who]
        rv = who[revived]
        self.alive[rv] = True
        self.drifting[rv] = False
        self.drift_reason[rv] = -1
        self.drift_start[rv] = np.nan
        self.death_day[rv] = np.nan
        self.reason[rv] = -1
        self.n_revived[rv] += 1
        self.pressure[:, rv] *= 0.3  # the apology / fix takes the sting out of old disputes
        self.drifting[who] = False
        self.drift_start[who] = np.nan
        order_day = when + np.minimum(
            self.rng.exponential(1.5, who.size), t0 + self.cal.lengths[s] - when - 1e-3
        )
        self._add_orders(who, order_day, np.ones(who.size, bool), False, what, record)

    # ------------------------------------------------------------------ step
    def step(self, s: int, record: bool) -> None:
        """Advance all customers through step ``s``."""
        c, rng, cal = self.c, self.rng, self.cal
        t0, length = cal.starts[s], cal.lengths[s]
        # 1. pressure from last step's tickets
        self.pressure *= 0.5 ** (length / PRESSURE_HALF_LIFE)
        self.pressure += self.pending_pressure
        self.pending_pressure[:] = 0.0

        # New customers: the first order at sign-up, then maybe a one-time drop-out.
        new = np.flatnonzero(self.signup_step == s)
        if new.size:
            self.alive[new] = True
            first_day = c.signup_day[new] + rng.exponential(0.01, new.size)
            first_day = np.minimum(first_day, t0 + length - 1e-4)
            paid = rng.random(new.size) < np.minimum(c.pay_prob[new], 0.9)
            self._add_orders(new, first_day, paid, True, None, record)
            # A bad first experience (a dispute on the first order) makes a one-time buyer.
            first_pain = self.pending_pressure[:3, new].sum(axis=0)
            p_drop = 1.0 - (1.0 - c.p_one_time[new]) * np.exp(-1.2 * first_pain)
            drop = rng.random(new.size) < p_drop
            d = new[drop]
            # Reason of a one-time buyer: price (sensitivity), the first order's disputes,
            # forgetting, changing needs, a competitor.
            w = np.stack(
                [
                    0.5 * c.price_sensitivity[d] + 0.05,
                    0.15 + 4.0 * self.pending_pressure[0, d],
                    0.15 + 4.0 * self.pending_pressure[1, d],
                    0.05 + 4.0 * self.pending_pressure[2, d],
                    0.25 * c.forgetfulness[d],
                    0.15 * c.needs_change[d],
                    0.5 * c.competitor_exposure[d],
                ]
            )
            self._kill(d, first_day[drop] + rng.uniform(0.01, 1.0, d.size), _pick(w, rng))

        # Customers who signed up before this step and are alive.
        act = np.flatnonzero(self.alive & (self.signup_step < s))
        if act.size == 0:
            return

        # 3. engaged customers start drifting
        eng = act[~self.drifting[act]]
        q = self.drift_rates(eng, s, self.last_paid_day[eng])
        qtot = q.sum(axis=0)
        start = rng.random(eng.size) < -np.expm1(-qtot * length)
        st = eng[start]
        self.drifting[st] = True
        self.drift_reason[st] = 4 + _pick(q[:, start], rng)
        self.drift_start[st] = t0 + length * rng.random(st.size)

        # 4. orders
        rate = self.purchase_rate(act, s) * np.where(self.drifting[act], DRIFT_RATE_FACTOR, 1.0)
        k = rng.poisson(rate * length)
        oc = np.repeat(act, k)
        if oc.size:
            oday = self._times_in_step(oc, s)
            paid = rng.random(oc.size) < c.pay_prob[oc]
            self._add_orders(oc, oday, paid, False, None, record)

        # 5. deaths from competing hazards
        h = self.sudden_hazards(act, s, self.pressure[:, act])
        dr = np.where(self.drifting[act], DRIFT_DEATH, 0.0)
        htot = h.sum(axis=0) + dr
        dies = rng.random(act.size) < -np.expm1(-htot * length)
        d = act[dies]
        if d.size:
            w = np.vstack([h[:, dies], dr[dies]])
            pick = _pick(w, rng)
            reason = np.where(pick == N_SUDDEN, self.drift_reason[d], pick).astype(np.int8)
            lo = np.maximum(t0, np.nan_to_num(self.last_paid_day[d], nan=t0))
            lo = np.minimum(lo, t0 + length - 1e-3)
            day = lo + (t0 + length - lo) * rng.random(d.size)
            self._kill(d, day, reason)
            self.drifting[d] = False

    def snapshot(self) -> HistorySnapshot:
        """Copy the latent state (call at the end of as_of)."""
        return HistorySnapshot(
            alive=self.alive.copy(),
            drifting=self.drifting.copy(),
            drift_start=self.drift_start.copy(),  # also kept for the dead: when they began to drift
            death_day=self.death_day.copy(),
            reason=self.reason.copy(),
            drift_reason=self.drift_reason.copy(),
            last_paid_day=self.last_paid_day.copy(),
            n_revived=self.n_revived.copy(),
        )

    def consent_at_end(self) -> tuple[np.ndarray, np.ndarray]:
        """Consent flags (n, 4: email, sms, phone, push) and do-not-contact (n,) after the
        history's opt-outs (R13; none in world 0)."""
        c = self.c
        consent = c.consent & np.isinf(self.opt_out_day)
        return consent, c.do_not_contact | np.isfinite(self.dnc_day)

    # ------------------------------------------------------------------ truth
    def no_paid_order_prob(self, idx: np.ndarray, first_step: int, n_steps: int) -> np.ndarray:
        """P(no paid order in the next ``n_steps`` steps | latent state now), exactly.

        Two-state recursion (engaged, drifting) of the same discrete model that ``step``
        simulates: pressure decays deterministically and recency grows deterministically
        on every path without a paid order, so nothing random is left out.
        """
        c = self.c
        a_e = np.where(self.drifting[idx], 0.0, 1.0)
        a_d = 1.0 - a_e
        dead = np.zeros(idx.size)
        pressure = self.pressure[:, idx].copy()
        pending = self.pending_pressure[:, idx].copy()
        last_paid = self.last_paid_day[idx]
        u = c.pay_prob[idx]
        for s in range(first_step, first_step + n_steps):
            length = self.cal.lengths[s]
            pressure = pressure * 0.5 ** (length / PRESSURE_HALF_LIFE) + pending
            pending = 0.0 * pending
            q = self.drift_rates(idx, s, last_paid).sum(axis=0)
            moved = a_e * -np.expm1(-q * length)
            a_e, a_d = a_e - moved, a_d + moved
            lam = self.purchase_rate(idx, s) * u * length
            a_e = a_e * np.exp(-lam)
            a_d = a_d * np.exp(-lam * DRIFT_RATE_FACTOR)
            h = self.sudden_hazards(idx, s, pressure).sum(axis=0)
            die_e = -np.expm1(-h * length)
            die_d = -np.expm1(-(h + DRIFT_DEATH) * length)
            dead += a_e * die_e + a_d * die_d
            a_e, a_d = a_e * (1 - die_e), a_d * (1 - die_d)
        return dead + a_e + a_d

    def expected_paid_orders(self, idx: np.ndarray, first_step: int, n_steps: int) -> np.ndarray:
        """Expected paid orders over the next steps (survival recursion; recency held at
        half the own cadence and future tickets ignored: an approximation)."""
        c = self.c
        a_e = np.where(self.drifting[idx], 0.0, 1.0)
        a_d = 1.0 - a_e
        pressure = self.pressure[:, idx] + self.pending_pressure[:, idx]
        u = c.pay_prob[idx]
        total = np.zeros(idx.size)
        for s in range(first_step, first_step + n_steps):
            length = self.cal.lengths[s]
            pressure = pressure * 0.5 ** (length / PRESSURE_HALF_LIFE)
            last_paid = self.cal.starts[s] - 0.5 / c.base_rate[idx]
            q = self.drift_rates(idx, s, last_paid).sum(axis=0)
            moved = a_e * -np.expm1(-q * length)
            a_e, a_d = a_e - moved, a_d + moved
            lam = self.purchase_rate(idx, s) * u * length
            total += a_e * lam + a_d * lam * DRIFT_RATE_FACTOR
            h = self.sudden_hazards(idx, s, pressure).sum(axis=0)
            a_e = a_e * np.exp(-h * length)
            a_d = a_d * np.exp(-(h + DRIFT_DEATH) * length)
        return total


# Local hour-of-day pattern of shopping (lunch and evening peaks).
_DIURNAL_W = np.array(
    [
        1.2,
        0.6,
        0.3,
        0.2,
        0.2,
        0.3,
        0.8,
        1.5,
        2.5,
        3.5,
        4.0,
        4.5,
        5.0,
        4.5,
        4.2,
        4.0,
        4.0,
        4.3,
        4.8,
        6.0,
        7.0,
        7.2,
        6.0,
        3.0,
    ]
)
DIURNAL = _DIURNAL_W / _DIURNAL_W.sum()


def _pick(weights: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Draw one row index per column of ``weights`` (k, m), in proportion to the weights."""
    cum = np.cumsum(weights, axis=0)
    u = rng.random(weights.shape[1]) * cum[-1]
    return np.minimum((cum < u).sum(axis=0), weights.shape[0] - 1).astype(np.int8)


def run(
    cust: Customers,
    cal: Calendar,
    rng: np.random.Generator,
    n_campaigns: int,
    control_share: float,
    progress: Callable[[str], None] | None = None,
    world: World | None = None,
) -> ShopDynamics:
    """Simulate the history with campaigns in the last year; stop at the end of as_of.
    Customers answer the campaigns as ``world`` says (default: world 0)."""
    sim = ShopDynamics(cust, cal, rng, world)
    n_hist = cal.n_history
    # Campaigns start spread over the last ~46 weeks, the last one >= 6 weeks before as_of.
    first = max(n_hist - 52, 1)
    camp_starts = {first + round(i * 46 / max(n_campaigns, 1)): i for i in range(n_campaigns)}
    active_steps: dict[int, int] = {}
    for s in range(n_hist):
        if s in camp_starts:
            sim.start_campaign(camp_starts[s], s, sample_share=0.5, control_share=control_share)
            active_steps = {s + CAMPAIGN_SPACING_STEPS * k: k for k in range(3)}
        if s in active_steps:
            sim.campaign_step(s, record=True)
        sim.step(s, record=True)
        if progress is not None and (s % 26 == 0 or s == n_hist - 1):
            progress(f"simulated week {s + 1}/{n_hist}")
    return sim
