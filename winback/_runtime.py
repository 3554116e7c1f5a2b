"""Process-wide defaults that must be in the environment before Prefect, dbt, MLflow,
Great Expectations or Arrow are imported: telemetry off (the machines have no network
beyond the package registries), run-time state kept inside the project folder, and the
allocators' settings."""

from __future__ import annotations

import ctypes
import os
import sys
from pathlib import Path
from typing import Any

TELEMETRY_OFF = {
    "DO_NOT_TRACK": "true",
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "DBT_SEND_ANONYMOUS_USAGE_STATS": "False",
    "MLFLOW_DISABLE_TELEMETRY": "true",  # mlflow ignores DO_NOT_TRACK
    "GX_ANALYTICS_ENABLED": "false",
}


def winback_home() -> Path:
    """The folder run-time state is kept under (``WINBACK_HOME``, default: here)."""
    return Path(os.environ.get("WINBACK_HOME", ".")).resolve()


def prefect_home() -> Path:
    """Prefect's home (its run history database): ``PREFECT_HOME`` if set, else
    ``<WINBACK_HOME>/.prefect``."""
    named = os.environ.get("PREFECT_HOME")
    return Path(named).resolve() if named else winback_home() / ".prefect"


def apply_runtime_defaults() -> None:
    """Set defaults without overriding anything the user exported."""
    for key, value in TELEMETRY_OFF.items():
        os.environ.setdefault(key, value)
    # One Prefect home for every entry point (CLI, make run, make serve, winback serve):
    # <WINBACK_HOME>/.prefect, so the UI served from it lists every run.
    os.environ.setdefault("PREFECT_HOME", str(prefect_home()))
    # A short console and a run log file (winback/logs.py); MLflow's own console set-up
    # would bypass it.
    from winback.logs import LOGGING_CONFIG

    os.environ.setdefault("PREFECT_LOGGING_SETTINGS_PATH", str(LOGGING_CONFIG))
    os.environ.setdefault("MLFLOW_CONFIGURE_LOGGING", "false")
    # A cold ephemeral Prefect server took 12-14 s on these machines; the default is 20 s.
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "INFO")
    # dbt, MLflow and Prefect all log the same steps; keep the console to the essentials.
    os.environ.setdefault("GIT_PYTHON_REFRESH", "quiet")
    keep_freed_memory()


# glibc's mallopt parameters (malloc.h).
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
# Blocks up to this size come from the heap and are reused once freed; larger ones are
# mapped and unmapped as before.
MMAP_THRESHOLD_BYTES = 64 * 2**20
# Free memory the heap keeps at its top instead of handing it back to the kernel.
TRIM_THRESHOLD_BYTES = 256 * 2**20


def keep_freed_memory() -> bool:
    """Let glibc's allocator reuse freed memory instead of handing it back to the kernel.

    By default glibc maps a block of 128 KB or more on its own and unmaps it when freed,
    and trims the heap as soon as a little is free; the next table or chunk of the same
    size then faults in fresh pages again. On these (virtual) machines touching fresh
    pages is slow: paired 1M-customer second nights took 214 s with freed memory kept
    against 229 s without, and 228 s against 254 s (validation and scoring, which build
    and drop frames of 800k rows, gained most; peak within +200 MB; a 1M first night up
    to training 315 s against 373 s). Skipped with ``WINBACK_KEEP_FREED_MEMORY=0`` (the
    benchmark's pandas reference runs so: a notebook has glibc's defaults), when the user
    tunes the allocator themselves (``GLIBC_TUNABLES`` or a ``MALLOC_*`` variable) and off
    glibc; True when applied."""
    if os.environ.get("WINBACK_KEEP_FREED_MEMORY", "1") == "0":
        return False
    if sys.platform != "linux" or "GLIBC_TUNABLES" in os.environ:
        return False
    if any(name.startswith("MALLOC_") for name in os.environ):
        return False
    mallopt = _glibc("mallopt")
    if mallopt is None:
        return False
    applied = bool(
        mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES)
        and mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES)
    )
    if applied:
        arrow_from_the_heap()
    return applied


def hand_back_freed_memory() -> None:
    """Return the heap's free pages to the kernel now (glibc's ``malloc_trim``; nothing
    elsewhere). For a step that frees many pieces scattered through the heap while it
    builds larger objects (:func:`winback.frames.frame_from_readers`): kept, the freed
    pieces cannot hold the larger objects and stay resident beside them."""
    malloc_trim = _glibc("malloc_trim") if sys.platform == "linux" else None
    if malloc_trim is not None:
        malloc_trim(0)


def _glibc(function: str) -> Any:
    """glibc's ``function`` (e.g. ``mallopt``), or None elsewhere (e.g. musl)."""
    try:
        return getattr(ctypes.CDLL("libc.so.6"), function)
    except (OSError, AttributeError):
        return None


def arrow_from_the_heap() -> None:
    """Arrow's allocations from glibc's heap too (unless ``ARROW_DEFAULT_MEMORY_POOL``
    is set): the frames read from DuckDB are converted through Arrow (winback/frames.py),
    and Arrow's default pool (mimalloc) keeps what it frees to itself, where numpy and
    pandas cannot reuse it. Paired 1M-customer second nights: peak 4,095 MB with the
    heap against 4,964 MB with Arrow's pool (decisions 62.7 s against 74.2 s)."""
    if "ARROW_DEFAULT_MEMORY_POOL" in os.environ:
        return
    os.environ["ARROW_DEFAULT_MEMORY_POOL"] = "system"  # read when Arrow is loaded
    if "pyarrow" in sys.modules:  # already loaded: switch it now
        import pyarrow

        pyarrow.set_memory_pool(pyarrow.system_memory_pool())
