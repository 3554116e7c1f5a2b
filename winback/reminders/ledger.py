"""The reminder ledger and the published reminder tables, written in one transaction.

``reminders.reminder_ledger`` has one row per order ever scheduled for a payment reminder
(status ``scheduled`` or ``cancelled``). dbt reads it to remind every order at most once;
this module applies the ``ledger_action`` that dbt decided for each order. A scheduled
row whose ``remind_at`` has passed is a reminder the sender has sent.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from winback.warehouse import connect

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

REMINDERS_DDL = """
create table if not exists marts.payment_reminders (
    order_id varchar not null primary key,
    customer_id varchar not null,
    remind_at timestamp not null,
    remind_at_local timestamp not null,
    customer_timezone varchar not null,
    channel varchar not null,
    customer_type varchar not null,
    template_id varchar not null,
    language varchar not null,
    rendered_text varchar not null,
    timing_rule varchar not null,
    is_flash_sale boolean not null,
    pay_deadline_at timestamp,
    decided_at timestamp not null
)
"""

SKIPS_DDL = """
create table if not exists marts.payment_reminder_skips (
    order_id varchar not null primary key,
    customer_id varchar not null,
    reason_code varchar not null,
    rule_id varchar not null,
    customer_type varchar not null,
    decided_at timestamp not null
)
"""


@dataclass(frozen=True)
class PublishCounts:
    """What one publish wrote."""

    reminders: int
    skips: int
    ledger_scheduled: int
    ledger_cancelled: int


def ensure_ledger(warehouse_path: Path) -> None:
    """Create the ledger if missing (dbt reads it; an empty one means a first run)."""
    warehouse_path.parent.mkdir(parents=True, exist_ok=True)
    with connect(warehouse_path) as con:
        con.execute("create schema if not exists reminders")
        con.execute(LEDGER_DDL)


def read_decisions(warehouse_path: Path) -> pd.DataFrame:
    """The decisions dbt made for this run, one row per pending order."""
    with connect(warehouse_path, read_only=False) as con:
        return con.execute(
            "select * from reminders.int_payment_reminders_decided order by order_id"
        ).df()


def read_ledger(warehouse_path: Path) -> pd.DataFrame:
    """The whole ledger, ordered by order id."""
    with connect(warehouse_path) as con:
        return con.execute("select * from reminders.reminder_ledger order by order_id").df()


def publish(warehouse_path: Path, decisions: pd.DataFrame, at: dt.datetime) -> PublishCounts:
    """Replace ``marts.payment_reminders`` and ``marts.payment_reminder_skips`` with this
    run's decisions and apply the ledger actions, all in one transaction (all or nothing).

    ``decisions`` is the decisions model plus a ``rendered_text`` column for reminders.
    """
    missing = {"order_id", "decision", "ledger_action", "rendered_text"} - set(decisions.columns)
    if missing:
        raise ValueError(f"decisions lack columns {sorted(missing)}")
    reminders = decisions[decisions["decision"] == "remind"]
    if reminders["rendered_text"].isna().any():
        raise ValueError("every reminder needs a rendered text before publishing")
    with connect(warehouse_path) as con:
        con.register("decisions_view", decisions)
        # Scanned five times below: convert the frame to DuckDB's format once.
        con.execute("create temp table decisions_frame as select * from decisions_view")
        con.unregister("decisions_view")
        con.execute("begin transaction")
        try:
            con.execute("create schema if not exists marts")
            con.execute("create schema if not exists reminders")
            # The two marts are replaced whole: dropped and re-created in the transaction
            # (deleting 100k primary-key rows cost 2.6 s at commit; a drop costs nothing).
            con.execute("drop table if exists marts.payment_reminders")
            con.execute("drop table if exists marts.payment_reminder_skips")
            for ddl in (REMINDERS_DDL, SKIPS_DDL, LEDGER_DDL):
                con.execute(ddl)
            con.execute(
                "insert into marts.payment_reminders select order_id, customer_id, "
                "remind_at, cast(timezone(customer_timezone, cast(remind_at as timestamptz)) "
                "as timestamp), customer_timezone, channel, customer_type, template_id, language, "
                "rendered_text, timing_rule, is_flash_sale, deadline_at, decided_at "
                "from decisions_frame where decision = 'remind' order by remind_at, order_id"
            )
            con.execute(
                "insert into marts.payment_reminder_skips select order_id, customer_id, "
                "reason_code, rule_id, customer_type, decided_at from decisions_frame "
                "where decision = 'skip' order by order_id"
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
