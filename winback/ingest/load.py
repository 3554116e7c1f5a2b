"""Load a merchant's data directory into the warehouse's ``raw`` schema.

Every row of every present file either arrives in ``raw.<table>`` (typed, with load
metadata) or in ``quarantine.rejected_rows`` with the file, row number, column and a
readable reason. Nothing is dropped: rows read = rows loaded + rows quarantined is
checked for every table on every load. A file that cannot be read at all stops the load
with a :class:`ContractError` naming the file, before the warehouse is touched.

Row numbers count data rows after the header, starting at 1 (blank lines are skipped by
the reader and not counted; Parquet row numbers are the file's own, from 1).

The Spark engine's loader (:mod:`winback.ingest.spark_load`) must behave exactly like this
one, so what does not depend on the SQL dialect is kept here once and both use it: file
discovery, the file-level checks and their messages, the load id, the stale-data check, and
the row checks the contract implies (:func:`row_checks`) with their reason texts.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import duckdb

from winback.ingest import contract as contract_module
from winback.ingest.contract import CONTACT_LOG, SQL_TYPES, TABLES, TABLES_BY_NAME, Column, Table
from winback.warehouse import q, relations, scalar

SUFFIXES = (".csv", ".parquet")
# Rejected rows are staged here and published with the raw tables in one transaction.
QUARANTINE_TABLE = "quarantine_stage"


class ContractError(Exception):
    """A file breaks the input contract so badly that no row of it can be trusted."""

    def __init__(self, file: Path | str, problem: str):
        self.file = str(file)
        self.problem = problem
        super().__init__(f"{self.file}: {problem}")


class StaleDataError(Exception):
    """A run without an as-of date found only old orders: the export has not been
    refreshed, and tonight's list would be built on it."""

    def __init__(self, file: Path | str, newest: dt.date, today: dt.date, max_age_days: int):
        self.file, self.newest, self.today = str(file), newest, today
        super().__init__(
            f"{self.file}: the newest order is from {newest} ({(today - newest).days} days "
            f"before today, {today}); a run without --as-of accepts at most "
            f"{max_age_days} (setting max_data_age_days, WINBACK_MAX_DATA_AGE_DAYS)"
        )


@dataclass
class TableLoad:
    """What happened to one table in one load."""

    table: str
    source_file: str | None
    rows_read: int = 0
    rows_loaded: int = 0
    rows_quarantined: int = 0


