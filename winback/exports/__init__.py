"""Exports that senders take (issue 17): the planned win-back contacts and the due payment
reminders as files, one per channel, with a manifest, published atomically."""

from winback.exports.export import (
    ExportAfterPublishError,
    ExportError,
    ExportReport,
    export_reminders,
    export_winback,
)

__all__ = [
    "ExportAfterPublishError",
    "ExportError",
    "ExportReport",
    "export_reminders",
    "export_winback",
]
