"""Winback: win-back priority lists, churn scores and payment reminders for online merchants.

Importing any part of the package first applies the runtime defaults (telemetry off,
project-local Prefect home) so that third-party libraries read them at their own import.
"""

from winback._runtime import apply_runtime_defaults

apply_runtime_defaults()

__version__ = "0.1.0"
