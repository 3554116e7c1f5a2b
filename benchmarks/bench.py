"""`make bench`: the whole nightly flow on demo shops of growing size.

For each size it generates a demo shop (cached under benchmarks/data/), then runs
`winback nightly` in a fresh process against a fresh warehouse and MLflow store (the
first night), and again the next day on the same warehouse and store (the second night:
the next as-of date, the same files), and collects the per-stage wall time and peak
memory that each run measured itself (written by the CLI's --stats-json). It also runs
the plain-pandas reference from the same files to the same customer features (load
included on both sides). Results go to benchmarks/results/nightly.{json,md}.

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
NEXT_DAY = "2026-07-01"


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


def run_nightly(
    customers: int, seed: int, workspace: Path, as_of: str = AS_OF, *, fresh: bool = True
) -> dict[str, object]:
    """One `winback nightly` in a child process; ``fresh`` starts from an empty workspace
    (the first night), otherwise it runs on the warehouse and store of the night before."""
    if fresh and workspace.exists():
        shutil.rmtree(workspace)
    workspace.mkdir(parents=True, exist_ok=True)
    stats = workspace / f"stats_{as_of}.json"
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
            as_of,
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


# From the files to the customer features, the product's way: the ingest stage (reading,
# typing and checking every contract file) and the dbt feature build, as the first night
# measured them.
END_TO_END_STAGES = ("ingest", "dbt build")


def product_feature_seconds(nightly: dict[str, object]) -> float:
    stages = {s["stage"]: s["seconds"] for s in nightly["stages"]}  # type: ignore[attr-defined]
    return float(sum(stages[name] for name in END_TO_END_STAGES))


def run_pandas_reference(customers: int, seed: int, as_of: str) -> dict[str, object]:
    """The notebook-style pandas build of the same customer features from the same parquet
    files (fresh process, reading included; tests/dbt/test_pandas_reference.py holds the
    two tables equal)."""
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
        # A notebook runs with glibc's allocator defaults, not the product's tuning
        # (winback._runtime.keep_freed_memory), which importing winback would apply.
        env={**os.environ, "WINBACK_KEEP_FREED_MEMORY": "0"},
    )
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
        return {"failed": True, "error": " / ".join(tail)}
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    result["peak_rss_mb"] = int(proc.stderr.strip().splitlines()[-1]) / 1024
    return result


def _process_peak(nightly: dict[str, object]) -> float:
    """The run's peak memory: the highest of its own per-stage peaks and /usr/bin/time's
    figure (the stages reset the kernel's high-water mark, so /usr/bin/time alone only
    sees the peak after the last reset)."""
    stages = [s["peak_rss_mb"] for s in nightly["stages"] if s["peak_rss_mb"] is not None]  # type: ignore[attr-defined]
    return max([float(nightly["process_peak_rss_mb"]), *stages])  # type: ignore[arg-type]


NIGHTS = (("nightly", "first"), ("second_night", "second"))


def to_markdown(rows: list[dict[str, object]], loops: list[float] | None = None) -> str:
    stages: list[str] = []
    for row in rows:
        for key, _ in NIGHTS:
            for s in row[key]["stages"]:  # type: ignore[index]
                if s["stage"] not in stages:
                    stages.append(s["stage"])
    head = "| stage | " + " | ".join(
        f"{r['customers']:,}: {label} night" for r in rows for _, label in NIGHTS
    )
    lines = [head + " |", "|---|" + "---:|" * (len(rows) * len(NIGHTS))]
    for stage in stages:
        cells = []
        for row in rows:
            for key, _ in NIGHTS:
                fig = next((s for s in row[key]["stages"] if s["stage"] == stage), None)  # type: ignore[index]
                cells.append(
                    "" if fig is None else f"{fig['seconds']:.1f} s / {fig['peak_rss_mb']:,.0f} MB"
                )
        lines.append(f"| {stage} | " + " | ".join(cells) + " |")
    totals = [
        f"**{r[key]['total_seconds']:.1f} s / {_process_peak(r[key]):,.0f} MB**"  # type: ignore[index,arg-type]
        for r in rows
        for key, _ in NIGHTS
    ]
    lines.append("| **total (flow) / process peak** | " + " | ".join(totals) + " |")
    lines += [
        "",
        "From the same files to the same customer features (load included on both sides):",
        "",
    ]
    lines.append("| | " + " | ".join(f"{r['customers']:,} customers" for r in rows) + " |")
    lines.append("|---|" + "---:|" * len(rows))
    product = [f"{r['product_feature_seconds']:.1f} s" for r in rows]
    lines.append(
        "| product: ingest + dbt feature build (first night) | " + " | ".join(product) + " |"
    )
    pandas_cells, ratio_cells = [], []
    for row in rows:
        ref = row["pandas_reference"]
        if ref.get("failed"):  # type: ignore[attr-defined]
            pandas_cells.append(f"failed: {ref['error']}")  # type: ignore[index]
            ratio_cells.append("")
            continue
        pandas_cells.append(f"{ref['seconds']:.1f} s / {ref['peak_rss_mb']:,.0f} MB")  # type: ignore[index]
        ratio_cells.append(f"{row['pandas_ratio']:.2f}×")
    lines.append("| pandas reference (reads the files itself) | " + " | ".join(pandas_cells) + " |")
    lines.append(
        "| pandas time ÷ product time (> 1: product faster) | " + " | ".join(ratio_cells) + " |"
    )
    loads = [f"{r['load_average_before'][0]:.1f}" for r in rows]  # type: ignore[index]
    lines.append("| machine load average at start (1 min) | " + " | ".join(loads) + " |")
    if loops:
        lines += [
            "",
            f"Machine speed: a 20M-iteration Python loop took {loops[0]:.2f} s before the "
            f"bench and {loops[-1]:.2f} s after (compare benches only at similar figures).",
        ]
    return "\n".join(lines) + "\n\n" + targets(rows)


# Before issue 19 (make bench, 2026-12-05, commit 66eb234): the 1M first night. Not the
# same training work as tonight's: that code's snapshots as of the shop's last day gave a
# model that stopped at 294 boosting rounds, today's fixed calendar one of 400 (README,
# "First night": paired runs on the same training work).
FIRST_NIGHT_BEFORE_SECONDS = 448.5
FIRST_NIGHT_BEFORE_MACHINE = "the 2026-12-05 machine"


def targets(rows: list[dict[str, object]]) -> str:
    """Issues 9 and 19's targets, checked against this run's figures."""
    by_size = {int(r["customers"]): r for r in rows}  # type: ignore[call-overload]
    out = ["Targets (2 cores, 24 GiB):", ""]

    def check(text: str, ok: bool) -> None:
        out.append(f"- {text} — {'met' if ok else 'MISSED'}")

    big = by_size.get(1_000_000)
    if big is not None:
        first, second = big["nightly"], big["second_night"]
        seconds = first["total_seconds"]  # type: ignore[index]
        check(f"1M first night ≤ 600 s: {seconds:.0f} s", seconds <= 600)
        # Not judged here: the reference was measured on another machine, and these
        # machines' speed varies by more than the margin (README: paired runs decide).
        out.append(
            f"- 1M first night no slower than before: {FIRST_NIGHT_BEFORE_SECONDS:.0f} s on "
            f"{FIRST_NIGHT_BEFORE_MACHINE}, {seconds:.0f} s here — not judged by this bench "
            "(another machine; the README's paired runs of both versions decide)"
        )
        again = second["total_seconds"]  # type: ignore[index]
        check(f"1M second night ≤ 180 s: {again:.0f} s", again <= 180)
        for label, night in (("first", first), ("second", second)):
            peak = _process_peak(night)  # type: ignore[arg-type]
            check(
                f"1M {label} night peak ≤ 6 GB: {peak:,.0f} MiB = {peak * 1.048576 / 1000:.2f} GB",
                peak * 1.048576 <= 6000,
            )
        ratio = big.get("pandas_ratio")
        if ratio is not None:
            check(f"1M end-to-end pandas ratio ≥ 5×: {ratio:.2f}×", ratio >= 5)  # type: ignore[operator]
    if 100_000 in by_size and big is not None:
        growth = big["nightly"]["total_seconds"] / by_size[100_000]["nightly"]["total_seconds"]  # type: ignore[index,operator]
        check(f"100k → 1M first-night growth ≤ 11×: {growth:.1f}×", growth <= 11)
    if len(out) == 2:
        out.append("- (need the 100k and 1M sizes in one run)")
    return "\n".join(out)


def python_loop_seconds() -> float:
    """How fast this machine runs plain Python at the moment: a 20M-iteration empty loop.
    Benches taken on machines (or in hours) with different figures are not comparable:
    a bench on a faster machine meets an absolute reference from a slower one for free."""
    start = time.perf_counter()
    for _ in range(20_000_000):
        pass
    return time.perf_counter() - start


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
    loop_before = python_loop_seconds()
    print(f"== machine: a 20M-iteration Python loop takes {loop_before:.2f} s", flush=True)
    for customers in args.sizes:
        print(f"== {customers:,} customers: generating shop", flush=True)
        gen = generate(customers, args.seed)
        print(f"   generation: {gen}", flush=True)
        load_before = os.getloadavg()
        workspace = ROOT / "benchmarks" / "work" / str(customers)
        nights = {}
        for key, label in NIGHTS:
            as_of = AS_OF if label == "first" else NEXT_DAY
            print(f"   running the nightly flow: {label} night, as of {as_of}", flush=True)
            # The night before's writes reach the disk first: a merchant's second night
            # runs a day after the first, not while the first one's pages are flushed.
            os.sync()
            night = run_nightly(customers, args.seed, workspace, as_of, fresh=label == "first")
            if night.get("failed"):
                print(f"   nightly FAILED: {night['error']}", flush=True)
                failures.append({"customers": customers, "night": label, **night})
                break
            print(f"   {label} night: {night['total_seconds']:.1f} s", flush=True)
            nights[key] = night
        if len(nights) < len(NIGHTS):
            continue
        print("   pandas reference: the same customer features from the same files", flush=True)
        reference = run_pandas_reference(customers, args.seed, AS_OF)
        product_seconds = product_feature_seconds(nights["nightly"])
        print(
            f"   pandas reference: {reference}; product (ingest + dbt build): {product_seconds:.1f} s",
            flush=True,
        )
        rows.append(
            {
                "customers": customers,
                "generation": gen,
                **nights,
                "pandas_reference": reference,
                "product_feature_seconds": product_seconds,
                # > 1 means the product builds the same table faster than pandas.
                "pandas_ratio": (
                    None
                    if reference.get("failed")
                    else float(reference["seconds"]) / product_seconds  # type: ignore[arg-type]
                ),
                "load_average_before": load_before,
            }
        )
    loops = [loop_before, python_loop_seconds()]
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "nightly.json").write_text(
        json.dumps(
            {"runs": rows, "failures": failures, "python_loop_seconds": loops},
            indent=2,
            default=str,
        )
    )
    table = to_markdown(rows, loops) if rows else ""
    for failure in failures:
        table += f"\n\n**{failure['customers']:,} customers, {failure['night']} night: failed** — {failure['error']}"
    (args.out / "nightly.md").write_text(
        "# Nightly flow benchmark (`make bench`)\n\n" + table + "\n"
    )
    print(table)


if __name__ == "__main__":
    main()
