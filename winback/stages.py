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
from collections.abc import Iterator
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

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        drill_point(name)
        reset_peak_rss()
        start = time.perf_counter()
        try:
            yield
        finally:
            self.figures.append(StageFigure(name, time.perf_counter() - start, peak_rss_mb()))

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
