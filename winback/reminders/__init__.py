"""Payment reminders for unpaid orders (rules R15–R22 of the domain brief).

The rules are set-based and live in dbt (``dbt_project/models/reminders``); this package
holds their settings, renders the reminder texts from Jinja2 templates (R21), keeps the
ledger that makes every order reminded at most once, and publishes the results.
"""

from winback.reminders.settings import ReminderSettings

__all__ = ["ReminderSettings"]
