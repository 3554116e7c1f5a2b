"""Readers of what a run published, on either engine (``winback.publish.open_published``):
the Spark engine's Parquet publish (``published/CURRENT`` → ``runs/<run_id>/``) is read
with the same SQL as DuckDB's published file, so the export and the score drift check
work on both. The layout is written here by pandas, as ``winback.spark.publish_parquet``
writes it; the Spark end-to-end test (``tests/flows/test_nightly_spark.py``) runs the real
thing."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pandas as pd
import pytest

from winback.config import Settings
from winback.exports import export_winback
from winback.exports.export import ExportError
from winback.publish import (
    open_published,
    parquet_published_dir,
    published_location,
    read_previous_probabilities,
)
from winback.warehouse import table_exists


def spark_settings(root: Path) -> Settings:
    return Settings(
        engine="spark",
        warehouse={"path": root / "local" / "winback.duckdb"},
        spark={"warehouse_dir": str(root / "spark" / "warehouse")},
    ).resolved()


def write_run(settings: Settings, run_id: str, tables: dict[str, pd.DataFrame]) -> Path:
    """One published run in the Parquet layout, then CURRENT switched to it."""
    root = parquet_published_dir(settings)
    run = root / "runs" / run_id
    for name, frame in tables.items():
        (run / name).mkdir(parents=True)
        frame.to_parquet(run / name / "part-00000.parquet", index=False)
    manifest = {
        "publish_runs": [
            {"run_id": run_id, "flow": "nightly", "as_of": "2026-06-30", "published_at": "x"}
        ],
        "published_tables": [
            {"table_name": t, "run_id": run_id, "flow": "nightly", "row_count": len(f)}
            for t, f in tables.items()
        ],
    }
    (run / "_manifest.json").write_text(json.dumps(manifest))
    (root / "CURRENT").write_text(run_id + "\n")
    return root


def scores(day: str, probabilities: list[float]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "as_of_date": pd.to_datetime([day] * len(probabilities)).date,
            "customer_id": [f"c{i}" for i in range(len(probabilities))],
            "churn_probability": probabilities,
        }
    )


def test_the_spark_publish_reads_like_the_duckdb_file(tmp_path: Path) -> None:
    settings = spark_settings(tmp_path)
    assert published_location(settings) == parquet_published_dir(settings) / "CURRENT"
    with open_published(settings) as con:
        assert con is None  # nothing published yet
    assert read_previous_probabilities(settings) is None

    older = scores("2026-06-29", [0.9, 0.8])
    newer = scores("2026-06-30", [0.1, 0.2, 0.3])
    write_run(settings, "run-1", {"marts.churn_scores": pd.concat([older, newer])})
    write_run(settings, "run-2", {"marts.churn_scores": scores("2026-07-01", [0.5])})

    # CURRENT decides which run is read; the manifest becomes the meta tables.
    with open_published(settings) as con:
        assert con is not None
        assert table_exists(con, "marts.churn_scores")
        assert not table_exists(con, "marts.winback_list")
        assert con.execute("select run_id, row_count from meta.published_tables").fetchall() == [
            ("run-2", 1)
        ]
    assert read_previous_probabilities(settings).tolist() == [0.5]

    (parquet_published_dir(settings) / "CURRENT").write_text("run-1\n")
    previous = read_previous_probabilities(settings)
    assert previous is not None and previous.tolist() == [0.1, 0.2, 0.3]  # the newest date


def test_an_export_asked_of_the_spark_engine_outside_its_night_says_how(tmp_path: Path) -> None:
    """The contact fields live in the night's Spark tables: the CLI's export cannot reach
    them, and says what to do instead of failing on a missing table."""
    settings = spark_settings(tmp_path)
    with pytest.raises(ExportError, match=r"export\.after_nightly"):
        export_winback(settings, as_of=dt.date(2026, 6, 30))
