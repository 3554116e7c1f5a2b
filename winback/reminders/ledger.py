"""The reminder ledger and the rendered texts, written in one transaction.

``reminders.reminder_ledger`` has one row per order ever scheduled for a payment reminder
(status ``scheduled`` or ``cancelled``). dbt reads it (``stg_reminders__reminder_ledger``)
to remind every order at most once; this module applies the ``ledger_action`` that dbt
decided for each order. Whether a scheduled row was sent is read from the sender's
contact log or, without one, from its time having passed (setting
``reminders.sent_rule``; ``int_reminder_ledger_sent``). The published tables (``marts.payment_reminders``, ``…_skips``,
``…_outcomes``) are dbt models built right after (``dbt_project/models/marts/reminders``).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import pandas as pd

from winback.warehouse import Warehouse, connect

LEDGER_DDL = """
create table if not exists reminders.reminder_ledger (
    order_id varchar not null,
    customer_id varchar not null,
    status varchar not null,          -- scheduled | cancelled
    remind_at timestamp not null,     -- UTC
    channel varchar not null,
    customer_type varchar not null,
    template_id varchar not null,
    language varchar not null,
    rendered_text varchar not null,
    scheduled_at timestamp not null,  -- the run (its --at) that scheduled it
    updated_at timestamp not null,    -- the run that last changed it
    cancel_reason varchar
)
"""

TEXTS_DDL = """
create or replace table reminders.reminder_texts (
    order_id varchar not null primary key,
    rendered_text varchar not null
)
"""


@dataclass(frozen=True)
class PublishCounts:
    """What one publish wrote."""

    reminders: int
    skips: int
    ledger_scheduled: int
    ledger_cancelled: int


def read_decisions(warehouse: Warehouse) -> pd.DataFrame:
    """The decisions dbt made for this run, one row per pending order."""
    with connect(warehouse) as con:
        return con.execute(
            "select * from intermediate.int_payment_reminders_decided order by order_id"
        ).df()


def publish(warehouse: Warehouse, decisions: pd.DataFrame, at: dt.datetime) -> PublishCounts:
    """Write this run's reminder texts (``reminders.reminder_texts``, which dbt joins into
    ``marts.payment_reminders``) and apply the ledger actions, in one transaction (all or
    nothing). The ledger is the commit point of a run: once it says scheduled, a rerun
    keeps that reminder as it is.

    ``decisions`` is the decisions model plus a ``rendered_text`` column for reminders.
    """
    missing = {"order_id", "decision", "ledger_action", "rendered_text"} - set(decisions.columns)
    if missing:
        raise ValueError(f"decisions lack columns {sorted(missing)}")
    reminders = decisions[decisions["decision"] == "remind"]
    if reminders["rendered_text"].isna().any():
        raise ValueError("every reminder needs a rendered text before publishing")
    with connect(warehouse) as con:
        con.register("decisions_view", decisions)
        # Scanned four times below: convert the frame to DuckDB's format once.
        con.execute("create temp table decisions_frame as select * from decisions_view")
        con.unregister("decisions_view")
        con.execute("begin transaction")
        try:
            con.execute("create schema if not exists reminders")
            con.execute(LEDGER_DDL)
            con.execute(TEXTS_DDL)
            con.execute(
                "insert into reminders.reminder_texts select order_id, rendered_text "
                "from decisions_frame where decision = 'remind' order by order_id"
            )
            # Newly scheduled (or re-scheduled after a cancellation): replace the row.
            con.execute(
                "delete from reminders.reminder_ledger where order_id in "
                "(select order_id from decisions_frame where ledger_action = 'schedule')"
            )
            con.execute(
                "insert into reminders.reminder_ledger select order_id, customer_id, "
                "'scheduled', remind_at, channel, customer_type, template_id, language, "
                "rendered_text, ?, ?, null from decisions_frame "
                "where ledger_action = 'schedule' order by order_id",
                [at, at],
            )
            # Scheduled but not sent, and a rule now says skip: the sender must not send it.
            con.execute(
                "update reminders.reminder_ledger set status = 'cancelled', updated_at = ?, "
                "cancel_reason = d.reason_code from decisions_frame d "
                "where reminder_ledger.order_id = d.order_id and d.ledger_action = 'cancel'",
                [at],
            )
            con.execute("commit")
        except Exception:
            con.execute("rollback")
            raise
        finally:
            con.execute("drop table if exists decisions_frame")
    actions = decisions["ledger_action"].value_counts()
    return PublishCounts(
        reminders=len(reminders),
        skips=int((decisions["decision"] == "skip").sum()),
        ledger_scheduled=int(actions.get("schedule", 0)),
        ledger_cancelled=int(actions.get("cancel", 0)),
    )
