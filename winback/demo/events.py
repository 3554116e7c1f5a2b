"""Engagement events (R1, R4, R14), generated after the behaviour is known.

Every customer's history splits into phases: *engaged* (from sign-up), *drifting* (from
the drift start) and *dead* (from death, until as_of). Each event type has a base rate
per phase, so the R1 signals come out of the data: drifting customers still put things
in the cart but the carts stop turning into orders, ``forgot`` leavers open fewer and
fewer newsletters over ~4 months before they leave, dead customers hardly open anything
or answer calls, and nobody joins campaigns or answers forum questions any more.

High-volume logs (newsletters, SMS, visits, carts, calls) cover the last
``event_history_days``; advocacy (referrals, reviews, forum, surveys, suggestions, NPS)
covers the whole history, so R4 value can be computed over the customer's lifetime.
"""

from __future__ import annotations

import numpy as np

from winback.demo import arrow
from winback.demo.calendar import Calendar
from winback.demo.dynamics import HistorySnapshot, ShopDynamics
from winback.demo.latent import Customers
from winback.demo.tables import OrderFacts
from winback.ingest.contract import EVENT_TYPES

# The contract's event types, in its order (the simulator indexes them by position).
T = {name: i for i, name in enumerate(EVENT_TYPES)}
FORGOT = 4
NEWSLETTER_EVERY_DAYS = 30.0
SMS_EVERY_DAYS = 90.0


class _Sink:
    """Collects event columns per type."""

    def __init__(self) -> None:
        self.cust: list[np.ndarray] = []
        self.day: list[np.ndarray] = []
        self.kind: list[np.ndarray] = []
        self.ref: list[np.ndarray] = []
        self.value: list[np.ndarray] = []

    def add(
        self,
        kind: int,
        cust: np.ndarray,
        day: np.ndarray,
        ref: np.ndarray | None = None,
        value: np.ndarray | None = None,
    ) -> None:
        # Compact dtypes: a million-customer shop has ~25 million events.
        self.cust.append(cust.astype(np.int32))
        self.day.append(day)
        self.kind.append(np.full(cust.size, kind, np.int8))
        self.ref.append(np.full(cust.size, -1, np.int32) if ref is None else ref.astype(np.int32))
        self.value.append(
            np.full(cust.size, np.nan, np.float32) if value is None else value.astype(np.float32)
        )


def _level(snap: HistorySnapshot, cust: np.ndarray, day: np.ndarray) -> np.ndarray:
    """Engagement level at ``day``: 1 engaged, fading while drifting, low when dead (R1)."""
    ds = snap.drift_start[cust]
    dd = snap.death_day[cust]
    forgot = snap.drift_reason[cust] == FORGOT
    drifting = ~np.isnan(ds) & (day >= ds)
    fade = np.where(forgot, np.clip(1.0 - (day - ds) / 120.0, 0.1, 1.0), 0.45)
    dead = ~np.isnan(dd) & (day >= dd)
    lvl = np.where(drifting, fade, 1.0)
    return np.where(dead, np.where(forgot | (snap.reason[cust] == FORGOT), 0.03, 0.1), lvl)


