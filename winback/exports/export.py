"""Write what a sender needs, one file per channel, and publish the folder atomically.

Win-back (``export_winback``): the rows of ``marts.winback_contact_plan`` for one as-of
date, read from the analysts' published file (what the nightly run published, never a
half-finished run), joined with the customer's contact fields (the extra columns of the
merchant's customers file named by setting ``export.contact_columns``, read from the
warehouse's raw layer; they are never copied into the analysts' tables) and the rendered
message. Only contacted customers are in the plan: the control group is never exported
(R10). Payment reminders (``export_reminders``): the rows of ``marts.payment_reminders``
whose time has not passed, with their rendered text.

Layout: ``<export.dir>/winback/<as-of>/<channel>.<csv|parquet>`` (or
``reminders/<decided-at>/``) plus ``manifest.json`` (rows, customers, sha256 and size of
every file). The folder is written under a hidden temporary name, every file fsynced,
then renamed into place: a reader sees the whole folder or none of it, and an export
killed half-way leaves only the hidden folder, which the next export removes.

Past contacts: a production export (no as-of date given) leaves out contacts whose time
has passed and counts them (``skipped_past``); an export of a given date is a replay and
keeps the schedule that date had, marked ``"replay": true`` in the manifest.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Literal

import duckdb
import pandas as pd

from winback.config import Settings
from winback.exports.history import exported_rows, record_export
from winback.exports.render import render_messages
from winback.publish import fsync_path, open_published, published_location
from winback.stages import drill_point
from winback.tables import DuckDBTables, TableStore
from winback.warehouse import table_exists

Format = Literal["csv", "parquet"]
MANIFEST = "manifest.json"
PLAN_TABLE = "marts.winback_contact_plan"
REMINDER_TABLE = "marts.payment_reminders"

# Columns of a win-back export file, in order (contact fields follow customer_id).
WINBACK_COLUMNS = [
    "contact_key",
    "customer_id",
    "channel",
    "step",
    "planned_contacts",
    "contact_at_utc",
    "contact_at_local",
    "contact_time_zone",
    "language",
    "offer_code",
    "offer_type",
    "offer_description",
    "discount_depth",
    "offer_validity_days",
    "offer_valid_until",
    "message",
    "stop_rule",
    "campaign_id",
    "as_of_date",
]
REMINDER_COLUMNS = [
    "contact_key",
    "order_id",
    "customer_id",
    "channel",
    "contact_at_utc",
    "contact_at_local",
    "contact_time_zone",
    "customer_type",
    "template_id",
    "language",
    "message",
    "pay_deadline_at",
    "decided_at",
]


class ExportError(RuntimeError):
    """Nothing to export from, or a date that was never published; says what to do."""


class ExportAfterPublishError(ExportError):
    """The nightly run published its list, but handing it to senders as files failed."""


@dataclass(frozen=True)
class ExportFile:
    channel: str
    file: str
    rows: int
    customers: int
    sha256: str
    bytes: int


@dataclass
class ExportReport:
    """One published export folder and what is in it."""

    kind: str  # "winback" or "reminders"
    folder: Path
    key: str  # the as-of date, or the reminder run's time
    replay: bool
    created_at: str
    files: list[ExportFile] = field(default_factory=list)
    skipped_past: int = 0
    contact_fields: dict[str, list[str]] = field(default_factory=dict)
    missing_contact_fields: dict[str, list[str]] = field(default_factory=dict)

    @property
    def rows(self) -> int:
        return sum(f.rows for f in self.files)

    def manifest(self) -> dict[str, object]:
        return {
            "kind": self.kind,
            "key": self.key,
            "replay": self.replay,
            "created_at": self.created_at,
            "rows": self.rows,
            "skipped_past": self.skipped_past,
            "files": [asdict(f) for f in self.files],
            "contact_fields": self.contact_fields,
            "missing_contact_fields": self.missing_contact_fields,
        }

    def summary_lines(self) -> list[str]:
        """What the CLI and the run summary print."""
        what = "win-back contacts" if self.kind == "winback" else "payment reminders"
        head = f"{self.rows:,} {what} in {len(self.files)} file(s): {self.folder}"
        if self.replay:
            head += " (replay: the schedule as planned then; times may be past)"
        lines = [head]
        lines += [f"  {f.file}: {f.rows:,} rows, {f.customers:,} customers" for f in self.files]
        if self.skipped_past:
            lines.append(
                f"  {self.skipped_past:,} {what} already past were left out "
                "(to export a past list as planned, give its --as-of date: a replay)"
            )
        for channel, missing in self.missing_contact_fields.items():
            lines.append(
                f"  no contact field for {channel} in the customers file "
                f"(looked for {', '.join(missing)}; setting export.contact_columns)"
            )
        return lines


# --- reading -------------------------------------------------------------------------------


@contextmanager
def _published(settings: Settings) -> Iterator[duckdb.DuckDBPyConnection]:
    """What the last run published, either engine (``winback.publish.open_published``)."""
    with open_published(settings) as con:
        if con is None:
            raise ExportError(
                f"nothing published yet ({published_location(settings)} does not exist): "
                "run `winback nightly` first"
            )
        yield con


def read_control_group(settings: Settings, as_of: dt.date) -> pd.DataFrame:
    """The campaign's control group of ``as_of`` (selected, held out, R10)."""
    with _published(settings) as con:
        return con.execute(
            "select customer_id, campaign_id, contact_1_offer from marts.winback_list "
            "where as_of_date = ? and is_selected and is_control_group order by customer_id",
            [as_of],
        ).df()


