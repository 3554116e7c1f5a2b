"""The merchant's assumptions: offer catalogue, channels, discount caps and priors (R8–R12).

The decisions rest on four tables of domain assumptions. Their shipped defaults are the
dbt seeds in ``dbt_project/seeds/winback/`` (documented in ``_winback__seeds.yml``); a
merchant replaces any of them without editing the package by putting a CSV file of the
same columns in the assumptions folder (setting ``decisions.assumptions_dir``, default
``<data_dir>/assumptions`` when that folder exists):

============================  ===============================  ===========================
file                          replaces the seed                key
============================  ===============================  ===========================
``offer_catalogue.csv``       ``winback_offer_catalogue``      offer_code
``channels.csv``              ``winback_channels``             channel
``discount_caps.csv``         ``winback_discount_caps``        value_tier
``reason_offer_priors.csv``   ``winback_reason_offer_priors``  reason, offer_code
============================  ===============================  ===========================

Each file is optional and replaces the whole default table. :func:`load_assumptions`
checks every file (columns, values, keys, and the references between the tables: reasons,
channels, offers) and reports every problem with the file, the data row (from 1, after the
header; blank lines are skipped and not counted, as in ingestion) and the column; one bad
file raises :class:`AssumptionsError` before anything is written, so the run stops before
anything is published. Valid files are written to the working warehouse's ``assumptions``
schema, one table per file, in one transaction (a table whose file is gone is dropped);
the dbt staging models ``stg_assumptions__*`` read the merchant's table when it exists and
the seed otherwise (macro ``source_or_ref``), and the decision models read only those.

The report also lists the offer codes the merchant's campaign history
(``raw.campaign_contacts``) uses that the catalogue in effect does not know: the decisions
can neither learn from nor offer them until the merchant adds them to the catalogue (the
same list is the mart ``marts.winback_unknown_offers``).
"""

from __future__ import annotations

import csv
import datetime as dt
import difflib
import io
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import pandas as pd

from winback.config import DBT_PROJECT_DIR, Settings, env_name
from winback.ingest.contract import CHANNELS
from winback.tables import TableStore
from winback.warehouse import connect, table_exists

SCHEMA = "assumptions"
SEEDS_DIR = DBT_PROJECT_DIR / "seeds" / "winback"
REASONS_SEED = SEEDS_DIR / "winback_reasons.csv"
MAX_DISCOUNT_DEPTH = 0.9  # R9: a "discount" deeper than this is a give-away, not an offer
VALUE_TIERS = (1, 2, 3, 4, 5)  # R5
CONSENT_FLAGS = ("email", "sms", "phone", "push")  # customers.consent_<flag> (R13)
# Channels a contact can go through: the ones campaign_contacts.channel can record.
CONTACT_CHANNELS = tuple(c for c in CHANNELS if c != "none")
ANY_REASON = "any"
LIST_SEPARATOR = "|"
MAX_PROBLEMS_SHOWN = 50

Kind = Literal["text", "number", "integer"]
SQL_TYPES: dict[Kind, str] = {"text": "varchar", "number": "double", "integer": "integer"}
Value = str | float | int | None
Row = dict[str, Value]


@dataclass(frozen=True)
class Column:
    """One column of an assumptions file: its kind, whether a value is required, and the
    range a number must lie in (``why`` says where the bound comes from)."""

    name: str
    kind: Kind = "text"
    required: bool = True
    low: float | None = None
    high: float | None = None
    low_exclusive: bool = False
    why: str = ""


@dataclass(frozen=True)
class AssumptionTable:
    """One assumptions table: the merchant's file, the seed it replaces, its columns (the
    seed's, in order) and its key."""

    name: str
    seed: str
    columns: tuple[Column, ...]
    key: tuple[str, ...]

    @property
    def file_name(self) -> str:
        return f"{self.name}.csv"

    @property
    def seed_path(self) -> Path:
        return SEEDS_DIR / f"{self.seed}.csv"

    @property
    def qualified_name(self) -> str:
        return f"{SCHEMA}.{self.name}"

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]


