"""From the simulated behaviour to the merchant's tables (products, orders, order_items,
tickets, payments, customers, campaign_contacts), vectorised.

Conventions the pipeline can rely on (documented in the README by the lead):

* ``orders.paid_ts`` is when the shop learnt that the order was paid. Distribution-platform
  orders (R17) stay ``pending`` until the platform settles, 1-12 days later, although the
  buyer has already paid. B2B orders on invoice count as paid when the credit is accepted;
  the receivable itself lives in ``payments`` (R22).
* Unpaid own-store orders close after 48 hours (``pay_deadline_ts``), flash-sale orders
  after 30 minutes (R19), so ``pending`` orders sit in the last days before as_of. Some
  unpaid orders are followed by a paid re-order minutes later (R15) and some customers
  have two unpaid orders in a row (R16).
* ``campaign_contacts``: control rows (R10) carry the offer and step they *would* have
  received, ``channel = 'none'`` and ``contact_ts`` = the time they would have been
  contacted. ``converted_order_id`` is the first paid order placed within 14 days of the
  contact, for both groups, so treatment-minus-control conversion is the uplift. In
  world 0 treated rows use the customer's preferred channel; in drawn worlds (>= 1) a
  channel drawn uniformly from the consented ones (``visit`` for B2B accounts only).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from winback.demo import arrow
from winback.demo.calendar import Calendar
from winback.demo.dynamics import (
    ATTRIBUTION_DAYS,
    CHANNEL_NAMES,
    TICKET_KINDS,
    ShopDynamics,
)
from winback.demo.latent import (
    ACQUISITION,
    CITY_TIERS,
    CONTACT_CHANNELS,
    GENDERS,
    HOUSEHOLDS,
    OCCUPATIONS,
    REGIONS,
    Customers,
)
from winback.demo.world import CHANNELS as WORLD_CHANNELS
from winback.demo.world import REASONS

# name, is_essential (R3 necessary spend), median list price, gross margin rate
CATEGORIES: tuple[tuple[str, bool, float, float], ...] = (
    ("groceries", True, 9.0, 0.22),
    ("household", True, 16.0, 0.35),
    ("personal_care", True, 14.0, 0.45),
    ("baby_care", True, 28.0, 0.35),
    ("pet_supplies", True, 22.0, 0.35),
    ("office_supplies", True, 12.0, 0.40),
    ("apparel", False, 38.0, 0.55),
    ("accessories", False, 22.0, 0.60),
    ("toys", False, 26.0, 0.50),
    ("home_decor", False, 42.0, 0.55),
    ("electronics", False, 130.0, 0.18),
    ("beauty", False, 32.0, 0.60),
)
STYLE_TAGS = ("cute", "premium", "practical", "playful", "classic", "eco")
STATUSES = ("pending", "paid", "shipped", "delivered", "cancelled", "closed", "refunded")
SHIP_COST = 7.0  # what a parcel costs the shop (B2C); B2B pallets cost 25
HANDLING_COST = 4.0  # per order
TICKET_COST = 12.0  # cost to serve one ticket (R6)
INQUIRY_COST = 3.0
FREE_SHIPPING_FROM = 79.0
OWN_DEADLINE_DAYS = 2.0
FLASH_DEADLINE_DAYS = 30.0 / 1440.0


@dataclass
class Products:
    """The catalogue, sorted by category."""

    category: np.ndarray
    price: np.ndarray
    cost: np.ndarray
    style: np.ndarray
    cat_start: np.ndarray
    cat_count: np.ndarray

    def table(self) -> arrow.LazyTable:
        """The ``products`` table."""
        n = self.category.size
        essential = np.array([c[1] for c in CATEGORIES])[self.category]
        return arrow.table(
            {
                "product_id": arrow.ids("P", np.arange(1, n + 1), 6),
                "category": arrow.labels([c[0] for c in CATEGORIES], self.category),
                "is_essential": arrow.plain(essential),
                "style_tag": arrow.labels(STYLE_TAGS, self.style),
                "unit_cost": arrow.money(self.cost),
            }
        )


def make_products(n_customers: int, rng: np.random.Generator) -> Products:
    """A catalogue whose size grows with the shop (150-5000 products)."""
    n = int(np.clip(n_customers // 40, 150, 5000))
    k = len(CATEGORIES)
    category = np.sort(rng.integers(0, k, n))
    category[:k] = np.arange(k)  # every category has at least one product
    category = np.sort(category)
    median = np.array([c[2] for c in CATEGORIES])[category]
    margin = np.array([c[3] for c in CATEGORIES])[category]
    price = np.maximum(np.round(median * rng.lognormal(0.0, 0.5, n)) - 0.01, 0.99)
    cost = price * np.clip(1.0 - margin * rng.lognormal(0.0, 0.25, n), 0.2, 0.98)
    # Style depends a little on the category: toys and baby care are often "cute".
    style = rng.integers(0, len(STYLE_TAGS), n)
    cute = np.isin(category, [3, 8]) & (rng.random(n) < 0.5)
    style = np.where(cute, 0, style)
    style = np.where((category == 10) & (rng.random(n) < 0.5), 1, style)
    cat_count = np.bincount(category, minlength=k)
    cat_start = np.concatenate([[0], np.cumsum(cat_count)[:-1]])
    return Products(category, price, cost, style, cat_start, cat_count)


def ragged_range(starts: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Concatenation of ``arange(s, s + c)`` for every pair, without a Python loop."""
    total = int(counts.sum())
    if total == 0:
        return np.zeros(0, dtype=np.int64)
    ends = np.cumsum(counts)
    within = np.arange(total) - np.repeat(ends - counts, counts)
    return np.repeat(starts, counts) + within


