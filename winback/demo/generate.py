"""Orchestrate the demo shop: latent drivers → history → truth → tables → files."""

from __future__ import annotations

import dataclasses
import resource
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from winback.demo import arrow
from winback.demo.calendar import Calendar, build_calendar
from winback.demo.dynamics import (
    ATTRIBUTION_DAYS,
    HistorySnapshot,
    ShopDynamics,
    run,
)
from winback.demo.events import build_events
from winback.demo.latent import Customers, draw_customers
from winback.demo.spec import ShopSpec
from winback.demo.tables import (
    CATEGORIES,
    FREE_SHIPPING_FROM,
    HANDLING_COST,
    INQUIRY_COST,
    SHIP_COST,
    TICKET_COST,
    OrderFacts,
    Products,
    build_campaign_contacts,
    build_customers,
    build_orders,
    build_payments,
    build_tickets,
    make_products,
)
from winback.demo.world import (
    AGE_BANDS,
    ALIVE_ROW,
    CHANNELS,
    HUNTER_ROW,
    REASONS,
    ROWS,
    VISIT,
    contact_response,
    draw_world,
    world_json,
)
from winback.demo.writer import write_table

TABLE_ORDER = (
    "customers",
    "products",
    "orders",
    "order_items",
    "events",
    "tickets",
    "payments",
    "campaign_contacts",
)