OFFER_CATALOGUE = AssumptionTable(
    "offer_catalogue",
    "winback_offer_catalogue",
    (
        Column("offer_code"),
        Column("offer_type"),
        Column("description", required=False),
        Column(
            "discount_depth",
            "number",
            low=0.0,
            high=MAX_DISCOUNT_DEPTH,
            why="a share of the order value, R9",
        ),
        Column("fixed_cost", "number", low=0.0, why="a cost in the shop currency"),
        Column("eligible_reasons"),
        Column("min_tier", "integer", low=1, high=5, why="a value tier, R5"),
        Column("channels"),
        Column("validity_days", "integer", low=1, high=365, why="days, R9 time limit"),
    ),
    ("offer_code",),
)
CHANNEL_TABLE = AssumptionTable(
    "channels",
    "winback_channels",
    (
        Column("channel"),
        Column("cost_per_contact", "number", low=0.0, why="a cost in the shop currency"),
        Column("consent_flag"),
        Column("description", required=False),
        Column(
            "prior_effect",
            "number",
            low=0.0,
            high=10.0,
            low_exclusive=True,
            why="a multiplier on a contact's effect, email = 1, R11",
        ),
    ),
    ("channel",),
)
DISCOUNT_CAPS = AssumptionTable(
    "discount_caps",
    "winback_discount_caps",
    (
        Column("value_tier", "integer", low=1, high=5, why="a value tier, R5"),
        Column(
            "max_discount_depth",
            "number",
            low=0.0,
            high=MAX_DISCOUNT_DEPTH,
            why="a share of the order value, R9",
        ),
    ),
    ("value_tier",),
)
REASON_OFFER_PRIORS = AssumptionTable(
    "reason_offer_priors",
    "winback_reason_offer_priors",
    (
        Column("reason"),
        Column("offer_code"),
        Column(
            "prior_return_probability",
            "number",
            low=0.0,
            high=1.0,
            why="a probability: the uplift over no contact, R8",
        ),
    ),
    ("reason", "offer_code"),
)
TABLES: tuple[AssumptionTable, ...] = (
    OFFER_CATALOGUE,
    CHANNEL_TABLE,
    DISCOUNT_CAPS,
    REASON_OFFER_PRIORS,
)
TABLES_BY_FILE = {t.file_name: t for t in TABLES}


# --- problems -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Problem:
    """What is wrong, and where: the file, the data row (from 1) and the column, each
    when it applies."""

    file: str
    message: str
    row: int | None = None
    column: str | None = None

    def __str__(self) -> str:
        where = self.file
        if self.row is not None:
            where += f", row {self.row}"
        if self.column is not None:
            where += f", column {self.column}"
        return f"{where}: {self.message}"


class AssumptionsError(ValueError):
    """The merchant's assumption files are invalid; the message lists every problem with
    its file, row and column. Raised before anything is written."""

    def __init__(self, directory: Path | None, problems: Sequence[Problem]):
        self.directory = directory
        self.problems = list(problems)
        where = f" in {directory}" if directory else ""
        lines = [
            f"The merchant's assumption files{where} have {len(self.problems)} problem(s); "
            "none was applied:"
        ]
        lines += [f"  - {p}" for p in self.problems[:MAX_PROBLEMS_SHOWN]]
        if len(self.problems) > MAX_PROBLEMS_SHOWN:
            lines.append(f"  … and {len(self.problems) - MAX_PROBLEMS_SHOWN} more")
        lines.append(
            "Each file has the columns of the shipped default it replaces "
            "(dbt_project/seeds/winback/); remove a file to use the default."
        )
        super().__init__("\n".join(lines))


# --- the report -------------------------------------------------------------------------------


@dataclass(frozen=True)
class TableSource:
    """Where one assumptions table comes from in this run."""

    table: str
    source: Literal["merchant", "default"]
    path: Path
    rows: int


