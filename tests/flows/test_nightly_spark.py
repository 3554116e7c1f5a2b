"""End to end on Apache Spark: ``WINBACK_ENGINE=spark`` runs the real nightly flow (Prefect,
the Spark loader, dbt-spark, Great Expectations, MLflow, mlflow.pyfunc.spark_udf) on a
local Spark session, and publishes what the DuckDB engine publishes for the same files,
exports the same files to senders, and the next night reads the same history (the
contacts exported the night before) and the same drift figure.

The shop is small enough that no training snapshot is sampled, so both engines train on
the same rows: the same model, scores and list are expected, not merely similar ones.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from winback.demo.generate import generate_shop
from winback.demo.spec import ShopSpec
from winback.flows.nightly import nightly

pytest.importorskip("pyspark", reason="the spark extra (make setup installs it)")
pytestmark = [pytest.mark.spark, pytest.mark.e2e, pytest.mark.usefixtures("prefect_server")]
AS_OF = dt.date(2026, 6, 30)
NEXT = AS_OF + dt.timedelta(days=1)


def published_parquet(root: Path, table: str) -> pd.DataFrame:
    """A table the Spark engine published, through the CURRENT pointer (DuckDB reads it,
    as an analyst would)."""
    run_id = (root / "CURRENT").read_text().strip()
    con = duckdb.connect()
    try:
        return con.execute(
            f"select * from read_parquet('{root / 'runs' / run_id / table}/*.parquet')"
        ).df()
    finally:
        con.close()


def export_files(folder: Path) -> list[dict[str, object]]:
    """What a sender gets: each file's channel, rows, customers and checksum."""
    return json.loads((folder / "manifest.json").read_text())["files"]


