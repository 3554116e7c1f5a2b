"""The campaign summary after every decisions run: numbers, a markdown text for the
Prefect artifact and a self-contained HTML report (charts embedded as PNG)."""

from __future__ import annotations

import base64
import datetime as dt
import html
import io
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from matplotlib.figure import Figure

from winback.tables import TableStore, date_literal, store_for
from winback.warehouse import Warehouse

# The exclusion rules (R6, R7, R13: int_winback_candidates_screened) and the contract
# table each needs: without that table the rule cannot fire and is reported as not
# checked, never silently passed.
RULE_INPUTS = {
    "open_dispute": "tickets",
    "do_not_contact": "customers",
    "no_consented_channel": "customers",
    "contacted_too_recently": "campaign_contacts",
    "chronic_late_payer": "payments",
    "price_hunter": "tickets",
    "high_attention_low_spend": "tickets",
}


@dataclass(frozen=True)
class CampaignSummary:
    """What the list published for one as-of date, as plain numbers and small tables."""

    as_of: dt.date
    campaign_id: str
    budget: float
    candidates: int
    listed: int
    contacted: int
    control: int
    not_selected: int
    needs_consent: int  # listed, no consent data (R13): ranked, never contacted
    absent_tables: tuple[str, ...]  # contract tables the run's load had no file for
    excluded: int
    service_recovery: int
    committed_cost: float
    expected_cost: float
    expected_profit: float
    exclusions: pd.DataFrame  # exclusion_reason, customers
    tiers_by_reason: pd.DataFrame  # value_tier x likely_reason_1 -> listed customers
    offer_mix: pd.DataFrame  # recommended_offer, contacted, expected_profit, committed_cost
    by_tier: pd.DataFrame  # value_tier, contacted, expected_profit, committed_cost
    measurement: pd.DataFrame  # past campaigns: campaign, offer, uplift and interval

    @property
    def budget_used_share(self) -> float:
        return self.committed_cost / self.budget if self.budget > 0 else 0.0

    @property
    def unchecked_hint(self) -> str:
        """One line naming the exclusion rules that could not be checked because their
        table is missing; empty when every rule had its data."""
        parts = [
            f"{', '.join(r for r, t in RULE_INPUTS.items() if t == table)} (no {table} file)"
            for table in dict.fromkeys(RULE_INPUTS.values())
            if table in self.absent_tables
        ]
        return "exclusions not checked, their data is missing: " + "; ".join(parts) if parts else ""

    @property
    def consent_hint(self) -> str:
        """One line on what would make the listed customers without consent data
        contactable; empty when there are none."""
        if not self.needs_consent:
            return ""
        return (
            f"{self.needs_consent:,} listed customers have no consent data and are never "
            "contacted (R13): add customers.csv (or .parquet) with customer_id and "
            "consent_email, consent_sms, consent_phone, consent_push (true/false) to make "
            "them contactable"
        )


def read_summary(where: Warehouse | TableStore, as_of: dt.date, budget: float) -> CampaignSummary:
    """Read what the decisions models published for ``as_of`` (in the DuckDB warehouse or
    another engine's store)."""
    store = store_for(where)
    day = date_literal(as_of)
    listed = store.read(f"select * from marts.winback_list where as_of_date = {day}")
    excluded = store.read(
        "select exclusion_reason, count(*) as customers from marts.winback_exclusions "
        f"where as_of_date = {day} group by exclusion_reason "
        "order by customers desc, exclusion_reason"
    )
    queue = store.read(
        f"select count(*) as n from marts.service_recovery_queue where as_of_date = {day}"
    )["n"].tolist()
    absent = _absent_tables(store)
    measurement = store.read(
        "select campaign_id, offer_code, treated_contacts, control_contacts, uplift, "
        "uplift_ci_low, uplift_ci_high, is_uplift_significant "
        "from marts.winback_campaign_measurement order by campaign_id, offer_code"
    )
    contacted = listed[listed["is_contacted"]]
    campaign = str(listed["campaign_id"].iloc[0]) if len(listed) else ""
    tiers_by_reason = (
        listed.pivot_table(
            index="value_tier",
            columns="likely_reason_1",
            values="customer_id",
            aggfunc="count",
            fill_value=0,
        )
        if len(listed)
        else pd.DataFrame()
    )
    offer_mix = (
        contacted.groupby("recommended_offer")
        .agg(
            contacted=("customer_id", "count"),
            expected_profit=("expected_profit", "sum"),
            committed_cost=("committed_cost", "sum"),
        )
        .sort_values("contacted", ascending=False)
        .reset_index()
    )
    by_tier = (
        contacted.groupby("value_tier")
        .agg(
            contacted=("customer_id", "count"),
            expected_profit=("expected_profit", "sum"),
            committed_cost=("committed_cost", "sum"),
        )
        .reset_index()
    )
    n_excluded = int(excluded["customers"].sum()) if len(excluded) else 0
    return CampaignSummary(
        as_of=as_of,
        campaign_id=campaign,
        budget=budget,
        candidates=len(listed) + n_excluded,
        listed=len(listed),
        contacted=len(contacted),
        control=int((listed["action"] == "hold_out_control").sum()),
        not_selected=int((listed["action"] == "not_selected_budget").sum()),
        needs_consent=int((listed["action"] == "needs_consent").sum()),
        absent_tables=absent,
        excluded=n_excluded,
        service_recovery=int(queue[0]) if queue else 0,
        committed_cost=float(contacted["committed_cost"].sum()),
        expected_cost=float(contacted["expected_cost"].sum()),
        expected_profit=float(contacted["expected_profit"].sum()),
        exclusions=excluded,
        tiers_by_reason=tiers_by_reason,
        offer_mix=offer_mix,
        by_tier=by_tier,
        measurement=measurement,
    )


