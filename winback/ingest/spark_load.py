"""Load a merchant's data directory into Spark's ``raw`` schema: the Spark engine's twin of
:func:`winback.ingest.load.load_data_dir`, with Spark itself reading the files.

The two loaders must not disagree about a single row, or what the nightly run computes
from ``raw.*`` would depend on the engine it ran on. So this loader reproduces the DuckDB
loader's behaviour, not only its intent:

* the same file-level refusals (:class:`ContractError`, :class:`StaleDataError`) with the
  same messages, from the same shared checks in :mod:`winback.ingest.load`;
* the same row checks (:func:`~winback.ingest.load.row_checks`), reason codes and texts,
  the same first problem of a row and the same others, then the same repeated-header,
  duplicate-key (first occurrence kept), reference and exported-contact-key checks;
* the same typed values. Spark's casts read text differently from DuckDB's (``'2026'`` is a
  timestamp to Spark, ``'1_000'`` is no number; ``'2.5'`` is 2 as a Spark bigint, 3 as a
  DuckDB one), so text is parsed here by DuckDB's grammar (:func:`_timestamp_levels`,
  :func:`_decimal`, :func:`_integer_levels`, :func:`_boolean`). They were compared with
  DuckDB's casts on some 430,000 generated strings (timestamps, numbers, booleans);
* the same text for a Parquet value not kept in its type: DuckDB's (``'1e+16'``, not Java's
  ``'1.0E16'``); nanosecond timestamps, which Spark cannot read as timestamps, included;
* the same CSV column names (DuckDB trims them and renames blanks and duplicates) and the
  same row numbers: the file's data rows in order from 1, blank lines not counted.

Expressions are built as Spark SQL text, one call into Spark per projection: built with
``pyspark.sql.functions`` they took some ten thousand calls per table.

Spark has no transaction across tables. Everything is therefore read, validated and
counted first, then written to staging tables beside the targets, and only then swapped
in: each ``raw.<table>``, then ``raw._loads``, then ``quarantine.rejected_rows`` is dropped
and its staged twin renamed into its place, a catalogue operation each. A failure before
the swap leaves the previous load in place; a failure during it (a second or two) can leave
some tables of the new load beside some of the old one.

Known differences from the DuckDB loader, all on input no export tool writes: DuckDB's
``'infinity'`` timestamps (Spark has none: a bad timestamp here) and years beyond 290,000;
zone names ICU spells differently from Java (``'America/new_york'``; the offsets of zones
before 1900); a CSV row with more or fewer fields than the header (both refuse the file,
with their readers' different words, and DuckDB's sniffer sometimes takes such a row for
the header); the text of Parquet doubles that need all 17 digits (the 17th may differ),
of 32-bit floats (Java and DuckDB sometimes pick different shortest digits) and of nested
and binary columns; the words of a reader's error (a CSV file that is not UTF-8 is refused
by both, each naming the first bad byte its own way).
"""

from __future__ import annotations

import codecs
import datetime as dt
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from winback.ingest.contract import TABLES, TABLES_BY_NAME, Column, Kind, Table
from winback.ingest.load import (
    DUPLICATE_KEY,
    EXPORTED_KEY_SOURCES,
    NOT_UTF8,
    REPEATED_HEADER,
    UNKNOWN_CONTACT_KEY,
    UNKNOWN_REFERENCE,
    VALUE_SHOWN,
    ContractError,
    LoadReport,
    RowCheck,
    TableLoad,
    check_data_age,
    check_header,
    check_not_empty,
    conservation_error,
    explain_read_error,
    find_files,
    make_load_id,
    no_valid_order_error,
    nothing_loaded_error,
    reason_pieces,
    row_checks,
    utc_now,
)

if TYPE_CHECKING:  # pyspark is imported only when the Spark engine is used
    import pyarrow as pa
    from pyspark.sql import DataFrame, SparkSession

SPARK_TYPES: dict[Kind, str] = {
    "string": "string",
    "timestamp": "timestamp",
    "decimal": "decimal(18,2)",
    "integer": "bigint",
    "boolean": "boolean",
}
# DuckDB's trim() removes exactly the Unicode space separators (category Zs), not tabs.
SPACES = "".join(
    chr(c) for c in (0x20, 0xA0, 0x1680, *range(0x2000, 0x200B), 0x202F, 0x205F, 0x3000)
)
# The text DuckDB casts to a boolean (after lower()); any other is not one.
TRUE_TEXT = ("true", "t", "1", "yes", "y")
FALSE_TEXT = ("false", "f", "0", "no", "n")
MICROS_PER_DAY = 86_400_000_000
# Years whose timestamps fit in microseconds since 1970 (DuckDB's range is a little wider).
MAX_YEAR = 290_000
QUARANTINE_SCHEMA = (
    "load_id string, table_name string, source_file string, row_number bigint, "
    "column_name string, reason_code string, reason string, other_problems string, "
    "record string"
)
# raw._loads, but for its last column, loaded_at (a timestamp)
LOADS_SCHEMA = (
    "load_id string, as_of date, table_name string, source_file string, rows_read bigint, "
    "rows_loaded bigint, rows_quarantined bigint"
)
NANOS_AS_LONG = "spark.sql.legacy.parquet.nanosAsLong"
UTC_ZONES = ("UTC", "Etc/UTC", "GMT", "Z", "+00:00")


def q(name: str) -> str:
    """A Spark SQL identifier."""
    return "`" + name.replace("`", "``") + "`"


def lit(value: str) -> str:
    """A Spark SQL string literal (Spark reads backslash escapes in literals)."""
    escaped = "".join(
        "\\" + c if c in "\\'" else f"\\u{ord(c):04x}" if ord(c) < 0x20 else c for c in value
    )
    return f"'{escaped}'"


# --- DuckDB's text grammar, as Spark SQL ------------------------------------------------

# A parser is a list of levels of (column name, SQL expression); each level is one
# projection and may use the columns of the levels before it. Written as one expression,
# a part used in several places would be copied into each, and the code Spark generates
# for a table would outgrow what the JVM compiles (Spark then interprets, far slower).
Levels = list[list[tuple[str, str]]]


def _apply(frame: DataFrame, levels: Levels) -> DataFrame:
    """``frame`` with the columns of ``levels`` added, level by level."""
    for level in levels:
        if level:
            frame = frame.selectExpr("*", *[f"{expr} as {q(name)}" for name, expr in level])
    return frame