def test_the_nightly_on_spark_publishes_what_the_duckdb_engine_publishes(
    workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = workspace / "shop"
    generate_shop(ShopSpec(n_customers=300, seed=31, as_of=AS_OF), data)
    on_duckdb_env = {
        name: value for name, value in os.environ.items() if name.startswith("WINBACK_")
    }

    def use_duckdb() -> None:
        monkeypatch.delenv("WINBACK_ENGINE", raising=False)
        for name, value in on_duckdb_env.items():
            monkeypatch.setenv(name, value)

    def use_spark() -> None:
        """The same files on Spark, with a warehouse, MLflow store and exports of its own."""
        monkeypatch.setenv("WINBACK_ENGINE", "spark")
        monkeypatch.setenv("WINBACK_WAREHOUSE__PATH", str(workspace / "spark" / "winback.duckdb"))
        monkeypatch.setenv("WINBACK_SPARK__WAREHOUSE_DIR", str(workspace / "spark" / "warehouse"))
        monkeypatch.setenv("WINBACK_SPARK__DRIVER_MEMORY", "1g")
        monkeypatch.setenv("WINBACK_MLFLOW__TRACKING_URI", f"sqlite:///{workspace}/spark/mlflow.db")
        monkeypatch.setenv("WINBACK_MLFLOW__ARTIFACT_DIR", str(workspace / "spark" / "artifacts"))
        monkeypatch.setenv("WINBACK_EXPORT__DIR", str(workspace / "spark" / "exports"))

    use_duckdb()
    on_duckdb = nightly(data_dir=str(data), as_of=AS_OF, export=True)
    use_spark()
    on_spark = nightly(data_dir=str(data), as_of=AS_OF, export=True)

    assert on_spark.as_of == on_duckdb.as_of == AS_OF
    assert on_spark.load.tables["orders"].rows_loaded == on_duckdb.load.tables["orders"].rows_loaded
    assert on_spark.scored_customers == on_duckdb.scored_customers > 100
    assert on_spark.metrics["roc_auc"] == pytest.approx(on_duckdb.metrics["roc_auc"], abs=1e-9)
    assert on_spark.decisions.contacted == on_duckdb.decisions.contacted > 0
    assert [s.stage for s in on_spark.stages] == [s.stage for s in on_duckdb.stages]
    assert on_spark.psi is None and on_duckdb.psi is None  # nothing published before

    # The export to senders: the same files, byte for byte (contact fields included).
    assert on_duckdb.export is not None and on_spark.export is not None
    assert on_spark.export.folder == workspace / "spark" / "exports" / "winback" / "2026-06-30"
    assert on_spark.export.rows == on_duckdb.export.rows > 0
    assert export_files(on_spark.export.folder) == export_files(on_duckdb.export.folder)

    root = workspace / "spark" / "published"
    run_id = (root / "CURRENT").read_text().strip()
    manifest = json.loads((root / "runs" / run_id / "_manifest.json").read_text())
    assert manifest["publish_runs"] == [
        {
            "run_id": run_id,
            "flow": "nightly",
            "as_of": AS_OF.isoformat(),
            "published_at": manifest["publish_runs"][0]["published_at"],
        }
    ]
    rows = {t["table_name"]: t["row_count"] for t in manifest["published_tables"]}
    assert {"marts.winback_list", "marts.churn_scores", "quarantine.rejected_rows"} <= set(rows)

    def published_duckdb(table: str, order: str = "customer_id") -> pd.DataFrame:
        con = duckdb.connect(str(on_duckdb.published.published_path), read_only=True)
        try:
            return con.execute(f"select * from {table} order by {order}").df()
        finally:
            con.close()

    spark_scores = published_parquet(root, "marts.churn_scores").sort_values("customer_id")
    duck_scores = published_duckdb("marts.churn_scores")
    assert len(spark_scores) == rows["marts.churn_scores"] == len(duck_scores)
    assert list(spark_scores["customer_id"]) == list(duck_scores["customer_id"])
    gap = spark_scores["churn_probability"].to_numpy() - duck_scores["churn_probability"].to_numpy()
    assert abs(gap).max() <= 1e-6
    for column in ("risk_band", "reason_1_code", "reason_2_code", "reason_method"):
        spark_values = spark_scores[column].astype(object).fillna("(none)").tolist()
        assert spark_values == duck_scores[column].astype(object).fillna("(none)").tolist(), column

    spark_list = published_parquet(root, "marts.winback_list").sort_values("customer_id")
    assert len(spark_list) == rows["marts.winback_list"]
    duck_list = published_duckdb("marts.winback_list")
    columns = ["customer_id", "action", "recommended_offer", "channel", "planned_contacts"]
    pd.testing.assert_frame_equal(
        spark_list[columns].reset_index(drop=True).astype(object),
        duck_list[columns].reset_index(drop=True).astype(object),
    )

    # The next night: the drift check reads the last night's published scores, and the
    # contacts exported last night are history both engines' models read (R13, R10).
    use_duckdb()
    next_duckdb = nightly(data_dir=str(data), as_of=NEXT, export=True)
    use_spark()
    next_spark = nightly(data_dir=str(data), as_of=NEXT, export=True)
    assert next_duckdb.psi is not None and next_spark.psi is not None
    assert next_spark.psi == pytest.approx(next_duckdb.psi, abs=1e-6)
    assert next_spark.export is not None and next_duckdb.export is not None
    assert export_files(next_spark.export.folder) == export_files(next_duckdb.export.folder)
    order = "campaign_id, offer_code"
    spark_measured = published_parquet(root, "marts.winback_campaign_measurement")
    spark_measured = spark_measured.sort_values(["campaign_id", "offer_code"])
    duck_measured = published_duckdb("marts.winback_campaign_measurement", order)
    assert "winback-2026-06" in set(duck_measured["campaign_id"])  # our own campaign
    pd.testing.assert_frame_equal(
        spark_measured.reset_index(drop=True)[list(duck_measured.columns)],
        duck_measured,
        check_dtype=False,
        rtol=1e-9,
    )