def generate_shop(
    spec: ShopSpec, out_dir: Path, *, progress: Callable[[str], None] | None = None
) -> dict[str, Any]:
    """Simulate the shop described by ``spec`` and write its files into ``out_dir``.

    Writes ``<table>.csv|parquet`` for every contract table, ``truth/*.parquet`` and
    ``truth/world.json`` (the response model of ``spec.world``, ``winback.demo.world``).
    Returns a summary: rows per table (``rows``), seconds per phase (``seconds``), the
    peak resident memory of the process (``peak_rss_mb``) and the files written.
    """
    say = progress or (lambda _msg: None)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    timings: dict[str, float] = {}
    t_start = clock = time.perf_counter()

    def lap(name: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        timings[name] = round(now - clock, 3)
        clock = now

    # Independent streams per stage, so that changing one stage leaves the others alone.
    streams = [np.random.default_rng(s) for s in np.random.SeedSequence(spec.seed).spawn(8)]
    cal = build_calendar(spec.as_of, spec.history_years, spec.horizon_days, streams[0])
    cust = draw_customers(
        spec.n_customers, cal.history_days, spec.b2b_share, spec.distribution_share, streams[1]
    )
    lap("latent")
    world = draw_world(spec.world)
    say(
        f"simulating {spec.n_customers:,} customers over {cal.n_history} weeks (world {spec.world})"
    )
    sim = run(
        cust, cal, streams[2], spec.n_campaigns, spec.control_share, progress=say, world=world
    )
    snap = sim.snapshot()
    lap("history")

    say("computing the truth (horizon recursion and forward simulation)")
    truth_state = _truth_before_horizon(sim, cal)
    paid_in_horizon, horizon_death_reason = _simulate_forward(sim, cal)
    lap("horizon")

    rows: dict[str, int] = {}
    files: list[str] = []

    def write(
        name: str, table: arrow.LazyTable, folder: Path = out_dir, fmt: str = spec.fmt
    ) -> None:
        # Written as soon as built, then dropped: keeps the peak memory down.
        say(f"writing {name} ({table.num_rows:,} rows)")
        path = folder / f"{name}.{fmt}"
        write_table(table, path)
        rows[name if folder == out_dir else f"truth/{name}"] = table.num_rows
        files.append(str(path))

    say("building tables")
    products = make_products(spec.n_customers, streams[3])
    write("products", products.table())
    orders, items, facts, _ = build_orders(
        cust, cal, sim, products, streams[4], spec.distribution_share, spec.flash_sale_share
    )
    # Consent and do-not-contact as they are at as_of, after the campaigns' opt-outs (R13).
    consent, do_not_contact = sim.consent_at_end()
    at_end = dataclasses.replace(cust, consent=consent, do_not_contact=do_not_contact)
    write("customers", build_customers(at_end, cal, facts))
    del at_end
    write("orders", orders)
    write("order_items", items)
    del orders, items
    tickets = build_tickets(cal, sim, facts, streams[5])
    write("tickets", tickets)
    payments, has_invoice = build_payments(cust, cal, facts, streams[5])
    write("payments", payments)
    contacts, contacts_truth, offer_truth = build_campaign_contacts(cal, sim, facts)
    write("campaign_contacts", contacts)
    del tickets, payments, contacts
    lap("tables")
    say("building events")
    events, _inquiries = build_events(
        cust, cal, sim, snap, facts, streams[6], spec.event_history_days
    )
    write("events", events)
    del events
    lap("events")

    say("writing truth")
    truth_dir = out_dir / "truth"
    truth = _customers_truth(
        cust,
        cal,
        sim,
        snap,
        facts,
        products,
        truth_state,
        horizon_death_reason,
        paid_in_horizon,
        has_invoice,
        streams[7],
    )
    write("customers_truth", truth, truth_dir, "parquet")
    state = _response_state(sim, snap)
    email = _email_response(sim, state)
    write("offer_response_truth", _offer_truth(sim, email, truth_state), truth_dir, "parquet")
    write("campaign_contacts_truth", contacts_truth, truth_dir, "parquet")
    if offer_truth is not None:
        write("campaign_offer_truth", offer_truth, truth_dir, "parquet")
    del email
    write(
        "response_truth",
        _response_truth(sim, state, truth_state, products),
        truth_dir,
        "parquet",
    )
    world_path = truth_dir / "world.json"
    world_path.write_text(world_json(world), encoding="utf-8")
    files.append(str(world_path))
    lap("truth")

    return {
        "rows": {name: rows[name] for name in TABLE_ORDER}
        | {k: v for k, v in rows.items() if k.startswith("truth/")},
        "seconds": timings | {"total": round(time.perf_counter() - t_start, 3)},
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "files": files,
        "as_of": spec.as_of.isoformat(),
        "horizon_days": spec.horizon_days,
        "world": world.number,
    }


def _truth_before_horizon(sim: ShopDynamics, cal: Calendar) -> dict[str, np.ndarray]:
    """Exact no-paid-order probabilities and expected orders from the state at as_of."""
    n = sim.c.n
    alive = np.flatnonzero(sim.alive)
    start = cal.n_history
    fut = cal.starts[start:]
    n_value_steps = int((fut < 365).sum())
    n_window_steps = max(int((fut < ATTRIBUTION_DAYS).sum()), 1)
    p_churn = np.ones(n)
    p_quiet_window = np.ones(n)
    exp_orders = np.zeros(n)
    p_churn[alive] = sim.no_paid_order_prob(alive, start, cal.horizon_steps)
    p_quiet_window[alive] = sim.no_paid_order_prob(alive, start, n_window_steps)
    exp_orders[alive] = sim.expected_paid_orders(alive, start, n_value_steps)
    return {"p_churn": p_churn, "p_quiet_window": p_quiet_window, "exp_orders": exp_orders}


def _simulate_forward(sim: ShopDynamics, cal: Calendar) -> tuple[np.ndarray, np.ndarray]:
    """Run the future (never written): whether each customer placed a paid order within
    the horizon, and the reason of deaths within it. Paid orders over the next 12 months
    accumulate in ``sim.future_paid``."""
    n = sim.c.n
    alive_before = sim.alive.copy()
    reason_in_horizon = np.full(n, -1, dtype=np.int8)
    paid_in_horizon = np.zeros(n, dtype=bool)
    start = cal.n_history
    for s in range(start, cal.starts.size):
        sim.step(s, record=False)
        if s == start + cal.horizon_steps - 1:
            paid_in_horizon = sim.last_paid_day >= 0  # NaN (never paid) compares False
            died = alive_before & ~sim.alive
            reason_in_horizon[died] = sim.reason[died]
    return paid_in_horizon, reason_in_horizon


def _expected_basket(c: Customers, products: Products) -> tuple[np.ndarray, np.ndarray]:
    """Expected subtotal of one order (before discount and shipping: what a percentage
    offer discounts) and its expected cost of goods."""
    k = len(CATEGORIES)
    cat_price = np.bincount(products.category, products.price, minlength=k) / np.maximum(
        products.cat_count, 1
    )
    cat_cost = np.bincount(products.category, products.cost, minlength=k) / np.maximum(
        products.cat_count, 1
    )
    fav_price = cat_price[c.fav_category].mean(axis=1)
    fav_cost = cat_cost[c.fav_category].mean(axis=1)
    price = 0.75 * fav_price + 0.25 * cat_price.mean()
    cost = 0.75 * fav_cost + 0.25 * cat_cost.mean()
    units = (1.0 + c.items_mean) * (1.0 + c.qty_mean)
    b2b_factor = np.where(c.is_b2b, 0.9, 1.0)
    return units * price * b2b_factor, units * cost


def _expected_order_margin(c: Customers, products: Products) -> np.ndarray:
    """Expected margin of one paid order, after discounts, shipping, handling, refunds and
    the cost to serve (tickets, inquiries): the R6 profitability of the customer."""
    subtotal, goods_cost = _expected_basket(c, products)
    p_disc = np.where(
        c.is_price_hunter, 0.97, np.minimum(0.06 + 0.55 * c.price_sensitivity + 0.035, 1.0)
    )
    depth = np.where(c.is_price_hunter, 0.3, 0.15)
    net = subtotal * (1.0 - p_disc * depth)
    fee = np.where(
        c.is_b2b, np.where(net >= 500, 0.0, 30.0), np.where(net >= FREE_SHIPPING_FROM, 0.0, 8.0)
    )
    ship = np.where(c.is_b2b, 25.0, SHIP_COST)
    gross = net - goods_cost + fee - ship - HANDLING_COST
    refund_p = 0.025 + 0.25 * c.product_risk + 0.2 * c.is_unprofitable_type
    tickets_per_order = (
        c.logistics_risk
        + c.product_risk
        + c.attitude_risk
        + 0.01
        + 0.004
        + 0.15 * c.is_price_hunter
    )
    inquiries_per_order = 0.12 + 0.04 * c.is_high_attention / c.base_rate
    return (
        gross
        - refund_p * (net + fee - ship)
        - TICKET_COST * tickets_per_order
        - INQUIRY_COST * inquiries_per_order
    )


def _customers_truth(
    c: Customers,
    cal: Calendar,
    sim: ShopDynamics,
    snap: HistorySnapshot,
    facts: OrderFacts,
    products: Products,
    state: dict[str, np.ndarray],
    horizon_reason: np.ndarray,
    paid_in_horizon: np.ndarray,
    has_invoice: np.ndarray,
    rng: np.random.Generator,
) -> arrow.LazyTable:
    """One row per customer: latent state at as_of, labels, values and planted types."""
    n = c.n
    order_margin = _expected_order_margin(c, products)
    k = sim.future_paid
    realised = np.where(k > 0, order_margin * rng.gamma(np.maximum(k, 1) * 4.0, 0.25), 0.0)
    reason = np.where(
        snap.alive, np.where(snap.drifting, snap.drift_reason, horizon_reason), snap.reason
    )
    latent_state = np.where(snap.alive, np.where(snap.drifting, 1, 0), 2)
    n_orders = np.bincount(facts.cust, minlength=n)
    death = snap.death_day
    drift = np.where(snap.alive | ~np.isnan(death), snap.drift_start, np.nan)
    return arrow.table(
        {
            "customer_id": arrow.ids("C", np.arange(1, n + 1), 7),
            "segment": arrow.labels(("b2c", "b2b"), c.is_b2b.astype(np.int64)),
            "is_alive_at_as_of": arrow.plain(snap.alive),
            "latent_state": arrow.labels(("engaged", "drifting", "dead"), latent_state),
            "death_ts": arrow.timestamps(
                np.where(
                    np.isnan(death),
                    np.datetime64("NaT"),
                    cal.day_to_datetime64(np.nan_to_num(death)),
                )
            ),
            "drift_start_ts": arrow.timestamps(
                np.where(
                    np.isnan(drift),
                    np.datetime64("NaT"),
                    cal.day_to_datetime64(np.nan_to_num(drift)),
                )
            ),
            "true_reason": arrow.labels(REASONS, np.maximum(reason, 0), mask=reason < 0),
            "p_churn_horizon": arrow.plain(state["p_churn"]),
            "churned_in_horizon": arrow.plain(~paid_in_horizon),
            "expected_paid_orders_12m": arrow.plain(state["exp_orders"]),
            "expected_order_margin": arrow.money(order_margin),
            "future_value_12m": arrow.money(state["exp_orders"] * order_margin),
            "realised_value_12m": arrow.money(realised),
            "is_price_hunter": arrow.plain(c.is_price_hunter),
            "is_chronic_late_payer": arrow.plain(c.is_chronic_late_payer & has_invoice),
            "is_high_attention_low_spend": arrow.plain(c.is_high_attention),
            "is_unprofitable": arrow.plain(order_margin < 0),
            "is_advocate": arrow.plain(c.is_advocate),
            "price_sensitivity": arrow.plain(c.price_sensitivity),
            "competitor_exposure": arrow.plain(c.competitor_exposure),
            "forgetfulness": arrow.plain(c.forgetfulness),
            "cadence_days": arrow.plain(c.cadence_days),
            "n_orders_history": arrow.plain(n_orders.astype(np.int64)),
            "n_revived_by_campaigns": arrow.plain(snap.n_revived.astype(np.int64)),
        }
    )


def _response_state(sim: ShopDynamics, snap: HistorySnapshot) -> dict[str, np.ndarray]:
    """What a contact's effect depends on, per customer at as_of (winback.demo.world): the
    response row, the age band, an open dispute (R7) and the win-back contacts sent
    within the fatigue window (R12, R13), with their ages in days."""
    c, world = sim.c, sim.world
    n = c.n
    idx = np.arange(n)
    row = np.where(snap.alive, ALIVE_ROW, np.maximum(snap.reason, 0))
    row = np.where(c.is_price_hunter, HUNTER_ROW, row)
    now = np.zeros(n)  # the end of as_of
    if sim.sent_cust:
        cust = np.concatenate(sim.sent_cust).astype(np.int64)
        sent = np.concatenate(sim.sent_day)
    else:
        cust, sent = np.zeros(0, np.int64), np.zeros(0)
    recent = (sent < 0.0) & (sent > -world.fatigue_window_days)
    cust, age = cust[recent], -sent[recent]
    order = np.lexsort((age, cust))
    return {
        "row": row,
        "age_band": sim.age_band,
        "open_dispute": sim.open_dispute(idx, now),
        "recent_contacts": sim.recent_contacts(idx, now),
        "recent_age_cust": cust[order],
        "recent_age_days": age[order],
    }


def _email_response(sim: ShopDynamics, state: dict[str, np.ndarray]) -> np.ndarray:
    """(n, offers) P(return caused by one e-mail now) per customer and offer."""
    return np.column_stack([_contact_now(sim, state, o, 0) for o in range(len(sim.world.offers))])


def _contact_now(
    sim: ShopDynamics,
    state: dict[str, np.ndarray],
    offer: int,
    channel: int,
    rows: slice = slice(None),
) -> np.ndarray:
    """P(return caused by one contact now with ``offer`` on ``channel``), per customer
    (of ``rows``)."""
    b2b = sim.c.is_b2b[rows]
    return contact_response(
        sim.world,
        reason_row=state["row"][rows],
        offer=np.full(b2b.size, offer),
        channel=np.full(b2b.size, channel),
        is_b2b=b2b,
        age_band=state["age_band"][rows],
        recent_contacts=state["recent_contacts"][rows],
        open_dispute=state["open_dispute"][rows],
        step=1,
    )


def _offer_truth(
    sim: ShopDynamics, email: np.ndarray, state: dict[str, np.ndarray]
) -> arrow.LazyTable:
    """P(paid order within the 14-day attribution window) if contacted now with each offer,
    and if not contacted (R8, R10: uplift = the difference). The contact is an e-mail (in
    world 0 the channel makes no difference)."""
    n, k = email.shape
    p_nc = 1.0 - state["p_quiet_window"]
    p_off = 1.0 - (1.0 - p_nc[:, None]) * (1.0 - email)
    cust = np.repeat(np.arange(n), k)
    return arrow.table(
        {
            "customer_id": arrow.ids("C", cust + 1, 7),
            "offer_type": arrow.labels(sim.world.offers, np.tile(np.arange(k), n)),
            "p_return_if_offered": arrow.plain(p_off.ravel()),
            "p_return_if_not_contacted": arrow.plain(np.repeat(p_nc, k)),
        }
    )


def _list_col(owner: np.ndarray, values: np.ndarray, n: int) -> arrow.Col:
    """A list<double> column: row i holds ``values[owner == i]`` (``owner`` sorted)."""
    offsets = np.concatenate([[0], np.cumsum(np.bincount(owner, minlength=n))]).astype(np.int32)

    def make(rows: slice) -> pa.Array:
        start, stop = int(offsets[rows.start]), int(offsets[rows.stop])
        return pa.ListArray.from_arrays(
            pa.array(offsets[rows.start : rows.stop + 1] - start),
            pa.array(values[start:stop], pa.float64()),
        )

    return arrow.Col(n, make)


def _response_truth(
    sim: ShopDynamics,
    state: dict[str, np.ndarray],
    horizon: dict[str, np.ndarray],
    products: Products,
) -> arrow.LazyTable:
    """One row per customer: the state a contact's effect depends on at as_of, the chance
    of returning within 14 days without a contact, and with one contact now per (offer,
    channel), baseline included (NaN: a visit to a B2C customer)."""
    c, world = sim.c, sim.world
    n = c.n
    p_nc = 1.0 - horizon["p_quiet_window"]
    basket, _ = _expected_basket(c, products)
    columns: dict[str, arrow.Col] = {
        "customer_id": arrow.ids("C", np.arange(1, n + 1), 7),
        "response_row": arrow.labels(ROWS, state["row"]),
        "is_b2b": arrow.plain(c.is_b2b),
        "age_band": arrow.labels(AGE_BANDS, state["age_band"]),
        "open_dispute_at_as_of": arrow.plain(state["open_dispute"]),
        "recent_contacts_at_as_of": arrow.plain(state["recent_contacts"].astype(np.int64)),
        "recent_contact_ages_days": _list_col(
            state["recent_age_cust"], state["recent_age_days"], n
        ),
        "expected_order_value": arrow.plain(basket),
        "p_return_if_not_contacted": arrow.plain(p_nc),
    }

    def p_return(offer: int, channel: int) -> arrow.Col:
        # Computed chunk by chunk as the file is written (55 columns of a 1M shop would
        # otherwise take ~0.4 GB at once).
        def make(rows: slice) -> pa.Array:
            u = _contact_now(sim, state, offer, channel, rows)
            p = 1.0 - (1.0 - p_nc[rows]) * (1.0 - u)
            if channel == VISIT:
                p = np.where(c.is_b2b[rows], p, np.nan)
            return pa.array(p)

        return arrow.Col(n, make)

    for o, offer in enumerate(world.offers):
        for ch, channel in enumerate(CHANNELS):
            columns[f"p_return__{offer}__{channel}"] = p_return(o, ch)
    return arrow.table(columns)