@dataclass
class OrderFacts:
    """Per-order facts after sorting by time (index = order number - 1)."""

    cust: np.ndarray
    day: np.ndarray
    paid_sim: np.ndarray  # paid in the simulation (whether or not the shop knows yet)
    known_paid: np.ndarray  # paid_ts is set
    status: np.ndarray
    amount: np.ndarray
    margin: np.ndarray  # gross margin after discount, shipping and handling
    discount: np.ndarray
    source_dist: np.ndarray
    old_to_new: np.ndarray  # simulator order number → row


def build_orders(
    c: Customers,
    cal: Calendar,
    sim: ShopDynamics,
    prod: Products,
    rng: np.random.Generator,
    distribution_share: float,
    flash_share: float,
) -> tuple[arrow.LazyTable, arrow.LazyTable, OrderFacts, np.ndarray]:
    """``orders`` and ``order_items`` from the simulated orders; also per-order facts and
    the set of orders that have a product ticket (for refunds)."""
    r = sim.rec
    cust = np.concatenate(r.order_cust).astype(np.int64)
    day = np.concatenate(r.order_day)
    paid = np.concatenate(r.order_paid)
    drifting = np.concatenate(r.order_drifting)
    offer = np.concatenate(r.order_offer).astype(np.int64)
    n0 = cust.size
    tk_order = np.concatenate(r.ticket_order) if r.ticket_order else np.zeros(0, np.int64)
    tk_kind = np.concatenate(r.ticket_kind) if r.ticket_kind else np.zeros(0, np.int8)
    product_ticket = np.zeros(n0, dtype=bool)
    product_ticket[tk_order[tk_kind == 1]] = True

    dist = rng.random(n0) < c.distribution_propensity[cust]
    # R15: some unpaid own orders are re-placed and paid minutes later.
    reorder_src = np.flatnonzero(~paid & ~dist & (rng.random(n0) < 0.25))
    reorder_day = day[reorder_src] + rng.uniform(5, 90, reorder_src.size) / 1440.0
    ok = reorder_day < 0
    reorder_src, reorder_day = reorder_src[ok], reorder_day[ok]
    # R16: some recent unpaid orders come after an earlier unpaid one.
    twin_src = np.flatnonzero(~paid & ~dist & (day > -3.0) & (rng.random(n0) < 0.3))
    twin_day = day[twin_src] - rng.uniform(1, 20, twin_src.size) / 24.0
    copy_of = np.concatenate([np.full(n0, -1), reorder_src, twin_src])
    src = np.where(copy_of >= 0, copy_of, np.arange(copy_of.size))
    day = np.concatenate([day, reorder_day, twin_day])
    paid = np.concatenate([paid, np.ones(reorder_src.size, bool), np.zeros(twin_src.size, bool)])
    cust, dist, drifting, offer = cust[src], dist[src], drifting[src], offer[src]
    n = cust.size

    # Items of the simulator's orders; copies repeat their source's basket.
    base = np.arange(n0)
    n_items = 1 + rng.poisson(c.items_mean[cust[:n0]] * np.where(drifting[:n0], 0.7, 1.0))
    it_order = np.repeat(base, n_items)
    it_cust = cust[it_order]
    fav = c.fav_category[it_cust, rng.integers(0, 2, it_order.size)]
    cat = np.where(
        rng.random(it_order.size) < 0.75, fav, rng.integers(0, len(CATEGORIES), it_order.size)
    )
    product = prod.cat_start[cat] + (rng.random(it_order.size) * prod.cat_count[cat]).astype(
        np.int64
    )
    qty = 1 + rng.poisson(c.qty_mean[it_cust])
    unit_price = prod.price[product] * np.where(c.is_b2b[it_cust], 0.9, 1.0)
    item_start = np.concatenate([[0], np.cumsum(n_items)[:-1]])
    copies = np.flatnonzero(copy_of >= 0)
    cp_rows = ragged_range(item_start[copy_of[copies]], n_items[copy_of[copies]])
    cp_order = np.repeat(copies, n_items[copy_of[copies]])
    it_order = np.concatenate([it_order, cp_order])
    product = np.concatenate([product, product[cp_rows]])
    qty = np.concatenate([qty, qty[cp_rows]])
    unit_price = np.round(np.concatenate([unit_price, unit_price[cp_rows]]), 2)
    subtotal = np.bincount(it_order, qty * unit_price, minlength=n)
    cost = np.bincount(it_order, qty * prod.cost[product], minlength=n)

    # Discounts (R8/R9): price-sensitive customers and promotions; hunters almost always.
    step = np.clip(np.searchsorted(cal.starts, day, side="right") - 1, 0, cal.starts.size - 1)
    promo = cal.shop_promo[step]
    ps = c.price_sensitivity[cust]
    hunter = c.is_price_hunter[cust]
    p_disc = np.where(hunter, 0.97, 0.06 + 0.55 * ps + 0.35 * promo)
    depth = np.where(hunter, rng.uniform(0.2, 0.4, n), 0.05 + 0.25 * rng.beta(2, 3, n))
    has_disc = rng.random(n) < p_disc
    depth = np.where(has_disc, depth, 0.0)
    depth = np.select([offer == 2, offer == 3, offer == 4], [0.10, 0.20, 0.12], depth)
    depth[copies] = depth[copy_of[copies]]
    discount = np.round(depth * subtotal, 2)
    net = subtotal - discount
    b2b = c.is_b2b[cust]
    fee = np.where(
        b2b,
        np.where(net >= 500, 0.0, 30.0),
        np.where(net >= FREE_SHIPPING_FROM, 0.0, np.where(rng.random(n) < 0.5, 6.0, 10.0)),
    )
    fee = np.where(dist | (offer == 5), 0.0, fee)  # platforms ship themselves; FREESHIP offer
    fee[copies] = fee[copy_of[copies]]
    amount = net + fee
    ship_cost = np.where(dist, 0.0, np.where(b2b, 25.0, SHIP_COST))
    margin = net - cost + fee - ship_cost - HANDLING_COST

    # Life cycle and timestamps (R15-R19).
    flash = (~dist) & (~b2b) & (rng.random(n) < flash_share * (0.4 + 1.6 * ps))
    flash[copies] = False
    deadline = np.where(
        flash, day + FLASH_DEADLINE_DAYS, np.where(dist, np.nan, day + OWN_DEADLINE_DAYS)
    )
    delay = (
        np.where(rng.random(n) < 0.85, rng.exponential(20.0, n), rng.uniform(60, 1200, n)) / 1440.0
    )
    delay = np.where(
        flash, rng.uniform(1, 25, n) / 1440.0, np.minimum(delay, OWN_DEADLINE_DAYS * 0.95)
    )
    paid_day = day + delay
    settle = day + rng.uniform(1, 12, n)
    known = paid & (paid_day < 0) & np.where(dist, settle < 0, True)
    age = -paid_day
    refund_p = 0.025 + 0.25 * product_ticket[src] + 0.2 * c.is_unprofitable_type[cust]
    refunded = known & (age > 7) & (rng.random(n) < refund_p)
    status = np.select(
        [known & refunded, known & (age >= 4), known & (age >= 1), known],
        [6, 3, 2, 1],
        default=0,
    )
    unpaid_over = ~paid & np.where(dist, day + 14 < 0, deadline < 0)
    cancelled = rng.random(n) < np.where(flash, 0.1, 0.4)
    status = np.where(unpaid_over, np.where(cancelled, 4, 5), status)
    margin = np.where(status == 6, -HANDLING_COST - ship_cost, margin)
    margin = np.where(paid, margin, 0.0)

    order = np.argsort(day, kind="stable")
    old_to_new = np.empty(n, dtype=np.int64)
    old_to_new[order] = np.arange(n)
    ts = cal.day_to_datetime64(day)
    orders = arrow.table(
        {
            "order_id": arrow.ids("O", np.arange(1, n + 1), 9),  # numbered in time order
            "customer_id": arrow.ids("C", cust[order] + 1, 7),
            "order_ts": arrow.timestamps(ts[order]),
            "amount": arrow.money(amount[order]),
            "status": arrow.labels(STATUSES, status[order]),
            "paid_ts": arrow.timestamps(
                np.where(known, cal.day_to_datetime64(paid_day), np.datetime64("NaT"))[order]
            ),
            "source": arrow.labels(("own", "distribution"), dist[order].astype(np.int64)),
            "flash_sale": arrow.plain(flash[order]),
            "pay_deadline_ts": arrow.timestamps(
                np.where(
                    np.isnan(deadline),
                    np.datetime64("NaT"),
                    cal.day_to_datetime64(np.nan_to_num(deadline)),
                )[order]
            ),
            "discount_amount": arrow.money(discount[order]),
            "shipping_fee": arrow.money(fee[order]),
        }
    )
    it_sort = np.lexsort((product, old_to_new[it_order]))
    items = arrow.table(
        {
            "order_id": arrow.ids("O", old_to_new[it_order][it_sort] + 1, 9),
            "product_id": arrow.ids("P", product[it_sort] + 1, 6),
            "quantity": arrow.plain(qty[it_sort].astype(np.int64)),
            "unit_price": arrow.money(unit_price[it_sort]),
        }
    )
    facts = OrderFacts(
        cust=cust[order],
        day=day[order],
        paid_sim=paid[order],
        known_paid=known[order],
        status=status[order],
        amount=amount[order],
        margin=margin[order],
        discount=discount[order],
        source_dist=dist[order],
        old_to_new=old_to_new,
    )
    return orders, items, facts, product_ticket


