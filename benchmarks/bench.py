"""`make bench`: the whole nightly flow on demo shops of growing size.

For each size it generates a demo shop (cached under benchmarks/data/), then runs
`winback nightly` in a fresh process against a fresh warehouse and MLflow store, and
collects the per-stage wall time and peak memory that the run measured itself (written
by the CLI's --stats-json). Results go to benchmarks/results/nightly.{json,md}.

    python benchmarks/bench.py --sizes 10000 100000 1000000
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "benchmarks" / "data"
RESULTS = ROOT / "benchmarks" / "results"
WINBACK = Path(sys.executable).with_name("winback")


# The shops' last day; the nightly runs for it explicitly (without --as-of it would
# refuse an export this old: setting max_data_age_days).
AS_OF = "2026-06-30"


def shop_dir(customers: int, seed: int) -> Path:
    return DATA / f"shop_{customers}_s{seed}"


def generate(customers: int, seed: int) -> dict[str, object]:
    """Generate (or reuse) a parquet demo shop; time and memory from a child process."""
    out = shop_dir(customers, seed)
    if (out / "orders.parquet").exists():
        return {"cached": True}
    out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    proc = subprocess.run(
        [
            "/usr/bin/time",
            "-f",
            "%M",
            str(WINBACK),
            "demo-data",
            "--out",
            str(out),
            "--customers",
            str(customers),
            "--seed",
            str(seed),
            "--as-of",
            AS_OF,
            "--format",
            "parquet",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    peak_kib = int(proc.stderr.strip().splitlines()[-1])
    return {"cached": False, "seconds": time.perf_counter() - start, "peak_rss_mb": peak_kib / 1024}


def run_nightly(customers: int, seed: int, workspace: Path) -> dict[str, object]:
    if workspace.exists():
        shutil.rmtree(workspace)
    workspace.mkdir(parents=True)
    stats = workspace / "stats.json"
    env = {
        **os.environ,
        "WINBACK_WAREHOUSE__PATH": str(workspace / "winback.duckdb"),
        "WINBACK_MLFLOW__TRACKING_URI": f"sqlite:///{workspace}/mlflow.db",
        "WINBACK_MLFLOW__ARTIFACT_DIR": str(workspace / "artifacts"),
        "PREFECT_HOME": str(workspace / "prefect"),
    }
    start = time.perf_counter()
    proc = subprocess.run(
        [
            "/usr/bin/time",
            "-f",
            "%M",
            str(WINBACK),
            "nightly",
            "--data-dir",
            str(shop_dir(customers, seed)),
            "--as-of",
            AS_OF,
            "--stats-json",
            str(stats),
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=workspace,
    )
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        sys.stderr.write(proc.stdout[-3000:] + proc.stderr[-3000:])
        errors = [line.strip() for line in proc.stdout.splitlines() if "Error" in line]
        return {"failed": True, "error": errors[-1] if errors else "see stderr", "seconds": wall}
    result = json.loads(stats.read_text())
    result["process_seconds"] = wall
    result["process_peak_rss_mb"] = int(proc.stderr.strip().splitlines()[-1]) / 1024
    return result


# The dbt models that compute what benchmarks/pandas_reference.py computes (the test
# tests/dbt/test_pandas_reference.py checks that the two tables are equal).
ORDER_FEATURE_MODELS = ("int_orders_enriched", "int_customers_orders_aggregated")


def order_feature_seconds(nightly: dict[str, object]) -> float | None:
    """Execution time of the order-feature models in the run's dbt feature build (dbt's
    own timing of each model, which the run reports in its --stats-json)."""
    models = nightly.get("feature_model_seconds")
    if not isinstance(models, dict) or not all(m in models for m in ORDER_FEATURE_MODELS):
        return None
    return float(sum(models[m] for m in ORDER_FEATURE_MODELS))


def run_pandas_reference(customers: int, seed: int, as_of: str) -> dict[str, object]:
    """The notebook-style pandas feature build on the same parquet files (fresh process)."""
    proc = subprocess.run(
        [
            "/usr/bin/time",
            "-f",
            "%M",
            sys.executable,
            str(ROOT / "benchmarks" / "pandas_reference.py"),
            str(shop_dir(customers, seed)),
            "--as-of",
            as_of,
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    result["peak_rss_mb"] = int(proc.stderr.strip().splitlines()[-1]) / 1024
    return result


def _process_peak(nightly: dict[str, object]) -> float:
    """The run's peak memory: the highest of its own per-stage peaks and /usr/bin/time's
    figure (the stages reset the kernel's high-water mark, so /usr/bin/time alone only
    sees the peak after the last reset)."""
    stages = [s["peak_rss_mb"] for s in nightly["stages"] if s["peak_rss_mb"] is not None]  # type: ignore[attr-defined]
    return max([float(nightly["process_peak_rss_mb"]), *stages])  # type: ignore[arg-type]


def to_markdown(rows: list[dict[str, object]]) -> str:
    stages: list[str] = []
    for row in rows:
        for s in row["nightly"]["stages"]:  # type: ignore[index]
            if s["stage"] not in stages:
                stages.append(s["stage"])
    head = "| stage | " + " | ".join(f"{r['customers']:,} customers" for r in rows) + " |"
    lines = [head, "|---|" + "---:|" * len(rows)]
    for stage in stages:
        cells = []
        for row in rows:
            fig = next((s for s in row["nightly"]["stages"] if s["stage"] == stage), None)  # type: ignore[index]
            cells.append(
                "" if fig is None else f"{fig['seconds']:.1f} s / {fig['peak_rss_mb']:,.0f} MB"
            )
        lines.append(f"| {stage} | " + " | ".join(cells) + " |")
    totals = [
        f"**{r['nightly']['total_seconds']:.1f} s / {_process_peak(r['nightly']):,.0f} MB**"  # type: ignore[arg-type]
        for r in rows
    ]
    lines.append("| **total (flow) / process peak** | " + " | ".join(totals) + " |")
    pandas_cells = []
    for row in rows:
        ref = row.get("pandas_reference")
        pandas_cells.append(
            "" if not ref else f"{ref['seconds']:.1f} s / {ref['peak_rss_mb']:,.0f} MB"  # type: ignore[index]
        )
    lines.append("| pandas reference: order features | " + " | ".join(pandas_cells) + " |")
    product_cells = [
        "" if r.get("order_feature_seconds") is None else f"{r['order_feature_seconds']:.1f} s"
        for r in rows
    ]
    lines.append(
        "| product: the same order features (2 dbt models) | " + " | ".join(product_cells) + " |"
    )
    ratio_cells = [
        "" if r.get("pandas_ratio") is None else f"{r['pandas_ratio']:.2f}×" for r in rows
    ]
    lines.append(
        "| pandas time ÷ product time (> 1: product faster) | " + " | ".join(ratio_cells) + " |"
    )
    loads = [f"{r['load_average_before'][0]:.1f}" for r in rows]  # type: ignore[index]
    lines.append("| machine load average at start (1 min) | " + " | ".join(loads) + " |")
    return "\n".join(lines) + "\n\n" + targets(rows)


def targets(rows: list[dict[str, object]]) -> str:
    """Issue 9's targets, checked against this run's figures."""
    by_size = {int(r["customers"]): r["nightly"] for r in rows}  # type: ignore[call-overload]
    out = ["Targets (2 cores, 24 GiB):", ""]
    big = by_size.get(1_000_000)
    if big is not None:
        seconds = big["total_seconds"]  # type: ignore[index]
        peak = _process_peak(big)
        out.append(
            f"- 1M customers in ≤ 600 s: {seconds:.0f} s — {'met' if seconds <= 600 else 'MISSED'}"
        )
        out.append(
            f"- 1M peak memory ≤ 8 GB: {peak / 1024:.1f} GB — {'met' if peak <= 8192 else 'MISSED'}"
        )
    if 100_000 in by_size and big is not None:
        growth = big["total_seconds"] / by_size[100_000]["total_seconds"]  # type: ignore[index,operator]
        out.append(
            f"- 100k → 1M time growth ≤ 11×: {growth:.1f}× — {'met' if growth <= 11 else 'MISSED'}"
        )
    if len(out) == 2:
        out.append("- (need the 100k and 1M sizes in one run)")
    return "\n".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    rows: list[dict[str, object]] = []
    failures: list[dict[str, object]] = []
    for customers in args.sizes:
        print(f"== {customers:,} customers: generating shop", flush=True)
        gen = generate(customers, args.seed)
        print(f"   generation: {gen}", flush=True)
        print("   running the nightly flow", flush=True)
        load_before = os.getloadavg()
        nightly = run_nightly(customers, args.seed, ROOT / "benchmarks" / "work" / str(customers))
        if nightly.get("failed"):
            print(f"   nightly FAILED: {nightly['error']}", flush=True)
            failures.append({"customers": customers, **nightly})
            continue
        print(f"   nightly: {nightly['total_seconds']:.1f} s", flush=True)
        reference = run_pandas_reference(customers, args.seed, str(nightly["as_of"]))
        product_seconds = order_feature_seconds(nightly)
        print(
            f"   pandas reference: {reference['seconds']:.1f} s; "
            f"product's order-feature models: {product_seconds} s",
            flush=True,
        )
        rows.append(
            {
                "customers": customers,
                "generation": gen,
                "nightly": nightly,
                "pandas_reference": reference,
                "order_feature_seconds": product_seconds,
                # > 1 means the product computes the same table faster than pandas.
                "pandas_ratio": (
                    None if not product_seconds else float(reference["seconds"]) / product_seconds  # type: ignore[arg-type]
                ),
                "load_average_before": load_before,
            }
        )
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "nightly.json").write_text(
        json.dumps({"runs": rows, "failures": failures}, indent=2, default=str)
    )
    table = to_markdown(rows) if rows else ""
    for failure in failures:
        table += f"\n\n**{failure['customers']:,} customers: failed** — {failure['error']}"
    (args.out / "nightly.md").write_text(
        "# Nightly flow benchmark (`make bench`)\n\n" + table + "\n"
    )
    print(table)


if __name__ == "__main__":
    main()