@dataclass(frozen=True)
class UnknownOffer:
    """An offer code of the campaign history that the catalogue in effect lacks."""

    offer_code: str
    contacts: int
    campaigns: int
    last_contact_date: dt.date | None


@dataclass
class AssumptionsReport:
    """What :func:`load_assumptions` found: the folder read, where each table comes from,
    the history's offer codes missing from the catalogue, and catalogue offers whose priors
    are derived by the seed's rule (no prior given for some reason)."""

    directory: Path | None
    tables: dict[str, TableSource]
    unknown_offers: list[UnknownOffer] = field(default_factory=list)
    derived_prior_offers: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def merchant_tables(self) -> list[str]:
        return [name for name, t in self.tables.items() if t.source == "merchant"]

    def summary(self) -> str:
        """One line for the run's log."""
        own = self.merchant_tables()
        text = (
            f"assumptions: merchant's {', '.join(own)} from {self.directory}; defaults for the rest"
            if own
            else "assumptions: the shipped defaults (no merchant files)"
        )
        if self.unknown_offers:
            codes = ", ".join(u.offer_code for u in self.unknown_offers)
            text += f"; campaign history uses offer codes not in the catalogue: {codes}"
        return text

    def to_markdown(self) -> str:
        lines = [
            "### Assumptions in effect (R8–R12)",
            "",
            f"Folder: `{self.directory}`" if self.directory else "Folder: none (shipped defaults)",
            "",
            "| table | source | rows |",
            "|---|---|---:|",
        ]
        for t in self.tables.values():
            source = f"merchant: `{t.path.name}`" if t.source == "merchant" else "default (seed)"
            lines.append(f"| {t.table} | {source} | {t.rows:,} |")
        if self.unknown_offers:
            lines += [
                "",
                "Offer codes in the campaign history that the catalogue lacks "
                "(`marts.winback_unknown_offers`; add them to offer_catalogue.csv to use them):",
                "",
                "| offer_code | contacts | campaigns | last contact |",
                "|---|---:|---:|---|",
            ]
            for u in self.unknown_offers:
                lines.append(
                    f"| {u.offer_code} | {u.contacts:,} | {u.campaigns:,} | "
                    f"{u.last_contact_date or ''} |"
                )
        if self.derived_prior_offers:
            lines += [
                "",
                "Offers without a prior for every reason (derived by the seed's rule): "
                + ", ".join(self.derived_prior_offers),
            ]
        lines += [f"- {n}" for n in self.notes]
        return "\n".join(lines)


# --- reading and checking one file ----------------------------------------------------------------


def _closest(name: str, choices: Iterable[str]) -> str:
    found = difflib.get_close_matches(name, sorted(choices), n=1, cutoff=0.6)
    return f" (did you mean {found[0]!r}?)" if found else ""


