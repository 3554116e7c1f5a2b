"""Payment reminders for unpaid orders (rules R15–R21, ``docs/rules.md``).

The rules are set-based and live in dbt (``dbt_project/models/intermediate/reminders``,
the published tables in ``marts/reminders``); this package renders the reminder texts
from Jinja2 templates (R21), keeps the ledger that makes every order reminded at most
once, and runs the steps in order. Their settings are ``Settings.reminders`` and
``Settings.shop`` (``winback/config.py``).
"""
