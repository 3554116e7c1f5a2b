"""`make bench-decisions`: the win-back list against what a competent analyst would run,
in simulated worlds the product was not tuned to, valued with each world's truth.

    python benchmarks/decisions_bench.py --worlds 21 22 23 --customers 20000

For every world: a demo shop of that world is generated (cached under benchmarks/data/),
the real nightly flow runs on it (`winback nightly`: load, dbt, churn model, response
model, allocation), and for each budget the decisions are rebuilt with that budget. Then
six policies are valued with the simulator's truth (``winback.demo.evaluate``, which the
product never reads), on the same candidate pool and the same budget definition:

* ``winback_list``: the product's contacted rows, in its priority order;
* ``(a) churn x value, reminder -> new arrivals``: candidates ranked by churn probability
  x value if retained, the R12 opening (reminder, then new arrivals) on the cheapest
  consented channel;
* ``(b) churn x value, best offer in history``: the same ranking, one contact with the
  offer whose treatment-minus-control conversion in the shop's campaign history was
  highest, cheapest consented channel that offer allows;
* ``(c) top churn, 20% discount``: highest churn probability first, DISC20, cheapest
  consented channel;
* ``(d) random``: random candidates, a random catalogue offer, cheapest consented
  channel that offer allows;
* ``(e) truth oracle``: the same plan space as the product (offer sequences x consented
  channels), each plan valued with the truth, allocated with the same Lagrangian knapsack:
  an upper reference no policy can reach. It knows what no data shows: each customer's
  true reason for leaving, whether they are still alive, their true cadence and margin.
* ``(f) feature oracle``: what the product's own observations allow at best. A LightGBM
  regressor learns every plan's *true* incremental return from the customer features the
  response model reads and the plan (offer sequence, channel), cross-fitted over five
  folds of customers — as if the merchant had unlimited, noise-free campaign history —
  and the plans are valued with it and the product's own value and spend estimates. The
  part of the truth oracle's lead that (f) does not reach is not learnable from these
  features; ``gap closed`` is also reported against (f).

Pool: the candidates no rule excludes (R6, R7, R13), minus the control group (R10) — the
allocation's own input. Budget: expected spend as the truth prices it (every contact sent
and every discount redeemed); each policy takes its customers in its own order while the
running spend stays within the budget. Realised profit = Σ (incremental return x the true
value of a return − contacts − discounts), from the truth only.

Writes benchmarks/results/decisions.{json,md}.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import lightgbm as lgb
import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from winback.config import Settings  # noqa: E402
from winback.decisions import allocate  # noqa: E402
from winback.decisions.run import run_decisions  # noqa: E402
from winback.demo import ShopSpec, generate_shop  # noqa: E402
from winback.demo.evaluate import realised_profit  # noqa: E402
from winback.models.allocation import PlanSet  # noqa: E402
from winback.models.allocation import allocate as knapsack  # noqa: E402
from winback.models.features import model_input  # noqa: E402
from winback.models.plans import PlanRules, value_plans  # noqa: E402
from winback.models.response import feature_columns, fit_response  # noqa: E402
from winback.warehouse import connect  # noqa: E402

DATA = ROOT / "benchmarks" / "data" / "decisions"
WORK = ROOT / "benchmarks" / "work" / "decisions"
RESULTS = ROOT / "benchmarks" / "results"
WINBACK = Path(sys.executable).with_name("winback")
AS_OF = dt.date(2026, 6, 30)
POLICIES = (
    "winback_list",
    "(a) churn x value, reminder -> new arrivals",
    "(b) churn x value, best offer in history",
    "(c) top churn, 20% discount",
    "(d) random",
    "(e) truth oracle",
    "(f) feature oracle",
)


def shop(world: int, customers: int, seed: int) -> Path:
    out = DATA / f"w{world}_n{customers}_s{seed}"
    # Shops cached before the campaigns' counterfactual truth existed are made again
    # (same seed and world: the same files, plus that truth).
    if not (out / "truth" / "campaign_offer_truth.parquet").exists():
        generate_shop(
            ShopSpec(n_customers=customers, seed=seed, world=world, as_of=AS_OF, fmt="parquet"),
            out,
        )
    return out


def environment(workspace: Path, budget: float) -> dict[str, str]:
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith("WINBACK_")},
        "WINBACK_WAREHOUSE__PATH": str(workspace / "winback.duckdb"),
        "WINBACK_MLFLOW__TRACKING_URI": f"sqlite:///{workspace}/mlflow.db",
        "WINBACK_MLFLOW__ARTIFACT_DIR": str(workspace / "artifacts"),
        "WINBACK_DECISIONS__REPORT_DIR": str(workspace / "reports"),
        "WINBACK_DECISIONS__BUDGET": str(budget),
        "PREFECT_HOME": str(workspace / "prefect"),
    }


def run_nightly(data: Path, workspace: Path, budget: float) -> float:
    if workspace.exists():
        shutil.rmtree(workspace)
    workspace.mkdir(parents=True)
    start = time.perf_counter()
    proc = subprocess.run(
        [str(WINBACK), "nightly", "--data-dir", str(data), "--as-of", AS_OF.isoformat()],
        capture_output=True,
        text=True,
        env=environment(workspace, budget),
        cwd=workspace,
    )
    if proc.returncode != 0:
        sys.stderr.write(proc.stdout[-4000:] + proc.stderr[-4000:])
        raise SystemExit(f"nightly failed on {data}")
    return time.perf_counter() - start


def settings_for(workspace: Path, budget: float) -> Settings:
    return Settings(
        warehouse={"path": workspace / "winback.duckdb"},
        mlflow={"tracking_uri": f"sqlite:///{workspace}/mlflow.db"},
        decisions={"budget": budget, "report_dir": workspace / "reports"},
    ).resolved()


def read(workspace: Path) -> dict[str, pd.DataFrame]:
    inputs = allocate.read_inputs(workspace / "winback.duckdb")
    with connect(workspace / "winback.duckdb") as con:
        inputs["choices"] = con.execute(f"select * from {allocate.PLAN_CHOICES}").df()
        inputs["contacts"] = con.execute("select * from raw.campaign_contacts").df()
    return inputs


def cheapest_channel(
    channels: pd.DataFrame, catalogue: pd.DataFrame, offers: list[str]
) -> pd.Series:
    """Per customer, the cheapest consented channel every offer in ``offers`` allows."""
    allowed = set.intersection(
        *(set(str(c).split("|")) for c in catalogue.set_index("offer_code").loc[offers, "channels"])
    )
    usable = channels[channels["channel"].isin(allowed)]
    return (
        usable.sort_values(["customer_id", "cost_per_contact", "channel"])
        .groupby("customer_id")["channel"]
        .first()
    )


def plans_frame(ids: pd.Index, channel: pd.Series, offers: list[str | None]) -> pd.DataFrame:
    frame = pd.DataFrame({"customer_id": ids})
    frame["channel"] = channel.reindex(ids).to_numpy()
    for k in range(3):
        frame[f"offer_{k + 1}"] = offers[k] if k < len(offers) else None
    return frame.dropna(subset=["channel"]).reset_index(drop=True)


def take_within_budget(valued: pd.DataFrame, budget: float) -> pd.DataFrame:
    """The rows, in their order, while the running true spend stays within the budget."""
    spend = (valued["contact_cost"] + valued["discount_cost"]).to_numpy()
    return valued[np.cumsum(spend) <= budget + 1e-9]


def summary(valued: pd.DataFrame) -> dict[str, float]:
    return {
        "contacted": len(valued),
        "profit": float(valued["profit"].sum()),
        "gain": float(valued["gain"].sum()),
        "spend": float((valued["contact_cost"] + valued["discount_cost"]).sum()),
    }


def evaluate_policies(
    truth: Path, inputs: dict[str, pd.DataFrame], settings: Settings, budget: float, seed: int
) -> dict[str, dict[str, float]]:
    candidates = inputs["candidates"]
    pool = candidates[~candidates["is_control_group"].fillna(False).astype(bool)]
    pool = pool.set_index("customer_id")
    channels = inputs["channels"][inputs["channels"]["customer_id"].isin(pool.index)]
    catalogue = inputs["catalogue"]
    cost = allocate.channel_costs(inputs)
    reminder, arrivals = settings.decisions.reminder_offer, settings.decisions.new_arrivals_offer

    def value(plans: pd.DataFrame) -> pd.DataFrame:
        if plans.empty:
            return plans.assign(profit=0.0, gain=0.0, contact_cost=0.0, discount_cost=0.0)
        return realised_profit(truth, plans, cost, catalogue)

    out: dict[str, dict[str, float]] = {}
    # The product: its contacted customers in its priority order.
    choices = inputs["choices"]
    listed = choices[choices["is_selected"] & ~choices["is_control_group"]].sort_values(
        "allocation_score", ascending=False
    )
    product = pd.DataFrame(
        {
            "customer_id": listed["customer_id"].to_numpy(),
            "channel": listed["channel"].to_numpy(),
            "offer_1": listed["step_1_offer"].to_numpy(),
            "offer_2": listed["step_2_offer"].to_numpy(),
            "offer_3": listed["step_3_offer"].to_numpy(),
        }
    )
    valued_product = value(product)
    out["winback_list"] = summary(take_within_budget(valued_product, budget)) | {
        "estimated_spend": float(listed["expected_cost"].sum()),
        "truth_spend_of_whole_list": float(
            (valued_product["contact_cost"] + valued_product["discount_cost"]).sum()
        ),
    }
    # (a) churn x value ranking, reminder -> new arrivals, cheapest consented channel.
    by_value = (pool["churn_probability"] * pool["value_if_retained_12m"]).sort_values(
        ascending=False
    )
    plans = plans_frame(
        by_value.index,
        cheapest_channel(channels, catalogue, [reminder, arrivals]),
        [reminder, arrivals],
    )
    out[POLICIES[1]] = summary(take_within_budget(value(plans), budget))
    # (b) same ranking, the offer with the best treatment-minus-control conversion.
    contacts = inputs["contacts"].assign(
        converted=lambda f: f["converted_order_id"].notna(),
        control=lambda f: f["group"].fillna("treatment") == "control",
    )
    rates = contacts.groupby(["offer_code", "control"])["converted"].mean().unstack()
    lift = (rates.get(False) - rates.get(True)).dropna()
    lift = lift[lift.index.isin(catalogue["offer_code"])]
    best_offer = str(lift.idxmax()) if len(lift) else reminder
    plans = plans_frame(
        by_value.index, cheapest_channel(channels, catalogue, [best_offer]), [best_offer]
    )
    out[POLICIES[2]] = summary(take_within_budget(value(plans), budget)) | {
        "best_offer_in_history": best_offer  # type: ignore[dict-item]
    }
    # (c) top churn probability, a 20% discount.
    by_churn = pool["churn_probability"].sort_values(ascending=False)
    plans = plans_frame(
        by_churn.index, cheapest_channel(channels, catalogue, ["DISC20"]), ["DISC20"]
    )
    out[POLICIES[3]] = summary(take_within_budget(value(plans), budget))
    # (d) random customers, a random offer, the cheapest channel it allows.
    rng = np.random.default_rng(seed)
    order = pool.index.to_numpy()[rng.permutation(len(pool))]
    offers = rng.choice(catalogue["offer_code"].to_numpy(), len(order))
    parts = []
    for offer in np.unique(offers):
        ids = pd.Index(order[offers == offer])
        parts.append(
            plans_frame(ids, cheapest_channel(channels, catalogue, [str(offer)]), [str(offer)])
        )
    random_plans = (
        pd.concat(parts).set_index("customer_id").reindex(order).dropna(subset=["channel"])
    )
    out[POLICIES[4]] = summary(take_within_budget(value(random_plans.reset_index()), budget))
    # (e) the oracle: every plan of the product's plan space, valued with the truth.
    out[POLICIES[5]], out[POLICIES[6]] = oracle(truth, inputs, pool.index, settings, budget, value)
    return out


def oracle(
    truth: Path,
    inputs: dict[str, pd.DataFrame],
    pool: pd.Index,
    settings: Settings,
    budget: float,
    value: object,
) -> tuple[dict[str, float], dict[str, float]]:
    """(e) and (f) of the module docstring."""
    candidates = inputs["candidates"]
    candidates = candidates[candidates["customer_id"].isin(pool)].sort_values("customer_id")
    candidates = candidates.reset_index(drop=True)
    rules = PlanRules(
        settings.decisions.reminder_offer,
        settings.decisions.new_arrivals_offer,
        settings.response.window_days,
    )
    structure = value_plans(
        candidates,
        inputs["eligible"],
        inputs["channels"],
        inputs["catalogue"],
        fit_response(inputs["history"].head(0), settings.response),
        allocate.priors_from(inputs, settings),
        rules,
    )
    rows = np.arange(len(structure.candidate))
    described = structure.frame(rows)
    plans = pd.DataFrame(
        {
            "customer_id": candidates["customer_id"].to_numpy()[structure.candidate],
            "channel": described["channel"].to_numpy(),
            "offer_1": described["step_1_offer"].to_numpy(),
            "offer_2": described["step_2_offer"].to_numpy(),
            "offer_3": described["step_3_offer"].to_numpy(),
        }
    )
    valued = value(plans)  # type: ignore[operator]
    spend = (valued["contact_cost"] + valued["discount_cost"]).to_numpy()
    truth_set = PlanSet(
        structure.plan_set.offsets, valued["profit"].to_numpy(), spend, spend.copy()
    )
    result = knapsack(truth_set, budget)
    chosen = valued.iloc[result.choice[result.choice >= 0]]
    # (f): the true incremental return learned from what the product observes.
    features = feature_columns(inputs["history"])
    x = model_input(candidates.iloc[structure.candidate].reset_index(drop=True), features)
    x["plan_channel"] = pd.Categorical(described["channel"].to_numpy())
    for k in (1, 2, 3):
        x[f"plan_offer_{k}"] = pd.Categorical(described[f"step_{k}_offer"].astype(str).to_numpy())
    truth_return = valued["incremental_return"].to_numpy()
    fold = structure.candidate % 5
    learned = np.zeros(len(x))
    for f in range(5):
        regressor = lgb.LGBMRegressor(
            n_estimators=300, learning_rate=0.05, num_leaves=63, min_child_samples=50,
            n_jobs=2, random_state=f, verbosity=-1,
        )  # fmt: skip
        regressor.fit(x[fold != f], truth_return[fold != f])
        learned[fold == f] = regressor.predict(x[fold == f])
    value_estimate = candidates["value_if_retained_12m"].to_numpy()[structure.candidate]
    spend_estimate = structure.plan_set.spend
    feature_set = PlanSet(
        structure.plan_set.offsets,
        learned * value_estimate - spend_estimate,
        spend_estimate,
        structure.plan_set.committed,
    )
    picked = knapsack(feature_set, budget)
    return summary(chosen), summary(valued.iloc[picked.choice[picked.choice >= 0]])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    # Worlds 11 and 12 were used to develop the decisions (value estimate, response
    # learner settings); the benchmark's default worlds were not.
    parser.add_argument("--worlds", type=int, nargs="+", default=[21, 22, 23])
    parser.add_argument("--customers", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument(
        "--budgets",
        type=float,
        nargs="+",
        default=[0.02, 0.2],
        help="budgets as a multiple of the candidate pool's size (currency per candidate): "
        "tight and loose",
    )
    args = parser.parse_args()
    rows = []
    for world in args.worlds:
        print(f"== world {world}: {args.customers:,} customers, seed {args.seed}", flush=True)
        data = shop(world, args.customers, args.seed)
        workspace = WORK / f"w{world}"
        seconds = run_nightly(data, workspace, 1.0)
        print(f"   nightly {seconds:.0f} s", flush=True)
        for share in args.budgets:
            inputs = read(workspace)
            pool = int((~inputs["candidates"]["is_control_group"].fillna(False).astype(bool)).sum())
            budget = round(share * pool, 2)
            settings = settings_for(workspace, budget)
            start = time.perf_counter()
            outcome, _ = run_decisions(settings, AS_OF)
            decided = time.perf_counter() - start
            inputs = read(workspace)
            figures = evaluate_policies(data / "truth", inputs, settings, budget, args.seed)
            baselines = {
                k: v["profit"] for k, v in figures.items() if k[:3] in {"(a)", "(b)", "(c)", "(d)"}
            }
            best_name = max(baselines, key=baselines.__getitem__)
            best, mine = baselines[best_name], figures["winback_list"]["profit"]
            top, reach = figures[POLICIES[5]]["profit"], figures[POLICIES[6]]["profit"]
            row = {
                "world": world,
                "budget_per_candidate": share,
                "budget": budget,
                "pool": pool,
                "decisions_seconds": decided,
                "response_learned": outcome.learned,
                "qini": None if outcome.validation is None else outcome.validation.qini,
                "qini_prior_only": None
                if outcome.validation is None
                else outcome.validation.qini_prior,
                "uplift_calibration_error": None
                if outcome.validation is None
                else outcome.validation.calibration_error,
                "policies": figures,
                "best_baseline": best_name,
                "ratio_to_best_baseline": mine / best if best > 0 else None,
                "gap_closed": (mine - best) / (top - best) if top > best else None,
                "gap_closed_to_feature_oracle": (mine - best) / (reach - best)
                if reach > best
                else None,
                "share_of_oracle": mine / top if top > 0 else None,
            }
            rows.append(row)
            print(
                f"   budget {budget:,.0f}: list {mine:,.0f}, best baseline {best_name} {best:,.0f}, "
                f"oracle {top:,.0f} (e) / {reach:,.0f} (f), gap closed {row['gap_closed']} (e) / "
                f"{row['gap_closed_to_feature_oracle']} (f)",
                flush=True,
            )
    RESULTS.mkdir(parents=True, exist_ok=True)
    meta = {
        "command": "python benchmarks/decisions_bench.py " + " ".join(sys.argv[1:]),
        "customers": args.customers,
        "seed": args.seed,
        "measured_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "load_average": os.getloadavg()[0],
    }
    (RESULTS / "decisions.json").write_text(
        json.dumps({"meta": meta, "rows": rows}, indent=2, default=str) + "\n"
    )
    (RESULTS / "decisions.md").write_text(markdown(meta, rows))
    print(markdown(meta, rows))


def markdown(meta: dict[str, object], rows: list[dict[str, object]]) -> str:
    lines = [
        "# Win-back decisions against an analyst's policies (`make bench-decisions`)",
        "",
        f"`{meta['command']}` — {meta['customers']:,} customers per shop, shop seed "
        f"{meta['seed']}, measured {meta['measured_at']}. Realised profit from each world's "
        "truth (winback.demo.evaluate); same pool, same budget (expected spend) for every "
        "policy.",
        "",
        "| world | budget | "
        + " | ".join(POLICIES)
        + " | list ÷ best baseline | gap to (e) closed | gap to (f) closed |",
        "|---|---:|" + "---:|" * len(POLICIES) + "---:|---:|---:|",
    ]
    for row in rows:
        figures = row["policies"]
        cells = [f"{figures[p]['profit']:,.0f}" for p in POLICIES]  # type: ignore[index]
        ratio = row["ratio_to_best_baseline"]
        gap, reach = row["gap_closed"], row["gap_closed_to_feature_oracle"]
        lines.append(
            f"| {row['world']} | {row['budget']:,.0f} | "
            + " | ".join(cells)
            + f" | {'' if ratio is None else f'{ratio:.2f}×'} | {'' if gap is None else f'{gap:.0%}'}"
            + f" | {'' if reach is None else f'{reach:.0%}'} |"
        )
    lines += [
        "",
        "| world | budget | contacted (list) | list spend, own estimate | list spend, truth | best offer in history | response learned | held-out Qini (learned / priors) | uplift calibration error |",
        "|---|---:|---:|---:|---:|---|---|---|---:|",
    ]
    for row in rows:
        figures = row["policies"]
        mine = figures["winback_list"]  # type: ignore[index]
        qini = "" if row["qini"] is None else f"{row['qini']:.4f} / {row['qini_prior_only']:.4f}"
        error = row["uplift_calibration_error"]
        lines.append(
            f"| {row['world']} | {row['budget']:,.0f} | {mine['contacted']:,} | {mine['estimated_spend']:,.0f} | "
            f"{mine['truth_spend_of_whole_list']:,.0f} | {figures[POLICIES[2]]['best_offer_in_history']} | "  # type: ignore[index]
            f"{row['response_learned']} | {qini} | {'' if error is None else f'{error:.3f}'} |"
        )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