@dataclass
class LoadReport:
    """The outcome of one load, for logs, artifacts and tests."""

    load_id: str
    as_of: dt.date
    tables: dict[str, TableLoad] = field(default_factory=dict)
    quarantine_counts: dict[tuple[str, str], int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    # Tables whose file was unchanged since an earlier load, kept as it wrote them
    # (table → that load's id).
    kept: dict[str, str] = field(default_factory=dict)

    @property
    def rows_quarantined(self) -> int:
        return sum(t.rows_quarantined for t in self.tables.values())

    def to_markdown(self) -> str:
        lines = [
            f"### Load `{self.load_id}` as of {self.as_of}",
            "",
            "| table | file | read | loaded | quarantined |",
            "|---|---|---:|---:|---:|",
        ]
        for t in self.tables.values():
            src = Path(t.source_file).name if t.source_file else "(absent)"
            if t.table in self.kept:
                src += f" (unchanged: kept from load `{self.kept[t.table]}`)"
            lines.append(
                f"| {t.table} | {src} | {t.rows_read:,} | {t.rows_loaded:,} "
                f"| {t.rows_quarantined:,} |"
            )
        if self.quarantine_counts:
            lines += ["", "| table | quarantine reason | rows |", "|---|---|---:|"]
            for (table, reason), n in sorted(self.quarantine_counts.items()):
                lines.append(f"| {table} | {reason} | {n:,} |")
        lines += [f"- {n}" for n in self.notes]
        return "\n".join(lines)


def lit(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def find_files(data_dir: Path) -> tuple[dict[str, Path], list[str]]:
    """Map contract tables to their files; report files that are not part of it."""
    if not data_dir.is_dir():
        raise ContractError(data_dir, "data directory does not exist")
    found: dict[str, Path] = {}
    notes: list[str] = []
    names = {t.name for t in TABLES}
    for path in sorted(data_dir.iterdir()):
        if not path.is_file() or path.name.startswith("."):
            continue
        if path.suffix.lower() not in SUFFIXES or path.stem not in names:
            notes.append(f"{path.name}: not a contract table file, ignored")
            continue
        if path.stem in found:
            raise ContractError(
                path, f"both {found[path.stem].name} and {path.name} exist; keep one"
            )
        found[path.stem] = path
    if "orders" not in found:
        raise ContractError(data_dir / "orders.csv", "required file orders.csv or .parquet missing")
    return found, notes


# Parquet types read as they are (no round trip through text) when the contract column
# has that kind: the values are already typed, so only nulls and ranges need checking.
# Decimals always go through text, so rounding to cents is the same for every format.
NATIVE_TYPES: dict[str, frozenset[str]] = {
    "timestamp": frozenset(
        {"TIMESTAMP", "TIMESTAMP WITH TIME ZONE", "TIMESTAMP_S", "TIMESTAMP_MS"}
    ),
    "integer": frozenset(
        {"BIGINT", "INTEGER", "SMALLINT", "TINYINT", "UINTEGER", "USMALLINT", "UTINYINT"}
    ),
    "boolean": frozenset({"BOOLEAN"}),
}


@dataclass(frozen=True)
class Source:
    """A staged source table: its columns as in the file, and which of them kept their
    Parquet type (name -> DuckDB type); all others are text."""

    columns: list[str]
    native: dict[str, str] = field(default_factory=dict)


def check_not_empty(path: Path) -> None:
    """A zero-byte file has not even a header row: nothing in it can be checked."""
    if path.stat().st_size == 0:
        raise ContractError(path, "file is empty (not even a header row)")


def _read_source(con: duckdb.DuckDBPyConnection, table: Table, path: Path) -> Source:
    """Stage a file as temp table ``src_<table>`` with a ``_row_number``: CSV as text,
    Parquet as text except columns whose type already is the contract's kind."""
    check_not_empty(path)
    target = f"src_{table.name}"
    native: dict[str, str] = {}
    try:
        if path.suffix.lower() == ".csv":
            con.execute(
                f"create or replace temp table {target} as "
                "select row_number() over () as _row_number, * from read_csv("
                f"{lit(str(path))}, all_varchar = true, header = true, delim = ',', "
                "quote = '\"', escape = '\"', encoding = 'utf-8', auto_detect = true, "
                "sample_size = -1, null_padding = false)"
            )
        else:
            kinds = {c.name: c.kind for c in table.columns}
            cols = con.execute(
                f"select column_name, column_type from (describe select * from "
                f"read_parquet({lit(str(path))}))"
            ).fetchall()
            casts = []
            for name, duck_type in cols:
                if duck_type in NATIVE_TYPES.get(kinds.get(name.strip().lower(), ""), ()):
                    native[name] = duck_type
                    casts.append(q(name))
                else:
                    casts.append(f"cast({q(name)} as varchar) as {q(name)}")
            con.execute(
                f"create or replace temp table {target} as select "
                f"file_row_number + 1 as _row_number, {', '.join(casts)} "
                f"from read_parquet({lit(str(path))}, file_row_number = true)"
            )
    except duckdb.Error as exc:
        raise ContractError(path, explain_read_error(str(exc))) from exc
    columns = [r[0] for r in con.execute(f"describe {target}").fetchall()][1:]
    check_header(table, path, columns)
    return Source(columns, native)


NOT_UTF8 = "file is not valid UTF-8 text (save it as UTF-8)"


def explain_read_error(message: str) -> str:
    """A reader's error message as the problem a :class:`ContractError` reports."""
    first = message.splitlines()[0]
    if "unicode" in message.lower() or "utf-8" in message.lower():
        return f"{NOT_UTF8}. Reader said: " + first
    if "No files found" in message:
        return "file not found"
    return "cannot be read as the contract requires. Reader said: " + first


def check_header(table: Table, path: Path, columns: list[str]) -> None:
    """Refuse a header that lacks a required column (with a hint when it seems separated
    by something other than commas) or names a column twice."""
    lowered = [c.strip().lower() for c in columns]
    if len(set(lowered)) != len(lowered):
        raise ContractError(path, f"duplicate column names in header: {columns}")
    missing = [c for c in table.required_columns if c not in lowered]
    if not missing:
        return
    hint = ""
    if len(columns) == 1:
        for sep, name in ((";", "semicolons"), ("\t", "tabs"), ("|", "pipes")):
            if sep in columns[0]:
                hint = f" The header seems separated by {name}; the contract requires commas."
    raise ContractError(
        path,
        f"required column(s) missing: {', '.join(missing)} (header has: {', '.join(columns)}).{hint}",
    )


def _typed_expr(col: Column, raw: str, native: str | None = None) -> str:
    """The contract-typed value of a staged column (``native``: its Parquet type, if kept)."""
    if native is not None:
        if native == "TIMESTAMP WITH TIME ZONE":
            return f"({raw} at time zone 'UTC')"
        return f"cast({raw} as {SQL_TYPES[col.kind]})"
    text = f"nullif(trim({raw}), '')"
    if col.kind == "string":
        return f"lower({text})" if col.allowed else text
    if col.kind == "timestamp":
        # The session runs in UTC, so a value without an offset is read as UTC.
        return f"(try_cast({text} as timestamptz) at time zone 'UTC')"
    if col.kind == "boolean":
        return f"try_cast(lower({text}) as boolean)"
    return f"try_cast({text} as {SQL_TYPES[col.kind]})"


# What a value of each kind must look like, in the reason of a ``bad_<kind>`` problem.
KIND_TEXT = {
    "timestamp": "an ISO 8601 timestamp",
    "decimal": "a number",
    "integer": "a whole number",
    "boolean": "true or false",
}
RowTest = Literal["missing", "bad_type", "not_allowed", "below", "above", "future"]
# A reason template's placeholder for the value as the file holds it (as text, at most
# VALUE_SHOWN characters): "amount '{value}' is below 0".
VALUE_SHOWN = 60


@dataclass(frozen=True)
class RowCheck:
    """One rule the contract sets for one column of every row, free of SQL: each engine
    renders ``test`` in its own dialect, so both find the same problems, list them in the
    same order and word them the same (``reason``: a template, see :func:`template_parts`).

    Tests: ``missing`` (required but empty), ``bad_type`` (text that is not of the kind),
    ``not_allowed`` (not one of the allowed values), ``below``/``above`` (the typed value
    outside ``min_value``/``max_value``), ``future`` (at or after the end of the as-of day).
    """

    column: Column
    code: str
    test: RowTest
    reason: str


def row_checks(col: Column, *, native: bool = False) -> list[RowCheck]:
    """The checks of one column, in the order its problems are listed. A ``native`` (typed
    Parquet) column cannot hold a value of the wrong type, only a missing or out-of-range one."""
    name, shown = col.name, f"{col.name} '{{value}}'"
    out = []
    if col.required:
        out.append(RowCheck(col, "missing_value", "missing", f"{name} is required but empty"))
    if col.kind != "string" and not native:
        reason = f"{shown} is not {KIND_TEXT[col.kind]}"
        out.append(RowCheck(col, f"bad_{col.kind}", "bad_type", reason))
    if col.allowed:
        reason = f"{shown} is not one of: {', '.join(col.allowed)}"
        out.append(RowCheck(col, "unknown_value", "not_allowed", reason))
    if col.min_value is not None:
        code = "negative_amount" if col.kind == "decimal" and col.min_value == 0 else "out_of_range"
        out.append(RowCheck(col, code, "below", f"{shown} is below {col.min_value:g}"))
    if col.max_value is not None:
        out.append(RowCheck(col, "out_of_range", "above", f"{shown} is above {col.max_value:g}"))
    if col.not_after_as_of:
        reason = f"{shown} {FUTURE_REASON}"
        out.append(RowCheck(col, FUTURE_CODE, "future", reason))
    return out


# The end of a future timestamp's reason (a reused table must have none: _reusable).
FUTURE_REASON = "is after the run's as-of time"
FUTURE_CODE = "future_timestamp"


# Problems found across rows, after the row checks: (reason code, reason template). A
# repeated header row is looked for first, before any column's checks.
REPEATED_HEADER = ("repeated_header", "row repeats the header line")
DUPLICATE_KEY = ("duplicate_key", "{key} '{value}' already appeared at row {first_row}")
UNKNOWN_REFERENCE = (
    "unknown_reference",
    "{column} '{value}' is not in {parent} (unknown, or quarantined itself)",
)
UNKNOWN_CONTACT_KEY = (
    "unknown_contact_key",
    "contact_key '{value}' was never exported by Winback "
    "(not in history.winback_exported_contacts or the reminder ledger)",
)


def template_parts(template: str, **fixed: str) -> list[tuple[str, str | None]]:
    """A reason template as (text, placeholder) pieces, once the ``fixed`` placeholders
    are filled in: each engine concatenates the texts with its own SQL for the others."""
    for key, value in fixed.items():
        template = template.replace("{" + key + "}", value)
    parts: list[tuple[str, str | None]] = []
    while "{" in template:
        head, _, rest = template.partition("{")
        placeholder, _, template = rest.partition("}")
        parts.append((head, placeholder))
    parts.append((template, None))
    return parts


def reason_pieces(
    template: str,
    values: dict[str, str],
    literal: Callable[[str], str] = lit,
    **fixed: str,
) -> list[str]:
    """A reason template as SQL pieces in order: its texts as ``literal`` strings (the
    engine's quoting; DuckDB's by default) and the ``values`` expressions at its
    placeholders (each engine joins them its own way)."""
    pieces: list[str] = []
    for text, placeholder in template_parts(template, **fixed):
        if text:
            pieces.append(literal(text))
        if placeholder is not None:
            pieces.append(values[placeholder])
    return pieces


def _sql_text(template: str, values: dict[str, str], **fixed: str) -> str:
    """A reason template as DuckDB SQL: its pieces joined by ``||`` (so null when a value
    is null)."""
    return " || ".join(reason_pieces(template, values, lit, **fixed))


def _problem_exprs(
    col: Column, raw: str, typed: str, as_of_end: str, *, native: bool = False
) -> list[tuple[str, str]]:
    """(condition, problem struct) SQL pairs for one column of one row, one per
    :func:`row_checks`: the struct describes the problem when the condition is true."""
    text = f"cast({raw} as varchar)" if native else raw
    shown = f"left({text}, {VALUE_SHOWN})"
    allowed = ", ".join(lit(a) for a in col.allowed or ())
    conditions: dict[RowTest, str] = {
        "missing": f"{raw} is null" if native else f"nullif(trim({raw}), '') is null",
        "bad_type": f"nullif(trim({raw}), '') is not null and {typed} is null",
        "not_allowed": f"{typed} is not null and {typed} not in ({allowed})",
        "below": f"{typed} < {col.min_value}",
        "above": f"{typed} > {col.max_value}",
        "future": f"{typed} >= {as_of_end}",
    }
    return [
        (
            conditions[check.test],
            f"{{'column_name': {lit(col.name)}, 'reason_code': '{check.code}', "
            f"'reason': {_sql_text(check.reason, {'value': shown})}}}",
        )
        for check in row_checks(col, native=native)
    ]


def utc_now() -> dt.datetime:
    """The clock as the warehouse keeps time: UTC wall-clock, without a zone."""
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def no_valid_order_error() -> ContractError:
    """No order has a parseable order_ts, so there is no newest order to date the run by."""
    return ContractError("orders", "no order has a valid order_ts; cannot pick an as-of date")


def check_data_age(
    orders_file: Path, as_of: dt.date, now: dt.datetime | None, max_data_age_days: int | None
) -> None:
    """Refuse a default as-of date (the newest order's) more than ``max_data_age_days``
    before ``now``: the export has not been refreshed (:class:`StaleDataError`)."""
    today = (now or utc_now()).date()
    if max_data_age_days is not None and (today - as_of).days > max_data_age_days:
        raise StaleDataError(orders_file, as_of, today, max_data_age_days)


def conservation_error(path: Path, read: int, loaded: int, quarantined: int) -> RuntimeError:
    """Rows read != rows loaded + rows quarantined: a row went missing, a bug of ours."""
    return RuntimeError(
        f"conservation broken for {path}: read {read} rows, loaded {loaded}, "
        f"quarantined {quarantined}. This is a Winback bug; please report it."
    )


def nothing_loaded_error(orders_file: Path, rows_read: int) -> ContractError:
    """Every order was quarantined: nothing downstream can run (raised after publishing,
    so that quarantine.rejected_rows shows why)."""
    return ContractError(
        orders_file,
        f"none of its {rows_read:,} rows passed validation; "
        "see quarantine.rejected_rows for the reasons",
    )


def default_as_of(
    con: duckdb.DuckDBPyConnection,
    *,
    now: dt.datetime | None = None,
    native: dict[str, str] | None = None,
) -> dt.date:
    """The date of the latest parseable order that is not in the future of ``now``."""
    now = now or utc_now()
    orders_ts = _typed_expr(
        Column("order_ts", "timestamp"), q("order_ts"), (native or {}).get("order_ts")
    )
    row = con.execute(
        f"select max(ts) from (select {orders_ts} as ts from src_orders) where ts <= ?", [now]
    ).fetchone()
    latest = row[0] if row else None
    if latest is None:
        raise no_valid_order_error()
    return latest.date()


class _TableLoader:
    """Validates one staged source table in three phases: row checks, keys, references."""

    def __init__(
        self,
        con: duckdb.DuckDBPyConnection,
        table: Table,
        source: Source,
        path: Path,
        as_of_end: str,
        present: set[str],
    ):
        self.con, self.table, self.path = con, table, path
        self.as_of_end, self.present = as_of_end, present
        self.native = source.native
        self.by_lower = {c.strip().lower(): c for c in source.columns}
        self.extras = [
            c for low, c in self.by_lower.items() if low not in {col.name for col in table.columns}
        ]
        self.checked = staged(table.name)

    def _record_json(self, alias: str = "s") -> str:
        pairs = ", ".join(f"{lit(c)}: {alias}.{q(c)}" for c in self.by_lower.values())
        return f"to_json({{{pairs}}})"

    def run(self, load_id: str) -> None:
        t = self.table
        selects: list[str] = []
        problems: list[tuple[str, str]] = []
        for col in t.columns:
            if col.name in self.by_lower:
                native = self.native.get(self.by_lower[col.name])
                raw = f"s.{q(self.by_lower[col.name])}"
                typed = _typed_expr(col, raw, native)
                problems += _problem_exprs(
                    col, raw, typed, self.as_of_end, native=native is not None
                )
            else:
                typed = f"cast(null as {SQL_TYPES[col.kind]})"
            selects.append(f"{typed} as {q(col.name)}")
        selects += [f"s.{q(c)} as {q(c)}" for c in self.extras]
        # Text columns first: the check stops at the first column that differs.
        header_echo = " and ".join(
            f"lower(trim(s.{q(c)})) = {lit(low)}"
            if c not in self.native
            else f"lower(cast(s.{q(c)} as varchar)) = {lit(low)}"
            for low, c in sorted(self.by_lower.items(), key=lambda item: item[1] in self.native)
        )
        code, reason = REPEATED_HEADER
        problems.insert(
            0,
            (
                header_echo,
                f"{{'column_name': null, 'reason_code': '{code}', 'reason': {lit(reason)}}}",
            ),
        )
        # Rows are checked with plain conditions; the problem list (structs, text) is
        # built only for the rows that have a problem (the costly part, at 37M rows).
        has_problem = " or ".join(f"({cond}) is true" for cond, _ in problems)
        problem_list = (
            "list_filter(["
            + ", ".join(f"case when {cond} then {struct} end" for cond, struct in problems)
            + "], lambda p: p is not null)"
        )
        # Checked rows are written once, straight into the raw schema with the columns a
        # raw table has (see staged(): renamed into place by _publish_raw); the rows with a
        # problem are deleted from it below.
        self.con.execute(
            f"create or replace table {self.checked} as select {', '.join(selects)}, "
            f"{lit(load_id)} as _load_id, {lit(str(self.path))} as _source_file, "
            "s._row_number, current_timestamp at time zone 'UTC' as _loaded_at, "
            f"{has_problem} as _has_problem from src_{t.name} s"
        )
        self.con.execute(
            f"insert into {QUARANTINE_TABLE} select {lit(load_id)}, {lit(t.name)}, "
            f"{lit(str(self.path))}, _row_number, p[1].column_name, p[1].reason_code, "
            "p[1].reason, "
            "case when len(p) > 1 then array_to_string(list_transform(p[2:], lambda x: x.reason), '; ') end, "
            f"{self._record_json()} from (select s.*, {problem_list} as p from src_{t.name} s "
            f"semi join {self.checked} c on c._row_number = s._row_number and c._has_problem) s"
        )
        self.con.execute(f"delete from {self.checked} where _has_problem")
        self.con.execute(f"alter table {self.checked} drop column _has_problem")
        if t.key:
            self._check_key(load_id)
        for ref in t.references:
            if ref.table in self.present:
                self._check_reference(load_id, ref.column, ref.table)
        if t.name == "contact_log":
            self._check_exported_keys(load_id)

    def _quarantine(self, load_id: str, where: str, problems_sql: str) -> None:
        t = self.table
        self.con.execute(
            f"insert into {QUARANTINE_TABLE} select {lit(load_id)}, {lit(t.name)}, "
            f"{lit(str(self.path))}, _row_number, p[1].column_name, p[1].reason_code, "
            "p[1].reason, "
            "case when len(p) > 1 then array_to_string(list_transform(p[2:], lambda x: x.reason), '; ') end, "
            f"{self._record_json()} from (select *, {problems_sql} as p from {self.checked} where {where}) c "
            f"join src_{t.name} s using (_row_number)"
        )

    def _check_key(self, load_id: str) -> None:
        t, key = self.table, q(self.table.key or "")
        # Only keys seen more than once matter; the first occurrence is kept.
        self.con.execute(
            f"create or replace temp table dup_{t.name} as select c._row_number, f.first_row "
            f"from {self.checked} c join (select {key}, min(_row_number) as first_row "
            f"from {self.checked} group by {key} having count(*) > 1) f using ({key}) "
            "where c._row_number <> f.first_row"
        )
        code, reason = DUPLICATE_KEY
        reason_sql = _sql_text(reason, {"value": key, "first_row": "d.first_row"}, key=t.key or "")
        problem = (
            f"[{{'column_name': {lit(t.key or '')}, 'reason_code': '{code}', "
            f"'reason': {reason_sql}}}]"
        )
        self.con.execute(
            f"insert into {QUARANTINE_TABLE} select {lit(load_id)}, {lit(t.name)}, "
            f"{lit(str(self.path))}, c._row_number, p[1].column_name, p[1].reason_code, "
            f"p[1].reason, null, {self._record_json()} from (select c.*, {problem} as p "
            f"from {self.checked} c join dup_{t.name} d using (_row_number)) c "
            f"join src_{t.name} s using (_row_number)"
        )
        self.con.execute(
            f"delete from {self.checked} where _row_number in (select _row_number from dup_{t.name})"
        )

    def _check_exported_keys(self, load_id: str) -> None:
        """A contact_log row must be about a contact Winback exported (its key is in the
        export history or the reminder ledger); any other goes to quarantine."""
        cond = f"contact_key not in ({_exported_keys_sql(self.con)})"
        code, reason = UNKNOWN_CONTACT_KEY
        problem = (
            f"[{{'column_name': 'contact_key', 'reason_code': '{code}', "
            f"'reason': {_sql_text(reason, {'value': 'contact_key'})}}}]"
        )
        self._quarantine(load_id, cond, problem)
        self.con.execute(f"delete from {self.checked} where {cond}")

    def _check_reference(self, load_id: str, column: str, parent: str) -> None:
        parent_key = q(TABLES_BY_NAME[parent].key or "")
        cond = (
            f"{q(column)} is not null and {q(column)} not in (select {parent_key} from ok_{parent})"
        )
        code, reason = UNKNOWN_REFERENCE
        reason_sql = _sql_text(reason, {"value": q(column)}, column=column, parent=parent)
        problem = (
            f"[{{'column_name': {lit(column)}, 'reason_code': '{code}', 'reason': {reason_sql}}}]"
        )
        self._quarantine(load_id, cond, problem)
        self.con.execute(f"delete from {self.checked} where {cond}")


# Where the keys of Winback's own exports are kept (winback.exports.history, the reminder
# ledger): a contact_log row about any other key is a bad reference.
EXPORTED_KEY_SOURCES = (
    (
        "history",
        "winback_exported_contacts",
        "select contact_id from history.winback_exported_contacts",
    ),
    ("reminders", "reminder_ledger", "select 'rm-' || order_id from reminders.reminder_ledger"),
)


def _exported_keys_sql(con: duckdb.DuckDBPyConnection) -> str:
    """Every contact key Winback exported, as one subquery (empty before any export)."""
    parts = [
        sql
        for schema, name, sql in EXPORTED_KEY_SOURCES
        if scalar(
            con,
            "select count(*) from information_schema.tables "
            f"where table_schema = {lit(schema)} and table_name = {lit(name)}",
        )
    ]
    return " union all ".join(parts) or "select cast(null as varchar) where false"


def make_load_id(files: dict[str, Path], as_of: dt.date) -> str:
    """The load's id: the as-of date and a digest of the files (name, size, mtime), so a
    re-load of the same files for the same date has the same id."""
    digest = hashlib.sha256(str(as_of).encode())
    for name, path in sorted(files.items()):
        stat = path.stat()
        digest.update(f"{name}:{path.name}:{stat.st_size}:{stat.st_mtime_ns}".encode())
    return f"{as_of:%Y%m%d}-{digest.hexdigest()[:10]}"


# What each load validated, file by file: a file that is unchanged since (same path, size
# and content, validated by the same contract and loader code) is not read again.
FILES_DDL = (
    "create table if not exists raw._files (table_name varchar, source_file varchar, "
    "size_bytes bigint, content_digest varchar, loader_digest varchar, as_of date, "
    "load_id varchar, rows_read bigint, rows_loaded bigint, rows_quarantined bigint)"
)


@dataclass(frozen=True)
class FileRecord:
    """One contract file as a load validated it (a row of ``raw._files``): ``as_of`` is
    the date its validated rows hold for, ``load_id`` the load that read it."""

    table: str
    source_file: str
    size_bytes: int
    content_digest: str
    loader_digest: str
    as_of: dt.date | None = None
    load_id: str = ""
    rows_read: int = 0
    rows_loaded: int = 0
    rows_quarantined: int = 0

    def same_file(self, other: FileRecord) -> bool:
        return (self.source_file, self.size_bytes, self.content_digest, self.loader_digest) == (
            other.source_file,
            other.size_bytes,
            other.content_digest,
            other.loader_digest,
        )


@functools.cache
def loader_digest() -> str:
    """A digest of the contract, of this loader's code and of the DuckDB version that
    parses the files: a file validated by other rules is validated again."""
    digest = hashlib.sha256(duckdb.__version__.encode())
    for module in (contract_module.__file__, __file__):
        digest.update(Path(str(module)).read_bytes())
    return digest.hexdigest()[:16]


def fingerprint(table: str, path: Path) -> FileRecord:
    """The file as it is now: size and a BLAKE2b digest of its bytes (about 1 GB/s)."""
    with path.open("rb") as handle:
        content = hashlib.file_digest(handle, "blake2b").hexdigest()[:32]
    return FileRecord(table, str(path), path.stat().st_size, content, loader_digest())


def _previous_files(con: duckdb.DuckDBPyConnection) -> dict[str, FileRecord]:
    """The files the last load validated (none before the first load with a record)."""
    present = {
        r[0]
        for r in con.execute(
            "select schema_name || '.' || table_name from duckdb_tables() "
            "where schema_name in ('raw', 'quarantine')"
        ).fetchall()
    }
    if "raw._files" not in present or "quarantine.rejected_rows" not in present:
        return {}
    rows = con.execute(
        "select table_name, source_file, size_bytes, content_digest, loader_digest, as_of, "
        "load_id, rows_read, rows_loaded, rows_quarantined from raw._files"
    ).fetchall()
    return {r[0]: FileRecord(*r) for r in rows if f"raw.{r[0]}" in present}


def _reusable(
    con: duckdb.DuckDBPyConnection,
    now: dict[str, FileRecord],
    previous: dict[str, FileRecord],
    as_of: dt.date,
) -> dict[str, FileRecord]:
    """The tables whose last load stands as it is tonight, so their files are not read
    again: the same file (path, size, content) under the same contract and loader code;
    every table it references kept too, or absent then and now; an as-of date not
    earlier than the one its rows were validated for, and if later, no row of it was
    quarantined as after that as-of time (a later date could admit it); its raw rows and
    quarantine rows still as the load counted them. The contact log is always read
    again: its check against the exported contact keys changes with every export."""
    kept: dict[str, FileRecord] = {}
    for table in TABLES:  # parents before children
        name = table.name
        before = previous.get(name)
        if name not in now or name == CONTACT_LOG.name or before is None:
            continue
        if not before.same_file(now[name]) or before.as_of is None or as_of < before.as_of:
            continue
        if not all(
            ref.table in kept or (ref.table not in now and ref.table not in previous)
            for ref in table.references
        ):
            continue
        loaded = scalar(con, f"select count(*) from raw.{name}")
        quarantined, future = con.execute(
            "select count(*), count(*) filter (where reason_code = $code "
            "or other_problems like $reason) from quarantine.rejected_rows "
            "where table_name = $table",
            {"code": FUTURE_CODE, "reason": f"%{FUTURE_REASON}%", "table": name},
        ).fetchone() or (0, 0)
        if (loaded, quarantined) != (before.rows_loaded, before.rows_quarantined):
            continue
        if as_of > before.as_of and future:
            continue
        kept[name] = before
    return kept


def _empty_select(table: Table) -> str:
    cols = ", ".join(f"cast(null as {SQL_TYPES[c.kind]}) as {q(c.name)}" for c in table.columns)
    meta = (
        "cast(null as varchar) as _load_id, cast(null as varchar) as _source_file, "
        "cast(null as bigint) as _row_number, cast(null as timestamp) as _loaded_at"
    )
    return f"select {cols}, {meta} where false"


def load_data_dir(
    warehouse_path: Path,
    data_dir: Path,
    as_of: dt.date | None = None,
    *,
    progress: Callable[[str], None] | None = None,
    memory_limit: str | None = None,
    max_data_age_days: int | None = None,
    now: dt.datetime | None = None,
    reuse: bool = True,
) -> LoadReport:
    """Validate every contract file in ``data_dir`` and replace the ``raw`` schema.

    The raw tables and the quarantine are swapped in one transaction, so a failed load
    leaves the previous load in place. Re-loading the same files for the same as-of
    date gives the same rows. Without ``as_of`` the newest order's date is the as-of
    date, and with ``max_data_age_days`` an order file whose newest order is older than
    that before ``now`` (UTC, default: the clock) is refused (:class:`StaleDataError`)
    before anything is replaced.

    With ``reuse``, a file unchanged since the last load (:func:`_reusable` says when
    that gives exactly the rows a fresh validation would) is not read again: its raw
    table and quarantine rows are kept as that load wrote them (``raw._files`` records
    what each load validated). ``reuse=False`` reads and validates every file.
    """
    say = progress or (lambda _msg: None)
    files, notes = find_files(data_dir)
    current = {name: fingerprint(name, path) for name, path in files.items()}
    warehouse_path.parent.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(warehouse_path))
    try:
        con.execute("set TimeZone = 'UTC'")
        if memory_limit:
            con.execute(f"set memory_limit = {lit(memory_limit)}")
        con.execute("create schema if not exists raw")
        _drop_staged(con)  # what a load that died left behind
        sources: dict[str, Source] = {}
        if as_of is None:  # dated by the orders file's newest order: read it first
            say(f"reading {files['orders'].name}")
            sources["orders"] = _read_source(con, TABLES_BY_NAME["orders"], files["orders"])
            as_of = default_as_of(con, now=now, native=sources["orders"].native)
            check_data_age(files["orders"], as_of, now, max_data_age_days)
        previous = _previous_files(con) if reuse else {}
        kept = _reusable(con, current, previous, as_of) if previous else {}
        for table in TABLES:
            if table.name in files and table.name not in kept and table.name not in sources:
                say(f"reading {files[table.name].name}")
                sources[table.name] = _read_source(con, table, files[table.name])
        as_of_end = f"timestamp '{as_of + dt.timedelta(days=1):%Y-%m-%d} 00:00:00'"
        load_id = make_load_id(files, as_of)
        report = LoadReport(load_id=load_id, as_of=as_of, notes=notes)
        con.execute(
            "create or replace temp table quarantine_stage (load_id varchar, table_name varchar, "
            "source_file varchar, row_number bigint, column_name varchar, reason_code varchar, "
            "reason varchar, other_problems varchar, record json)"
        )
        for table in TABLES:
            if table.name not in files:
                con.execute(
                    f"create or replace temp table ok_{table.name} as {_empty_select(table)}"
                )
                report.tables[table.name] = TableLoad(table.name, None)
                continue
            if table.name in kept:
                before = kept[table.name]
                con.execute(
                    f"create or replace temp view ok_{table.name} as select * from raw.{table.name}"
                )
                con.execute(
                    f"insert into {QUARANTINE_TABLE} select * from quarantine.rejected_rows "
                    "where table_name = ?",
                    [table.name],
                )
                report.tables[table.name] = _count(con, table.name, files[table.name], before)
                report.kept[table.name] = before.load_id
                say(
                    f"{files[table.name].name} unchanged since load {before.load_id}: "
                    f"its {before.rows_loaded:,} rows and {before.rows_quarantined:,} "
                    "quarantined kept"
                )
                continue
            say(f"validating {table.name}")
            loader = _TableLoader(
                con, table, sources[table.name], files[table.name], as_of_end, set(files)
            )
            loader.run(load_id)
            con.execute(
                f"create or replace temp view ok_{table.name} as select * from {loader.checked}"
            )
            report.tables[table.name] = _count(con, table.name, files[table.name])
        records = [
            dataclasses.replace(
                record,
                as_of=as_of,
                load_id=report.kept.get(name, load_id),
                rows_read=report.tables[name].rows_read,
                rows_loaded=report.tables[name].rows_loaded,
                rows_quarantined=report.tables[name].rows_quarantined,
            )
            for name, record in current.items()
        ]
        _publish_raw(con, report, records)
    finally:
        try:  # a failed load leaves the previous load's tables alone, and nothing else
            _drop_staged(con)
        finally:
            con.close()
    orders = report.tables["orders"]
    if orders.rows_loaded == 0:
        raise nothing_loaded_error(files["orders"], orders.rows_read)
    return report


def _count(
    con: duckdb.DuckDBPyConnection, table: str, path: Path, kept: FileRecord | None = None
) -> TableLoad:
    """The table's counts, checked: rows read = loaded + quarantined (for a ``kept``
    table, the counts its load recorded)."""
    read = kept.rows_read if kept else scalar(con, f"select count(*) from src_{table}")
    loaded = scalar(con, f"select count(*) from ok_{table}")
    quarantined = scalar(con, "select count(*) from quarantine_stage where table_name = ?", [table])
    if read != loaded + quarantined:
        raise conservation_error(path, read, loaded, quarantined)
    return TableLoad(table, str(path), read, loaded, quarantined)


STAGED_PREFIX = "_staged_"


def staged(table: str) -> str:
    """Where a load writes a table's checked rows: a table of the ``raw`` schema that
    :func:`_publish_raw` renames into place (``raw.<table>``) when the whole load has
    passed, so the rows are written once, not copied from a temporary table."""
    return f"raw.{STAGED_PREFIX}{table}"


def _staged_tables(con: duckdb.DuckDBPyConnection) -> set[str]:
    """The staged tables in the warehouse (``raw._staged_*``): a load's own, or those a
    load that died left behind."""
    return {name for name in relations(con) if name.startswith(f"raw.{STAGED_PREFIX}")}


def _drop_staged(con: duckdb.DuckDBPyConnection) -> None:
    for name in sorted(_staged_tables(con)):
        con.execute(f"drop table if exists {name}")


def _publish_raw(
    con: duckdb.DuckDBPyConnection, report: LoadReport, records: list[FileRecord]
) -> None:
    """Swap the validated tables into ``raw`` and the rejects into ``quarantine`` at once
    (a kept table stays as it is), with the record of the files validated."""
    con.execute("begin transaction")
    try:
        con.execute("create schema if not exists quarantine")  # raw: made when the load began
        staged_tables = _staged_tables(con)
        for table in TABLES:
            if table.name in report.kept:
                continue
            if staged(table.name) in staged_tables:  # checked rows, already written
                con.execute(f"drop table if exists raw.{table.name}")
                con.execute(f"alter table {staged(table.name)} rename to {table.name}")
            else:  # no file: the table's empty shape
                con.execute(
                    f"create or replace table raw.{table.name} as select * from ok_{table.name}"
                )
        con.execute(FILES_DDL)
        con.execute("delete from raw._files")
        con.executemany(
            "insert into raw._files values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [list(dataclasses.astuple(r)) for r in records],
        )
        con.execute(
            "create or replace table quarantine.rejected_rows as "
            "select * from quarantine_stage order by table_name, row_number"
        )
        con.execute(
            "create table if not exists raw._loads (load_id varchar, as_of date, table_name varchar, "
            "source_file varchar, rows_read bigint, rows_loaded bigint, rows_quarantined bigint, "
            "loaded_at timestamp)"
        )
        con.execute("delete from raw._loads where load_id = ?", [report.load_id])
        for t in report.tables.values():
            con.execute(
                "insert into raw._loads values (?, ?, ?, ?, ?, ?, ?, current_timestamp at time zone 'UTC')",
                [
                    report.load_id,
                    report.as_of,
                    t.table,
                    t.source_file,
                    t.rows_read,
                    t.rows_loaded,
                    t.rows_quarantined,
                ],
            )
        con.execute("commit")
    except Exception:
        con.execute("rollback")
        raise
    rows = con.execute(
        "select table_name, reason_code, count(*) from quarantine.rejected_rows group by all"
    ).fetchall()
    report.quarantine_counts = {(t, r): n for t, r, n in rows}
