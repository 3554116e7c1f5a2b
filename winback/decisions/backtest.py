"""The nightly backtest of the decisions on the merchant's newest randomized campaign
(``models/decision_backtest.py``), written to ``decisions.backtest_estimates`` for the
``marts.winback_backtest`` mart, and read back for ``winback decisions backtest``."""

from __future__ import annotations

import datetime as dt

import duckdb
import numpy as np
import pandas as pd

from winback.config import Settings
from winback.decisions import allocate
from winback.models.decision_backtest import POLICY_NAME, BacktestResult, backtest_newest_campaign
from winback.models.response import HeldOut, hold_out_newest
from winback.tables import TableStore, store_for
from winback.warehouse import Warehouse

BACKTEST_TABLE = "decisions.backtest_estimates"
MART = "marts.winback_backtest"
REACHABLE = "intermediate.int_winback_channels_reachable"
COLUMNS = [
    "as_of_date",
    "campaign_id",
    "campaign_first_contact",
    "policy",
    "method",
    "value",
    "ci_low",
    "ci_high",
    "total",
    "n",
    "matched",
    "vs_baseline",
    "vs_baseline_ci_low",
    "vs_baseline_ci_high",
    "customers_contacted",
    "reward_value_cap",
]


def run_backtest(
    inputs: dict[str, pd.DataFrame],
    settings: Settings,
    held_out: HeldOut | None = None,
    store: TableStore | None = None,
) -> BacktestResult | None:
    """Backtest tonight's decision policy on the newest randomized campaign of the history
    (``held_out``: that campaign and the model fitted before it, when the nightly
    validation already has them; ``store``: where the decision tables are, default the
    DuckDB warehouse)."""
    priors = allocate.priors_from(inputs, settings)
    history = inputs["history"]
    held_out = held_out or hold_out_newest(history, settings.response, priors)
    if held_out is None:
        return None
    return backtest_newest_campaign(
        history,
        priors,
        settings.response,
        inputs["catalogue"],
        allocate.channel_costs(inputs),
        seed=settings.response.seed,
        held_out=held_out,
        reachable=read_reachable(
            store or settings.warehouse, history.loc[held_out.mask, "customer_id"]
        ),
    )


def read_reachable(where: Warehouse | TableStore, customers: pd.Series) -> pd.DataFrame:
    """The channels each of ``customers`` can be reached on (customer_id, channel)."""
    ids = pd.DataFrame({"customer_id": customers.drop_duplicates().to_numpy()})
    return store_for(where).read(
        f"select reachable.customer_id, reachable.channel from {REACHABLE} as reachable"
        " inner join campaign_customers on campaign_customers.customer_id = reachable.customer_id"
        " order by reachable.customer_id, reachable.channel",
        {"campaign_customers": ids},
    )


def estimates_frame(as_of: dt.date, result: BacktestResult | None) -> pd.DataFrame:
    """The rows of ``decisions.backtest_estimates`` (none without a backtest)."""
    if result is None:
        return pd.DataFrame(columns=COLUMNS)
    frame = result.estimates.drop(columns=["baseline"])
    contacted = int(result.policy_mix.drop("none", errors="ignore").sum())
    blanket = {p: (0 if p == "send none" else result.customers) for p in frame["policy"]}
    blanket[POLICY_NAME] = contacted
    return frame.assign(
        as_of_date=as_of,
        campaign_id=result.campaign_id,
        campaign_first_contact=result.first_contact.date(),
        customers_contacted=frame["policy"].map(blanket),
        reward_value_cap=result.value_cap if np.isfinite(result.value_cap) else None,
    )[COLUMNS]


def write_backtest(
    where: Warehouse | TableStore, as_of: dt.date, result: BacktestResult | None
) -> int:
    """Replace ``decisions.backtest_estimates`` in one statement."""
    frame = estimates_frame(as_of, result)
    return store_for(where).replace(
        BACKTEST_TABLE,
        frame,
        "select cast(as_of_date as date) as as_of_date, cast(campaign_id as string) as campaign_id, "
        "cast(campaign_first_contact as date) as campaign_first_contact, "
        "cast(policy as string) as policy, cast(method as string) as method, "
        "cast(value as double) as value, cast(ci_low as double) as ci_low, "
        "cast(ci_high as double) as ci_high, cast(total as double) as total, "
        "cast(n as bigint) as n, cast(matched as bigint) as matched, "
        "cast(vs_baseline as double) as vs_baseline, "
        "cast(vs_baseline_ci_low as double) as vs_baseline_ci_low, "
        "cast(vs_baseline_ci_high as double) as vs_baseline_ci_high, "
        "cast(customers_contacted as bigint) as customers_contacted, "
        "cast(reward_value_cap as double) as reward_value_cap from frame",
    )


def read_backtest(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """``marts.winback_backtest`` of a connection to a warehouse file or to what was
    published (``winback.publish.open_published``, either engine)."""
    return con.execute(
        f"select * from {MART} order by method = 'dr' desc, method, rank_in_method"
    ).df()


def backtest_text(frame: pd.DataFrame) -> str:
    """The backtest as a person reads it: the doubly robust estimates first."""
    if frame.empty:
        return (
            "No backtest: the campaign history holds no randomized campaign (one with a "
            "control group and treated contacts) to judge the policy on."
        )
    head = frame.iloc[0]
    lines = [
        f"Backtest on campaign {head['campaign_id']} (first contact "
        f"{pd.Timestamp(head['campaign_first_contact']).date()}, "
        f"{int(head['campaign_customers']):,} customers), run "
        f"{pd.Timestamp(head['as_of_date']).date()}: estimated profit per customer with 95% "
        "intervals (read dr first; a gain interval above 0 beat contacting no one).",
    ]
    cap = head.get("reward_value_cap")
    if cap is not None and pd.notna(cap):
        lines.append(
            f"A return is valued at most {float(cap):,.2f} (a high quantile of the campaign"
            "'s values: response.backtest_value_quantile), so a few very valuable accounts "
            "cannot decide the estimate by luck."
        )
    lines.append("")
    for method, part in frame.groupby("method", sort=False):
        lines.append(f"{method}:")
        for _, row in part.iterrows():
            lines.append(
                f"  {row['policy']:<24} {row['profit_per_customer']:9.3f} "
                f"[{row['profit_per_customer_ci_low']:9.3f}, {row['profit_per_customer_ci_high']:9.3f}]"
                f"  vs send none {row['gain_over_send_none']:+9.3f} "
                f"[{row['gain_over_send_none_ci_low']:+.3f}, {row['gain_over_send_none_ci_high']:+.3f}]"
                f"  contacted {int(row['customers_contacted']):,}"
            )
    return "\n".join(lines)
