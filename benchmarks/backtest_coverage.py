"""`make bench-backtest`: does the nightly backtest's interval cover the truth?

    python benchmarks/backtest_coverage.py --worlds 21 22 23 24 25 26 27 28 29 30

The nightly backtest (``winback decisions backtest``, ``marts.winback_backtest``) judges
the product's decision policy on the merchant's newest randomized campaign by off-policy
evaluation (IPW, self-normalised IPW, doubly robust) with 95% BCa bootstrap intervals. A
merchant reads those intervals as "what this policy would have earned on that campaign".
This benchmark checks that reading against the simulator's truth, in worlds the product
was not tuned to.

For every world: a demo shop is generated (cached under benchmarks/data/decisions/, shared
with ``make bench-decisions``), the real nightly flow runs on it (``winback nightly``),
and the backtest is recomputed from the warehouse exactly as the nightly computes it
(``winback.decisions.backtest.run_backtest``). Each policy of the backtest (the product's,
"everyone gets offer X", "send none") is then valued with the truth of that campaign
(``truth/campaign_offer_truth.parquet``: for each customer's first contact, the chance of
a paid order within the attribution window without a contact and with every offer on every
channel the customer could be reached on):

    E[reward_i | policy] = p0_i × value_i                                 (no contact)
                         = mean over reachable channels ch of
                           p_i(offer, ch) × (value_i − depth × aov_i) − cost(ch) − fixed

which is the backtest's own reward (``models/decision_backtest.py``: the product's price
of a return, the contact's cost, the redeemed discount) with the true probabilities, and
the channel drawn as the campaign drew it. The truth-valued profit of a policy is the
mean over the campaign's customers. ``covered`` = the interval holds it.

Writes benchmarks/results/backtest_coverage.{json,md}.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from decisions_bench import run_nightly, settings_for, shop  # noqa: E402

from winback.config import Settings  # noqa: E402
from winback.decisions import allocate  # noqa: E402
from winback.decisions.backtest import run_backtest  # noqa: E402
from winback.demo.world import CHANNELS  # noqa: E402
from winback.models.decision_backtest import NONE_NAME, POLICY_NAME, BacktestResult  # noqa: E402

WORK = ROOT / "benchmarks" / "work" / "backtest"
RESULTS = ROOT / "benchmarks" / "results"
METHODS = ("ipw", "snipw", "dr")
# The backtest's reward as the nightly computes it (value capped at the campaign's 99th
# percentile), and uncapped for comparison.
REWARDS = {"capped (the nightly's)": 0.99, "uncapped": 1.0}


def truth_rewards(
    result: BacktestResult,
    truth: pd.DataFrame,
    catalogue: pd.DataFrame,
    channel_cost: dict[str, float],
) -> dict[str, np.ndarray]:
    """Per customer of the campaign (rows of ``result.first_contacts``): the expected
    reward without a contact ("none") and with each offer of the campaign."""
    assert result.first_contacts is not None
    first = result.first_contacts
    rows = first[["customer_id"]].merge(
        truth[truth["campaign_id"] == result.campaign_id],
        on="customer_id",
        how="left",
        validate="1:1",
    )
    if rows["p_return_if_not_contacted"].isna().any():
        missing = int(rows["p_return_if_not_contacted"].isna().sum())
        raise SystemExit(f"{missing} customers of {result.campaign_id} have no truth row")
    # The reward's own value of a return (capped as the backtest caps it).
    value = first["reward_value"].to_numpy(float)
    order_value = first["avg_order_value"].fillna(0.0).to_numpy(float)
    table = catalogue.set_index("offer_code")
    cost = np.array([channel_cost.get(ch, 0.0) for ch in CHANNELS])
    out = {"none": rows["p_return_if_not_contacted"].to_numpy(float) * value}
    offers = first.loc[first["group"] == "treatment", "offer_code"].dropna().unique()
    for offer in sorted(map(str, offers)):
        p = rows[[f"p_return__{offer}__{ch}" for ch in CHANNELS]].to_numpy(float)
        depth = float(table["discount_depth"].get(offer, 0.0))
        fixed = float(table["fixed_cost"].get(offer, 0.0))
        per = p * (value - depth * order_value)[:, None] - cost[None, :] - fixed
        out[offer] = np.nanmean(per, axis=1)
    return out


def truth_values(result: BacktestResult, rewards: dict[str, np.ndarray]) -> dict[str, float]:
    """The truth-valued profit per customer of every policy of the backtest."""
    assert result.policy is not None and result.first_contacts is not None
    ids = result.first_contacts["customer_id"].to_numpy()
    action = result.policy.reindex(ids).to_numpy()
    mine = np.zeros(len(ids))
    for name, reward in rewards.items():
        mine = np.where(action == name, reward, mine)
    values = {POLICY_NAME: float(mine.mean()), NONE_NAME: float(rewards["none"].mean())}
    for offer, reward in rewards.items():
        if offer != "none":
            values[f"everyone: {offer}"] = float(reward.mean())
    return values


def world_rows(world: int, customers: int, seed: int, reuse: bool) -> list[dict[str, object]]:
    data = shop(world, customers, seed)
    workspace = WORK / f"w{world}"
    seconds = None
    if not (reuse and (workspace / "winback.duckdb").exists()):
        seconds = run_nightly(data, workspace, 1.0)
    rows = []
    for reward, quantile in REWARDS.items():
        settings = settings_for(workspace, 1.0)
        settings.response.backtest_value_quantile = quantile
        rows += _judged(world, data, settings, reward, seconds)
    return rows


def _judged(
    world: int, data: Path, settings: Settings, reward: str, seconds: float | None
) -> list[dict[str, object]]:
    inputs = allocate.read_inputs(settings.warehouse)
    start = time.perf_counter()
    result = run_backtest(inputs, settings)
    backtest_seconds = time.perf_counter() - start
    if result is None:
        print(f"   world {world}: no randomized campaign to backtest", flush=True)
        return []
    cost = allocate.channel_costs(inputs)
    truth = pd.read_parquet(data / "truth" / "campaign_offer_truth.parquet")
    values = truth_values(result, truth_rewards(result, truth, inputs["catalogue"], cost))
    rows = []
    for _, est in result.estimates.iterrows():
        true = values[str(est["policy"])]
        rows.append(
            {
                "world": world,
                "reward": reward,
                "value_cap": result.value_cap,
                "campaign_id": result.campaign_id,
                "customers": result.customers,
                "learned": result.learned,
                "policy": est["policy"],
                "method": est["method"],
                "estimate": float(est["value"]),
                "ci_low": float(est["ci_low"]),
                "ci_high": float(est["ci_high"]),
                "truth": true,
                "covered": bool(est["ci_low"] <= true <= est["ci_high"]),
                "nightly_seconds": seconds,
                "backtest_seconds": backtest_seconds,
            }
        )
    mine = next(r for r in rows if r["policy"] == POLICY_NAME and r["method"] == "dr")
    print(
        f"   world {world} ({reward}): {result.campaign_id}, {result.customers:,} customers; policy DR "
        f"{mine['estimate']:.2f} [{mine['ci_low']:.2f}, {mine['ci_high']:.2f}], truth "
        f"{mine['truth']:.2f} -> {'covered' if mine['covered'] else 'NOT covered'}",
        flush=True,
    )
    return rows


def coverage(rows: list[dict[str, object]], *, policy: str | None, reward: str) -> dict[str, str]:
    """Covered / judged, per method (``policy`` None: every policy)."""
    out = {}
    for method in METHODS:
        picked = [
            r
            for r in rows
            if r["method"] == method
            and r["reward"] == reward
            and (policy is None or r["policy"] == policy)
        ]
        hits = sum(bool(r["covered"]) for r in picked)
        out[method] = f"{hits}/{len(picked)}" if picked else ""
    return out


def markdown(meta: dict[str, object], rows: list[dict[str, object]]) -> str:
    lines = [
        "# Does the backtest's interval cover the truth? (`make bench-backtest`)",
        "",
        f"`{meta['command']}` — {meta['customers']:,} customers per shop, shop seed "
        f"{meta['seed']}, measured {meta['measured_at']}, load {meta['load_average']:.1f}. "
        "Each world's newest randomized campaign, the nightly's own backtest (95% paired BCa "
        "bootstrap intervals), truth from `truth/campaign_offer_truth.parquet`; profit per "
        "customer of the campaign.",
        "",
        "| reward | policies | " + " | ".join(f"covered ({m})" for m in METHODS) + " |",
        "|---|---|" + "---:|" * len(METHODS),
    ]
    for reward in REWARDS:
        for label, policy in (
            ("the product's policy", POLICY_NAME),
            ("send none", NONE_NAME),
            ("every policy (incl. everyone-gets-X)", None),
        ):
            cells = coverage(rows, policy=policy, reward=reward).values()
            lines.append(f"| {reward} | {label} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "| world | reward | campaign | customers | policy | DR estimate [95% CI] | truth "
        "| covered |",
        "|---|---|---|---:|---|---|---:|---|",
    ]
    for r in rows:
        if r["method"] != "dr" or r["policy"] not in {POLICY_NAME, NONE_NAME}:
            continue
        lines.append(
            f"| {r['world']} | {r['reward']} | {r['campaign_id']} | {r['customers']:,} | "
            f"{r['policy']} | {r['estimate']:.2f} [{r['ci_low']:.2f}, {r['ci_high']:.2f}] | "
            f"{r['truth']:.2f} | {'yes' if r['covered'] else '**no**'} |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--worlds", type=int, nargs="+", default=list(range(21, 31)))
    parser.add_argument("--customers", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument(
        "--reuse",
        action="store_true",
        help="reuse a world's warehouse from an earlier run (skip its nightly)",
    )
    args = parser.parse_args()
    rows: list[dict[str, object]] = []
    for world in args.worlds:
        print(f"== world {world}: {args.customers:,} customers, seed {args.seed}", flush=True)
        rows += world_rows(world, args.customers, args.seed, args.reuse)
    meta = {
        "command": "python benchmarks/backtest_coverage.py " + " ".join(sys.argv[1:]),
        "customers": args.customers,
        "seed": args.seed,
        "measured_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "load_average": os.getloadavg()[0],
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "backtest_coverage.json").write_text(
        json.dumps({"meta": meta, "rows": rows}, indent=2, default=str) + "\n"
    )
    (RESULTS / "backtest_coverage.md").write_text(markdown(meta, rows))
    print(markdown(meta, rows))


if __name__ == "__main__":
    main()