def read_plan(settings: Settings, as_of: dt.date | None) -> tuple[dt.date, pd.DataFrame]:
    """The planned contacts of ``as_of`` (default: the newest published list)."""
    path = published_location(settings)
    with _published(settings) as con:
        if not table_exists(con, PLAN_TABLE):
            raise ExportError(
                f"{path} has no {PLAN_TABLE} (published by an older version): run "
                "`winback nightly` again"
            )
        dates = [
            r[0]
            for r in con.execute(
                "select distinct as_of_date from marts.winback_list order by 1"
            ).fetchall()
        ]
        if not dates:
            raise ExportError(f"{path} holds no win-back list: run `winback nightly` first")
        if as_of is None:
            as_of = dates[-1]
        elif as_of not in dates:
            shown = ", ".join(d.isoformat() for d in dates[-5:])
            raise ExportError(
                f"no win-back list as of {as_of} was published (newest: {shown}); run "
                f"`winback nightly --as-of {as_of}` first"
            )
        plan = con.execute(
            f"select * from {PLAN_TABLE} where as_of_date = ? order by channel, contact_key",
            [as_of],
        ).df()
    return as_of, plan


def contact_fields(
    settings: Settings, customer_ids: pd.Series, store: TableStore | None = None
) -> tuple[pd.DataFrame, set[str]]:
    """Every contact column of setting ``export.contact_columns`` present in the
    customers file (raw layer of the working warehouse, or of ``store``: the Spark
    engine's tables), for ``customer_ids``."""
    wanted = sorted({c for cols in settings.export.contact_columns.values() for c in cols})
    empty = pd.DataFrame({"customer_id": pd.Series(dtype="string")})
    if customer_ids.empty:
        return empty, set()
    # Read-write like every reader of the working warehouse: dbt (in this process) may
    # still hold it open, and DuckDB refuses a second access mode.
    tables = store or DuckDBTables(settings.warehouse)
    try:
        if not tables.has_table("raw.customers"):
            return empty, set()
        # Every column, picked here: a header may need quoting, and the engines quote
        # differently (the customers file has a few columns).
        frame = tables.read(
            "select c.* from raw.customers as c inner join export_ids as i "
            "on c.customer_id = i.customer_id",
            {"export_ids": pd.DataFrame({"customer_id": customer_ids.unique()})},
        )
        present = [c for c in frame.columns if c in wanted]
        frame = frame[["customer_id", *present]]
    except duckdb.IOException as exc:
        raise ExportError(
            f"the warehouse {settings.warehouse.path} is busy (another run is writing it): "
            f"run the export again when it has finished ({exc})"
        ) from exc
    return frame, set(present)


# --- writing -------------------------------------------------------------------------------


