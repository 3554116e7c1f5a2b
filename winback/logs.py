"""Where a run's messages go: a short console, and the whole story in a log file.

The console (stderr) shows the run's progress: Prefect's flow and task lines and the
product's own (``winback.*`` loggers). Everything else, and every traceback, goes only
to the run log file (``logs/winback.log`` under ``WINBACK_HOME``, the working folder by
default; ``WINBACK_LOG_FILE`` names another): third-party warnings (``py.warnings``),
MLflow's and Great Expectations' own lines, and Prefect's "task run failed" errors with
their tracebacks. A failed run's first screen is then the product's own "✗ … What to
do" text (``winback.failures``), which names the log file.

Prefect reads this set-up from ``LOGGING_CONFIG``, ``winback/logging.yml``
(``PREFECT_LOGGING_SETTINGS_PATH``, set by ``winback._runtime``); its console handler is
``winback.console``.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

LOG_FILE_ENV = "WINBACK_LOG_FILE"
LOGGING_CONFIG = Path(__file__).with_name("logging.yml")
# Records the console shows although they come from a failing run's loggers: the
# product's own failure summary (``extra={FAILURE_SUMMARY: True}``).
FAILURE_SUMMARY = "winback_failure_summary"
# Prefect's loggers whose errors are the engine's report of an exception (with its
# traceback); the CLI and the failure hook say the same in words.
ENGINE_LOGGERS = ("prefect.task_runs", "prefect.flow_runs", "prefect.engine", "prefect.flow_engine")


def log_file_path() -> Path:
    """The run log file: ``WINBACK_LOG_FILE``, else ``<WINBACK_HOME>/logs/winback.log``."""
    from winback._runtime import winback_home

    named = os.environ.get(LOG_FILE_ENV)
    return Path(named).resolve() if named else winback_home() / "logs" / "winback.log"


class RunLogFileHandler(logging.FileHandler):
    """Appends to the run log file, created (with its folder) on the first record."""

    def __init__(self, level: int | str = logging.NOTSET) -> None:
        self.path = log_file_path()
        super().__init__(self.path, mode="a", encoding="utf-8", delay=True)
        self.setLevel(level)

    def _open(self):  # type: ignore[no-untyped-def]  # logging's own signature
        self.path.parent.mkdir(parents=True, exist_ok=True)
        return super()._open()


def route_warnings_to_log() -> None:
    """Python warnings (``warnings.warn``) to the run log file only, from now on: the
    console is for the run's own messages. Prefect's logging set-up keeps the same
    routing (``py.warnings`` in ``winback/logging.yml``)."""
    logging.captureWarnings(True)
    logger = logging.getLogger("py.warnings")
    if not any(isinstance(h, RunLogFileHandler) for h in logger.handlers):
        logger.addHandler(RunLogFileHandler())
    logger.propagate = False