def _merge(*parsers: Levels) -> Levels:
    """Several parsers as one: the first levels of all together, and so on."""
    depth = max((len(p) for p in parsers), default=0)
    return [[col for p in parsers if i < len(p) for col in p[i]] for i in range(depth)]


def _trimmed(raw: str) -> str:
    """DuckDB's ``nullif(trim(x), '')``."""
    return f"nullif(trim(BOTH {lit(SPACES)} FROM {raw}), '')"


# DuckDB's timestamptz cast (Timestamp::TryConvertTimestampTZ): a date with '-', '/', '\' or
# ' ' between year, month and day (1 or 2 digits), an optional ' (BC)', then optionally ' '
# or 'T', a time whose hour may have up to 9 digits (24:00:00 is the next midnight) and
# whose minutes and seconds may be left empty ('10:' is 10:00), any fraction (microseconds
# kept), and 'Z', an offset (+HH, +HHMM, +HH:MM, +HH:MM:SS) or ' ' and a zone name. Also
# 'epoch'. The groups are named in TS_GROUPS.
TS_PATTERN = (
    r"^\s*(?:"
    r"(-?(?i:epoch))\s*"
    r"|(-?)(\d+)([ /\\-])(\d{1,2})\4(\d{1,2})(\s\((?i:bc)\))?(?!\d)"
    r"(?:[ T]?\s*(\d{1,9}):(?:(\d{1,2})(?::(?:(\d{1,2})(?:\.(\d*))?)?)?)?(?=[Z+\-\s]|\z)"
    r"(?:(Z)\s*"
    r"|([+-])(\d{2})(?::(?:(\d{2})(?::(\d{2})?)?)?|(\d{2}))?\s*"
    r"| ([A-Za-z0-9_/+:-]*)\s*"
    r")?)?"
    r")\z"
)
TS_GROUPS = (
    *("epoch", "neg", "year", "sep", "month", "day", "bc"),
    *("hour", "minute", "second", "fraction"),
    *("zulu", "off_sign", "off_h", "off_m", "off_s", "off_m2", "zone"),
)
# DuckDB's decimal and integer casts: optional sign, digits with single underscores between
# them, an optional fraction and exponent, whitespace around.
NUMBER_PATTERN = (
    r"^\s*[+-]?(?:\d+(?:_\d+)*(?:\.(?:\d+(?:_\d+)*)?)?|\.\d+(?:_\d+)*)"
    r"(?:[eE][+-]?\d+(?:_\d+)*)?\s*\z"
)
HEX_PATTERN = r"^\s*0[xX]([0-9a-fA-F]+(?:_[0-9a-fA-F]+)*)\z"
SIGN_PATTERN = r"^\s*([+-]?)"  # and the integer digits after it:
WHOLE_PATTERN = r"^\s*[+-]?(\d*)"
BINARY_PATTERN = r"^\s*0[bB]([01]+(?:_[01]+)*)\z"


def _timestamp_levels(text: str, name: str) -> Levels:
    """Column ``name``: the UTC timestamp DuckDB's cast reads in a trimmed text
    (:data:`TS_PATTERN`), null where that cast fails. The date is computed 400 years at a
    time (the Gregorian cycle), so years outside Spark's 1..9999 dates read as DuckDB's."""
    groups = lit("|".join(f"${i}" for i in range(1, len(TS_GROUPS) + 1)))
    pattern = lit(TS_PATTERN)
    g, n, i = q(f"{name}_g"), q(f"{name}_n"), q(f"{name}_i")

    def part(group: str) -> str:
        return f"nullif(get({g}, {TS_GROUPS.index(group)}), '')"

    def number(group: str) -> str:
        return f"coalesce(try_cast({part(group)} as bigint), 0)"

    # 2: the numbers. ' (BC)': year n BC is year 1 - n (not after '-', not for year 0).
    year = f"try_cast({part('year')} as bigint)"
    year = f"(case when {part('neg')} is not null then -{year} else {year} end)"
    year = (
        f"case when {part('bc')} is null then {year} "
        f"when {part('neg')} is null and {year} != 0 then 1 - {year} end"
    )
    fraction = f"try_cast(rpad(substring({part('fraction')}, 1, 6), 6, '0') as bigint)"
    time = (
        f"((({number('hour')} * 60 + {number('minute')}) * 60 + {number('second')}) * 1000000"
        f" + coalesce({fraction}, 0))"
    )
    sign = f"(case when {part('off_sign')} = '-' then -1 else 1 end)"
    minutes = f"coalesce(try_cast(coalesce({part('off_m')}, {part('off_m2')}) as bigint), 0)"
    offset = f"{sign} * (({number('off_h')} * 60 + {minutes}) * 60 + {number('off_s')}) * 1000000"
    numbers = (
        f"named_struct('year', {year}, 'month', lpad({part('month')}, 2, '0'), "
        f"'day', lpad({part('day')}, 2, '0'), 'minute', {number('minute')}, "
        f"'second', {number('second')}, 'time', {time}, 'offset', {offset}, "
        f"'zone', {part('zone')}, 'epoch', {part('epoch')} is not null)"
    )
    # 3: the day (within a 400-year cycle of 2000, then moved back) and the instant.
    cycles = f"floor(({n}.year - 2000) / 400)"
    in_cycle = (
        f"try_cast(concat(cast({n}.year - {cycles} * 400 as string), '-', {n}.month, '-', "
        f"{n}.day) as date)"
    )
    valid = (
        f"abs({n}.year) <= {MAX_YEAR} and {in_cycle} is not null and {n}.minute < 60 "
        f"and {n}.second < 60 and {n}.time <= {MICROS_PER_DAY}"
    )
    micros = f"(unix_date({in_cycle}) + {cycles} * 146097) * {MICROS_PER_DAY}"
    instant = (
        f"named_struct('ts', case when {valid} then "
        f"timestamp_micros({micros} + {n}.time - {n}.offset) end, "
        f"'zone', {n}.zone, 'epoch', {n}.epoch)"
    )
    # 4: a zone name (not an offset: ICU knows no zone '+08:00' or 'Z') makes the time local
    # to it; Spark's cast resolves the name (null when it knows none, as ICU's).
    zoned = (
        f"case when {i}.epoch then timestamp_micros(0) "
        f"when {i}.zone is null or upper({i}.zone) = 'UTC' then {i}.ts "
        f"when not {i}.zone rlike '^[A-Za-z]' or upper({i}.zone) = 'Z' then null "
        f"else try_cast(concat(date_format({i}.ts, 'yyyy-MM-dd HH:mm:ss.SSSSSS'), ' ', "
        f"{i}.zone) as timestamp) end"
    )
    # 1: the pattern's groups (group 1 first), where the text matches it.
    replaced = f"regexp_replace({text}, {pattern}, {groups})"
    matched = f"case when {text} rlike {pattern} then split({replaced}, '[|]', -1) end"
    return [
        [(f"{name}_g", matched)],
        [(f"{name}_n", f"case when {g} is not null then {numbers} end")],
        [(f"{name}_i", instant)],
        [(name, zoned)],
    ]


