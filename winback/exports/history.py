"""Own campaigns become history (issue 17): every win-back export is recorded, with the
campaign's control group, in ``history.winback_exported_contacts`` of the working
warehouse (a schema no load replaces, like the reminder ledger). dbt reads it next to the
merchant's ``campaign_contacts`` (``stg_history__exported_contacts`` →
``int_campaign_contacts``), so the response learner, the frequency cap (R13) and the
campaign measurement see the contacts Winback handed to senders; conversions are
attributed as for ``campaign_contacts`` (the first paid order within the attribution
window, setting ``response.window_days``).

A contact is recorded once however often it is exported (rows are replaced by contact
id), and a later export that leaves out past contacts removes none of the earlier ones.

On the Spark engine the history stays in the same local DuckDB file (Spark's tables last
one session); :func:`copy_history` hands it to the night's Spark catalogue before dbt
builds, so both engines' models read the same contacts.
"""

from __future__ import annotations

import datetime as dt

import pandas as pd

from winback.config import Settings
from winback.tables import TableStore
from winback.warehouse import connect, fetch_frame, table_exists

TABLE = "history.winback_exported_contacts"
DDL = f"""
create table if not exists {TABLE} (
    contact_id varchar not null,      -- the export's contact key (…-ctl for control)
    customer_id varchar not null,
    campaign_id varchar not null,
    contact_ts timestamp not null,    -- UTC; control: the day after the as-of date
    channel varchar not null,         -- 'none' for the control group (R10)
    offer_code varchar,
    "group" varchar not null,         -- treatment | control
    step integer not null,
    as_of_date date not null,
    exported_at timestamp not null
)
"""


def exported_rows(
    contacts: pd.DataFrame, control: pd.DataFrame, as_of: dt.date, exported_at: dt.datetime
) -> pd.DataFrame:
    """The rows one export adds: its contacts (treatment) and the campaign's control
    group, who would have had the first step's offer the day after ``as_of``."""
    key_date = as_of.strftime("%Y%m%d")
    treatment = pd.DataFrame(
        {
            "contact_id": contacts["contact_key"],
            "customer_id": contacts["customer_id"],
            "campaign_id": contacts["campaign_id"],
            "contact_ts": pd.to_datetime(contacts["contact_at_utc"], utc=True).dt.tz_convert(None),
            "channel": contacts["channel"],
            "offer_code": contacts["offer_code"],
            "group": "treatment",
            "step": contacts["step"].astype(int),
        }
    )
    held_out = pd.DataFrame(
        {
            "contact_id": "wb-" + key_date + "-" + control["customer_id"] + "-ctl",
            "customer_id": control["customer_id"],
            "campaign_id": control["campaign_id"],
            "contact_ts": pd.Timestamp(as_of + dt.timedelta(days=1)),
            "channel": "none",
            "offer_code": control["contact_1_offer"],
            "group": "control",
            "step": 1,
        }
    )
    rows = pd.concat([treatment, held_out], ignore_index=True)
    return rows.assign(as_of_date=pd.Timestamp(as_of), exported_at=pd.Timestamp(exported_at))


def record_export(settings: Settings, rows: pd.DataFrame) -> int:
    """Add ``rows`` to the history, replacing rows of the same contact ids (one
    transaction)."""
    with connect(settings.warehouse) as con:
        con.execute("create schema if not exists history")
        con.execute(DDL)
        con.execute("begin transaction")
        try:
            con.register("exported_rows", rows)
            con.execute(
                f"delete from {TABLE} where contact_id in (select contact_id from exported_rows)"
            )
            con.execute(
                f"insert into {TABLE} select contact_id, customer_id, campaign_id, contact_ts, "
                f'channel, offer_code, "group", step, as_of_date, exported_at from exported_rows'
            )
            con.execute("commit")
        except Exception:
            con.execute("rollback")
            raise
    return len(rows)


def read_history(settings: Settings) -> pd.DataFrame | None:
    """Every recorded row (None before the first export)."""
    with connect(settings.warehouse) as con:
        if not table_exists(con, TABLE):
            return None
        return fetch_frame(con, f"select * from {TABLE} order by contact_id")


def copy_history(settings: Settings, store: TableStore) -> int:
    """Put the history of the working warehouse into ``store`` (the Spark engine's tables)
    under the same name, for dbt's ``stg_history__exported_contacts``; with none recorded
    yet, ``store`` has none either (the model then reads an empty relation). Returns the
    rows copied."""
    rows = read_history(settings)
    if rows is None:
        store.drop_table(TABLE)
        return 0
    # As recorded: dbt's staging model casts every column to the engine's type.
    return store.replace(TABLE, rows, "select * from frame")
