"""Tasks and helpers every flow shares: the run's settings, its id, loading the data
directory and publishing for analysts (both file I/O, retried on transient errors only)."""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import os
import sys
import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

import duckdb
from prefect import Flow, Task, get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE
from prefect.client.orchestration import get_client
from prefect.client.schemas.objects import FlowRun
from prefect.context import FlowRunContext
from prefect.logging.loggers import flow_run_logger
from prefect.states import Completed, Crashed, State

from winback.config import Settings, load_settings
from winback.failures import (
    STEP_ATTRIBUTE,
    StepTimeoutError,
    describe,
    failed_step,
    record_failure,
)
from winback.ingest import LoadReport, load_data_dir
from winback.locking import RunLockedError, run_lock
from winback.logs import FAILURE_SUMMARY
from winback.publish import PublishReport, publish
from winback.stages import drill_hang, hard_stop_after

SKIPPED = "Skipped"  # the name of a run turned away by the lock (a Completed state)
ALERT_WEBHOOK_ENV = "WINBACK_ALERT_WEBHOOK_URL"
# Set by the CLI: it prints the failure screen itself, so the hook keeps it off the console.
CLI_PRINTS_FAILURES = threading.Event()


def settings_for_run(
    data_dir: str | None = None,
    as_of: dt.date | None = None,
    horizon_days: int | None = None,
) -> Settings:
    """The effective settings with this run's overrides (the flow's parameters), paths
    made absolute."""
    overrides: dict[str, object] = {}
    if data_dir is not None:
        overrides["data_dir"] = Path(data_dir)
    if as_of is not None:
        overrides["as_of"] = as_of
    if horizon_days is not None:
        overrides["features"] = {"horizon_days": horizon_days}
    return load_settings(**overrides).resolved()


def current_run_id() -> str:
    """The Prefect flow run's id (a fresh id outside a flow run)."""
    context = FlowRunContext.get()
    if context is not None and context.flow_run is not None:
        return str(context.flow_run.id)
    return str(uuid.uuid4())


P = ParamSpec("P")
R = TypeVar("R")


def step(**options: Any) -> Callable[[Callable[P, R]], Task[P, R]]:
    """A flow's step: a Prefect task (never cached: every input is the warehouse's
    state) whose body starts at the drills' hang point (``winback.stages.drill_hang``).
    Run it through :class:`Steps` for its time limit."""

    def wrap(fn: Callable[P, R]) -> Task[P, R]:
        @functools.wraps(fn)
        def body(*args: P.args, **kwargs: P.kwargs) -> R:
            drill_hang(fn.__name__)
            return fn(*args, **kwargs)

        return task(cache_policy=NO_CACHE, **options)(body)

    return wrap


def input_bytes(data_dir: Path) -> int:
    """Bytes of the files in the data directory (what the load step reads)."""
    try:
        return sum(p.stat().st_size for p in data_dir.rglob("*") if p.is_file())
    except OSError:
        return 0


