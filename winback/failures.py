"""What a failed run tells people: one text for the CLI's first screen, the Prefect
failure hook, the ``meta.run_failures`` table, ``logs/run_failures.jsonl`` and the alert
webhook (setting ``alert_webhook_url``, ``WINBACK_ALERT_WEBHOOK_URL``).

A failure record names the flow, the step (Prefect task) that failed, the error and what
to do. No Prefect here: the flows' hooks (``winback.flows.common``) and the CLI call it.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import traceback
from dataclasses import dataclass
from pathlib import Path

from winback.logs import log_file_path

# What to do, by exception class name: the last lines of every failure screen.
WHAT_TO_DO = {
    "ContractError": "Fix the named file (or move it aside) and run again; nothing was published.",
    "AssumptionsError": "Fix the named assumptions file (or move it aside to use the shipped default) and run again; nothing was published.",
    "DataValidationError": (
        "The named table broke its expectations (see the Data Docs page above), so nothing "
        "was published and analysts still read the previous published file. Check the "
        "input data for the named columns."
    ),
    "DbtBuildError": "A dbt model or test failed; see the dbt log named above. Nothing was published.",
    "StaleDataError": (
        "Put a fresh export of the named file into the data directory and run again. To "
        "build the list on this data anyway (a replay, or a shop with no recent orders), "
        "give its date explicitly: --as-of YYYY-MM-DD (or WINBACK_AS_OF). Nothing was "
        "loaded or published; analysts still read the last published file."
    ),
    "NotEnoughHistoryError": "Nothing was published.",
    "NoModelForDateError": "Nothing was published.",
    "SettingsError": (
        "Fix the named setting (environment variable, .env or winback.toml) and run again; "
        "`winback config show` lists every setting. Nothing was changed."
    ),
    "ExportError": "Nothing was exported; earlier exports are untouched.",
    "ExportAfterPublishError": (
        "Analysts already read tonight's list; only the files for the senders are missing "
        "(earlier exports are untouched). Fix the cause named above (e.g. the export folder, "
        "setting export.dir) and run `winback export --as-of <the date above>`."
    ),
    "RunLockedError": (
        "Wait for that run to finish (or raise WINBACK_WAREHOUSE__LOCK_TIMEOUT_SECONDS to "
        "wait for it), then run again. Nothing was changed; analysts still read the last "
        "published file."
    ),
    "StepTimeoutError": (
        "The run was stopped and released the warehouse lock; nothing was published and "
        "analysts still read the last published file. Look in the log file for what the "
        "step was doing; if the data simply grew, raise the limit (settings "
        "timeouts.step_seconds, e.g. WINBACK_TIMEOUTS__STEP_SECONDS='{\"<step>\": 3600}', "
        "or timeouts.seconds_per_million_rows)."
    ),
}
# DuckDB's message when a query needs more than its cap and cannot spill to disk.
OUT_OF_MEMORY = "Out of Memory Error"
OUT_OF_MEMORY_WHAT_TO_DO = (
    "DuckDB reached its memory cap (setting warehouse.duckdb_memory_limit, "
    "WINBACK_WAREHOUSE__DUCKDB_MEMORY_LIMIT; `winback config show` gives its value): raise "
    "it if the machine has the memory, or run on a bigger machine, and run again. Nothing "
    "was published; analysts still read the last published file."
)
DEFAULT_WHAT_TO_DO = (
    "Nothing was published by this run: analysts still read the last published file. "
    "Fix the cause and run again; finished steps are not redone needlessly."
)
STEP_ATTRIBUTE = "winback_step"  # set on an exception by the step that raised it


class StepTimeoutError(TimeoutError):
    """A step ran past its time limit (setting ``timeouts``) and was stopped."""

    def __init__(self, step: str, seconds: float, hard: bool = False):
        setattr(self, STEP_ATTRIBUTE, step)  # read by failed_step, like any step's error
        self.step = step
        self.seconds = seconds
        how = (
            "did not stop when asked (stuck in native code), so the process was ended"
            if hard
            else "was stopped"
        )
        super().__init__(f"step {step} ran past its time limit of {seconds:,.0f} s and {how}")


def failed_step(exc: BaseException) -> str | None:
    """The step (task name) an exception came from, when the flow's step runner knew."""
    step = getattr(exc, STEP_ATTRIBUTE, None)
    return str(step) if step else None


