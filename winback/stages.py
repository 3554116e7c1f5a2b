"""Wall time and peak memory of each stage of a run, measured by the run itself.

Peak memory is the process's resident-set high-water mark (``VmHWM``), reset at the
start of every stage through ``/proc/self/clear_refs`` so each stage reports its own
peak. Where /proc is unavailable the figures are None, never invented.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path

PROC_STATUS = Path("/proc/self/status")
PROC_CLEAR_REFS = Path("/proc/self/clear_refs")
# Fault injection for the failure drills (tests/ops): a run whose environment sets
# WINBACK_DRILL_KILL_AT=<point>[+<seconds>] SIGKILLs itself on reaching that point (a stage
# name, on entering it, or "publish:before-rename"), or that many seconds after it, i.e.
# in the middle of the stage. Never set in production.
DRILL_KILL_AT = "WINBACK_DRILL_KILL_AT"
# WINBACK_DRILL_HANG_AT=<step> makes that step (a flow task, by name) hang at its start:
# in an interruptible sleep, or, with a trailing "!", in a loop that swallows every
# exception, as a call stuck in native code would (only ending the process stops it).
DRILL_HANG_AT = "WINBACK_DRILL_HANG_AT"
# How a process ended by the hard-stop watchdog exits (as timeout(1) does).
HARD_STOP_EXIT_CODE = 124


def _sigkill_self() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def drill_point(name: str) -> None:
    """Kill this process with SIGKILL if the drill asks for it at ``name`` (no-op
    otherwise): a death that no ``finally`` or ``except`` can soften."""
    wanted = os.environ.get(DRILL_KILL_AT)
    if not wanted:
        return
    point, plus, delay = wanted.rpartition("+")
    if not plus or not delay.strip().replace(".", "", 1).isdigit():
        point, delay = wanted, ""  # no "+<seconds>": "+" may be part of the stage name
    if point != name:
        return
    if not delay:
        _sigkill_self()
        return
    timer = threading.Timer(float(delay), _sigkill_self)
    timer.daemon = True
    timer.start()


def drill_hang(step: str) -> None:
    """Hang here if the drill asks for it at ``step`` (no-op otherwise)."""
    wanted = os.environ.get(DRILL_HANG_AT, "")
    stubborn = wanted.endswith("!")
    if wanted.rstrip("!") != step:
        return
    while True:
        try:
            time.sleep(0.2)
        except BaseException:
            if not stubborn:
                raise


@contextmanager
def hard_stop_after(seconds: float | None, on_expiry: Callable[[], None]) -> Iterator[None]:
    """End the whole process (exit code ``HARD_STOP_EXIT_CODE``) if the block has not
    finished ``seconds`` after it started, calling ``on_expiry`` first (to record why).
    For calls a timeout cannot interrupt (native code): the kernel then frees the run
    lock, and nothing unfinished is published."""
    if seconds is None:
        yield
        return

    def expire() -> None:
        try:
            on_expiry()
        finally:
            os._exit(HARD_STOP_EXIT_CODE)

    timer = threading.Timer(seconds, expire)
    timer.daemon = True
    timer.start()
    try:
        yield
    finally:
        timer.cancel()


def _read_kib(key: str) -> int | None:
    try:
        for line in PROC_STATUS.read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def reset_peak_rss() -> bool:
    """Reset the process's peak RSS to its current RSS (Linux: ``echo 5 > clear_refs``)."""
    try:
        PROC_CLEAR_REFS.write_text("5")
    except OSError:
        return False
    return True


def peak_rss_mb() -> float | None:
    kib = _read_kib("VmHWM")
    return None if kib is None else kib / 1024


@dataclass(frozen=True)
class StageFigure:
    """One stage's wall time and peak resident memory."""

    stage: str
    seconds: float
    peak_rss_mb: float | None


@dataclass
class StageClock:
    """Collects :class:`StageFigure` rows for a run."""

    figures: list[StageFigure] = field(default_factory=list)
    # Told "▶ <stage>" on entering a stage and "✓ <stage> <seconds> s" on leaving it (the
    # CLI's progress line per stage); None: silent.
    progress: Callable[[str], None] | None = None

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        drill_point(name)
        reset_peak_rss()
        if self.progress:
            self.progress(f"▶ {name} …")
        start = time.perf_counter()
        done = False
        try:
            yield
            done = True
        finally:
            figure = StageFigure(name, time.perf_counter() - start, peak_rss_mb())
            self.figures.append(figure)
            if self.progress and done:
                peak = "" if figure.peak_rss_mb is None else f", peak {figure.peak_rss_mb:,.0f} MB"
                self.progress(f"✓ {name} {figure.seconds:,.1f} s{peak}")

    @property
    def total_seconds(self) -> float:
        return sum(f.seconds for f in self.figures)

    def as_rows(self) -> list[dict[str, object]]:
        return [asdict(f) for f in self.figures]

    def to_markdown(self) -> str:
        lines = ["| stage | seconds | peak RSS (MB) |", "|---|---:|---:|"]
        for f in self.figures:
            peak = "n/a" if f.peak_rss_mb is None else f"{f.peak_rss_mb:,.0f}"
            lines.append(f"| {f.stage} | {f.seconds:,.1f} | {peak} |")
        lines.append(f"| **total** | **{self.total_seconds:,.1f}** | |")
        return "\n".join(lines)


class Heartbeat:
    """While long work runs, tell ``log`` every ``every_seconds`` how long it has run and
    what it is at (the latest :func:`report_progress` detail, e.g. the boosting round):
    a person watching a big night sees it move. A daemon thread; the work is untouched."""

    _active: Heartbeat | None = None

    def __init__(self, label: str, log: Callable[[str], None], every_seconds: float = 10.0):
        self.label = label
        self.log = log
        self.every_seconds = every_seconds
        self.detail = ""
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._start = 0.0

    def _beat(self) -> None:
        while not self._stop.wait(self.every_seconds):
            elapsed = time.perf_counter() - self._start
            detail = f": {self.detail}" if self.detail else ""
            self.log(f"{self.label}: {elapsed:,.0f} s so far{detail}")

    def __enter__(self) -> Heartbeat:
        self._start = time.perf_counter()
        Heartbeat._active = self
        self._thread = threading.Thread(target=self._beat, name=f"heartbeat-{self.label}")
        self._thread.daemon = True
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if Heartbeat._active is self:
            Heartbeat._active = None


def report_progress(detail: str) -> None:
    """Where long work is at (shown by the running :class:`Heartbeat`, if any)."""
    beat = Heartbeat._active
    if beat is not None:
        beat.detail = detail