def _utc_text(values: pd.Series) -> pd.Series:
    stamps = pd.to_datetime(values)
    return stamps.dt.strftime("%Y-%m-%dT%H:%M:%SZ").where(stamps.notna(), None)


def _local_text(values: pd.Series) -> pd.Series:
    stamps = pd.to_datetime(values)
    return stamps.dt.strftime("%Y-%m-%dT%H:%M:%S").where(stamps.notna(), None)


def _write_file(frame: pd.DataFrame, path: Path, fmt: Format) -> None:
    if fmt == "parquet":
        frame.to_parquet(path, index=False)
    else:
        frame.to_csv(path, index=False, encoding="utf-8", lineterminator="\n")
    fsync_path(path)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def publish_folder(
    by_channel: dict[str, pd.DataFrame], report: ExportReport, fmt: Format
) -> ExportReport:
    """Write one file per channel and the manifest under a hidden name, then rename the
    folder into ``report.folder`` (replacing an earlier export of the same key)."""
    final = report.folder
    final.parent.mkdir(parents=True, exist_ok=True)
    for stray in final.parent.glob(f".{final.name}.*"):  # left by a killed export
        shutil.rmtree(stray, ignore_errors=True)
    tmp = final.parent / f".{final.name}.tmp-{os.getpid()}"
    tmp.mkdir()
    for channel, frame in sorted(by_channel.items()):
        name = f"{channel}.{fmt}"
        path = tmp / name
        _write_file(frame, path, fmt)
        report.files.append(
            ExportFile(
                channel=channel,
                file=name,
                rows=len(frame),
                customers=int(frame["customer_id"].nunique()),
                sha256=_sha256(path),
                bytes=path.stat().st_size,
            )
        )
        drill_point("export:file-written")
    manifest = tmp / MANIFEST
    manifest.write_text(json.dumps(report.manifest(), indent=2) + "\n", encoding="utf-8")
    fsync_path(manifest)
    fsync_path(tmp)
    old = final.parent / f".{final.name}.old-{os.getpid()}"
    if final.exists():
        os.replace(final, old)
    os.replace(tmp, final)
    fsync_path(final.parent)
    shutil.rmtree(old, ignore_errors=True)
    return report


def _with_contact_fields(
    rows: pd.DataFrame, fields: pd.DataFrame, present: set[str], settings: Settings
) -> tuple[dict[str, pd.DataFrame], dict[str, list[str]], dict[str, list[str]]]:
    """Split ``rows`` by channel, each with the contact columns its channel names."""
    by_channel: dict[str, pd.DataFrame] = {}
    used: dict[str, list[str]] = {}
    missing: dict[str, list[str]] = {}
    for channel, part in rows.groupby("channel", sort=True):
        names = settings.export.contact_columns.get(str(channel), [])
        columns = [c for c in names if c in present]
        used[str(channel)] = columns
        if not columns:
            missing[str(channel)] = names or ["(none configured)"]
        by_channel[str(channel)] = part.merge(
            fields[["customer_id", *columns]], on="customer_id", how="left"
        )
    return by_channel, used, missing


def _order(frame: pd.DataFrame, columns: list[str], contact: list[str]) -> pd.DataFrame:
    head = columns[:2] if columns[1] == "customer_id" else columns[:3]
    rest = [c for c in columns if c not in head]
    return frame[[*head, *contact, *rest]].reset_index(drop=True)