def build_tickets(
    cal: Calendar, sim: ShopDynamics, facts: OrderFacts, rng: np.random.Generator
) -> arrow.LazyTable:
    """``tickets`` (R7 disputes) opened up to as_of."""
    r = sim.rec
    if not r.ticket_order:
        empty = np.zeros(0, np.int64)
        return _tickets_table(cal, empty, empty, empty, empty, np.zeros(0, bool), empty, empty)
    order_row = facts.old_to_new[np.concatenate(r.ticket_order)]
    kind = np.concatenate(r.ticket_kind).astype(np.int64)
    resolved = np.concatenate(r.ticket_resolved)
    opened = np.concatenate(r.ticket_day)
    keep = opened < 0  # tickets opened after as_of do not exist yet
    order_row, kind, resolved, opened = order_row[keep], kind[keep], resolved[keep], opened[keep]
    m = kind.size
    closed = np.where(
        resolved,
        opened + rng.exponential(np.where(kind == 2, 4.0, 1.5), m),
        np.where(rng.random(m) < 0.6, opened + rng.uniform(3, 20, m), np.nan),
    )
    closed = np.where(closed < 0, closed, np.nan)
    sat = np.where(
        resolved, rng.choice([3, 4, 5], m, p=[0.25, 0.4, 0.35]), rng.choice([1, 2], m, p=[0.6, 0.4])
    )
    sat_missing = rng.random(m) < 0.35
    sort = np.argsort(opened, kind="stable")
    cust = facts.cust[order_row]
    table = _tickets_table(
        cal,
        cust[sort],
        order_row[sort],
        opened[sort],
        closed[sort],
        resolved[sort],
        kind[sort],
        np.where(sat_missing, -1, sat)[sort],
    )
    return table


