"""One run at a time: an exclusive lock on a file beside the working warehouse.

The lock is ``fcntl.flock`` on ``<warehouse dir>/.<warehouse name>.lock``. The kernel
releases it when the holding process ends in any way (even SIGKILL), so a crashed run
never leaves a stale lock behind. The holder writes its pid, flow and start time into
the file so the run that is turned away can say who holds it.

The lock is re-entrant within one process (the backfill flow holds it around the
nightly runs it starts); flock itself is not, so the depth is counted here.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import json
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

_held: dict[Path, int] = {}
_guard = threading.Lock()


class RunLockedError(RuntimeError):
    """Another run holds the warehouse lock (and did not let go within the timeout)."""

    def __init__(self, lock_path: Path, holder: dict[str, object], waited: float):
        self.lock_path = lock_path
        self.holder = holder
        who = (
            f"flow {holder.get('flow', '?')} (pid {holder.get('pid', '?')}, "
            f"started {holder.get('started_at', '?')})"
            if holder
            else "another process"
        )
        super().__init__(
            f"Another Winback run is using the warehouse: {who}; waited {waited:.0f} s.\n"
            f"Lock file: {lock_path}"
        )


def lock_path_for(warehouse_path: Path) -> Path:
    """The lock file of a working warehouse."""
    return warehouse_path.parent / f".{warehouse_path.name}.lock"


def read_holder(lock_path: Path) -> dict[str, object]:
    """What the current (or last) holder wrote into the lock file; {} when unreadable."""
    try:
        return json.loads(lock_path.read_text() or "{}")
    except (OSError, ValueError):
        return {}


@contextmanager
def run_lock(
    warehouse_path: Path, flow: str, timeout_seconds: float = 0.0, poll_seconds: float = 0.5
) -> Iterator[Path]:
    """Hold the warehouse's run lock for the block; wait up to ``timeout_seconds`` for
    it, then raise :class:`RunLockedError` naming the holder."""
    path = lock_path_for(warehouse_path).resolve()
    with _guard:
        if path in _held:
            _held[path] += 1
            reentered = True
        else:
            reentered = False
    if reentered:
        try:
            yield path
        finally:
            with _guard:
                _held[path] -= 1
        return

    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    start = time.monotonic()
    try:
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                waited = time.monotonic() - start
                if waited >= timeout_seconds:
                    raise RunLockedError(path, read_holder(path), waited) from None
                time.sleep(min(poll_seconds, max(timeout_seconds - waited, 0.01)))
        holder = {
            "pid": os.getpid(),
            "flow": flow,
            "started_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        }
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(holder).encode(), 0)
        with _guard:
            _held[path] = 1
        try:
            yield path
        finally:
            with _guard:
                _held.pop(path, None)
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