def _number(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def _convert(column: Column, text: str) -> tuple[Value, str | None]:
    """The typed value of one cell, or the problem with it."""
    if text == "":
        if column.required:
            return None, "missing value"
        return None, None
    if column.kind == "text":
        return text, None
    number = _number(text)
    if number is None:
        return None, f"{text!r} is not a number"
    value: Value = number
    if column.kind == "integer":
        if not number.is_integer():
            return None, f"{text!r} is not a whole number"
        value = int(number)
    too_low = column.low is not None and (
        number <= column.low if column.low_exclusive else number < column.low
    )
    too_high = column.high is not None and number > column.high
    if too_low or too_high:
        bounds = []
        if column.low is not None:
            bounds.append(
                f"above {column.low:g}" if column.low_exclusive else f"at least {column.low:g}"
            )
        if column.high is not None:
            bounds.append(f"at most {column.high:g}")
        why = f" ({column.why})" if column.why else ""
        return None, f"{text} is out of range: must be {' and '.join(bounds)}{why}"
    return value, None


def read_table(path: Path, table: AssumptionTable, label: str) -> tuple[list[Row], list[Problem]]:
    """The typed rows of one assumptions CSV and its problems of shape, type, range and
    key (``label``: how problems name the file)."""
    problems: list[Problem] = []
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        return [], [Problem(label, "is not UTF-8 text; save it as CSV UTF-8")]
    records = [r for r in csv.reader(io.StringIO(text, newline="")) if any(c.strip() for c in r)]
    if not records:
        return [], [
            Problem(label, f"is empty; it needs a header row: {','.join(table.column_names)}")
        ]
    header = [h.strip() for h in records[0]]
    expected = table.column_names
    if len(header) == 1 and ";" in header[0]:
        return [], [Problem(label, "is separated by ';'; save it as CSV with commas")]
    for name in header:
        if header.count(name) > 1:
            problems.append(Problem(label, "appears more than once in the header", column=name))
        elif name not in expected:
            problems.append(
                Problem(
                    label,
                    f"unknown column{_closest(name, expected)}; the columns are "
                    + ", ".join(expected),
                    column=name or "(empty)",
                )
            )
    for name in expected:
        if name not in header:
            problems.append(Problem(label, "missing column", column=name))
    if problems:
        return [], sorted(set(problems), key=lambda p: (p.column or "", p.message))
    data = records[1:]
    if not data:
        return [], [
            Problem(label, "has a header but no data rows; remove the file to use the default")
        ]
    rows: list[Row] = []
    first_seen: dict[tuple[Value, ...], int] = {}
    for number, record in enumerate(data, start=1):
        if len(record) != len(header):
            problems.append(
                Problem(
                    label,
                    f"has {len(record)} fields, the header has {len(header)} "
                    "(a comma inside a value needs double quotes)",
                    row=number,
                )
            )
            continue
        cells = {name: cell.strip() for name, cell in zip(header, record, strict=True)}
        row: Row = {}
        bad = False
        for column in table.columns:
            value, problem = _convert(column, cells[column.name])
            if problem:
                problems.append(Problem(label, problem, row=number, column=column.name))
                bad = True
            row[column.name] = value
        if bad:
            continue
        key = tuple(row[k] for k in table.key)
        if key in first_seen:
            shown = ", ".join(f"{k} {row[k]!r}" for k in table.key)
            problems.append(
                Problem(
                    label,
                    f"duplicate key: {shown} is already on row {first_seen[key]}",
                    row=number,
                    column=", ".join(table.key),
                )
            )
            continue
        first_seen[key] = number
        rows.append({**row, "_row": number})
    return rows, problems


def _reasons() -> list[str]:
    with REASONS_SEED.open(encoding="utf-8") as handle:
        return [row["reason"] for row in csv.DictReader(handle)]


# --- checks between the tables --------------------------------------------------------------------


@dataclass
class LoadedTable:
    """One table in effect: its rows, where they came from and how problems name it."""

    table: AssumptionTable
    rows: list[Row]
    path: Path
    merchant: bool

    @property
    def label(self) -> str:
        if self.merchant:
            return self.table.file_name
        return f"the shipped {self.table.seed}.csv"

    def values(self, column: str) -> list[str]:
        return [str(r[column]) for r in self.rows]


def _split(value: Value) -> list[str]:
    return [item.strip() for item in str(value).split(LIST_SEPARATOR)]


def _check_references(
    loaded: dict[str, LoadedTable], reasons: Sequence[str], settings: Settings
) -> tuple[list[Problem], list[str]]:
    """Problems between the tables in effect, and notes (harmless oddities)."""
    problems: list[Problem] = []
    notes: list[str] = []
    catalogue = loaded[OFFER_CATALOGUE.name]
    channels = loaded[CHANNEL_TABLE.name]
    caps = loaded[DISCOUNT_CAPS.name]
    priors = loaded[REASON_OFFER_PRIORS.name]
    channel_names = channels.values("channel")
    offer_codes = catalogue.values("offer_code")

    for row in channels.rows if channels.merchant else []:
        n = int(row["_row"])  # type: ignore[arg-type]
        name = str(row["channel"])
        if name not in CONTACT_CHANNELS:
            problems.append(
                Problem(
                    channels.label,
                    f"unknown channel {name!r}{_closest(name, CONTACT_CHANNELS)}; a channel is "
                    "one the campaign history can record: " + ", ".join(CONTACT_CHANNELS),
                    row=n,
                    column="channel",
                )
            )
        flag = str(row["consent_flag"])
        if flag not in CONSENT_FLAGS:
            problems.append(
                Problem(
                    channels.label,
                    f"{flag!r} is not a consent flag{_closest(flag, CONSENT_FLAGS)}; the "
                    "channel needs one of the customers' consents: " + ", ".join(CONSENT_FLAGS),
                    row=n,
                    column="consent_flag",
                )
            )

    for row in catalogue.rows if catalogue.merchant else []:
        n = int(row["_row"])  # type: ignore[arg-type]
        code = str(row["offer_code"])
        if LIST_SEPARATOR in code or any(ch.isspace() for ch in code):
            problems.append(
                Problem(
                    catalogue.label,
                    f"{code!r}: an offer code has no spaces and no '|'",
                    row=n,
                    column="offer_code",
                )
            )
        eligible = str(row["eligible_reasons"])
        if eligible != ANY_REASON:
            for reason in _split(eligible):
                if reason not in reasons:
                    problems.append(
                        Problem(
                            catalogue.label,
                            f"unknown reason {reason!r}{_closest(reason, reasons)}; the reasons "
                            f"are {', '.join(reasons)} (|-separated), or '{ANY_REASON}'",
                            row=n,
                            column="eligible_reasons",
                        )
                    )
        for channel in _split(row["channels"]):
            if channel not in channel_names:
                problems.append(
                    Problem(
                        catalogue.label,
                        f"unknown channel {channel!r}{_closest(channel, channel_names)}; the "
                        f"channels in effect ({channels.label}) are {', '.join(channel_names)}",
                        row=n,
                        column="channels",
                    )
                )
    if not catalogue.merchant and channels.merchant:
        for row in catalogue.rows:
            if not set(_split(row["channels"])) & set(channel_names):
                notes.append(
                    f"offer {row['offer_code']} of the default catalogue has no channel in "
                    f"{channels.label}: it cannot be sent"
                )

    for setting, code in (
        ("decisions.reminder_offer", settings.decisions.reminder_offer),
        ("decisions.new_arrivals_offer", settings.decisions.new_arrivals_offer),
    ):
        if code not in offer_codes:
            problems.append(
                Problem(
                    catalogue.label,
                    f"no row for offer {code!r}, which every R12 sequence uses (setting "
                    f"{setting}, {env_name(setting)}): add it or change the setting",
                    column="offer_code",
                )
            )

    if caps.merchant:
        tiers = {int(r["value_tier"]) for r in caps.rows}  # type: ignore[arg-type]
        for tier in VALUE_TIERS:
            if tier not in tiers:
                problems.append(
                    Problem(
                        caps.label,
                        f"no row for value tier {tier}: every tier 1-5 needs a cap (a tier "
                        "without one gets no offer at all)",
                        column="value_tier",
                    )
                )

    for row in priors.rows if priors.merchant else []:
        n = int(row["_row"])  # type: ignore[arg-type]
        reason = str(row["reason"])
        if reason not in reasons:
            problems.append(
                Problem(
                    priors.label,
                    f"unknown reason {reason!r}{_closest(reason, reasons)}; the reasons are "
                    + ", ".join(reasons),
                    row=n,
                    column="reason",
                )
            )
        code = str(row["offer_code"])
        if code not in offer_codes:
            problems.append(
                Problem(
                    priors.label,
                    f"offer {code!r} is not in the offer catalogue in effect "
                    f"({catalogue.label}){_closest(code, offer_codes)}: add it there or remove "
                    "the row",
                    row=n,
                    column="offer_code",
                )
            )
    return problems, notes


def _derived_prior_offers(loaded: dict[str, LoadedTable], reasons: Sequence[str]) -> list[str]:
    """Catalogue offers that lack a prior for some reason (stg_assumptions__reason_offer_priors
    derives those by the seed's rule)."""
    given = {(str(r["reason"]), str(r["offer_code"])) for r in loaded["reason_offer_priors"].rows}
    return sorted(
        code
        for code in loaded["offer_catalogue"].values("offer_code")
        if any((reason, code) not in given for reason in reasons)
    )


# --- the whole step ---------------------------------------------------------------------------------


def assumptions_folder(settings: Settings) -> Path | None:
    """The folder of the merchant's files: ``decisions.assumptions_dir`` (which must exist),
    else ``<data_dir>/assumptions`` when it exists, else None (the shipped defaults)."""
    named = settings.decisions.assumptions_dir
    if named is not None:
        folder = named.resolve()
        if not folder.is_dir():
            setting = "decisions.assumptions_dir"
            raise AssumptionsError(
                None,
                [
                    Problem(
                        str(folder),
                        f"the folder the setting {setting} ({env_name(setting)}) names does "
                        "not exist",
                    )
                ],
            )
        return folder
    folder = (settings.data_dir / "assumptions").resolve()
    return folder if folder.is_dir() else None


def _merchant_files(folder: Path | None) -> tuple[dict[str, Path], list[Problem], list[str]]:
    """The folder's assumption files by table; problems for files that look like one but
    are not (a misspelt name, another format), notes for the rest."""
    found: dict[str, Path] = {}
    problems: list[Problem] = []
    notes: list[str] = []
    if folder is None:
        return found, problems, notes
    names = sorted(TABLES_BY_FILE)
    stems = {t.name: t for t in TABLES}
    for path in sorted(folder.iterdir()):
        if path.name.startswith(".") or not path.is_file():
            continue
        if path.name in TABLES_BY_FILE:
            found[TABLES_BY_FILE[path.name].name] = path
        elif path.stem in stems:
            problems.append(
                Problem(path.name, f"assumption files are CSV: save it as {path.stem}.csv")
            )
        elif path.suffix.lower() == ".csv":
            problems.append(
                Problem(
                    path.name,
                    f"not an assumptions file{_closest(path.name, names)}; the files are "
                    + ", ".join(names),
                )
            )
        else:
            notes.append(f"{path.name}: not an assumptions file, ignored")
    return found, problems, notes


def check_assumptions(settings: Settings) -> tuple[dict[str, LoadedTable], AssumptionsReport]:
    """Read and check the tables in effect (the merchant's files over the seeds); raise
    :class:`AssumptionsError` listing every problem. Writes nothing."""
    folder = assumptions_folder(settings)
    files, problems, notes = _merchant_files(folder)
    reasons = _reasons()
    loaded: dict[str, LoadedTable] = {}
    for table in TABLES:
        path = files.get(table.name)
        entry = LoadedTable(table, [], path or table.seed_path, path is not None)
        entry.rows, found = read_table(entry.path, table, entry.label)
        problems += found
        loaded[table.name] = entry
    if not problems:  # references only between tables that read cleanly
        found, more_notes = _check_references(loaded, reasons, settings)
        problems += found
        notes += more_notes
    if problems:
        raise AssumptionsError(folder, problems)
    report = AssumptionsReport(
        directory=folder,
        tables={
            name: TableSource(name, "merchant" if e.merchant else "default", e.path, len(e.rows))
            for name, e in loaded.items()
        },
        derived_prior_offers=_derived_prior_offers(loaded, reasons),
        notes=notes,
    )
    return loaded, report


def write_assumptions(settings: Settings, loaded: dict[str, LoadedTable]) -> None:
    """The merchant's tables into schema ``assumptions`` (one per file), tables of removed
    files dropped; one transaction."""
    with connect(settings.warehouse) as con:
        con.execute("begin transaction")
        try:
            con.execute(f"create schema if not exists {SCHEMA}")
            for entry in loaded.values():
                table = entry.table
                if not entry.merchant:
                    con.execute(f"drop table if exists {table.qualified_name}")
                    continue
                columns = ", ".join(f'"{c.name}" {SQL_TYPES[c.kind]}' for c in table.columns)
                con.execute(f"create or replace table {table.qualified_name} ({columns})")
                marks = ", ".join("?" for _ in table.columns)
                con.executemany(
                    f"insert into {table.qualified_name} values ({marks})",
                    [[row[c.name] for c in table.columns] for row in entry.rows],
                )
            con.execute("commit")
        except BaseException:
            con.execute("rollback")
            raise


def unknown_offers(settings: Settings, offer_codes: Sequence[str]) -> list[UnknownOffer]:
    """Offer codes of ``raw.campaign_contacts`` missing from ``offer_codes``, most used
    first (the same list as ``marts.winback_unknown_offers``)."""
    with connect(settings.warehouse) as con:
        if not table_exists(con, "raw.campaign_contacts"):
            return []
        rows = con.execute(
            """
            select
                offer_code,
                count(*) as contacts,
                count(distinct campaign_id) as campaigns,
                cast(max(contact_ts) as date) as last_contact_date
            from raw.campaign_contacts
            where offer_code is not null and not list_contains(?::varchar[], offer_code)
            group by offer_code
            order by contacts desc, offer_code
            """,
            [list(offer_codes)],
        ).fetchall()
    return [UnknownOffer(str(code), int(n), int(k), last) for code, n, k, last in rows]


def load_assumptions(settings: Settings, store: TableStore | None = None) -> AssumptionsReport:
    """Validate the merchant's assumption files, write them to the warehouse's
    ``assumptions`` schema (dropping the tables of removed files) and report what is in
    effect and which campaign-history offer codes the catalogue lacks. Raises
    :class:`AssumptionsError` (nothing written) on any problem. ``store``: another
    engine's tables (the Spark engine) instead of the DuckDB warehouse."""
    loaded, report = check_assumptions(settings)
    codes = loaded[OFFER_CATALOGUE.name].values("offer_code")
    if store is None:
        write_assumptions(settings, loaded)
        report.unknown_offers = unknown_offers(settings, codes)
    else:
        _write_to_store(store, loaded)
        report.unknown_offers = _unknown_offers_in_store(store, codes)
    return report


def _write_to_store(store: TableStore, loaded: dict[str, LoadedTable]) -> None:
    """The merchant's tables into ``store`` (one per file), tables of removed files
    dropped (one at a time: a store may have no transactions across tables, Spark's has
    none; a failure half-way is repaired by the next run, which writes them all again)."""
    for entry in loaded.values():
        table = entry.table
        if not entry.merchant:
            store.drop_table(table.qualified_name)
            continue
        frame = pd.DataFrame(
            [[row[c.name] for c in table.columns] for row in entry.rows],
            columns=[c.name for c in table.columns],
            dtype=object,
        )
        kinds = {"text": "string", "number": "double", "integer": "int"}
        casts = ", ".join(f"cast({c.name} as {kinds[c.kind]}) as {c.name}" for c in table.columns)
        store.replace(table.qualified_name, frame, f"select {casts} from frame")


def _unknown_offers_in_store(store: TableStore, offer_codes: Sequence[str]) -> list[UnknownOffer]:
    if not store.has_table("raw.campaign_contacts"):
        return []
    known = ", ".join("'" + code.replace("'", "''") + "'" for code in offer_codes) or "null"
    rows = store.read(
        "select offer_code, count(*) as contacts, count(distinct campaign_id) as campaigns, "
        "cast(max(contact_ts) as date) as last_contact_date from raw.campaign_contacts "
        f"where offer_code is not null and offer_code not in ({known}) "
        "group by offer_code order by contacts desc, offer_code"
    )
    return [
        UnknownOffer(
            str(r.offer_code), int(r.contacts), int(r.campaigns), r.last_contact_date.date()
        )
        for r in rows.itertuples()
    ]