def _tickets_table(
    cal: Calendar,
    cust: np.ndarray,
    order_row: np.ndarray,
    opened: np.ndarray,
    closed: np.ndarray,
    resolved: np.ndarray,
    kind: np.ndarray,
    sat: np.ndarray,
) -> arrow.LazyTable:
    m = cust.size
    return arrow.table(
        {
            "ticket_id": arrow.ids("T", np.arange(1, m + 1), 8),
            "customer_id": arrow.ids("C", cust + 1, 7),
            "order_id": arrow.ids("O", order_row + 1, 9),
            "opened_ts": arrow.timestamps(cal.day_to_datetime64(opened)),
            "closed_ts": arrow.timestamps(
                np.where(
                    np.isnan(closed),
                    np.datetime64("NaT"),
                    cal.day_to_datetime64(np.nan_to_num(closed)),
                )
            ),
            "kind": arrow.labels(TICKET_KINDS, kind),
            "resolved": arrow.plain(np.asarray(resolved, dtype=bool)),
            "satisfaction": arrow.nullable_int(np.maximum(sat, 1), sat < 0),
        }
    )


def build_payments(
    c: Customers, cal: Calendar, facts: OrderFacts, rng: np.random.Generator
) -> tuple[arrow.LazyTable, np.ndarray]:
    """Receivables (R22): B2B orders on 30-day invoice, B2C instalments in three parts.

    Chronic late payers (R6) pay weeks after the due date; others mostly on time. Also
    returns which customers have any receivable.
    """
    ok = facts.known_paid & (facts.status != 6)
    b2b = c.is_b2b[facts.cust]
    invoice = ok & b2b & (rng.random(ok.size) < 0.75)
    instal = ok & ~b2b & (facts.amount >= 150) & (rng.random(ok.size) < 0.3)
    inv_rows = np.flatnonzero(invoice)
    ins_rows = np.flatnonzero(instal)
    rows = np.concatenate([inv_rows, np.repeat(ins_rows, 3)])
    part = np.concatenate([np.zeros(inv_rows.size, np.int64), np.tile(np.arange(3), ins_rows.size)])
    n_parts = np.concatenate([np.ones(inv_rows.size), np.full(3 * ins_rows.size, 3.0)])
    amount_total = facts.amount[rows]
    share = np.round(amount_total / n_parts, 2)
    amount = np.where(part == 2, amount_total - 2 * share, share)
    # Due dates: invoice date + 30 days; instalments at order, +30, +60 days (end of day).
    order_day = facts.day[rows]
    due = np.floor(order_day) + np.where(n_parts == 1, 30.0, 30.0 * part) + 1 - 1 / 86400
    late = c.is_chronic_late_payer[facts.cust[rows]]
    m = rows.size
    delay = np.where(
        late,
        rng.gamma(2.0, 18.0, m),
        np.where(rng.random(m) < 0.88, -rng.uniform(0, 10, m), rng.gamma(1.0, 6.0, m)),
    )
    paid = np.maximum(due + delay, order_day + 0.01)
    paid = np.where(paid < 0, paid, np.nan)
    sort = np.lexsort((part, rows))
    rows, due, paid, amount = rows[sort], due[sort], paid[sort], amount[sort]
    has_invoice = np.bincount(facts.cust[rows], minlength=c.n) > 0
    table = arrow.table(
        {
            "invoice_id": arrow.ids("I", np.arange(1, m + 1), 8),
            "customer_id": arrow.ids("C", facts.cust[rows] + 1, 7),
            "order_id": arrow.ids("O", rows + 1, 9),
            "due_ts": arrow.timestamps(cal.day_to_datetime64(due)),
            "paid_ts": arrow.timestamps(
                np.where(
                    np.isnan(paid), np.datetime64("NaT"), cal.day_to_datetime64(np.nan_to_num(paid))
                )
            ),
            "amount": arrow.money(amount),
        }
    )
    return table, has_invoice


