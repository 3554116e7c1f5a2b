"""When a task may retry: only on transient I/O trouble, never on bad data."""

from __future__ import annotations

import duckdb
from prefect.states import State


def is_transient(task: object, task_run: object, state: State) -> bool:
    """Retry only I/O trouble (a locked or briefly unreadable file), never bad data."""
    try:
        state.result()
    except (OSError, duckdb.IOException):
        return True
    except Exception:  # noqa: BLE001 - anything else is not worth a retry
        return False
    return False