class Steps:
    """Runs a flow's steps with their time limits (setting ``timeouts``), scaled to the
    data: the load step by the input files' size, later steps by the rows loaded
    (:attr:`rows`, set once loaded). A step past its limit is interrupted by Prefect
    (the task ends TimedOut) and the run fails with :class:`StepTimeoutError` naming it;
    one that cannot be interrupted (stuck in native code) ends the process
    ``hard_stop_grace_seconds`` later, after its failure is recorded. Every exception
    leaving a step is labelled with the step's name (``winback.failures.failed_step``)."""

    def __init__(self, settings: Settings, flow: str):
        self.settings = settings
        self.flow = flow
        self.rows = 0
        self.input_bytes = input_bytes(settings.data_dir)

    def limit(self, name: str) -> float | None:
        return self.settings.timeouts.for_step(
            name, self.rows, self.input_bytes if name == "load_raw" else 0
        )

    def __call__(self, step_task: Task[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
        name = step_task.name
        limit = self.limit(name)
        runnable = step_task.with_options(timeout_seconds=limit) if limit else step_task
        grace = None if limit is None else limit + self.settings.timeouts.hard_stop_grace_seconds
        run_id = current_run_id()  # here: the hard stop's timer thread has no run context
        try:
            with hard_stop_after(grace, lambda: self._hard_stop(name, limit or 0.0, run_id)):
                return runnable(*args, **kwargs)
        except TimeoutError as exc:
            if isinstance(exc, StepTimeoutError):
                raise
            raise StepTimeoutError(name, limit or 0.0) from exc
        except Exception as exc:
            if failed_step(exc) is None:
                with contextlib.suppress(AttributeError, TypeError):
                    setattr(exc, STEP_ATTRIBUTE, name)
            raise

    def _hard_stop(self, name: str, limit: float, run_id: str) -> None:
        error = StepTimeoutError(name, limit, hard=True)
        record = describe(error, self.flow, run_id, step=name)
        problems = record_failure(
            record, self.settings.warehouse.path, self.settings.alert_webhook_url
        )
        # The process ends before Prefect's engine can report it: say so to the API, or
        # the run would stay Running in the UI and in `prefect flow-run ls`.
        problems += mark_crashed(run_id, f"{self.flow}: {error}")
        sys.stderr.write("\n" + record.screen() + "\n")
        for problem in problems:
            sys.stderr.write(f"  ({problem})\n")
        sys.stderr.flush()


def mark_crashed(run_id: str, message: str) -> list[str]:
    """Set the Prefect flow run ``run_id`` to Crashed (for a process about to end
    without its engine reporting). Returns what went wrong, if it could not."""
    try:
        with get_client(sync_client=True) as client:
            client.set_flow_run_state(uuid.UUID(run_id), Crashed(message=message), force=True)
    except Exception as exc:  # noqa: BLE001 - the process ends anyway; say why not marked
        return [f"could not mark the Prefect run {run_id} crashed: {exc}"]
    return []


def alert_on_failure(flow: Flow[..., Any], flow_run: FlowRun, state: State) -> None:
    """Prefect hook of every flow's failure or crash: the failure record (flow, step,
    error, what to do: the CLI's first screen) to ``meta.run_failures``, the failure log
    and, if set, the alert webhook; and to the run's log (the UI)."""
    exc = state.result(raise_on_failure=False)
    if not isinstance(exc, BaseException):
        exc = RuntimeError(state.message or f"the run ended {state.name}")
    record = describe(exc, flow.name, str(flow_run.id))
    try:
        data_dir = flow_run.parameters.get("data_dir")
        settings: Settings | None = settings_for_run(data_dir)
    except Exception:  # noqa: BLE001 - the settings may be what failed
        settings = None
    problems = record_failure(
        record,
        settings.warehouse.path if settings else None,
        settings.alert_webhook_url if settings else os.environ.get(ALERT_WEBHOOK_ENV),
    )
    logger = flow_run_logger(flow_run, flow)
    # The CLI prints the same text itself as its first screen; elsewhere (a served,
    # scheduled run) the console shows it here.
    shown = {} if CLI_PRINTS_FAILURES.is_set() else {FAILURE_SUMMARY: True}
    logger.error("%s", record.screen(), extra=shown)
    for problem in problems:
        logger.warning("%s", problem)


def skipped_for_lock(exc: RunLockedError) -> State:
    """The state of a run turned away by another run's lock: Completed, named Skipped
    (not Failed: nothing went wrong; the next scheduled run tries again)."""
    return Completed(name=SKIPPED, message=f"Skipped: {exc}")


@contextlib.contextmanager
def lock_or_skip(settings: Settings, flow: str) -> Iterator[State | None]:
    """Hold the warehouse's run lock for the block (yielding None), or, when another run
    holds it, yield the Skipped state the flow returns (:func:`skipped_for_lock`)."""
    with contextlib.ExitStack() as held:
        try:
            held.enter_context(
                run_lock(settings.warehouse.path, flow, settings.warehouse.lock_timeout_seconds)
            )
        except RunLockedError as exc:
            get_run_logger().warning("skipped: %s", exc)
            yield skipped_for_lock(exc)
            return
        yield None


def is_transient(task: object, task_run: object, state: State) -> bool:
    """Retry only I/O trouble (a locked or briefly unreadable file), never bad data and
    never a step that ran past its time limit (TimeoutError is an OSError)."""
    try:
        state.result()
    except TimeoutError:
        return False
    except (OSError, duckdb.IOException):
        return True
    except Exception:  # noqa: BLE001 - anything else is not worth a retry
        return False
    return False


@step(retries=2, retry_delay_seconds=5, retry_condition_fn=is_transient)
def load_raw(
    settings: Settings, as_of: dt.date | None, artifact_key: str, reuse: bool = True
) -> LoadReport:
    """Validate the data directory into raw + quarantine (file I/O: retried). Files
    unchanged since the last load are kept as it validated them, unless ``reuse`` is off
    (``winback.ingest.load.load_data_dir``)."""
    logger = get_run_logger()
    report = load_data_dir(
        settings.warehouse.path,
        settings.data_dir,
        as_of,
        progress=logger.info,
        memory_limit=settings.warehouse.duckdb_memory_limit,
        max_data_age_days=settings.max_data_age_days,
        reuse=reuse,
    )
    logger.info(
        "loaded %s rows, quarantined %s, as of %s",
        sum(t.rows_loaded for t in report.tables.values()),
        report.rows_quarantined,
        report.as_of,
    )
    create_markdown_artifact(
        key=artifact_key,
        markdown=report.to_markdown(),
        description="Rows loaded and quarantined per table",
    )
    return report


@step(retries=2, retry_delay_seconds=5, retry_condition_fn=is_transient)
def publish_for_analysts(settings: Settings, flow_name: str, as_of: str) -> PublishReport:
    """Swap in a new published file with this flow's tables (atomic rename; file I/O:
    retried). The previous file stays whole and readable until the rename."""
    report = publish(
        settings.warehouse,
        settings.warehouse.published_file(),
        flow=flow_name,
        run_id=current_run_id(),
        as_of=as_of,
    )
    get_run_logger().info(report.summary())
    return report
