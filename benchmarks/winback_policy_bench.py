"""Benchmark of the win-back list (issue 6) against two naive policies on a demo shop.

    python benchmarks/winback_policy_bench.py --customers 20000

Generates a demo shop, loads it, builds the features and the decisions with the real
dbt project, then values three policies with the simulator's truth (never read by the
pipeline), all under the same budget of committed cost:

* ``winback_list``: the contacted rows of ``marts.winback_list`` (their whole plan);
* ``naive_discount``: a 20% discount (DISC20) to every lapsed customer (lapse_status
  lapsed or lost), cheapest consented channel, in random order until the budget is spent;
* ``naive_top_churn``: the customers with the highest churn probability, one fixed offer
  (DISC10), cheapest consented channel, until the budget is spent.

Churn probability: the benchmark does not train the model (that is the nightly flow's
job and takes minutes); every policy sees the documented stand-in the decisions use when
``marts.churn_scores`` is absent (the R1 status index: 0.95 for lost, else
min(0.9, 0.4 + 0.1 x churn_risk_score)). The list is therefore judged without the help
of the model.

Realised profit, per contacted customer, from the truth: with p0 = P(order in the
14-day window | not contacted) and u_k = the true uplift of contact k's offer
(offer_response_truth; the 3rd contact damped by 0.7 as in the simulator), the chance
of a return is 1 - (1 - p0) * prod(1 - u_k); the profit is (that - p0) x V minus the
contacts sent (reach), fixed offer costs and discounts redeemed (by everyone who orders
in the window, including those who would have anyway). V, the value of a return, is the
true margin of an order x (1 + 0.71 x orders a year at the customer's own cadence, at
most 26) - the true future value the customer brings anyway (at least one order's
margin); 0.71 is the mean share of a year a B2C customer survives at ~6.5%/month (R2).

Writes ``benchmarks/results/winback_policy.json`` and ``.md`` and prints the figures
and the reason-inference accuracy per planted reason.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.shops import settings_for
from winback.config import DecisionSettings
from winback.demo import ShopSpec, generate_shop
from winback.ingest import load_data_dir
from winback.transform import DECISIONS_BUILD, FEATURE_BUILD, run_dbt
from winback.warehouse import connect

RESULTS = Path(__file__).resolve().parent / "results"

FATIGUE_3RD = DecisionSettings().third_contact_fatigue
SURVIVAL_SHARE_OF_YEAR = 0.71


def true_return_value(truth: pd.DataFrame) -> pd.Series:
    """V: the margin a return brings over the next year beyond what comes anyway."""
    margin = truth["expected_order_margin"].astype(float)
    orders = np.minimum(365.0 / truth["cadence_days"].astype(float), 26.0)
    won = margin * (1.0 + SURVIVAL_SHARE_OF_YEAR * orders)
    extra = won - truth["future_value_12m"].astype(float)
    return pd.Series(np.where(margin > 0, np.maximum(extra, margin), won), index=truth.index)


def realised_profit(
    plans: pd.DataFrame,
    offers: pd.DataFrame,
    truth: pd.DataFrame,
    catalogue: pd.DataFrame,
) -> dict[str, float]:
    """Value plans (customer_id, channel_cost, aov, offer_1..offer_3) with the truth."""
    if plans.empty:
        return {"customers": 0, "profit": 0.0, "gain": 0.0, "cost": 0.0}
    p_off = offers.pivot(index="customer_id", columns="offer_type", values="p_return_if_offered")
    p0 = offers.groupby("customer_id")["p_return_if_not_contacted"].first()
    t = truth.set_index("customer_id")
    value = true_return_value(t)
    cat = catalogue.set_index("offer_code")
    ids = plans["customer_id"].to_numpy()
    base = p0.reindex(ids).to_numpy()
    stay_away = 1.0 - base
    reach = np.ones(len(plans))
    cost = np.zeros(len(plans))
    for k in (1, 2, 3):
        offer = plans[f"offer_{k}"]
        has = offer.notna().to_numpy()
        codes = offer.fillna("REMIND").to_numpy()
        p = np.array(
            [
                p_off.at[c, o] if o in p_off.columns else np.nan
                for c, o in zip(ids, codes, strict=True)
            ]
        )
        uplift = np.nan_to_num((p - base) / np.maximum(1.0 - base, 1e-9), nan=0.0).clip(0, 1)
        if k == 3:
            uplift = uplift * FATIGUE_3RD
        uplift = np.where(has, uplift, 0.0)
        fixed = cat["fixed_cost"].reindex(codes).fillna(0.0).to_numpy()
        depth = cat["discount_depth"].reindex(codes).fillna(0.0).to_numpy()
        returns_now = np.where(k == 1, base, 0.0) + stay_away * uplift
        cost += np.where(
            has,
            reach * (plans["channel_cost"].to_numpy() + fixed)
            + depth * plans["aov"].to_numpy() * returns_now,
            0.0,
        )
        reach = np.where(has, stay_away * (1.0 - uplift), reach)
        stay_away = stay_away * (1.0 - uplift)
    incremental = (1.0 - stay_away) - base
    gain = incremental * value.reindex(ids).to_numpy()
    return {
        "customers": len(plans),
        "profit": float(np.sum(gain - cost)),
        "gain": float(np.sum(gain)),
        "cost": float(np.sum(cost)),
    }


def _within_budget(frame: pd.DataFrame, budget: float) -> pd.DataFrame:
    return frame[frame["committed_cost"].cumsum() <= budget]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--customers", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--budget", type=float, default=None, help="default: 0.5 x customers")
    parser.add_argument("--work-dir", type=Path, default=None)
    parser.add_argument(
        "--with-model",
        action="store_true",
        help="run the real nightly flow (trained, calibrated model in marts.churn_scores) "
        "instead of the status-index stand-in",
    )
    args = parser.parse_args()
    budget = args.budget if args.budget is not None else 0.5 * args.customers
    as_of = dt.date(2026, 6, 30)
    work = args.work_dir or Path(tempfile.mkdtemp(prefix="winback_bench_"))
    shop, warehouse = work / "shop", work / "winback.duckdb"
    started = time.perf_counter()
    generate_shop(
        ShopSpec(n_customers=args.customers, seed=args.seed, as_of=as_of, fmt="parquet"), shop
    )
    warehouse.unlink(missing_ok=True)
    if args.with_model:
        os.environ.update(
            {
                "WINBACK_WAREHOUSE__PATH": str(warehouse),
                "WINBACK_MLFLOW__TRACKING_URI": f"sqlite:///{work}/mlflow.db",
                "WINBACK_MLFLOW__ARTIFACT_DIR": str(work / "artifacts"),
                "WINBACK_DECISIONS__BUDGET": str(budget),
                "WINBACK_DECISIONS__REPORT_DIR": str(work / "reports"),
            }
        )
        from winback.flows.nightly import nightly

        nightly(data_dir=str(shop), as_of=as_of)
    else:
        load_data_dir(warehouse, shop, as_of)
        settings = settings_for(warehouse, decisions={"budget": budget})
        run_dbt(FEATURE_BUILD, settings, as_of)
        run_dbt(DECISIONS_BUILD, settings, as_of)

    with connect(warehouse) as con:
        listed = con.execute(
            "select l.customer_id, c.cost_per_contact as channel_cost, f.avg_order_value as aov, "
            "l.contact_1_offer as offer_1, l.contact_2_offer as offer_2, "
            "l.contact_3_offer as offer_3, l.committed_cost "
            "from marts.winback_list l "
            "join reference.winback_channels c on l.channel = c.channel "
            "join marts.customer_features f using (customer_id, as_of_date) "
            "where l.as_of_date = ? and l.is_contacted order by l.priority_rank",
            [as_of],
        ).df()
        pool = con.execute(
            "select v.customer_id, v.lapse_status, v.churn_probability, v.avg_order_value as aov, "
            "case when v.has_consent_push then 0.02 when v.has_consent_email then 0.05 "
            "when v.has_consent_sms then 0.08 when v.has_consent_phone then 2.5 end as channel_cost, "
            "md5(v.customer_id) as shuffle "
            "from intermediate.int_winback_candidates_valued v "
            "where not v.is_do_not_contact and (v.has_consent_push or v.has_consent_email "
            "or v.has_consent_sms or v.has_consent_phone)"
        ).df()
        reasons = con.execute(
            "select customer_id, likely_reason_1, likely_reason_2 "
            "from intermediate.int_winback_candidates_screened"
        ).df()
        catalogue = con.execute("select * from reference.winback_offer_catalogue").df()
    truth = pd.read_parquet(shop / "truth" / "customers_truth.parquet")
    offers = pd.read_parquet(shop / "truth" / "offer_response_truth.parquet")

    lapsed = pool[pool["lapse_status"].isin(["lapsed", "lost"])].sort_values("shuffle")
    naive_a = lapsed.assign(offer_1="DISC20", offer_2=None, offer_3=None)
    naive_a["committed_cost"] = naive_a["channel_cost"] + 0.20 * naive_a["aov"]
    naive_b = pool.sort_values(["churn_probability", "shuffle"], ascending=[False, True])
    naive_b = naive_b.assign(offer_1="DISC10", offer_2=None, offer_3=None)
    naive_b["committed_cost"] = naive_b["channel_cost"] + 0.10 * naive_b["aov"]
    policies = {
        "winback_list": realised_profit(_within_budget(listed, budget), offers, truth, catalogue),
        "naive_discount_all_lapsed": realised_profit(
            _within_budget(naive_a, budget), offers, truth, catalogue
        ),
        "naive_top_churn_fixed_offer": realised_profit(
            _within_budget(naive_b, budget), offers, truth, catalogue
        ),
    }
    best_naive = max(
        policies["naive_discount_all_lapsed"]["profit"],
        policies["naive_top_churn_fixed_offer"]["profit"],
    )
    ratio = policies["winback_list"]["profit"] / best_naive if best_naive > 0 else float("inf")

    scored = reasons.merge(truth[["customer_id", "true_reason"]], on="customer_id")
    scored = scored[scored["true_reason"].notna()]
    hit = scored["likely_reason_1"] == scored["true_reason"]
    top2 = hit | (scored["likely_reason_2"] == scored["true_reason"])
    per_reason = {
        str(r): {
            "customers": len(g),
            "accuracy": round(float(hit[g.index].mean()), 3),
            "top2_accuracy": round(float(top2[g.index].mean()), 3),
        }
        for r, g in scored.groupby("true_reason")
    }
    majority = float(scored["true_reason"].value_counts(normalize=True).iloc[0])
    result = {
        "customers": args.customers,
        "seed": args.seed,
        "as_of": as_of.isoformat(),
        "budget": budget,
        "churn_probability": (
            "the trained model (marts.churn_scores), the same for every policy"
            if args.with_model
            else "status-index stand-in (no model trained), the same for every policy"
        ),
        "policies": policies,
        "ratio_vs_best_naive": round(ratio, 3),
        "target_ratio": 1.3,
        "reason_accuracy": {
            "overall": round(float(hit.mean()), 3),
            "overall_top2": round(float(top2.mean()), 3),
            "majority_class_baseline": round(majority, 3),
            "per_reason": per_reason,
        },
        "seconds": round(time.perf_counter() - started, 1),
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    stem = "winback_policy_model" if args.with_model else "winback_policy"
    (RESULTS / f"{stem}.json").write_text(json.dumps(result, indent=2) + "\n")
    lines = [
        f"# Win-back policy benchmark ({args.customers:,} customers, seed {args.seed}, budget {budget:,.0f})",
        "",
        "| policy | customers | realised profit | gain | cost |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, p in policies.items():
        lines.append(
            f"| {name} | {p['customers']:,} | {p['profit']:,.0f} | {p['gain']:,.0f} | {p['cost']:,.0f} |"
        )
    lines += [
        "",
        f"Ratio to the better naive policy: **{ratio:.2f}** (target 1.3).",
        "",
        f"Reason inference (likely_reason_1 vs planted true_reason): {hit.mean():.1%} "
        f"(top 2: {top2.mean():.1%}; always guessing the commonest reason: {majority:.1%}).",
        "",
        "| reason | customers | accuracy | top-2 accuracy |",
        "|---|---:|---:|---:|",
    ]
    for r, v in per_reason.items():
        lines.append(f"| {r} | {v['customers']} | {v['accuracy']:.1%} | {v['top2_accuracy']:.1%} |")
    (RESULTS / f"{stem}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