def build_customers(c: Customers, cal: Calendar, facts: OrderFacts) -> arrow.LazyTable:
    """The ``customers`` table (plus ``timezone``, ``email`` and ``phone``, allowed extra
    columns)."""
    spend = np.bincount(facts.cust, np.where(facts.known_paid, facts.amount, 0.0), minlength=c.n)
    tier = np.digitize(spend, [200.0, 1000.0, 5000.0])
    return arrow.table(
        {
            "customer_id": arrow.ids("C", np.arange(1, c.n + 1), 7),
            "signup_ts": arrow.timestamps(cal.day_to_datetime64(c.signup_day)),
            "birth_year": arrow.plain(c.birth_year),
            "gender": arrow.labels(GENDERS, c.gender),
            "region": arrow.labels([r[0] for r in REGIONS], c.region),
            "city_tier": arrow.labels(CITY_TIERS, c.city_tier),
            "occupation": arrow.labels(OCCUPATIONS, c.occupation),
            "household": arrow.labels(
                HOUSEHOLDS, np.where(c.is_b2b, 0, c.household), mask=c.is_b2b
            ),
            "acquisition_channel": arrow.labels(ACQUISITION, c.acquisition),
            "member_tier": arrow.labels(("basic", "silver", "gold", "platinum"), tier),
            "consent_email": arrow.plain(c.consent[:, 0]),
            "consent_sms": arrow.plain(c.consent[:, 1]),
            "consent_phone": arrow.plain(c.consent[:, 2]),
            "consent_push": arrow.plain(c.consent[:, 3]),
            "preferred_channel": arrow.labels(CONTACT_CHANNELS, c.preferred_channel),
            "preferred_contact_hour": arrow.plain(c.contact_hour),
            "do_not_contact": arrow.plain(c.do_not_contact),
            "segment": arrow.labels(("b2c", "b2b"), c.is_b2b.astype(np.int64)),
            "timezone": arrow.labels([r[1] for r in REGIONS], c.region),
            # Contact fields a sender needs (extra columns, exported by `winback export`):
            # example.com addresses and numbers under +999, which no country uses.
            "email": arrow.ids("c", np.arange(1, c.n + 1), 7, suffix="@example.com"),
            "phone": arrow.ids("+999 ", np.arange(1, c.n + 1), 9),
        }
    )