@dataclass(frozen=True)
class FailureRecord:
    """One failed run, as a person should read it."""

    failed_at: dt.datetime  # UTC, naive
    flow: str
    flow_run_id: str | None
    step: str | None
    error_type: str
    error: str
    what_to_do: str
    log_file: str

    def title(self, label: str | None = None) -> str:
        """``<flow> failed: <error> (step <step>)``; ``label`` names the flow for people
        (the CLI says "Nightly run")."""
        where = f" (step {self.step})" if self.step else ""
        return f"{label or self.flow} failed: {self.error_type}{where}"

    def screen(self, label: str | None = None) -> str:
        """The text of the CLI's first screen (and of the alert)."""
        return (
            f"✗ {self.title(label)}\n{self.error}\n\nWhat to do: {self.what_to_do}\n"
            f"Details and the traceback: {self.log_file}"
        )

    def as_json(self) -> dict[str, object]:
        row = dataclasses.asdict(self)
        row["failed_at"] = self.failed_at.isoformat(timespec="seconds")
        row["summary"] = self.screen()
        return row


def describe(
    exc: BaseException, flow: str, flow_run_id: str | None = None, step: str | None = None
) -> FailureRecord:
    """The failure record of ``exc`` raised by ``flow``."""
    name = type(exc).__name__
    return FailureRecord(
        failed_at=dt.datetime.now(dt.UTC).replace(tzinfo=None),
        flow=flow,
        flow_run_id=flow_run_id,
        step=step or failed_step(exc),
        error_type=name,
        error=str(exc) or repr(exc),
        what_to_do=OUT_OF_MEMORY_WHAT_TO_DO
        if OUT_OF_MEMORY in str(exc)
        else WHAT_TO_DO.get(name, DEFAULT_WHAT_TO_DO),
        log_file=str(log_file_path()),
    )


def failures_file() -> Path:
    """The failure records, one JSON object per line, beside the run log file."""
    return log_file_path().with_name("run_failures.jsonl")


def write_traceback(exc: BaseException, context: str) -> Path:
    """Append ``exc``'s traceback to the run log file (never to the console)."""
    path = log_file_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    stamp = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    with path.open("a", encoding="utf-8") as log:
        log.write(f"{stamp} | {context}\n")
        log.write("".join(traceback.format_exception(exc)))
    return path


def release_frames(exc: BaseException) -> None:
    """Drop the local variables of every frame in ``exc``'s tracebacks (its cause and
    context too), once it has been reported: a failed step's open objects (a DuckDB
    connection in a frame) are then freed now, not left for interpreter shutdown, where
    DuckDB's bindings would report them as leaked."""
    import gc

    seen: set[int] = set()
    stack = [exc]
    while stack:
        current = stack.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        traceback.clear_frames(current.__traceback__)
        stack.extend(e for e in (current.__cause__, current.__context__) if e is not None)
    gc.collect()


RUN_FAILURES_DDL = """
create schema if not exists meta;
create table if not exists meta.run_failures (
    failed_at timestamp not null,   -- UTC
    flow varchar not null,
    flow_run_id varchar,
    step varchar,                   -- the Prefect task that failed (null: outside a step)
    error_type varchar not null,
    error varchar not null,
    what_to_do varchar not null,
    log_file varchar not null
)
"""


def record_failure(
    record: FailureRecord, warehouse_path: Path | None, webhook_url: str | None
) -> list[str]:
    """Write ``record`` to ``logs/run_failures.jsonl``, ``meta.run_failures`` of the
    working warehouse and the webhook; return what could not be done (each attempt is
    independent: a locked warehouse does not stop the alert)."""
    problems: list[str] = []
    row = record.as_json()
    try:
        path = failures_file()
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a", encoding="utf-8") as out:
            out.write(json.dumps(row, ensure_ascii=False) + "\n")
    except OSError as exc:
        problems.append(f"could not append to {failures_file()}: {exc}")
    if warehouse_path is not None:
        try:
            _insert(record, warehouse_path)
        except Exception as exc:  # noqa: BLE001 - reported, never hides the run's failure
            problems.append(f"could not write meta.run_failures in {warehouse_path}: {exc}")
    if webhook_url:
        try:
            post_alert(webhook_url, row)
        except Exception as exc:  # noqa: BLE001 - reported, never hides the run's failure
            problems.append(f"could not POST the alert to {webhook_url}: {exc}")
    return problems


def _insert(record: FailureRecord, warehouse_path: Path) -> None:
    import duckdb

    warehouse_path.parent.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(warehouse_path))
    try:
        con.execute(RUN_FAILURES_DDL)
        con.execute(
            "insert into meta.run_failures values (?, ?, ?, ?, ?, ?, ?, ?)",
            [
                record.failed_at,
                record.flow,
                record.flow_run_id,
                record.step,
                record.error_type,
                record.error,
                record.what_to_do,
                record.log_file,
            ],
        )
    finally:
        con.close()


def post_alert(url: str, payload: dict[str, object], timeout_seconds: float = 10.0) -> None:
    """POST the failure record as JSON; raise on a transport error or a non-2xx answer."""
    import httpx

    response = httpx.post(url, json=payload, timeout=timeout_seconds)
    response.raise_for_status()