def _decimal(text: str) -> str:
    """DuckDB's ``try_cast(x as decimal(18, 2))`` of a trimmed text: rounded half away from
    zero; null when its integer digits (before any exponent) are more than 16."""
    clean = f"regexp_replace({text}, '_', '')"
    whole = f"regexp_extract({clean}, {lit(WHOLE_PATTERN)}, 1)"
    return (
        f"case when {text} rlike {lit(NUMBER_PATTERN)} and "
        f"length(regexp_replace({whole}, '^0+', '')) <= 16 "
        f"then try_cast({clean} as {SPARK_TYPES['decimal']}) end"
    )


def _integer_levels(text: str, name: str) -> Levels:
    """Column ``name``: DuckDB's ``try_cast(x as bigint)`` of a trimmed text. A fraction or
    exponent is rounded half away from zero, ``0x``/``0b`` mean hexadecimal/binary; null
    outside the bigint range, or when the integer digits before an exponent are."""
    clean = f"regexp_replace({text}, '_', '')"
    sign = f"regexp_extract({clean}, {lit(SIGN_PATTERN)}, 1)"
    whole = f"regexp_extract({clean}, {lit(WHOLE_PATTERN)}, 1)"
    mantissa = f"concat({sign}, case when {whole} = '' then '0' else {whole} end)"
    fits = f"try_cast({mantissa} as bigint) is not null"
    hex_digits = f"regexp_replace(regexp_extract({text}, {lit(HEX_PATTERN)}, 1), '_', '')"
    bin_digits = f"regexp_replace(regexp_extract({text}, {lit(BINARY_PATTERN)}, 1), '_', '')"
    parts = (
        f"named_struct('rounded', case when {text} rlike {lit(NUMBER_PATTERN)} and {fits} "
        f"then round(try_cast({clean} as decimal(38,9)), 0) end, "
        f"'based', try_cast(case when length({hex_digits}) between 1 and 16 "
        f"then conv({hex_digits}, 16, 10) when length({bin_digits}) between 1 and 64 "
        f"then conv({bin_digits}, 2, 10) end as decimal(38,0)))"
    )
    p = q(f"{name}_n")
    value = f"coalesce({p}.rounded, {p}.based)"
    return [
        [(f"{name}_n", parts)],
        [
            (
                name,
                f"case when {value} between -9223372036854775808 and 9223372036854775807 "
                f"then try_cast({value} as bigint) end",
            )
        ],
    ]


def _boolean(text: str) -> str:
    """DuckDB's ``try_cast(lower(x) as boolean)`` of a trimmed text."""
    true, false = (", ".join(lit(t) for t in texts) for texts in (TRUE_TEXT, FALSE_TEXT))
    return (
        f"case when lower({text}) in ({true}) then true "
        f"when lower({text}) in ({false}) then false end"
    )


def _float_text_levels(source: str, spark_type: str, name: str) -> Levels:
    """Column ``name``: DuckDB's text of float or double column ``source`` (Python's
    ``repr``: the shortest digits that read back, positional from 1e-4 to 1e16, else like
    ``1.5e+16``). Java's text has those digits in its own notation, except that JDK 17
    sometimes shows more than needed: then (over 15 digits, or when one fewer also reads
    back) the shortest ``%.{p}e`` that reads back is searched for."""
    col = q(source)
    java = f"cast({col} as string)"
    mantissa = f"regexp_replace(regexp_extract({java}, '^-?([0-9.]+)', 1), '[.]', '')"
    digits = f"length(regexp_replace(regexp_replace({mantissa}, '^0+', ''), '0+$', ''))"
    candidates = " ".join(
        f"when try_cast(format_string('%.{p - 1}e', {col}) as {spark_type}) = {col} "
        f"then format_string('%.{p - 1}e', {col})"
        for p in range(1, 18)
    )
    # %e's 1.50e+16 as Java's 1.50E16 (and 2e+16 as 2.0E16), for the pattern below.
    searched = (
        f"regexp_replace(regexp_replace(case {candidates} end, 'e[+]?', 'E'), "
        "'^(-?[0-9])E', '$1.0E')"
    )
    # Java's digits are the shortest unless there are over 15, or one fewer reads back too.
    fewer = f"format_string(concat('%.', {digits} - 2, 'e'), {col})"
    shorter = f"{digits} > 1 and try_cast({fewer} as {spark_type}) = {col}"
    shortest = f"case when {digits} > 15 or {shorter} then {searched} else {java} end"
    s, k, d = q(f"{name}_j"), q(f"{name}_k"), q(f"{name}_d")
    pattern = lit(r"^(-?)([0-9]+)[.]([0-9]+)(?:E(-?[0-9]+))?$")
    parts = (
        f"named_struct('sign', regexp_extract({s}, {pattern}, 1), "
        f"'whole', regexp_extract({s}, {pattern}, 2), "
        f"'all', concat(regexp_extract({s}, {pattern}, 2), regexp_extract({s}, {pattern}, 3)), "
        f"'exponent', coalesce(try_cast(nullif(regexp_extract({s}, {pattern}, 4), '') as int), 0))"
    )
    no_lead = f"regexp_replace({k}.all, '^0+', '')"
    # the significant digits, and the decimal exponent of the first of them
    significant = (
        f"named_struct('sign', {k}.sign, 'd', regexp_replace({no_lead}, '0+$', ''), "
        f"'e', length({k}.whole) + {k}.exponent - (length({k}.all) - length({no_lead})) - 1)"
    )
    digit, e, sign = f"{d}.d", f"{d}.e", f"{d}.sign"
    positional = (
        f"case when {e} >= 0 then concat(rpad(substr({digit}, 1, {e} + 1), {e} + 1, '0'), '.', "
        f"coalesce(nullif(substr({digit}, {e} + 2), ''), '0')) "
        f"else concat('0.', repeat('0', -{e} - 1), {digit}) end"
    )
    power = f"cast(abs({e}) as string)"
    scientific = (
        f"concat(substr({digit}, 1, 1), "
        f"case when length({digit}) > 1 then concat('.', substr({digit}, 2)) else '' end, "
        f"'e', case when {e} < 0 then '-' else '+' end, "
        f"lpad({power}, greatest(2, length({power})), '0'))"
    )
    text = (
        f"case when {col} is null then null when isnan({col}) then 'nan' "
        f"when {col} = double('inf') then 'inf' when {col} = double('-inf') then '-inf' "
        f"when {digit} = '' then concat({sign}, '0.0') "
        f"when {e} between -4 and 15 then concat({sign}, {positional}) "
        f"else concat({sign}, {scientific}) end"
    )
    return [
        [(f"{name}_j", shortest)],
        [(f"{name}_k", parts)],
        [(f"{name}_d", significant)],
        [(name, text)],
    ]