def export_winback(
    settings: Settings,
    *,
    as_of: dt.date | None = None,
    replay: bool | None = None,
    now: dt.datetime | None = None,
    out_dir: Path | None = None,
    fmt: Format | None = None,
    record: bool = True,
    store: TableStore | None = None,
) -> ExportReport:
    """Export the planned contacts of ``as_of`` (default: the newest published list).

    ``replay`` (default: whether ``as_of`` was given) keeps contacts whose time has
    passed; otherwise they are left out and counted. ``now`` is naive UTC (default: now).
    With ``record``, the contacts exported and the campaign's control group become
    history (:mod:`winback.exports.history`). The caller holds the run lock (the CLI
    takes it; the nightly flow already has it). ``store``: where the raw customers are
    when not in the DuckDB warehouse (the Spark engine's nightly run)."""
    if store is None and settings.engine == "spark":
        raise ExportError(
            "on the Spark engine the win-back list is exported by the nightly run itself "
            "(the contact fields are in that run's raw tables, which last only as long as "
            "its Spark session): keep setting export.after_nightly on (the default) and run "
            "`winback nightly`"
        )
    explicit = as_of is not None
    as_of, plan = read_plan(settings, as_of)
    replay = explicit if replay is None else replay
    now = now or dt.datetime.now(dt.UTC).replace(tzinfo=None)
    skipped = 0
    if not replay and not plan.empty:
        past = pd.to_datetime(plan["contact_at"]) < pd.Timestamp(now)
        skipped = int(past.sum())
        plan = plan[~past]
    plan = plan.assign(message=render_messages(plan, settings.shop))
    plan = plan.assign(
        contact_at_utc=_utc_text(plan["contact_at"]),
        contact_at_local=_local_text(plan["contact_at_local"]),
        offer_valid_until=pd.to_datetime(plan["offer_valid_until"]).dt.strftime("%Y-%m-%d"),
        as_of_date=as_of.isoformat(),
    )[WINBACK_COLUMNS]
    fields, present = contact_fields(settings, plan["customer_id"], store)
    by_channel, used, missing = _with_contact_fields(plan, fields, present, settings)
    report = ExportReport(
        kind="winback",
        folder=(out_dir or settings.export.dir) / "winback" / as_of.isoformat(),
        key=as_of.isoformat(),
        replay=replay,
        created_at=dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        skipped_past=skipped,
        contact_fields=used,
        missing_contact_fields=missing,
    )
    ordered = {ch: _order(f, WINBACK_COLUMNS, used[ch]) for ch, f in by_channel.items()}
    report = publish_folder(ordered, report, fmt or settings.export.format)
    if record:
        rows = exported_rows(
            plan,
            read_control_group(settings, as_of),
            as_of,
            dt.datetime.now(dt.UTC).replace(tzinfo=None),
        )
        record_export(settings, rows)
    return report


def export_reminders(
    settings: Settings,
    *,
    at: dt.datetime | None = None,
    out_dir: Path | None = None,
    fmt: Format | None = None,
) -> ExportReport:
    """Export the decided payment reminders whose time is at or after ``at`` (naive
    UTC; default now; a given ``at`` is a replay), from the newest reminder run."""
    path = published_location(settings)
    with _published(settings) as con:
        if not table_exists(con, REMINDER_TABLE):
            raise ExportError(
                f"{path} holds no payment reminders: run `winback payment-reminders` first"
            )
        reminders = con.execute(f"select * from {REMINDER_TABLE} order by order_id").df()
    replay = at is not None
    at = at or dt.datetime.now(dt.UTC).replace(tzinfo=None)
    decided = pd.to_datetime(reminders["decided_at"]).max() if len(reminders) else pd.NaT
    key = (decided if pd.notna(decided) else pd.Timestamp(at)).strftime("%Y-%m-%dT%H%M")
    past = pd.to_datetime(reminders["remind_at"]) < pd.Timestamp(at)
    due = reminders[~past]
    due = due.assign(
        contact_key="rm-" + due["order_id"].astype(str),
        contact_at_utc=_utc_text(due["remind_at"]),
        contact_at_local=_local_text(due["remind_at_local"]),
        contact_time_zone=due["customer_timezone"],
        message=due["rendered_text"],
        pay_deadline_at=_utc_text(due["pay_deadline_at"]),
        decided_at=_utc_text(due["decided_at"]),
    )[REMINDER_COLUMNS]
    fields, present = contact_fields(settings, due["customer_id"])
    by_channel, used, missing = _with_contact_fields(due, fields, present, settings)
    report = ExportReport(
        kind="reminders",
        folder=(out_dir or settings.export.dir) / "reminders" / key,
        key=key,
        replay=replay,
        created_at=dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        skipped_past=int(past.sum()),
        contact_fields=used,
        missing_contact_fields=missing,
    )
    ordered = {ch: _order(f, REMINDER_COLUMNS, used[ch]) for ch, f in by_channel.items()}
    return publish_folder(ordered, report, fmt or settings.export.format)