def _poisson_times(
    rng: np.random.Generator, cust: np.ndarray, a: np.ndarray, b: np.ndarray, rate: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    span = np.maximum(b - a, 0.0)
    k = rng.poisson(rate * span)
    c = np.repeat(cust, k)
    return c, np.repeat(a, k) + rng.random(c.size) * np.repeat(span, k)


def build_events(
    c: Customers,
    cal: Calendar,
    sim: ShopDynamics,
    snap: HistorySnapshot,
    facts: OrderFacts,
    rng: np.random.Generator,
    event_history_days: int,
) -> tuple[arrow.LazyTable, np.ndarray]:
    """The ``events`` table, sorted by time; also inquiries per customer (cost to serve)."""
    sink = _Sink()
    allc = np.arange(c.n)
    w0 = np.maximum(c.signup_day, -float(event_history_days))
    rate = c.base_rate

    # Visits, carts, wishlists, inquiries: rate ~ own cadence; thinned by the level (R1).
    specs = (
        (T["site_visit"], 2.5 * rate + 0.004, 0.0),
        (T["cart_add"], 1.3 * rate, 0.0),
        (T["wishlist_add"], 0.3 * rate, 0.0),
        (T["inquiry"], 0.12 * rate + 0.04 * c.is_high_attention, 0.02),
    )
    for kind, r, floor in specs:
        cc, tt = _poisson_times(rng, allc, w0, np.zeros(c.n), r)
        lvl = _level(snap, cc, tt)
        if kind == T["cart_add"]:
            # Drifting customers keep filling carts that no longer become orders (R1).
            lvl = np.where((lvl > 0.2) & (lvl < 1.0), 0.85, lvl)
        keep = rng.random(cc.size) < np.maximum(lvl, floor)
        sink.add(kind, cc[keep], tt[keep])

    # Newsletters (R13: at most monthly) to consenting customers; opens fade (R1).
    # R13: from a win-back opt-out (e-mail consent withdrawn or do-not-contact) on, no
    # more newsletters (opt-outs happen in drawn worlds only, winback.demo.world).
    mailable = c.consent[:, 0] & ~c.do_not_contact
    mail_until = np.minimum(sim.opt_out_day[:, 0], sim.dnc_day)
    for send in np.arange(-float(event_history_days), 0.0, NEWSLETTER_EVERY_DAYS) + 0.1:
        to = np.flatnonzero(mailable & (c.signup_day < send) & (mail_until > send))
        sink.add(T["email_sent"], to, np.full(to.size, send))
        p_open = c.email_affinity[to] * _level(snap, to, np.full(to.size, send))
        opened = to[rng.random(to.size) < p_open]
        open_day = send + rng.exponential(0.3, opened.size)
        sink.add(T["email_open"], opened, open_day)
        clicked = rng.random(opened.size) < 0.2
        sink.add(
            T["email_click"],
            opened[clicked],
            open_day[clicked] + rng.exponential(0.01, int(clicked.sum())),
        )
    textable = c.consent[:, 1] & ~c.do_not_contact
    text_until = np.minimum(sim.opt_out_day[:, 1], sim.dnc_day)
    for send in np.arange(-float(event_history_days), 0.0, SMS_EVERY_DAYS) + 0.4:
        to = np.flatnonzero(textable & (c.signup_day < send) & (text_until > send))
        sink.add(T["sms_sent"], to, np.full(to.size, send))

    # B2B account managers call about monthly; dead and drifting accounts stop answering.
    b2b = np.flatnonzero(c.is_b2b)
    cc, tt = _poisson_times(rng, b2b, w0[b2b], np.zeros(b2b.size), np.full(b2b.size, 1 / 30))
    answered = rng.random(cc.size) < 0.8 * _level(snap, cc, tt) ** 0.7
    sink.add(T["call_answered"], cc[answered], tt[answered])
    sink.add(T["call_unanswered"], cc[~answered], tt[~answered])

    # Advocacy over the whole life (R4): forum, suggestions, campaign participation.
    adv = c.advocacy
    for kind, r in (
        (T["forum_post"], 0.0015 * adv),
        (T["forum_answer"], 0.003 * adv),
        (T["suggestion"], 0.0006 * adv),
        (T["campaign_join"], 0.002 * (0.3 + adv)),
    ):
        cc, tt = _poisson_times(rng, allc, c.signup_day, np.zeros(c.n), r)
        keep = rng.random(cc.size) < np.where(_level(snap, cc, tt) >= 1.0, 1.0, 0.1)
        sink.add(kind, cc[keep], tt[keep])

    # Referrals that led to a purchase (R4): each referred sign-up names an earlier advocate.
    referred = np.flatnonzero(c.acquisition == 3)
    advocates = np.flatnonzero(c.is_advocate | (c.advocacy > 0.3))
    if advocates.size and referred.size:
        adv_sorted = advocates[np.argsort(c.signup_day[advocates], kind="stable")]
        before = np.searchsorted(c.signup_day[adv_sorted], c.signup_day[referred] - 1.0)
        has = before > 0
        pick = (rng.random(referred.size) * np.maximum(before, 1)).astype(np.int64)
        referrer = adv_sorted[pick]
        ref_day = c.signup_day[referred] - rng.uniform(0.05, 3.0, referred.size)
        sink.add(T["referral"], referrer[has], ref_day[has], ref=referred[has])

    # After-purchase feedback: reviews (1-5), surveys, NPS (0-10) (R14).
    bad = _orders_with_tickets(sim, facts)
    paid_rows = np.flatnonzero(facts.known_paid)
    oc = facts.cust[paid_rows]
    od = facts.day[paid_rows]
    is_bad = bad[paid_rows]
    p_review = 0.05 + 0.25 * c.is_advocate[oc]
    rv = rng.random(paid_rows.size) < p_review
    good_stars = rng.choice([3, 4, 5], paid_rows.size, p=[0.15, 0.35, 0.5])
    stars = np.where(is_bad, rng.choice([1, 2, 3], paid_rows.size, p=[0.5, 0.35, 0.15]), good_stars)
    sink.add(T["review"], oc[rv], od[rv] + rng.uniform(4, 20, int(rv.sum())), value=stars[rv])
    sv = rng.random(paid_rows.size) < 0.03
    sink.add(T["survey_response"], oc[sv], od[sv] + rng.uniform(1, 10, int(sv.sum())))
    nv = rng.random(paid_rows.size) < 0.08
    score = (
        rng.normal(8.0, 1.5, paid_rows.size)
        - 4.0 * is_bad
        + 1.5 * c.is_advocate[oc]
        - 1.5 * c.is_price_hunter[oc]
    )
    score = score - 2.0 * (_level(snap, oc, od) < 1.0)
    sink.add(
        T["nps"],
        oc[nv],
        od[nv] + rng.uniform(1, 7, int(nv.sum())),
        value=np.clip(np.round(score[nv]), 0, 10),
    )

    cust = np.concatenate(sink.cust)
    day = np.concatenate(sink.day)
    kinds = np.concatenate(sink.kind)
    ref = np.concatenate(sink.ref)
    value = np.concatenate(sink.value)
    del sink
    keep = (day < 0) & (day >= c.signup_day[cust])
    cust, day, kinds, ref, value = cust[keep], day[keep], kinds[keep], ref[keep], value[keep]
    order = np.lexsort((kinds, cust, day))
    cust, day, kinds, ref, value = cust[order], day[order], kinds[order], ref[order], value[order]
    m = cust.size
    no_ref = ref < 0
    inquiries = np.bincount(cust[kinds == T["inquiry"]], minlength=c.n)
    table = arrow.table(
        {
            "event_id": arrow.ids("E", np.arange(1, m + 1, dtype=np.int32), 10),
            "customer_id": arrow.ids("C", cust + 1, 7),
            "event_ts": arrow.timestamps_from(day, cal.day_to_datetime64),
            "event_type": arrow.labels(EVENT_TYPES, kinds),
            "ref_id": arrow.ids("C", np.where(no_ref, 0, ref) + 1, 7, mask=no_ref),
            "value": arrow.money(value),
        }
    )
    return table, inquiries


def _orders_with_tickets(sim: ShopDynamics, facts: OrderFacts) -> np.ndarray:
    """Order rows (sorted order) that got any ticket."""
    bad = np.zeros(facts.cust.size, dtype=bool)
    if sim.rec.ticket_order:
        bad[facts.old_to_new[np.concatenate(sim.rec.ticket_order)]] = True
    return bad