def duckdb_header_names(tokens: list[str | None]) -> list[str]:
    """The column names DuckDB's CSV reader gives a header row: blank names become
    ``column<i>`` (zero-padded to the widest index), names are trimmed of Unicode spaces,
    and a name already taken (ignoring case) gets ``_1``, ``_2``, ... appended."""
    width = len(str(max(len(tokens) - 1, 0)))
    taken: dict[str, int] = {}
    names = []
    for i, token in enumerate(tokens):
        if token is None or not token.strip(" \t\n\v\f\r"):
            name = f"column{i:0{width}d}"
        else:
            name = token.strip(SPACES)
        while name.lower() in taken:
            taken[name.lower()] += 1
            name = f"{name}_{taken[name.lower()]}"
        taken[name.lower()] = 0
        names.append(name)
    return names


# --- staging the files -------------------------------------------------------------------


@dataclass
class _Source:
    """A staged file: one row per data row with ``_row_number`` and the file's columns as
    ``_s0``, ``_s1``, ... (named ``names`` in the file), as text except the ``native`` ones
    (name -> ``timestamp``, ``timestamptz``, ``integer`` or ``boolean``), which kept their
    Parquet type because it is their contract column's kind (DuckDB's rule)."""

    path: Path
    frame: DataFrame
    cached: DataFrame  # the persisted frame ``frame`` is computed from
    names: list[str]
    rows: int
    native: dict[str, str] = field(default_factory=dict)

    def column(self, name: str) -> str:
        return q(f"_s{self.names.index(name)}")

    def trimmed(self, name: str) -> str:
        """A text column's trimmed text (a column of :func:`_trim_level`)."""
        return q(f"_x{self.names.index(name)}")

    def text(self, name: str) -> str:
        """The column as DuckDB's ``cast(x as varchar)`` shows it."""
        kind = self.native.get(name)
        if kind == "timestamptz":
            return f"concat(cast({self.column(name)} as string), '+00')"
        return f"cast({self.column(name)} as string)" if kind else self.column(name)

    def record_value(self, name: str) -> str:
        """The column in the quarantine's JSON record, as DuckDB's ``to_json`` has it
        (timestamps as text, numbers and booleans as JSON's)."""
        native = self.native.get(name, "")
        return self.text(name) if native.startswith("timestamp") else self.column(name)


def _reader_said(exc: Exception) -> str:
    """The useful line of a Spark error: its innermost error class and message."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    classed = [line for line in lines if re.search(r"\[[A-Z_.]+\]", line)]
    line = (classed or lines or [type(exc).__name__])[-1]
    return re.sub(r"^(Caused by: )?([\w.$]+(Exception|Error): )?", "", line)


def _utf8_error(path: Path) -> str | None:
    """Where the file stops being UTF-8, or None when it is UTF-8 throughout."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    with path.open("rb") as handle:
        try:
            while chunk := handle.read(1 << 20):
                decoder.decode(chunk)
            decoder.decode(b"", final=True)
        except UnicodeDecodeError as exc:
            return str(exc)
    return None


def _spark_errors() -> tuple[type[Exception], ...]:
    from py4j.protocol import Py4JError  # type: ignore[import-untyped]
    from pyspark.errors import PySparkException

    return (PySparkException, Py4JError)


def _read_csv(spark: SparkSession, path: Path) -> _Source:
    """Stage a CSV file as text. Spark reads it as a whole (``multiLine``: as in DuckDB, a
    quoted field may hold a line break), so one task reads it in order. The header is read
    as a row and named as DuckDB names it, and each row's number is its place in the file
    (from the partitions' sizes, should Spark ever split the file)."""
    from pyspark import StorageLevel
    from pyspark.sql import functions as F

    options = {
        "header": "false",
        "sep": ",",
        "quote": '"',
        "escape": '"',
        "encoding": "UTF-8",
        "multiLine": "true",
        "mode": "FAILFAST",
        "inferSchema": "false",
    }
    framed = None
    try:
        raw = spark.read.options(**options).csv(str(path))
        columns = [f"_s{i}" for i in range(len(raw.columns))]
        framed = raw.selectExpr(
            "spark_partition_id() as _pid",
            "monotonically_increasing_id() as _mid",
            *[f"{q(c)} as {s}" for c, s in zip(raw.columns, columns, strict=True)],
        ).persist(StorageLevel.MEMORY_AND_DISK)
        # One pass: the rows of each partition, its first row (the header, in the first)
        # and whether any value has U+FFFD, which Spark puts where a byte is not UTF-8.
        stats = (
            framed.groupBy("_pid")
            .agg(
                F.expr("count(1)").alias("n"),
                F.expr(f"min_by(array({', '.join(columns)}), _mid)").alias("first"),
                F.expr(f"max(concat_ws('', {', '.join(columns)}) like '%\ufffd%')").alias("bad"),
            )
            .collect()
        )
    except _spark_errors() as exc:
        if framed is not None:
            framed.unpersist()
        raise ContractError(path, explain_read_error(_reader_said(exc))) from exc
    if any(row["bad"] for row in stats) and (problem := _utf8_error(path)):
        framed.unpersist()
        raise ContractError(path, f"{NOT_UTF8}. Reader said: {problem}")
    offsets, total, header = [], 0, None
    for row in sorted(stats, key=lambda row: int(row["_pid"])):
        offsets.append(f"when {row['_pid']} then {total}")
        total += row["n"]
        if header is None and row["n"]:
            header = list(row["first"])
    # monotonically_increasing_id(): the partition in the upper 31 bits, the row's place in
    # the partition in the lower 33.
    line = (
        f"(case _pid {' '.join(offsets)} else 0 end + _mid - shiftleft(cast(_pid as bigint), 33))"
    )
    if header is None:  # no line but blank ones: DuckDB reads one unnamed column, no row
        frame = spark.createDataFrame([], "_row_number bigint, _s0 string")
    else:
        frame = framed.where(f"{line} > 0").selectExpr(f"{line} as _row_number", *columns)
    names = duckdb_header_names(header if header is not None else [None])
    return _Source(path, frame, framed, names, max(total - 1, 0))