def _absent_tables(store: TableStore) -> tuple[str, ...]:
    """The contract tables the newest load had no file for (``raw._loads``; ingestion
    writes it with every load)."""
    if not store.has_table("raw._loads"):
        return ()
    rows = store.read(
        "select table_name from raw._loads where source_file is null and load_id = "
        "(select load_id from raw._loads order by loaded_at desc, load_id limit 1) "
        "order by table_name"
    )
    return tuple(str(name) for name in rows["table_name"])


def summary_markdown(s: CampaignSummary) -> str:
    """The campaign summary as markdown (the Prefect artifact)."""
    lines = [
        f"# Win-back list {s.as_of.isoformat()} ({s.campaign_id})",
        "",
        "| | |",
        "|---|---|",
        f"| candidates (at risk, lapsed, recently lost) | {s.candidates:,} |",
        f"| excluded (R6, R13) | {s.excluded:,} |",
        f"| service-recovery queue (open disputes) | {s.service_recovery:,} |",
        f"| in the list | {s.listed:,} |",
        f"| to contact | {s.contacted:,} |",
        f"| control group, held out (R10) | {s.control:,} |",
        f"| worth it but over budget | {s.not_selected:,} |",
        f"| no consent data: ranked, not contacted (R13) | {s.needs_consent:,} |",
        f"| budget | {s.budget:,.2f} |",
        f"| committed cost (budget used) | {s.committed_cost:,.2f} ({s.budget_used_share:.0%}) |",
        f"| expected cost | {s.expected_cost:,.2f} |",
        f"| expected profit | {s.expected_profit:,.2f} |",
        "",
        *([s.consent_hint, ""] if s.consent_hint else []),
        *([s.unchecked_hint, ""] if s.unchecked_hint else []),
        "## Offer mix",
        "",
        "| offer | contacted | expected profit | committed cost |",
        "|---|---:|---:|---:|",
    ]
    for row in s.offer_mix.itertuples():
        lines.append(
            f"| {row.recommended_offer} | {row.contacted:,} | {row.expected_profit:,.2f} "
            f"| {row.committed_cost:,.2f} |"
        )
    lines += ["", "## Exclusions", "", "| reason | customers |", "|---|---:|"]
    for row in s.exclusions.itertuples():
        lines.append(f"| {row.exclusion_reason} | {row.customers:,} |")
    return "\n".join(lines) + "\n"


