"""The ``winback`` command line."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal, cast

import typer

from winback import failures, logs

if TYPE_CHECKING:
    from prefect.states import State

app = typer.Typer(
    help="Winback: churn scores, win-back lists and payment reminders for online merchants.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

# What to do after each kind of failure: one text for the CLI, the failure hook and alerts.
WHAT_TO_DO = failures.WHAT_TO_DO
# The exit code of a run turned away by another run's lock (EX_TEMPFAIL: try again).
SKIPPED_EXIT_CODE = 75


@app.callback()
def _console() -> None:
    """Every command: Python warnings (third-party deprecations and hints) go to the run
    log file, not the console (``winback.logs``)."""
    logs.route_warnings_to_log()


# The merchant's data directory, for every command that reads one.
DataDirOption = Annotated[
    Path | None,
    typer.Option(
        help="Directory of input files (orders.csv|parquet required). "
        "Default: setting data_dir (WINBACK_DATA_DIR), data/demo."
    ),
]


def _fail(exc: BaseException, step: str, flow: str | None = None) -> None:
    """The failure's first screen: what failed, why, what to do and where the
    traceback is (the run log file; the console never shows one)."""
    if type(exc).__name__ in {"Exit", "Abort"}:
        raise typer.Exit(1)
    record = failures.describe(exc, flow or step)
    failures.write_traceback(exc, f"{step} failed")
    screen = record.screen(step)
    title, _, rest = screen.partition("\n")
    typer.secho(f"\n{title}", fg=typer.colors.RED, bold=True, err=True)
    typer.echo(rest, err=True)
    failures.release_frames(exc)
    raise typer.Exit(1)


def _run_flow(flow_call: Callable[[], State], step: str, flow: str) -> object:
    """Run a flow in this process and return its result; a failure ends the command with
    its first screen (:func:`_fail`), a run turned away by another run's lock with a
    "skipped" note and exit code 75."""
    from winback.flows.common import CLI_PRINTS_FAILURES, SKIPPED

    CLI_PRINTS_FAILURES.set()
    try:
        state = flow_call()
    except Exception as exc:
        _fail(exc, step, flow)
        raise  # unreachable: _fail raises typer.Exit
    if state.name == SKIPPED:
        typer.secho(f"\n⏭ {step} skipped", fg=typer.colors.YELLOW, bold=True, err=True)
        typer.echo(str(state.message or "").removeprefix("Skipped: "), err=True)
        typer.echo(f"\nWhat to do: {WHAT_TO_DO['RunLockedError']}", err=True)
        raise typer.Exit(SKIPPED_EXIT_CODE)
    if state.is_failed() or state.is_crashed():
        error = state.result(raise_on_failure=False)
        _fail(error if isinstance(error, BaseException) else RuntimeError(str(error)), step, flow)
    return state.result()


def _parse_date(value: str | None) -> dt.date | None:
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError as exc:
        raise typer.BadParameter(f"{value!r} is not a date (YYYY-MM-DD)") from exc


@app.command()
def nightly(
    data_dir: DataDirOption = None,
    as_of: Annotated[
        str | None,
        typer.Option(help="Score as of this date, YYYY-MM-DD. Default: the latest order date."),
    ] = None,
    horizon_days: Annotated[
        int | None,
        typer.Option(
            help="Churn horizon in days: no purchase within it counts as churn. "
            "Default: setting features.horizon_days."
        ),
    ] = None,
    stats_json: Annotated[
        Path | None,
        typer.Option(help="Also write the run's per-stage wall time and peak memory to this file."),
    ] = None,
    full_refresh: Annotated[
        bool,
        typer.Option(
            "--full-refresh",
            help="Read every file and compute every feature snapshot again. By default a "
            "night keeps the load of each file unchanged since the last one, computes only "
            "the snapshots that are new or whose input rows changed, and keeps the others.",
        ),
    ] = False,
) -> None:
    """Run the nightly flow: load, dbt build, validate, train, register, score, publish.

    Exit codes: 0 done; 1 failed (the first screen says why and what to do; the
    traceback is in the run log file it names); 75 skipped, because another run holds
    the warehouse (run again later)."""
    from winback.flows.nightly import nightly as nightly_flow
    from winback.runs import NightlyResult

    day = _parse_date(as_of)
    result = cast(
        "NightlyResult",
        _run_flow(
            lambda: nightly_flow(
                data_dir=str(data_dir) if data_dir else None,
                as_of=day,
                horizon_days=horizon_days,
                full_refresh=full_refresh,
                return_state=True,
            ),
            "Nightly run",
            "nightly",
        ),
    )
    typer.secho(f"\n✓ Nightly run as of {result.as_of} done", fg=typer.colors.GREEN, bold=True)
    trained = result.training
    typer.echo(
        f"  scored {result.scored_customers:,} customers with model version "
        f"{result.model_version} (trained on data up to {result.model_as_of})\n"
        f"  tonight's model: version {trained.registered.version}, validation ROC-AUC "
        f"{result.metrics.get('roc_auc', float('nan')):.3f}, {trained.verdict}\n"
        f"  quarantined rows: {result.load.rows_quarantined:,}\n"
        f"  published for analysts: {result.published.published_path}"
        + (
            # The Spark engine publishes Parquet per table (winback.spark.publish_parquet).
            f"  →  runs/{result.published.run_id}/marts.churn_scores/*.parquet"
            if result.published.published_path.is_dir()
            else "  →  select * from marts.churn_scores"
        )
    )
    for warning in result.warnings:
        typer.secho(f"  ⚠ {warning}", fg=typer.colors.YELLOW, bold=True)
    if result.psi is not None:
        typer.echo(f"  score drift (PSI vs last published run): {result.psi:.3f}")
    if result.drift_flagged:
        typer.secho(
            "  ⚠ the score distribution shifted (PSI above WINBACK_VALIDATION__PSI_THRESHOLD): "
            "check the "
            "input data before acting on the list",
            fg=typer.colors.YELLOW,
            bold=True,
        )
    d = result.decisions
    typer.echo(
        f"  win-back list: {d.contacted:,} to contact (+{d.control:,} control group), "
        f"{d.excluded:,} excluded, {d.service_recovery:,} for service recovery\n"
        f"    committed cost {d.committed_cost:,.0f}, expected profit {d.expected_profit:,.0f}"
        f"  →  select * from marts.winback_list\n"
        f"    report: {d.report_path}"
    )
    for hint in (d.consent_hint, d.unchecked_hint):
        if hint:
            typer.secho(f"    {hint}", fg=typer.colors.YELLOW)
    if result.export is not None:
        lines = result.export.summary_lines()
        typer.echo(f"  export: {lines[0]}")
        for line in lines[1:]:
            typer.echo(f"  {line}")
    for figure in result.stages:
        peak = "" if figure.peak_rss_mb is None else f", peak {figure.peak_rss_mb:,.0f} MB"
        typer.echo(f"  {figure.stage:<18} {figure.seconds:7.1f} s{peak}")
    if stats_json:
        stats_json.write_text(
            json.dumps(
                {
                    "as_of": result.as_of.isoformat(),
                    "customers_scored": result.scored_customers,
                    "total_seconds": sum(f.seconds for f in result.stages),
                    "stages": [dataclasses.asdict(f) for f in result.stages],
                    "feature_model_seconds": result.feature_model_seconds,
                    "metrics": result.metrics,
                },
                indent=2,
            )
        )


@app.command("demo-data")
def demo_data(
    out: Annotated[Path, typer.Option(help="Directory to write the shop's files into.")] = Path(
        "data/demo"
    ),
    customers: Annotated[
        int | None,
        typer.Option(help="Number of customers. Default: setting demo.customers."),
    ] = None,
    seed: Annotated[
        int | None,
        typer.Option(help="Random seed; the same seed gives the same shop. Default: demo.seed."),
    ] = None,
    as_of: Annotated[
        str | None,
        typer.Option(help="Last day of the shop's history, YYYY-MM-DD. Default: demo.as_of."),
    ] = None,
    file_format: Annotated[str, typer.Option("--format", help="csv or parquet.")] = "csv",
    world: Annotated[
        int | None,
        typer.Option(
            min=0,
            help="The shop's true response model: 0 = the documented default, 1, 2, ... = "
            "drawn worlds (offers, channels, fatigue, opt-outs). Default: demo.world.",
        ),
    ] = None,
) -> None:
    """Generate a demo shop (every input-contract table, plus truth/ for tests)."""
    from winback.config import load_settings
    from winback.demo import ShopSpec, generate_shop

    if file_format not in {"csv", "parquet"}:
        raise typer.BadParameter("--format must be csv or parquet")
    try:
        demo = load_settings().demo
    except ValueError as exc:
        _fail(exc, "Demo data")
        return
    spec = ShopSpec(
        n_customers=customers or demo.customers,
        seed=demo.seed if seed is None else seed,
        as_of=_parse_date(as_of) or demo.as_of,
        fmt=file_format,
        world=demo.world if world is None else world,
    )
    summary = generate_shop(spec, out, progress=lambda msg: typer.echo(f"  {msg}", err=True))
    rows = summary["rows"]
    typer.secho(
        f"✓ demo shop of {spec.n_customers:,} customers (world {spec.world}) written to {out} "
        f"as of {spec.as_of} in {summary['seconds']['total']:.1f} s",
        fg=typer.colors.GREEN,
    )
    for table, count in rows.items():
        typer.echo(f"  {table:<40} {count:>12,} rows")


@app.command("payment-reminders")
def payment_reminders(
    data_dir: DataDirOption = None,
    at: Annotated[
        str | None,
        typer.Option(help="Decide as of this time, ISO 8601 (no offset means UTC). Default: now."),
    ] = None,
) -> None:
    """Decide every unpaid order: schedule a payment reminder or skip it with a reason.
    Exit codes as for `winback nightly` (75: skipped, the nightly holds the warehouse)."""
    from winback.flows.payment_reminders import PaymentRemindersResult
    from winback.flows.payment_reminders import payment_reminders as reminders_flow

    try:
        when = dt.datetime.fromisoformat(at) if at else None
    except ValueError as exc:
        raise typer.BadParameter(f"{at!r} is not an ISO 8601 timestamp") from exc
    result = cast(
        "PaymentRemindersResult",
        _run_flow(
            lambda: reminders_flow(
                data_dir=str(data_dir) if data_dir else None, at=when, return_state=True
            ),
            "Payment reminders",
            "payment_reminders",
        ),
    )
    summary = result.summary
    typer.secho(
        f"\n✓ Payment reminders at {result.at:%Y-%m-%d %H:%M} UTC done",
        fg=typer.colors.GREEN,
        bold=True,
    )
    typer.echo(
        f"  pending orders: {summary.pending_orders:,}; reminders: {summary.reminders:,}; "
        f"skipped: {sum(summary.skips_by_reason.values()):,}\n"
        f"  quarantined rows: {result.load.rows_quarantined:,}\n"
        f"  warehouse: {result.warehouse_path}  →  select * from marts.payment_reminders"
    )


@app.command("export")
def export(
    as_of: Annotated[
        str | None,
        typer.Option(
            help="Export the list of this date, YYYY-MM-DD: a replay, its schedule as "
            "planned then. Default: the newest published list, leaving out contacts whose "
            "time has passed."
        ),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(help="Folder to export into. Default: setting export.dir (exports)."),
    ] = None,
    file_format: Annotated[
        str | None,
        typer.Option("--format", help="csv or parquet. Default: setting export.format (csv)."),
    ] = None,
    reminders: Annotated[
        bool,
        typer.Option(
            "--reminders",
            help="Export the due payment reminders of the newest reminder run instead.",
        ),
    ] = False,
    at: Annotated[
        str | None,
        typer.Option(
            help="With --reminders: reminders due at or after this time, ISO 8601 UTC (a "
            "replay). Default: now."
        ),
    ] = None,
) -> None:
    """Write what a sender needs: one file per channel (contacted customers only, never
    the control group) with the contact fields, times in UTC and the customer's zone, the
    offer and the rendered message, plus manifest.json with counts and checksums. The
    folder appears all at once (exports/winback/<as-of>/ or exports/reminders/<time>/)."""
    from winback.config import load_settings
    from winback.exports import export_reminders, export_winback
    from winback.locking import run_lock

    if file_format not in (None, "csv", "parquet"):
        raise typer.BadParameter(f"{file_format!r}: use csv or parquet")
    fmt = cast("Literal['csv', 'parquet'] | None", file_format)
    try:
        when = dt.datetime.fromisoformat(at).replace(tzinfo=None) if at else None
    except ValueError as exc:
        raise typer.BadParameter(f"{at!r} is not an ISO 8601 timestamp") from exc
    try:
        settings = load_settings().resolved()
        with run_lock(settings.warehouse.path, "export", settings.warehouse.lock_timeout_seconds):
            if reminders:
                report = export_reminders(settings, at=when, out_dir=out, fmt=fmt)
            else:
                report = export_winback(settings, as_of=_parse_date(as_of), out_dir=out, fmt=fmt)
    except Exception as exc:  # noqa: BLE001 - the CLI turns any failure into a readable one
        _fail(exc, "Export")
        return
    lines = report.summary_lines()
    typer.secho(f"\n✓ Exported {lines[0]}", fg=typer.colors.GREEN, bold=True)
    for line in lines[1:]:
        typer.echo(line)


def main() -> None:  # pragma: no cover - console entry point
    sys.exit(app())


models_app = typer.Typer(help="Churn models in MLflow: compare runs and baselines.")
app.add_typer(models_app, name="models")


@models_app.command("compare")
def models_compare(
    limit: Annotated[int, typer.Option(help="How many recent runs to show.")] = 15,
) -> None:
    """Leaderboard of recent model runs and their baselines (newest first)."""
    from winback.config import load_settings
    from winback.models import tracking

    try:
        mlflow_settings = load_settings().resolved().mlflow
    except ValueError as exc:
        _fail(exc, "Models compare")
        return
    tracking.use_store(
        mlflow_settings.tracking_uri, mlflow_settings.experiment, mlflow_settings.artifact_dir
    )
    board = tracking.leaderboard(mlflow_settings.experiment, mlflow_settings.model_name, limit)
    if board.empty:
        typer.echo("No runs yet: run `winback nightly` first.")
        return
    typer.echo(
        f"Experiment {mlflow_settings.experiment!r}, model {mlflow_settings.model_name!r}: metrics on "
        "each run's validation snapshot (compare rows with the same valid_digest)."
    )
    typer.echo(board.to_string(index=False, float_format=lambda v: f"{v:.4f}", na_rep="-"))


decisions_app = typer.Typer(help="Win-back decisions: how they would have done.")
app.add_typer(decisions_app, name="decisions")


@decisions_app.command("backtest")
def decisions_backtest(
    database: Annotated[
        Path | None,
        typer.Option(help="Warehouse file to read. Default: the published one analysts query."),
    ] = None,
) -> None:
    """What tonight's decision policy would have earned on the newest randomized campaign,
    next to sending everyone one offer or no one (R10; doubly robust first, 95% intervals).

    The nightly run computes it (marts.winback_backtest); this prints it.
    """
    import duckdb

    from winback.config import load_settings
    from winback.decisions.backtest import backtest_text, read_backtest
    from winback.publish import open_published, published_location
    from winback.warehouse import connect

    try:
        if database is not None:
            if not database.exists():
                raise FileNotFoundError(f"{database} does not exist: run `winback nightly` first")
            with connect(database, read_only=True) as con:
                frame = read_backtest(con)
        else:
            settings = load_settings().resolved()
            with open_published(settings) as published:
                if published is None:
                    raise FileNotFoundError(
                        f"{published_location(settings)} does not exist: run `winback "
                        "nightly` first"
                    )
                frame = read_backtest(published)
    except (ValueError, OSError, duckdb.Error) as exc:
        _fail(exc, "Decisions backtest")
        return
    typer.echo(backtest_text(frame))


@app.command()
def backfill(
    from_date: Annotated[str, typer.Option("--from", help="First as-of date, YYYY-MM-DD.")],
    to_date: Annotated[str, typer.Option("--to", help="Last as-of date, YYYY-MM-DD.")],
    every_days: Annotated[int, typer.Option(help="Days between as-of dates.")] = 1,
    data_dir: DataDirOption = None,
    horizon_days: Annotated[int | None, typer.Option(help="Churn horizon in days.")] = None,
) -> None:
    """Run the nightly chain for every as-of date of a range (each one published)."""
    from winback.flows.backfill import as_of_dates
    from winback.flows.backfill import backfill as backfill_flow
    from winback.runs import NightlyResult

    start, end = _parse_date(from_date), _parse_date(to_date)
    assert start is not None and end is not None
    try:
        dates = as_of_dates(start, end, every_days)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from exc
    typer.echo(f"Backfilling {len(dates)} as-of date(s) from {start} to {end}.")
    results = cast(
        "list[NightlyResult]",
        _run_flow(
            lambda: backfill_flow(
                start=start,
                end=end,
                every_days=every_days,
                data_dir=str(data_dir) if data_dir else None,
                horizon_days=horizon_days,
                return_state=True,
            ),
            "Backfill",
            "backfill",
        ),
    )
    typer.secho(f"\n✓ Backfill of {len(results)} date(s) done", fg=typer.colors.GREEN, bold=True)
    for r in results:
        psi = "" if r.psi is None else f", PSI vs previous {r.psi:.3f}"
        typer.echo(
            f"  {r.as_of}: scored {r.scored_customers:,} with model version {r.model_version}{psi}"
        )


config_app = typer.Typer(
    help="The settings: every value in effect and where it came from (one settings object, "
    "winback/config.py; environment WINBACK_<SECTION>__<FIELD>, .env or winback.toml).",
    no_args_is_help=True,
)
app.add_typer(config_app, name="config")


@config_app.command("show")
def config_show(
    section: Annotated[
        str | None, typer.Argument(help="Only this section (e.g. decisions, reminders).")
    ] = None,
    changed: Annotated[
        bool, typer.Option("--changed", help="Only the settings not at their default.")
    ] = False,
) -> None:
    """Print every effective setting, its environment variable and where its value came
    from (command line, environment, .env, winback.toml or default)."""
    from winback.config import describe, load_settings

    try:
        settings = load_settings()
    except ValueError as exc:
        _fail(exc, "Config")
        return
    rows = [
        r
        for r in describe(settings)
        if (section is None or r["setting"].split(".")[0] == section)
        and (not changed or r["source"] != "default")
    ]
    if not rows:
        raise typer.BadParameter(f"no settings in section {section!r}")
    width = max(len(r["setting"]) for r in rows)
    for r in rows:
        typer.echo(f"{r['setting']:<{width}}  {r['value']:<24} [{r['source']}]  {r['variable']}")


@config_app.command("docs")
def config_docs(
    readme: Annotated[
        Path | None,
        typer.Option(help="Rewrite the settings table between its markers in this README."),
    ] = None,
) -> None:
    """The settings table of the README (every variable, default and meaning)."""
    from winback.config import settings_table_markdown

    table = settings_table_markdown()
    if readme is None:
        typer.echo(table)
        return
    text = readme.read_text(encoding="utf-8")
    start, end = "<!-- settings-table:start -->", "<!-- settings-table:end -->"
    if start not in text or end not in text:
        raise typer.BadParameter(f"{readme} has no {start} … {end} markers")
    head, rest = text.split(start, 1)
    _, tail = rest.split(end, 1)
    readme.write_text(f"{head}{start}\n{table}\n{end}{tail}", encoding="utf-8")
    typer.echo(f"settings table written to {readme}")


@config_app.command("dbt-vars")
def config_dbt_vars(
    sqlfluff: Annotated[
        bool,
        typer.Option(help="As a sqlfluff pyproject.toml section (what make lint renders with)."),
    ] = False,
) -> None:
    """The dbt vars the settings give (what every dbt invocation receives), as JSON."""
    from winback.config import load_settings

    values = load_settings().dbt_vars()
    if not sqlfluff:
        typer.echo(json.dumps(values, indent=2, default=str))
        return
    # TOML keeps lists as lists (an ini file would hand dbt the string "[11, 17]");
    # every value here is a JSON scalar or list, which TOML reads alike.
    typer.echo("[tool.sqlfluff.templater.dbt.context]")
    for name, value in values.items():
        typer.echo(f"{name} = {json.dumps(value, default=str, ensure_ascii=False)}")


@app.command(
    context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
)
def dbt(
    ctx: typer.Context,
    as_of: Annotated[
        str | None,
        typer.Option(help="The run's as-of date, YYYY-MM-DD. Default: setting as_of, else today."),
    ] = None,
) -> None:
    """Run a dbt command on the warehouse with the vars of the settings, e.g.
    `winback dbt docs generate` or `winback dbt build --select customer_features`."""
    from winback.config import load_settings
    from winback.transform import run_dbt

    try:
        settings = load_settings().resolved()
        day = _parse_date(as_of) or settings.as_of or dt.date.today()
        nodes = run_dbt(list(ctx.args), settings, day)
    except Exception as exc:  # noqa: BLE001 - the CLI turns any failure into a readable one
        _fail(exc, "dbt")
        return
    typer.secho(f"✓ dbt {' '.join(ctx.args)}: {len(nodes)} nodes", fg=typer.colors.GREEN)


# --- operations: the run history, validation history, docs and maintenance ---------------


@app.command()
def serve(
    port: Annotated[int, typer.Option(help="Port of the Prefect UI and API.")] = 4200,
) -> None:
    """Start a local Prefect server on the project's Prefect home (the one every CLI run
    and `make run` record into, so the UI lists them all) and serve the scheduled flows
    (nightly, payment reminders, backfill) against it. Ctrl-C stops both."""
    import os
    import subprocess
    import time
    import urllib.request

    from winback._runtime import prefect_home

    home = prefect_home()
    home.mkdir(parents=True, exist_ok=True)
    url = f"http://127.0.0.1:{port}"
    env = {**os.environ, "PREFECT_HOME": str(home)}
    bin_dir = Path(sys.executable).parent
    log = (home / "server.log").open("ab")
    server = subprocess.Popen(
        [str(bin_dir / "prefect"), "server", "start", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    pid_file = home / "server.pid"  # winback clean keeps a home a live server uses
    pid_file.write_text(str(server.pid))
    try:
        for _ in range(120):
            if server.poll() is not None:
                _fail(RuntimeError(f"the Prefect server ended; see {home / 'server.log'}"), "Serve")
            try:
                with urllib.request.urlopen(f"{url}/api/health", timeout=2):
                    break
            except OSError:
                time.sleep(1)
        typer.secho(
            f"Prefect UI: {url}  (home {home}; server log {home / 'server.log'}; Ctrl-C stops)",
            fg=typer.colors.GREEN,
        )
        subprocess.run(
            [sys.executable, "-m", "winback.flows.serve"],
            env={**env, "PREFECT_API_URL": f"{url}/api"},
            check=False,
        )
    except KeyboardInterrupt:
        pass
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()
        pid_file.unlink(missing_ok=True)


@app.command("mlflow-ui")
def mlflow_ui(
    port: Annotated[int, typer.Option(help="Port of the MLflow UI.")] = 5000,
) -> None:
    """Browse model runs in the MLflow UI of the configured store (setting
    mlflow.tracking_uri, WINBACK_MLFLOW__TRACKING_URI)."""
    import os

    from winback.config import load_settings

    try:
        uri = load_settings().resolved().mlflow.tracking_uri
    except ValueError as exc:
        _fail(exc, "MLflow UI")
        return
    typer.echo(f"MLflow UI on http://127.0.0.1:{port} for the store {uri}")
    mlflow = str(Path(sys.executable).with_name("mlflow"))
    os.execv(mlflow, [mlflow, "ui", "--backend-store-uri", uri, "--port", str(port)])


@app.command()
def docs(
    serve_them: Annotated[
        bool, typer.Option("--serve/--no-serve", help="Serve the docs site after building it.")
    ] = False,
    port: Annotated[int, typer.Option(help="Port to serve on.")] = 8080,
    as_of: Annotated[
        str | None,
        typer.Option(help="The as-of date dbt compiles with. Default: setting as_of, else today."),
    ] = None,
) -> None:
    """Build the dbt docs site (every model, source and seed described, with the
    warehouse's catalog) into <warehouse dir>/dbt_docs/, and optionally serve it."""
    from winback.config import load_settings
    from winback.docs import dbt_docs_dir, generate_dbt_docs, serve_docs
    from winback.locking import run_lock

    try:
        settings = load_settings().resolved()
        day = _parse_date(as_of) or settings.as_of or dt.date.today()
        with run_lock(settings.warehouse.path, "docs", settings.warehouse.lock_timeout_seconds):
            report = generate_dbt_docs(settings, day)
    except Exception as exc:  # noqa: BLE001 - the CLI turns any failure into a readable one
        _fail(exc, "Docs")
        return
    typer.secho(f"✓ {report.summary()}", fg=typer.colors.GREEN)
    if serve_them:
        serve_docs(dbt_docs_dir(settings), port=port)


@app.command()
def clean(
    everything: Annotated[
        bool,
        typer.Option(
            "--all",
            help="Also delete the whole data/ folder (the merchant's files) and the whole "
            "warehouse, with the payment-reminder ledger and the export history.",
        ),
    ] = False,
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask before --all.")] = False,
) -> None:
    """Remove what Winback generated (demo data, published file, stores, reports, exports,
    docs, Prefect home), keeping the merchant's files under data/, the logs and, in the
    warehouse, the payment-reminder ledger, the export history and the failure records."""
    from winback.config import load_settings
    from winback.maintenance import clean as run_clean
    from winback.maintenance import plan_clean

    try:
        settings = load_settings().resolved()
        plan = plan_clean(settings, Path.cwd(), everything=everything)
    except Exception as exc:  # noqa: BLE001 - the CLI turns any failure into a readable one
        _fail(exc, "Clean")
        return
    typer.echo(plan.describe())
    if everything and not yes:
        typer.confirm(
            "Delete all of the above, including the merchant's files and the reminder "
            "ledger (already-sent reminders could go out again)?",
            abort=True,
        )
    try:
        report = run_clean(settings, Path.cwd(), everything=everything)
    except Exception as exc:  # noqa: BLE001 - the CLI turns any failure into a readable one
        _fail(exc, "Clean")
        return
    typer.secho(f"✓ {report.summary()}", fg=typer.colors.GREEN)


@app.command("failures")
def failures_list(
    limit: Annotated[int, typer.Option(help="How many of the latest failures to show.")] = 10,
) -> None:
    """The latest failed runs (newest first): flow, step, error and what to do, from the
    failure log (also in meta.run_failures)."""
    path = failures.failures_file()
    rows = []
    if path.exists():
        rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]
    if not rows:
        typer.echo(f"No failed runs recorded ({path}).")
        return
    for row in reversed(rows[-limit:]):
        where = f" (step {row['step']})" if row.get("step") else ""
        typer.secho(
            f"{row['failed_at']}  {row['flow']} failed: {row['error_type']}{where}",
            fg=typer.colors.RED,
        )
        typer.echo(f"  {row['error'].splitlines()[0] if row['error'] else ''}")
        typer.echo(f"  what to do: {row['what_to_do']}")


@app.command()
def validations(
    limit: Annotated[int, typer.Option(help="How many of the latest validations to show.")] = 20,
) -> None:
    """The Great Expectations validations kept in the project (newest first), with the
    Data Docs page of each."""
    from winback.config import load_settings
    from winback.expectations.runner import data_docs_dir, validation_history

    try:
        warehouse = load_settings().resolved().warehouse
        history = validation_history(warehouse)
    except Exception as exc:  # noqa: BLE001 - the CLI turns any failure into a readable one
        _fail(exc, "Validations")
        return
    if not history:
        typer.echo("No validations yet: run `winback nightly` first.")
        return
    typer.echo(f"Data Docs: {data_docs_dir(warehouse) / 'index.html'}")
    for v in history[:limit]:
        verdict = "passed" if v.gate_passed else "FAILED"
        warned = (
            f", {v.failed - v.failed_critical} warning(s)" if v.failed > v.failed_critical else ""
        )
        typer.echo(
            f"{v.run_time:%Y-%m-%d %H:%M} UTC  {v.suite} on {v.table}: {verdict} "
            f"({v.evaluated} expectations{warned})  {v.run_name}"
        )