def _parquet_text_levels(
    source: str, arrow_type: pa.DataType, spark_type: str, name: str
) -> Levels:
    """Column ``name``: Parquet column ``source`` (not kept in its type) as DuckDB's text."""
    import pyarrow as pa

    col = q(source)
    if pa.types.is_floating(arrow_type):
        return _float_text_levels(source, "float" if spark_type == "float" else "double", name)
    text = f"cast({col} as string)"
    if pa.types.is_timestamp(arrow_type):
        zone = "'+00'" if arrow_type.tz else "''"
        text = f"concat({text}, {zone})"
        if spark_type == "bigint":  # nanoseconds (nanosAsLong): DuckDB shows all 9 digits
            # in whole numbers: a double cannot hold the nanoseconds since 1970 exactly
            below = f"pmod({col}, 1000000000)"
            seconds = f"cast(timestamp_seconds(({col} - {below}) div 1000000000) as string)"
            nanos = f"regexp_replace(lpad(cast({below} as string), 9, '0'), '0+$', '')"
            text = (
                f"case when {col} is not null then concat({seconds}, "
                f"case when {nanos} = '' then '' else concat('.', {nanos}) end, {zone}) end"
            )
    return [[(name, text)]]


def _native_kind(arrow_type: pa.DataType, kind: str) -> str | None:
    """Whether DuckDB keeps a Parquet column in its type (``load.NATIVE_TYPES``): timestamps
    to the microsecond, signed integers and unsigned ones up to 32 bits, booleans, each for
    a contract column of that kind only."""
    import pyarrow as pa

    if kind == "timestamp" and pa.types.is_timestamp(arrow_type) and arrow_type.unit != "ns":
        return "timestamptz" if arrow_type.tz else "timestamp"
    if kind == "integer" and (
        pa.types.is_signed_integer(arrow_type)
        or (pa.types.is_unsigned_integer(arrow_type) and arrow_type.bit_width <= 32)
    ):
        return "integer"
    if kind == "boolean" and pa.types.is_boolean(arrow_type):
        return "boolean"
    return None


@contextmanager
def _session_conf(spark: SparkSession, key: str, value: str | None) -> Iterator[None]:
    """A session configuration set for a block (left alone when ``value`` is None)."""
    previous = spark.conf.get(key, None)
    if value is not None:
        spark.conf.set(key, value)
    try:
        yield
    finally:
        if value is not None:
            if previous is None:
                spark.conf.unset(key)
            else:
                spark.conf.set(key, previous)


def _read_parquet(spark: SparkSession, table: Table, path: Path) -> _Source:
    """Stage a Parquet file: contract columns whose type already is the contract's kind as
    they are, all else as DuckDB's text of it. Row numbers are the file's own
    (``_metadata.row_index``). The footer's types (read with pyarrow) tell naive, zoned and
    nanosecond timestamps apart, which Spark's schema does not."""
    import pyarrow as pa
    import pyarrow.parquet as pq
    from pyspark import StorageLevel

    kinds = {c.name: c.kind for c in table.columns}
    try:
        arrow = pq.read_schema(path)
    except (pa.ArrowException, OSError) as exc:
        raise ContractError(path, explain_read_error(str(exc))) from exc
    names = [f.name for f in arrow]
    nanos = any(pa.types.is_timestamp(f.type) and f.type.unit == "ns" for f in arrow)
    native: dict[str, str] = {}
    levels: list[Levels] = []
    try:
        # Spark reads nanosecond timestamps only as whole numbers, with nanosAsLong when
        # it infers the schema; read with that schema, they need no setting after.
        with _session_conf(spark, NANOS_AS_LONG, "true" if nanos else None):
            schema = spark.read.parquet(str(path)).schema
        raw = spark.read.schema(schema).parquet(str(path))
        spark_types = dict(raw.dtypes)
        frame = raw.selectExpr(
            "_metadata.row_index + 1 as _row_number",
            *[f"{q(n)} as _r{i}" for i, n in enumerate(names)],
        )
        for i, f in enumerate(arrow):
            kind = _native_kind(f.type, kinds.get(f.name.strip().lower(), ""))
            if kind is not None:
                native[f.name] = kind
                levels.append([[(f"_s{i}", f"_r{i}")]])
            else:
                text = _parquet_text_levels(f"_r{i}", f.type, spark_types[f.name], f"_s{i}")
                levels.append(text)
        frame = _apply(frame, _merge(*levels)).selectExpr(
            "_row_number", *[f"_s{i}" for i in range(len(names))]
        )
        frame = frame.persist(StorageLevel.MEMORY_AND_DISK)
        rows = frame.count()
    except _spark_errors() as exc:
        raise ContractError(path, explain_read_error(_reader_said(exc))) from exc
    return _Source(path, frame, frame, names, rows, native)


def _stage(spark: SparkSession, table: Table, path: Path) -> _Source:
    """Read one contract file, refusing it where the DuckDB loader would."""
    check_not_empty(path)
    if path.suffix.lower() == ".csv":
        source = _read_csv(spark, path)
    else:
        source = _read_parquet(spark, table, path)
    try:
        check_header(table, path, source.names)
    except ContractError:
        source.cached.unpersist()
        raise
    return source


