"""The console handler of Prefect's logging set-up (``winback/logging.yml``): Prefect's
own, without tracebacks and without the engine's error reports (both are in the run log
file, ``winback.logs``); the product's failure summary still shows."""

from __future__ import annotations

import logging

from prefect.logging.handlers import PrefectConsoleHandler

from winback.logs import ENGINE_LOGGERS, FAILURE_SUMMARY


class ConsoleHandler(PrefectConsoleHandler):
    """Prefect's console handler without tracebacks and without the engine's error
    reports (the log file has both); the product's failure summary still shows."""

    def filter(self, record: logging.LogRecord) -> bool:
        engine_error = record.levelno >= logging.ERROR and record.name.startswith(ENGINE_LOGGERS)
        if engine_error and not getattr(record, FAILURE_SUMMARY, False):
            return False
        return super().filter(record)

    def format(self, record: logging.LogRecord) -> str:
        if not (record.exc_info or record.exc_text or record.stack_info):
            return super().format(record)
        quiet = logging.makeLogRecord(record.__dict__)
        quiet.exc_info, quiet.exc_text, quiet.stack_info = None, None, None
        return super().format(quiet)
