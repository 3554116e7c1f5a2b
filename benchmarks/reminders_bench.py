"""Benchmark: decide 100k pending orders (R15–R21) end to end, without Prefect.

    .venv/bin/python benchmarks/reminders_bench.py [--pending 100000] [--seed 0]

Generates a synthetic shop (tests/reminders/synthetic.py), loads it with the real
ingestion, then times dbt (the rules), rendering (Jinja2) and publishing (one DuckDB
transaction), a rerun for the same time, and the next scheduled run 15 minutes later
(the steady state: dbt reuses its parsed project). Prints the figures and writes them
to benchmarks/results/reminders.json.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import platform
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.reminders.synthetic import write_pending_shop  # noqa: E402
from tests.shops import settings_for  # noqa: E402
from winback.ingest import load_data_dir  # noqa: E402
from winback.reminders import ledger, pipeline  # noqa: E402

AT = dt.datetime(2026, 6, 30, 1, 30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pending", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--out", type=Path, default=ROOT / "benchmarks" / "results" / "reminders.json"
    )
    args = parser.parse_args()

    figures: dict[str, object] = {"at": AT.isoformat()}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        t0 = time.perf_counter()
        # ~2% of generated orders are placed after AT (invisible), so generate a little more.
        n_generated = round(args.pending / 0.98)
        data = write_pending_shop(root / "shop", n_pending=n_generated, at=AT, seed=args.seed)
        figures["generate_s"] = round(time.perf_counter() - t0, 2)
        settings = settings_for(root / "wh.duckdb", data_dir=data)

        t0 = time.perf_counter()
        report = load_data_dir(settings.warehouse.path, data, AT.date())
        figures["load_s"] = round(time.perf_counter() - t0, 2)
        figures["orders_loaded"] = report.tables["orders"].rows_loaded

        runs = (
            ("first_run", AT),
            ("rerun_same_at", AT),
            ("next_run_15_min_later", AT + dt.timedelta(minutes=15)),
        )
        for label, at in runs:
            t0 = time.perf_counter()
            pipeline.decide(settings, at)
            t1 = time.perf_counter()
            decisions = pipeline.render(ledger.read_decisions(settings.warehouse), settings)
            t2 = time.perf_counter()
            # texts and ledger (one transaction), then the published tables (dbt)
            counts = pipeline.record(settings, decisions, at)
            t3 = time.perf_counter()
            figures[label] = {
                "pending_orders_decided": len(decisions),
                "reminders": counts.reminders,
                "skips": counts.skips,
                "dbt_build_s": round(t1 - t0, 2),
                "read_and_render_s": round(t2 - t1, 2),
                "publish_s": round(t3 - t2, 2),
                "decide_total_s": round(t3 - t0, 2),
            }
    figures["machine"] = f"{platform.machine()} {platform.python_version()}"
    figures["measured_at"] = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