# --- validation --------------------------------------------------------------------------


def _trim_level(source: _Source, names: list[str]) -> Levels:
    """Columns ``_x<i>``: the trimmed text of each of ``names`` that is text."""
    return [
        [
            (f"_x{source.names.index(n)}", _trimmed(source.column(n)))
            for n in dict.fromkeys(names)
            if n not in source.native
        ]
    ]


def _typed_levels(col: Column, source: _Source, name: str, target: str) -> Levels:
    """Column ``target``: the contract-typed value of file column ``name`` (read from its
    trimmed text, :func:`_trim_level`, unless it is native)."""
    if name in source.native:
        return [[(target, f"cast({source.column(name)} as {SPARK_TYPES[col.kind]})")]]
    text = source.trimmed(name)
    if col.kind == "timestamp":
        return _timestamp_levels(text, target)
    if col.kind == "integer":
        return _integer_levels(text, target)
    if col.kind == "string":
        value = f"lower({text})" if col.allowed else text
    else:
        value = _boolean(text) if col.kind == "boolean" else _decimal(text)
    return [[(target, value)]]


def _by_lower(source: _Source) -> dict[str, str]:
    """File column names by the contract name they match (stripped, lower-cased)."""
    return {n.strip().lower(): n for n in source.names}


def _reason(template: str, values: dict[str, str], **fixed: str) -> str:
    """A reason template as Spark SQL (null when a value is null, as in DuckDB)."""
    return f"concat({', '.join(reason_pieces(template, values, lit, **fixed))})"


def _problem(column: str | None, code: str, reason: str) -> str:
    name = "cast(null as string)" if column is None else lit(column)
    return f"named_struct('column_name', {name}, 'reason_code', {lit(code)}, 'reason', {reason})"


@dataclass
class _TableCheck:
    """Validates one staged table as ``load._TableLoader`` does: row checks, then keys,
    references and (contact_log) exported keys, each step quarantining what it rejects."""

    spark: SparkSession
    table: Table
    source: _Source
    load_id: str
    as_of_end: dt.datetime
    quarantined: list[DataFrame] = field(default_factory=list)
    persisted: list[DataFrame] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.by_lower = _by_lower(self.source)
        contract = {c.name for c in self.table.columns}
        self.extras = [n for low, n in self.by_lower.items() if low not in contract]

    def _condition(self, check: RowCheck) -> str:
        col = check.column
        name, typed = self.by_lower[col.name], q(col.name)
        if check.test == "missing":
            if name in self.source.native:
                return f"{self.source.column(name)} is null"
            return f"{self.source.trimmed(name)} is null"
        if check.test == "bad_type":
            return f"{self.source.trimmed(name)} is not null and {typed} is null"
        if check.test == "not_allowed":
            allowed = ", ".join(lit(a) for a in col.allowed or ())
            return f"{typed} is not null and {typed} not in ({allowed})"
        if check.test == "below":
            return f"{typed} < {col.min_value}"
        if check.test == "above":
            return f"{typed} > {col.max_value}"
        return f"{typed} >= timestamp'{self.as_of_end:%Y-%m-%d %H:%M:%S}'"

    def checked(self) -> DataFrame:
        """Every staged row with its typed contract columns and ``_problems``: the row
        checks' problems in order (null when it has none)."""
        t, src = self.table, self.source
        present = [(j, c) for j, c in enumerate(t.columns) if c.name in self.by_lower]
        levels = _trim_level(src, src.names) + _merge(
            *[_typed_levels(c, src, self.by_lower[c.name], f"_v{j}") for j, c in present]
        )
        texts = [f"_x{i}" for i, n in enumerate(src.names) if n not in src.native]
        originals = [f"_s{i}" for i in range(len(src.names))]
        typed = _apply(src.frame, levels).selectExpr(
            "_row_number",
            *originals,
            *texts,
            *[
                f"cast({f'_v{j}' if c.name in self.by_lower else 'null'} as "
                f"{SPARK_TYPES[c.kind]}) as {q(c.name)}"
                for j, c in enumerate(t.columns)
            ],
        )
        # A header line again: each column holds its own name (DuckDB trims text columns).
        echo = " and ".join(
            f"lower({src.text(n) if n in src.native else src.trimmed(n)}) = {lit(low)}"
            for low, n in self.by_lower.items()
        )
        code, reason = REPEATED_HEADER
        problems = [(echo, _problem(None, code, lit(reason)))]
        for _, col in present:
            name = self.by_lower[col.name]
            shown = f"substring({src.text(name)}, 1, {VALUE_SHOWN})"
            for check in row_checks(col, native=name in src.native):
                text = _reason(check.reason, {"value": shown})
                problems.append((self._condition(check), _problem(col.name, check.code, text)))
        # The conditions first, as flags; then the problems, for rows with any.
        flags = ", ".join(f"coalesce({cond}, false)" for cond, _ in problems)
        listed = ", ".join(
            f"case when _flags[{k}] then {struct} end" for k, (_, struct) in enumerate(problems)
        )
        return typed.selectExpr("*", f"array({flags}) as _flags").selectExpr(
            "_row_number",
            *originals,
            *[q(c.name) for c in t.columns],
            f"case when exists(_flags, f -> f) then filter(array({listed}), p -> p is not null) "
            "end as _problems",
        )

    def _quarantine(self, rows: DataFrame, problems: str) -> None:
        """Put ``rows`` in the quarantine with their first problem and the others' reasons."""
        src = self.source
        record = ", ".join(f"{lit(n)}, {src.record_value(n)}" for n in src.names)
        self.quarantined.append(
            rows.selectExpr("*", f"{problems} as _p").selectExpr(
                f"{lit(self.load_id)} as load_id",
                f"{lit(self.table.name)} as table_name",
                f"{lit(str(src.path))} as source_file",
                "_row_number as row_number",
                "_p[0].column_name as column_name",
                "_p[0].reason_code as reason_code",
                "_p[0].reason as reason",
                "case when size(_p) > 1 then "
                "array_join(transform(slice(_p, 2, size(_p) - 1), x -> x.reason), '; ') "
                "end as other_problems",
                f"to_json(named_struct({record}), map('ignoreNullFields', 'false')) as record",
            )
        )

    def _split(self, rows: DataFrame, bad: str, problem: str) -> DataFrame:
        """Quarantine the rows where ``bad`` is true; return the others."""
        flagged = rows.selectExpr("*", f"coalesce({bad}, false) as _bad")
        self._quarantine(flagged.where("_bad"), f"array({problem})")
        return flagged.where("not _bad").drop("_bad")

    def run(self, parents: dict[str, DataFrame]) -> DataFrame:
        """The rows that pass every check: contract columns typed, then the extras, then
        ``_row_number``."""
        from pyspark import StorageLevel

        t = self.table
        checked = self.checked().persist(StorageLevel.MEMORY_AND_DISK)
        self.persisted.append(checked)
        self._quarantine(checked.where("_problems is not null"), "_problems")
        rows = checked.where("_problems is null").drop("_problems")
        if t.key:
            # Only the first row of a key is kept.
            keyed = rows.selectExpr(
                "*", f"min(_row_number) over (partition by {q(t.key)}) as _first"
            )
            code, reason = DUPLICATE_KEY
            values = {"value": q(t.key), "first_row": "cast(_first as string)"}
            problem = _problem(t.key, code, _reason(reason, values, key=t.key))
            rows = self._split(keyed, "_row_number != _first", problem).drop("_first")
        for ref in t.references:
            if ref.table in parents:
                rows = self._check_reference(rows, ref.column, ref.table, parents[ref.table])
        if t.name == "contact_log":
            rows = self._check_exported_keys(rows)
        extras = [f"_s{self.source.names.index(n)} as {q(n)}" for n in self.extras]
        return rows.selectExpr(*[q(c.name) for c in t.columns], *extras, "_row_number")

    def _flag_known(self, rows: DataFrame, column: str, keys: DataFrame) -> DataFrame:
        """``rows`` with ``_known``: whether ``column``'s value is among ``keys._ref``."""
        known = keys.selectExpr("_ref", "true as _known")
        return rows.join(known, rows[column] == known["_ref"], "left").drop("_ref")

    def _check_reference(
        self, rows: DataFrame, column: str, parent: str, parent_rows: DataFrame
    ) -> DataFrame:
        """A value must be the key of an accepted row of ``parent`` (when there is one)."""
        keys = parent_rows.selectExpr(f"{q(TABLES_BY_NAME[parent].key or '')} as _ref")
        code, reason = UNKNOWN_REFERENCE
        text = _reason(reason, {"value": q(column)}, column=column, parent=parent)
        bad = f"{q(column)} is not null and _known is null"
        flagged = self._flag_known(rows, column, keys)
        return self._split(flagged, bad, _problem(column, code, text)).drop("_known")

    def _check_exported_keys(self, rows: DataFrame) -> DataFrame:
        """A contact_log row must be about a contact Winback exported. As DuckDB's ``not in``
        decides: with no export every row is rejected, and a null among the exported keys
        makes the check reject none (unknown is not true)."""
        catalog = self.spark.catalog
        parts = [
            self.spark.sql(sql).toDF("_ref")
            for schema, name, sql in EXPORTED_KEY_SOURCES
            if catalog.databaseExists(schema) and catalog.tableExists(name, schema)
        ]
        code, reason = UNKNOWN_CONTACT_KEY
        problem = _problem("contact_key", code, _reason(reason, {"value": "contact_key"}))
        if not parts:
            return self._split(rows, "true", problem)
        exported = _union(parts)
        if exported.where("_ref is null").limit(1).count():
            return rows
        flagged = self._flag_known(rows, "contact_key", exported.distinct())
        return self._split(flagged, "_known is null", problem).drop("_known")