def build_campaign_contacts(
    cal: Calendar, sim: ShopDynamics, facts: OrderFacts
) -> tuple[arrow.LazyTable, arrow.LazyTable, arrow.LazyTable | None]:
    """Past win-back contacts; ``converted_order_id`` = first paid order within 14 days.

    Also returns their truth: the customer's latent state and reason at contact time, the
    chance that the contact itself brought them back, and whether it did; and, in drawn
    worlds (>= 1), the counterfactual truth of every first contact
    (``campaign_offer_truth``: one row per step-1 contact, control rows included):
    ``p_return_if_not_contacted``, P(a paid order within the 14-day window without a
    contact), and ``p_return__<OFFER>__<channel>`` = 1 − (1 − p0)(1 − u), u the world's
    :func:`~winback.demo.world.contact_response` of that first contact, NaN on channels
    the customer could not be reached on then (the campaign drew the channel uniformly
    among the others). A policy's truth-valued result on a past campaign follows from it.
    """
    r = sim.rec
    if not r.contact_cust:
        z = np.zeros(0, np.int64)
        cust = day = camp = step = ctrl = offer = chan = reason = z
        p_back = np.zeros(0)
        back = np.zeros(0, bool)
    else:
        cust = np.concatenate(r.contact_cust).astype(np.int64)
        day = np.concatenate(r.contact_day)
        camp = np.concatenate(r.contact_campaign).astype(np.int64)
        step = np.concatenate(r.contact_step).astype(np.int64)
        ctrl = np.concatenate(r.contact_control)
        offer = np.concatenate(r.contact_offer).astype(np.int64)
        chan = np.concatenate(r.contact_channel).astype(np.int64)
        reason = np.concatenate(r.contact_reason).astype(np.int64)
        p_back = np.concatenate(r.contact_p)
        back = np.concatenate(r.contact_back)
    converted = first_paid_order_within(facts, cust, day, ATTRIBUTION_DAYS)
    sort = np.lexsort((cust, step, camp))
    m = cust.size
    # Campaign id: WB<number>-<start date>, e.g. WB01-2025-07-14.
    start_day = np.zeros(max(int(camp.max(initial=-1)) + 1, 1))
    np.minimum.at(start_day, camp, np.floor(day))
    start_dates = cal.day_to_datetime64(start_day).astype("datetime64[D]").astype(str)
    names = [f"WB{i + 1:02d}-{d}" for i, d in enumerate(start_dates)]
    conv = converted[sort]
    contact_ids = arrow.ids("K", np.arange(1, m + 1), 8)
    truth = arrow.table(
        {
            "contact_id": contact_ids,
            "customer_id": arrow.ids("C", cust[sort] + 1, 7),
            "is_alive_at_contact": arrow.plain(reason[sort] < 0),
            "true_reason_at_contact": arrow.labels(
                REASONS, np.maximum(reason[sort], 0), mask=reason[sort] < 0
            ),
            "p_return_caused_by_contact": arrow.plain(p_back[sort]),
            "returned_because_of_contact": arrow.plain(back[sort]),
        }
    )
    table = arrow.table(
        {
            "contact_id": contact_ids,
            "customer_id": arrow.ids("C", cust[sort] + 1, 7),
            "campaign_id": arrow.labels(names, camp[sort]),
            "contact_ts": arrow.timestamps(cal.day_to_datetime64(day[sort])),
            "channel": arrow.labels(CHANNEL_NAMES, chan[sort]),
            "offer_code": arrow.labels(sim.world.offers, offer[sort]),
            "group": arrow.labels(("treatment", "control"), ctrl[sort].astype(np.int64)),
            "step": arrow.plain(step[sort]),
            "converted_order_id": arrow.ids("O", np.maximum(conv, 0) + 1, 9, mask=conv < 0),
        }
    )
    offer_truth = None
    if r.contact_u_all:
        first = sort[step[sort] == 1]
        p0 = np.concatenate(r.contact_p_anyway)[first]
        u_all = np.concatenate(r.contact_u_all)[first]
        columns: dict[str, arrow.Col] = {
            "contact_id": arrow.ids("K", np.flatnonzero(step[sort] == 1) + 1, 8),
            "customer_id": arrow.ids("C", cust[first] + 1, 7),
            "campaign_id": arrow.labels(names, camp[first]),
            "p_return_if_not_contacted": arrow.plain(p0),
        }
        n_ch = len(WORLD_CHANNELS)
        for o, offer_code in enumerate(sim.world.offers):
            for ch, channel in enumerate(WORLD_CHANNELS):
                u = u_all[:, o * n_ch + ch]
                columns[f"p_return__{offer_code}__{channel}"] = arrow.plain(
                    1.0 - (1.0 - p0) * (1.0 - u)
                )
        offer_truth = arrow.table(columns)
    return table, truth, offer_truth


def first_paid_order_within(
    facts: OrderFacts, cust: np.ndarray, day: np.ndarray, window: float
) -> np.ndarray:
    """Row of each (customer, day)'s first known-paid order in [day, day + window), else -1."""
    paid_rows = np.flatnonzero(facts.known_paid)
    # Orders are sorted by day; sort the paid ones by (customer, day) for a searchsorted.
    key_rows = paid_rows[np.lexsort((facts.day[paid_rows], facts.cust[paid_rows]))]
    o_cust, o_day = facts.cust[key_rows], facts.day[key_rows]
    scale = 1e5  # days are far below this; (customer, day) as one sortable float key
    o_key = o_cust * scale + (o_day + 5e4)
    q_key = cust * scale + (day + 5e4)
    pos = np.searchsorted(o_key, q_key, side="left")
    pos_c = np.minimum(pos, max(o_key.size - 1, 0))
    hit = (
        (pos < o_key.size) & (o_cust[pos_c] == cust) & (o_day[pos_c] < day + window)
        if o_key.size
        else np.zeros(cust.size, bool)
    )
    return np.where(hit, key_rows[pos_c] if o_key.size else -1, -1)
