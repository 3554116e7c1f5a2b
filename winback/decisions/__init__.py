"""Win-back decisions: the campaign summary (markdown and a self-contained HTML report)
of what the decision models published.

The decisions themselves are set-based SQL in ``dbt_project/models/*/winback``; their
settings are ``Settings.decisions`` (``winback/config.py``).
"""