# --- the load ----------------------------------------------------------------------------


def _default_as_of(source: _Source, now: dt.datetime | None) -> dt.date:
    """The date of the latest parseable order not after ``now`` (``load.default_as_of``)."""
    name = _by_lower(source)["order_ts"]
    order_ts = TABLES_BY_NAME["orders"].column("order_ts")
    levels = _trim_level(source, [name]) + _typed_levels(order_ts, source, name, "_ts")
    row = (
        _apply(source.frame, levels)
        .where(f"_ts <= timestamp'{now or utc_now():%Y-%m-%d %H:%M:%S.%f}'")
        .selectExpr("date_format(max(_ts), 'yyyy-MM-dd') as day")
        .first()
    )
    if row is None or row["day"] is None:
        raise no_valid_order_error()
    return dt.date.fromisoformat(row["day"])


def _union(frames: list[DataFrame]) -> DataFrame:
    out = frames[0]
    for frame in frames[1:]:
        out = out.unionByName(frame)
    return out


def _count(
    table: Table, source: _Source, accepted: DataFrame, rejected: DataFrame, report: LoadReport
) -> TableLoad:
    """The table's counts, checked: each row read is loaded or quarantined, once. One Spark
    job counts both (and the quarantined rows by reason, for the report), filling both
    frames' caches on the way."""
    counts = (
        accepted.selectExpr("cast(null as string) as reason_code")
        .unionByName(rejected.select("reason_code"))
        .groupBy("reason_code")
        .count()
        .collect()
    )
    by_code = {row["reason_code"]: int(row["count"]) for row in counts}
    loaded = by_code.pop(None, 0)
    quarantined = sum(by_code.values())
    if source.rows != loaded + quarantined:
        raise conservation_error(source.path, source.rows, loaded, quarantined)
    report.quarantine_counts.update({(table.name, code): n for code, n in by_code.items()})
    return TableLoad(table.name, str(source.path), source.rows, loaded, quarantined)


