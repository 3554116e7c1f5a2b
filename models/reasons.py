"""The churn model's reason codes: stable identifiers shared by Python and SQL.

The one table of them is the dbt seed ``dbt_project/seeds/scoring/model_reason_codes.csv``:
per code, the phrase analysts read, the R7 win-back reason it is evidence for (read by
``int_winback_reasons_scored`` through a join on the code, never by matching words) and
the feature columns whose contributions it names. Scoring writes the codes and the
phrases rendered from them (``marts.churn_scores.reason_k_code`` / ``reason_k``), so
rewording a phrase changes what people read and nothing the decisions do.

A feature the table does not list still gets a reason: code ``feature:<column>`` and a
generic phrase; it is evidence for no win-back reason until the seed names it.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from winback.config import DBT_PROJECT_DIR

REASON_CODES_SEED = DBT_PROJECT_DIR / "seeds" / "scoring" / "model_reason_codes.csv"
UNLISTED_FEATURE_PREFIX = "feature:"


@dataclass(frozen=True)
class ReasonCode:
    """One row of the seed."""

    code: str
    phrase: str
    winback_reason: str | None
    features: tuple[str, ...]


@cache
def reason_codes(path: Path = REASON_CODES_SEED) -> dict[str, ReasonCode]:
    """Every reason code of the seed, by code."""
    with path.open(newline="", encoding="utf-8") as handle:
        rows = [
            ReasonCode(
                code=row["code"],
                phrase=row["phrase"],
                winback_reason=row["winback_reason"] or None,
                features=tuple(row["features"].split()),
            )
            for row in csv.DictReader(handle)
        ]
    return {row.code: row for row in rows}


@cache
def _code_by_feature() -> dict[str, str]:
    return {feature: c.code for c in reason_codes().values() for feature in c.features}


def code_for_feature(feature: str) -> str:
    """The reason code a feature's churn-raising contribution is reported under."""
    return _code_by_feature().get(feature, UNLISTED_FEATURE_PREFIX + feature)


def phrase_for(code: str, value: str | None = None) -> str:
    """The readable reason of a code; a text feature's value is shown after it
    (``lapse status (lost)``)."""
    found = reason_codes().get(code)
    if found is not None:
        text = found.phrase
    else:
        feature = code.removeprefix(UNLISTED_FEATURE_PREFIX)
        text = f"{feature.replace('_', ' ')} points to churn"
    return f"{text} ({value})" if value else text