def _png(fig: Figure) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90, bbox_inches="tight")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _charts(s: CampaignSummary) -> dict[str, str]:
    """Base64 PNGs: tiers x reasons, offer mix, budget use, expected profit by tier."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    charts: dict[str, str] = {}
    if not s.tiers_by_reason.empty:
        fig, ax = plt.subplots(figsize=(7, 3.6))
        grid = s.tiers_by_reason
        ax.imshow(grid.to_numpy(), cmap="Blues", aspect="auto")
        ax.set_xticks(range(grid.shape[1]), [str(c) for c in grid.columns], rotation=30, ha="right")
        ax.set_yticks(range(grid.shape[0]), [f"tier {t}" for t in grid.index])
        for (i, j), v in pd.DataFrame(grid.to_numpy()).stack().items():
            ax.text(j, i, str(v), ha="center", va="center", fontsize=8)
        ax.set_title("Listed customers: value tier x likely reason")
        charts["Value tiers x reasons"] = _png(fig)
        plt.close(fig)
    if not s.offer_mix.empty:
        fig, ax = plt.subplots(figsize=(7, 3.2))
        ax.barh(s.offer_mix["recommended_offer"], s.offer_mix["contacted"], color="#4477aa")
        ax.invert_yaxis()
        ax.set_xlabel("customers contacted")
        ax.set_title("Offer mix")
        charts["Offer mix"] = _png(fig)
        plt.close(fig)
    fig, ax = plt.subplots(figsize=(7, 1.8))
    ax.barh(["budget"], [s.budget], color="#dddddd", label="budget")
    ax.barh(["budget"], [s.committed_cost], color="#228833", label="committed")
    ax.barh(["budget"], [s.expected_cost], color="#117733", label="expected")
    ax.legend(loc="lower right", fontsize=8)
    ax.set_title(f"Budget use: {s.budget_used_share:.0%} committed")
    charts["Budget use"] = _png(fig)
    plt.close(fig)
    if not s.by_tier.empty:
        fig, ax = plt.subplots(figsize=(7, 3))
        ax.bar(
            [f"tier {t}" for t in s.by_tier["value_tier"]],
            s.by_tier["expected_profit"],
            color="#aa3377",
        )
        ax.set_ylabel("expected profit")
        ax.set_title("Expected profit by value tier")
        charts["Expected profit"] = _png(fig)
        plt.close(fig)
    return charts


def render_html(s: CampaignSummary) -> str:
    """A self-contained HTML report (no external files): the summary and four charts."""
    table_rows = "".join(
        f"<tr><th>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>"
        for k, v in [
            ("candidates (at risk, lapsed, recently lost)", f"{s.candidates:,}"),
            ("excluded (R6, R13)", f"{s.excluded:,}"),
            ("service-recovery queue", f"{s.service_recovery:,}"),
            ("to contact", f"{s.contacted:,}"),
            ("control group (R10)", f"{s.control:,}"),
            ("over budget", f"{s.not_selected:,}"),
            ("no consent data (never contacted)", f"{s.needs_consent:,}"),
            ("budget", f"{s.budget:,.2f}"),
            ("committed cost", f"{s.committed_cost:,.2f} ({s.budget_used_share:.0%})"),
            ("expected cost", f"{s.expected_cost:,.2f}"),
            ("expected profit", f"{s.expected_profit:,.2f}"),
        ]
    )
    charts = "".join(
        f"<h2>{html.escape(title)}</h2><img alt='{html.escape(title)}' "
        f"src='data:image/png;base64,{data}'>"
        for title, data in _charts(s).items()
    )
    exclusions = s.exclusions.to_html(index=False, border=0) if len(s.exclusions) else "<p>none</p>"
    measurement = (
        s.measurement.to_html(index=False, border=0, float_format=lambda x: f"{x:.3f}")
        if len(s.measurement)
        else "<p>no campaign history</p>"
    )
    title = f"Win-back list {s.as_of.isoformat()} ({html.escape(s.campaign_id)})"
    return (
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<title>{title}</title><style>"
        "body{font-family:sans-serif;max-width:960px;margin:2em auto;color:#222}"
        "table{border-collapse:collapse}th,td{padding:2px 10px;text-align:left}"
        "tr:nth-child(even){background:#f4f4f4}img{max-width:100%}"
        f"</style></head><body><h1>{title}</h1><table>{table_rows}</table>"
        f"{f'<p><strong>{html.escape(s.consent_hint)}</strong></p>' if s.consent_hint else ''}"
        f"{f'<p>{html.escape(s.unchecked_hint)}</p>' if s.unchecked_hint else ''}"
        f"{charts}"
        f"<h2>Exclusions</h2>{exclusions}"
        f"<h2>Past campaigns: uplift per offer (R10)</h2>{measurement}</body></html>"
    )


def write_report(s: CampaignSummary, report_dir: Path) -> Path:
    """Write ``winback_<as_of>.html`` into ``report_dir``; return its path."""
    report_dir.mkdir(parents=True, exist_ok=True)
    path = report_dir / f"winback_{s.as_of.isoformat()}.html"
    path.write_text(render_html(s), encoding="utf-8")
    return path