def load_data_dir_spark(
    spark: SparkSession,
    data_dir: Path,
    as_of: dt.date | None = None,
    *,
    progress: Callable[[str], None] | None = None,
    max_data_age_days: int | None = None,
    now: dt.datetime | None = None,
) -> LoadReport:
    """Validate every contract file in ``data_dir`` with Spark and replace the ``raw``
    tables, ``raw._loads``' rows of this load and ``quarantine.rejected_rows`` in the
    session's catalogue, as :func:`winback.ingest.load.load_data_dir` does in DuckDB: the
    same checks, rows, messages and report (the module's docstring lists the few inputs on
    which they differ).

    Everything is read, validated and counted before any table is replaced; the new tables
    are written beside the old ones and swapped in last. Spark has no transaction across
    tables: a failure during the swap, which takes a second or two, can leave it half done.
    The session must run in UTC (``winback.spark.session`` does): timestamps are UTC
    wall-clock times, as in the DuckDB warehouse.
    """
    zone = spark.conf.get("spark.sql.session.timeZone")
    if zone not in UTC_ZONES:
        raise ValueError(f"the Spark session's time zone is {zone}; loading needs UTC")
    say = progress or (lambda _msg: None)
    files, notes = find_files(data_dir)
    sources: dict[str, _Source] = {}
    persisted: list[DataFrame] = []
    try:
        for table in TABLES:
            if table.name in files:
                say(f"reading {files[table.name].name}")
                source = _stage(spark, table, files[table.name])
                sources[table.name] = source
                persisted.append(source.cached)
        if as_of is None:
            as_of = _default_as_of(sources["orders"], now)
            check_data_age(files["orders"], as_of, now, max_data_age_days)
        load_id = make_load_id(files, as_of)
        report = LoadReport(load_id=load_id, as_of=as_of, notes=notes)
        as_of_end = dt.datetime.combine(as_of + dt.timedelta(days=1), dt.time())
        accepted: dict[str, DataFrame] = {}
        quarantined: list[DataFrame] = []
        for table in TABLES:
            if table.name not in files:
                report.tables[table.name] = TableLoad(table.name, None)
                continue
            say(f"validating {table.name}")
            check = _TableCheck(spark, table, sources[table.name], load_id, as_of_end)
            rows = check.run(accepted).persist()
            rejected = _union(check.quarantined).persist()
            persisted += [*check.persisted, rows, rejected]
            report.tables[table.name] = _count(table, sources[table.name], rows, rejected, report)
            accepted[table.name] = rows
            quarantined.append(rejected)
        say("writing the raw and quarantine tables")
        _publish(spark, report, files, accepted, quarantined)
    finally:
        for frame in persisted:
            frame.unpersist()
    orders = report.tables["orders"]
    if orders.rows_loaded == 0:
        raise nothing_loaded_error(files["orders"], orders.rows_read)
    return report


# --- publishing --------------------------------------------------------------------------


def _location(spark: SparkSession, database: str, table: str) -> tuple[Any, Any]:
    """The default location of a managed table: a Hadoop path and its file system."""
    info = {r[0]: r[1] for r in spark.sql(f"describe database {q(database)}").collect()}
    jvm = spark.sparkContext._jvm
    assert jvm is not None, "a classic (not Spark Connect) session"
    path = jvm.org.apache.hadoop.fs.Path(info["Location"], table.lower())
    return path, path.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration())


def _clear_location(spark: SparkSession, database: str, table: str) -> None:
    """Delete the files of a table the catalogue does not know: an in-memory catalogue
    forgets its tables when the process ends, their files stay (``winback.spark.session``
    clears a local warehouse, not a remote one) and Spark refuses to create a table where
    they are (LOCATION_ALREADY_EXISTS)."""
    if not spark.catalog.tableExists(table, database):
        path, fs = _location(spark, database, table)
        if fs.exists(path):
            fs.delete(path, True)


def _previous_loads(spark: SparkSession, load_id: str) -> DataFrame | None:
    """``raw._loads``' rows of other loads, kept as DuckDB's table keeps them. (A session
    with an in-memory catalogue starts without one: ``winback.spark.session`` clears a
    local warehouse, and files an earlier session left elsewhere are not read back.)"""
    if not spark.catalog.tableExists("_loads", "raw"):
        return None
    return spark.table("raw.`_loads`").where(f"load_id != {lit(load_id)}")


def _publish(
    spark: SparkSession,
    report: LoadReport,
    files: dict[str, Path],
    accepted: dict[str, DataFrame],
    quarantined: list[DataFrame],
) -> None:
    """Write every new table under a staging name, then swap each into place: the raw
    tables first, then ``raw._loads``, the quarantine last."""
    spark.sql("create database if not exists raw")
    spark.sql("create database if not exists quarantine")
    outputs: list[tuple[str, str, DataFrame]] = []
    for table in TABLES:
        if table.name in accepted:
            rows = accepted[table.name]
            source = lit(str(files[table.name]))
        else:  # absent: empty, typed
            columns = ", ".join(f"{q(c.name)} {SPARK_TYPES[c.kind]}" for c in table.columns)
            rows = spark.createDataFrame([], f"{columns}, _row_number bigint")
            source = "cast(null as string)"
        outputs.append(
            (
                "raw",
                table.name,
                rows.selectExpr(
                    *[q(c) for c in rows.columns if c != "_row_number"],
                    f"{lit(report.load_id)} as _load_id",
                    f"{source} as _source_file",
                    "cast(_row_number as bigint) as _row_number",
                    "current_timestamp() as _loaded_at",
                ),
            )
        )
    loads = spark.createDataFrame(
        [
            (
                report.load_id,
                report.as_of,
                t.table,
                t.source_file,
                t.rows_read,
                t.rows_loaded,
                t.rows_quarantined,
            )
            for t in report.tables.values()
        ],
        LOADS_SCHEMA,
    ).selectExpr("*", "current_timestamp() as loaded_at")
    previous = _previous_loads(spark, report.load_id)
    outputs.append(("raw", "_loads", loads if previous is None else previous.unionByName(loads)))
    rejected = _union(quarantined) if quarantined else spark.createDataFrame([], QUARANTINE_SCHEMA)
    outputs.append(("quarantine", "rejected_rows", rejected.orderBy("table_name", "row_number")))
    staged = []
    for database, name, frame in outputs:
        stage = f"_stage_{name}"
        spark.sql(f"drop table if exists {q(database)}.{q(stage)}")
        _clear_location(spark, database, stage)
        frame.write.mode("overwrite").format("parquet").saveAsTable(f"{q(database)}.{q(stage)}")
        staged.append((database, name, stage))
    for database, name, stage in staged:
        spark.sql(f"drop table if exists {q(database)}.{q(name)}")
        _clear_location(spark, database, name)
        spark.sql(f"alter table {q(database)}.{q(stage)} rename to {q(database)}.{q(name)}")
