"""``winback clean``: remove what the product generated, keep what it cannot regenerate.

Two kinds of state live in a Winback project folder:

* **generated** — rebuilt by the next run: the analysts' published file, dbt's target
  and logs, Great Expectations Data Docs, the MLflow store, the Prefect home, the HTML
  reports, the export files and the demo shop (``winback demo-data``);
* **durable** — records of what already happened in the world, which no run can
  rebuild: the payment-reminder ledger (without it, reminders already sent would go out
  again), the history of win-back contacts handed to senders, the failure records of
  runs (:data:`DURABLE_TABLES`); and the merchant's own files under ``data/``.

The default clean (``make clean``) removes the generated state only. The working
warehouse is rewritten with nothing but the durable tables (same DDL, so constraints
remain, and the same rows), through a temporary file in the warehouse's folder that
replaces the old one atomically (``os.replace``); when none of the durable tables exists
or all are empty the warehouse is removed. ``clean(..., everything=True)`` (``make
clean-all``, which asks first) removes the whole ``data/`` folder and the whole warehouse
as well, ledger included.

Rules, in detail:

* A *demo folder* is a folder directly under ``<project>/data`` (or the configured
  ``data_dir`` inside the project) holding ``truth/world.json``, which only
  ``winback demo-data`` writes. Of a demo folder only what the generator writes is
  removed (the contract tables' ``.csv``/``.parquet`` files and ``truth/``); anything
  else in it (say, the merchant's ``assumptions/``) stays. A folder without the marker
  is a merchant's, whatever its name (``data/demo`` too: ``data_dir`` defaults to it).
* Paths come from the settings (relative ones resolved against the working directory,
  as every run resolves them). Nothing outside ``project_dir`` is deleted, with one
  exception: the configured warehouse itself and its generated siblings in its folder
  (``dbt_target/``, ``data_docs/``, ``gx/``, ``dbt_docs/``, the published file when it
  lies there, DuckDB's ``.wal`` and ``.tmp`` spill files, strays of interrupted writes),
  which are the product's wherever the warehouse is configured. Everything else outside
  the project (a report or export folder, an MLflow store, a Prefect home configured
  elsewhere) is listed as kept with the reason. A remote MLflow tracking store is never
  touched, nor its artifact folder.
* ``logs/`` (the run log and ``run_failures.jsonl``) is kept by both cleans; tools such
  as ``.tools/`` are never touched.
* Nothing is removed that is the project folder, one of its ancestors, or contains a
  kept path (the source tree, ``.venv``, the settings files, a merchant's files, the
  configured data and assumptions folders, the warehouse being kept): a setting such as
  ``decisions.report_dir = "."`` or ``"data"`` is refused, not obeyed.
* The warehouse's run lock (:func:`winback.locking.run_lock`) is held for the whole
  clean, without waiting: while a run holds it, clean raises
  :class:`~winback.locking.RunLockedError` and changes nothing. The lock file itself
  is kept (deleting a lock file other processes may be waiting on would break the
  lock).
"""

from __future__ import annotations

import contextlib
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal
from urllib.parse import unquote, urlparse

import duckdb

from winback.config import CONFIG_FILE_ENV, DBT_PROJECT_DIR, DEFAULT_CONFIG_FILE, Settings
from winback.ingest.contract import SHOP_TABLES
from winback.locking import lock_path_for, run_lock
from winback.publish import fsync_path
from winback.warehouse import q, table_exists

# Tables of the working warehouse that hold records no run can rebuild; the default
# clean keeps them (with their rows and DDL), ``everything=True`` deletes them.
DURABLE_TABLES: tuple[str, ...] = (
    "reminders.reminder_ledger",  # winback.reminders.ledger: reminders scheduled/sent
    "history.winback_exported_contacts",  # winback.exports.history: contacts handed over
    "meta.run_failures",  # failure records of runs
)
# Only ``winback demo-data`` (winback.demo.generate) writes this file.
DEMO_MARKER = Path("truth") / "world.json"
# What the demo generator writes into its folder; anything else there is kept.
DEMO_FILES = frozenset(
    {f"{t.name}{suffix}" for t in SHOP_TABLES for suffix in (".csv", ".parquet")} | {"truth"}
)
# Generated folders beside the working warehouse, each with why it may go.
WAREHOUSE_SIBLING_DIRS: dict[str, str] = {
    "dbt_target": "dbt's targets and logs (winback.transform)",
    "data_docs": "Great Expectations Data Docs",
    "gx": "Great Expectations project: suites, checkpoints, past validation results",
    "dbt_docs": "dbt docs site (winback docs)",
}
# The project's own files: never removed, nor anything that contains them.
PROJECT_FILES: tuple[str, ...] = (
    ".git",
    ".venv",
    ".tools",
    "winback",
    "flows",
    "models",
    "expectations",
    "dbt_project",
    "tests",
    "docs",
    "benchmarks",
    "pyproject.toml",
    "uv.lock",
    "Makefile",
    "README.md",
    ".env",
    str(DEFAULT_CONFIG_FILE),
)
DATA_FOLDER = "data"

WarehouseAction = Literal["rewrite", "remove", "absent", "unreadable"]


class CleanError(RuntimeError):
    """Clean refused before removing anything (the message says why)."""


@dataclass
class CleanPlan:
    """What a clean would do: every path it removes and every one it keeps, each with a
    reason. Paths are absolute; :meth:`describe` prints them relative to the project."""

    project_dir: Path
    everything: bool
    warehouse: Path
    # rewrite: keep only the durable tables; remove: delete the file; absent: no file;
    # unreadable: the file could not be opened (the default clean then refuses).
    warehouse_action: WarehouseAction
    remove: list[tuple[Path, str]] = field(default_factory=list)
    keep: list[tuple[Path, str]] = field(default_factory=list)
    # Durable tables the rewritten warehouse keeps: "schema.table" -> rows.
    preserved_tables: dict[str, int] = field(default_factory=dict)
    # Durable tables ``everything=True`` deletes (the confirmation should name them).
    deleted_durable_tables: dict[str, int] = field(default_factory=dict)
    warehouse_problem: str | None = None

    @property
    def remove_paths(self) -> list[Path]:
        return [path for path, _ in self.remove]

    @property
    def nothing_to_do(self) -> bool:
        return not self.remove and self.warehouse_action in ("absent", "unreadable")

    def describe(self) -> str:
        """The plan as text for the command line."""
        title = (
            "clean --all: remove everything generated, data/ and the whole warehouse"
            if self.everything
            else "clean: remove what Winback generated; keep durable records and your files"
        )
        lines = [f"Winback {title} (project {self.project_dir})"]
        lines.append(f"Warehouse {self._show(self.warehouse)}: {self._warehouse_line()}")
        if self.deleted_durable_tables:
            lines.append(
                "  DELETES the durable records: "
                + ", ".join(f"{t} ({n} rows)" for t, n in self.deleted_durable_tables.items())
            )
        lines.append("Remove:" if self.remove else "Remove: nothing")
        lines += [f"  - {self._show(p)} — {reason}" for p, reason in self.remove]
        if self.keep:
            lines.append("Keep:")
            lines += [f"  - {self._show(p)} — {reason}" for p, reason in self.keep]
        return "\n".join(lines)

    def _warehouse_line(self) -> str:
        if self.warehouse_action == "rewrite":
            kept = ", ".join(f"{t} ({n} rows)" for t, n in self.preserved_tables.items())
            return f"rewritten with only its durable tables: {kept}"
        if self.warehouse_action == "remove":
            return "removed" + ("" if self.everything else " (no durable records in it)")
        if self.warehouse_action == "absent":
            return "none"
        return f"could not be read ({self.warehouse_problem}); left as it is"

    def _show(self, path: Path) -> str:
        return (
            str(path.relative_to(self.project_dir))
            if _inside(path, self.project_dir)
            else str(path)
        )


@dataclass
class CleanReport:
    """What a clean did."""

    plan: CleanPlan
    removed: list[Path]
    # Durable tables in the rewritten warehouse, rows counted after the copy.
    preserved_tables: dict[str, int]
    warehouse_action: WarehouseAction
    freed_bytes: int

    def summary(self) -> str:
        """One paragraph for the command line."""
        project = self.plan.project_dir
        shown = [
            str(p.relative_to(project)) if _inside(p, project) else str(p) for p in self.removed
        ]
        lines = [
            f"Removed {len(self.removed)} path(s), {self.freed_bytes / 1e6:.1f} MB"
            + (": " + ", ".join(shown) if shown else ".")
        ]
        if self.warehouse_action == "rewrite":
            lines.append(
                "Warehouse kept with its durable tables only: "
                + ", ".join(f"{t} ({n} rows)" for t, n in self.preserved_tables.items())
            )
        elif self.warehouse_action == "remove":
            lines.append("Warehouse removed.")
        if self.plan.keep:
            lines.append(f"Kept {len(self.plan.keep)} path(s), as the plan lists.")
        return "\n".join(lines)


# --- planning -------------------------------------------------------------------------------


def plan_clean(settings: Settings, project_dir: Path, *, everything: bool = False) -> CleanPlan:
    """What :func:`clean` would remove and keep, and why (reads the warehouse to count the
    durable tables' rows; removes nothing). ``everything`` must be exactly ``True`` to
    include ``data/`` and the whole warehouse."""
    _check_everything(everything)
    resolved = settings.resolved()
    project = project_dir.resolve()
    builder = _Builder(project, everything)
    warehouse = _absolute(resolved.warehouse.path)

    # 1. What must survive: the project's own files and settings, the merchant's files.
    builder.protected += [project / name for name in PROJECT_FILES]
    if named := os.environ.get(CONFIG_FILE_ENV):
        builder.protected.append(_absolute(Path(named)))
    builder.protected.append(_absolute(lock_path_for(warehouse)))
    assumptions_dir = resolved.decisions.assumptions_dir
    if assumptions_dir is not None:
        builder.protected.append(_absolute(assumptions_dir))
    demo_folders = _plan_data(builder, _absolute(resolved.data_dir))

    # 2. The warehouse (always the configured one, wherever it lies).
    action, durable, problem = _inspect_warehouse(warehouse, everything)
    plan = CleanPlan(
        project_dir=project,
        everything=everything,
        warehouse=warehouse,
        warehouse_action=action,
        warehouse_problem=problem,
    )
    if action == "rewrite":
        plan.preserved_tables = durable
        builder.protected.append(warehouse)
        builder.keep_path(warehouse, "working warehouse, rewritten with only its durable tables")
    elif action == "unreadable":
        builder.protected.append(warehouse)
        builder.keep_path(warehouse, f"working warehouse could not be read: {problem}")
    elif action == "remove":
        if everything:
            plan.deleted_durable_tables = {t: n for t, n in durable.items() if n}
        reason = "working warehouse" + (
            "" if everything else ": none of its durable tables holds a row"
        )
        builder.consider(warehouse, reason, anywhere=True)
        builder.consider(
            _with_suffix(warehouse, ".wal"), "the warehouse's write-ahead log", anywhere=True
        )

    # 3. Generated siblings of the warehouse: removed wherever the warehouse lies.
    folder = warehouse.parent
    for name, reason in WAREHOUSE_SIBLING_DIRS.items():
        builder.consider(folder / name, reason, anywhere=True)
        for stray in sorted([*folder.glob(f".{name}.tmp-*"), *folder.glob(f".{name}.old-*")]):
            builder.consider(stray, "left by an interrupted write of " + name, anywhere=True)
    builder.consider(_with_suffix(warehouse, ".tmp"), "DuckDB spill folder", anywhere=True)
    for stray in sorted(folder.glob(f".{warehouse.name}.clean-*")):
        builder.consider(stray, "left by an interrupted clean", anywhere=True)
    published = _absolute(resolved.warehouse.published_file())
    beside = published.parent == folder
    builder.consider(
        published, "the analysts' published file; the next run writes it again", anywhere=beside
    )
    builder.consider(
        _with_suffix(published, ".wal"), "the published file's write-ahead log", anywhere=beside
    )
    builder.consider(_with_suffix(published, ".tmp"), "DuckDB spill folder", anywhere=beside)
    for stray in sorted(published.parent.glob(f"{published.name}.tmp-*")):
        builder.consider(stray, "left by an interrupted publish", anywhere=beside)

    # 4. Generated folders of the project.
    for demo in demo_folders:
        if everything and _inside(demo, project / DATA_FOLDER):
            continue  # goes with data/
        for entry in sorted(demo.iterdir()):
            if entry.name in DEMO_FILES:
                builder.consider(entry, "demo shop written by winback demo-data")
    _plan_mlflow(builder, resolved)
    _plan_prefect(builder)
    builder.consider(resolved.decisions.report_dir, "campaign reports")
    builder.consider(
        resolved.export.dir, "export files; the warehouse keeps the record of exported contacts"
    )
    builder.consider(project / "gx", "Great Expectations folder")
    # dbt run by hand in the project's dbt_project/ (the flows use <warehouse dir>/dbt_target).
    for dbt_dir in dict.fromkeys((project / "dbt_project", DBT_PROJECT_DIR.resolve())):
        if _inside(dbt_dir, project):  # the installed package's own folder may lie elsewhere
            builder.consider(dbt_dir / "target", "dbt's target folder")
            builder.consider(dbt_dir / "logs", "dbt's logs")
    logs = project / "logs"
    if logs.exists():  # winback.logs / winback.failures: not generated state
        builder.keep_path(logs, "run log and the failure records (run_failures.jsonl)")
    if everything:
        builder.consider(
            project / DATA_FOLDER, "data folder, with every merchant file in it (clean --all)"
        )

    # 5. What else sits in a project-local warehouse folder is not Winback's: say so.
    if folder.is_dir() and _inside(folder, project) and folder != project:
        listed = {p for p, _ in builder.remove} | {p for p, _ in builder.keep}
        listed |= {warehouse, _with_suffix(warehouse, ".wal")}
        for entry in sorted(folder.iterdir()):
            path = _absolute(entry)
            if path == _absolute(lock_path_for(warehouse)):
                builder.keep_path(path, "run lock file: other processes may be waiting on it")
            elif path not in listed:
                builder.keep_path(path, "not generated by Winback")

    plan.remove, plan.keep = builder.remove, builder.keep
    return plan


@dataclass
class _Builder:
    project: Path
    everything: bool
    remove: list[tuple[Path, str]] = field(default_factory=list)
    keep: list[tuple[Path, str]] = field(default_factory=list)
    protected: list[Path] = field(default_factory=list)

    def keep_path(self, path: Path, reason: str) -> None:
        if all(p != path for p, _ in self.keep):
            self.keep.append((path, reason))

    def consider(self, path: Path, reason: str, *, anywhere: bool = False) -> None:
        """Plan to remove ``path`` (when it exists) unless a rule keeps it. ``anywhere``:
        a generated sibling of the configured warehouse, removed even outside the project."""
        path = _absolute(path)
        if not (path.exists() or path.is_symlink()):
            return
        if any(p == path for p, _ in self.remove) or any(p == path for p, _ in self.keep):
            return
        if not anywhere and not _inside(path, self.project):
            self.keep_path(path, f"{reason}, but outside the project folder: not touched")
            return
        if _inside(self.project, path):
            self.keep_path(path, f"{reason}, but it holds the project folder: not touched")
            return
        held = next((p for p in self.protected if _inside(p, path)), None)
        if held is not None:
            self.keep_path(path, f"{reason}, but it holds {held}, which is kept")
            return
        self.remove.append((path, reason))


def _plan_data(builder: _Builder, data_dir: Path) -> list[Path]:
    """Classify the folders of ``<project>/data`` (and the configured data folder):
    return the demo folders; protect and list as kept everything else (the merchant's).
    With ``everything`` nothing under data/ is protected."""
    project, data = builder.project, builder.project / DATA_FOLDER
    candidates: list[Path] = []
    if data.is_dir() and not data.is_symlink():
        candidates += [_absolute(entry) for entry in sorted(data.iterdir())]
    if _inside(data_dir, project) and data_dir not in candidates and data_dir != project:
        candidates.append(data_dir)
    elif not _inside(data_dir, project):
        builder.protected.append(data_dir)  # never removed; not listed (not the project's)
    demos: list[Path] = []
    for entry in candidates:
        under_data = _inside(entry, data)
        if not (entry.exists() or entry.is_symlink()):
            continue
        if entry.is_dir() and not entry.is_symlink() and (entry / DEMO_MARKER).is_file():
            demos.append(entry)
            for item in sorted(entry.iterdir()):
                if item.name not in DEMO_FILES:
                    _merchant(
                        builder,
                        _absolute(item),
                        "in a demo folder, not written by winback demo-data",
                        under_data,
                    )
            continue
        if entry.is_symlink():
            reason = "a link: clean does not follow it"
        elif entry.is_dir():
            reason = f"merchant's files (no demo marker {DEMO_MARKER})"
        else:
            reason = "merchant's file"
        if entry == data_dir:
            reason += "; the configured data_dir"
        _merchant(builder, entry, reason, under_data)
    return demos


def _merchant(builder: _Builder, path: Path, reason: str, under_data: bool) -> None:
    """A merchant's path: kept by the default clean; clean --all removes it with data/."""
    if builder.everything and under_data:
        return
    builder.protected.append(path)
    builder.keep_path(
        path, reason + ("" if under_data else "; outside data/, clean --all keeps it too")
    )


def _plan_mlflow(builder: _Builder, settings: Settings) -> None:
    uri = settings.mlflow.tracking_uri
    store = _local_store(uri)
    artifacts = _absolute(settings.mlflow.artifact_dir)
    if store is None:
        if artifacts.exists():
            builder.keep_path(artifacts, f"artifacts of the remote MLflow store {uri}: not touched")
        return
    path, kind = store
    if kind == "folder":
        builder.consider(path, "MLflow file store: runs and registry")
    else:
        builder.consider(path, "MLflow tracking and registry store")
        for suffix in ("-journal", "-wal", "-shm"):
            builder.consider(_with_suffix(path, suffix), "MLflow store's sqlite side file")
    builder.consider(artifacts, "MLflow artifacts")


def _local_store(uri: str) -> tuple[Path, Literal["sqlite", "folder"]] | None:
    """The file (sqlite) or folder (file store) of a local MLflow tracking store; None
    for a remote one (http, databricks, postgresql, ...) or an in-memory one."""
    if uri.startswith("sqlite:///"):
        rest = unquote(uri[len("sqlite:///") :])
        return None if rest in ("", ":memory:") else (_absolute(Path(rest)), "sqlite")
    if uri.startswith("file:"):
        return _absolute(Path(unquote(urlparse(uri).path))), "folder"
    if ":" in uri:
        return None
    return _absolute(Path(uri)), "folder"


def _plan_prefect(builder: _Builder) -> None:
    homes = [builder.project / ".prefect"]
    if env_home := os.environ.get("PREFECT_HOME"):
        homes.append(Path(env_home).expanduser())
    for home in homes:
        pid = _live_server_pid(home)
        if pid is not None:
            builder.keep_path(
                _absolute(home), f"a Prefect server (pid {pid}) is using it: stop it first"
            )
            continue
        builder.consider(home, "Prefect home: local API database and logs")


def _live_server_pid(home: Path) -> int | None:
    """The pid ``make serve`` wrote when that process is still alive."""
    try:
        pid = int((home / "server.pid").read_text().strip())
    except (OSError, ValueError):
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        return pid
    return pid


def _inspect_warehouse(
    warehouse: Path, everything: bool
) -> tuple[WarehouseAction, dict[str, int], str | None]:
    """What to do with the warehouse file, the durable tables' row counts in it and,
    when it could not be read, why."""
    if not warehouse.exists():
        return "absent", {}, None
    try:
        counts = durable_table_counts(warehouse)
    except duckdb.Error as exc:
        if everything:
            return "remove", {}, str(exc).splitlines()[0]
        return "unreadable", {}, str(exc).splitlines()[0]
    if everything or not any(counts.values()):
        return "remove", counts, None
    return "rewrite", counts, None


def durable_table_counts(warehouse: Path) -> dict[str, int]:
    """The durable tables the warehouse file holds, with their rows (read-only)."""
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        counts: dict[str, int] = {}
        for table in DURABLE_TABLES:
            schema, name = table.split(".")
            if table_exists(con, table):
                row = con.execute(f"select count(*) from {q(schema)}.{q(name)}").fetchone()
                counts[table] = int(row[0]) if row else 0
        return counts
    finally:
        con.close()


# --- cleaning -------------------------------------------------------------------------------


def clean(settings: Settings, project_dir: Path, *, everything: bool = False) -> CleanReport:
    """Carry out :func:`plan_clean` under the warehouse's run lock (no waiting: a running
    flow makes it raise :class:`~winback.locking.RunLockedError` and nothing changes).
    The warehouse step comes first: when it fails, nothing else is removed. Raises
    :class:`CleanError` when the default clean cannot read the warehouse (it might hold
    the reminder ledger)."""
    _check_everything(everything)
    warehouse = settings.resolved().warehouse.path
    with run_lock(warehouse, "clean", 0):
        plan = plan_clean(settings, project_dir, everything=everything)
        if plan.warehouse_action == "unreadable":
            raise CleanError(
                f"Cannot read the warehouse {plan.warehouse} ({plan.warehouse_problem}); it "
                "may hold the reminder ledger, so nothing was removed. Close other programs "
                "using it and try again, or use clean --all to delete it."
            )
        preserved: dict[str, int] = {}
        if plan.warehouse_action == "rewrite":
            preserved = keep_only_durable_tables(plan.warehouse, list(plan.preserved_tables))
        removed: list[Path] = []
        freed = 0
        for path, _ in plan.remove:
            if not (path.exists() or path.is_symlink()):
                continue  # inside a folder removed before it
            freed += _size(path)
            _delete(path)
            removed.append(path)
        removed += _prune_empty_parents(plan, removed)
    return CleanReport(
        plan=plan,
        removed=removed,
        preserved_tables=preserved,
        warehouse_action=plan.warehouse_action,
        freed_bytes=freed,
    )


def keep_only_durable_tables(warehouse: Path, tables: list[str]) -> dict[str, int]:
    """Replace ``warehouse`` by a file holding only ``tables`` (each created with its
    original DDL and indexes, rows copied in their order), atomically; return the rows
    per table in the new file. The caller holds the run lock."""
    tmp = warehouse.with_name(f".{warehouse.name}.clean-{os.getpid()}")
    _remove_files(tmp, _with_suffix(tmp, ".wal"))
    # Fold the old file's write-ahead log in, so the file alone is the whole database.
    con = duckdb.connect(str(warehouse))
    try:
        con.execute("checkpoint")
    finally:
        con.close()
    counts: dict[str, int] = {}
    try:
        con = duckdb.connect(str(tmp))
        try:
            source = str(warehouse).replace("'", "''")
            con.execute(f"attach '{source}' as old (read_only)")
            for table in tables:
                counts[table] = _copy_table(con, table)
            con.execute("detach old")
            con.execute("checkpoint")
        finally:
            con.close()
        fsync_path(tmp)
        if _with_suffix(tmp, ".wal").exists():
            raise CleanError(f"{tmp} kept a write-ahead log after its checkpoint")
        # The old WAL is empty after the checkpoint; it must not be replayed into the new file.
        _remove_files(_with_suffix(warehouse, ".wal"))
        os.replace(tmp, warehouse)
        fsync_path(warehouse.parent)
    except BaseException:
        _remove_files(tmp, _with_suffix(tmp, ".wal"))
        raise
    return counts


def _copy_table(con: duckdb.DuckDBPyConnection, table: str) -> int:
    schema, name = table.split(".")
    row = con.execute(
        "select sql from duckdb_tables() where database_name = 'old' and schema_name = ? "
        "and table_name = ?",
        [schema, name],
    ).fetchone()
    if row is None:
        raise CleanError(f"{table} vanished from the warehouse during clean")
    con.execute(f"create schema if not exists {q(schema)}")
    con.execute(row[0])  # CREATE TABLE schema.table(...) as the warehouse has it
    columns = ", ".join(
        q(c)
        for (c,) in con.execute(
            "select column_name from duckdb_columns() where database_name = 'old' "
            "and schema_name = ? and table_name = ? order by column_index",
            [schema, name],
        ).fetchall()
    )
    target = f"{q(schema)}.{q(name)}"
    con.execute(f"insert into {target} ({columns}) select {columns} from old.{target}")
    for (index_sql,) in con.execute(
        "select sql from duckdb_indexes() where database_name = 'old' and schema_name = ? "
        "and table_name = ? and sql is not null",
        [schema, name],
    ).fetchall():
        con.execute(index_sql)
    copied = con.execute(f"select count(*) from {target}").fetchone()
    original = con.execute(f"select count(*) from old.{target}").fetchone()
    if copied is None or original is None or copied[0] != original[0]:
        raise CleanError(f"copying {table} gave {copied} rows instead of {original}")
    return int(copied[0])


def _prune_empty_parents(plan: CleanPlan, removed: list[Path]) -> list[Path]:
    """Remove folders inside the project that the clean left empty (``mlflow/``, a demo
    folder), never ``data/`` itself, the project folder, its own files or a kept path."""
    project = plan.project_dir
    stop = {project, project / DATA_FOLDER} | {project / name for name in PROJECT_FILES}
    stop |= {path for path, _ in plan.keep}
    pruned: list[Path] = []
    for path in removed:
        parent = path.parent
        while _inside(parent, plan.project_dir) and parent not in stop:
            try:
                parent.rmdir()
            except OSError:
                break  # not empty (or gone)
            pruned.append(parent)
            parent = parent.parent
    return pruned


# --- helpers --------------------------------------------------------------------------------


def _check_everything(everything: object) -> None:
    if everything is not True and everything is not False:
        raise TypeError(f"everything must be True or False, not {everything!r}")


def _absolute(path: Path) -> Path:
    """Absolute, with the folders resolved but not the last part (a link stays a link)."""
    path = Path(os.path.abspath(path.expanduser()))
    return path if path.parent == path else path.parent.resolve() / path.name


def _inside(path: Path, folder: Path) -> bool:
    return path == folder or path.is_relative_to(folder)


def _with_suffix(path: Path, suffix: str) -> Path:
    return path.with_name(path.name + suffix)


def _size(path: Path) -> int:
    if path.is_symlink() or not path.is_dir():
        return path.lstat().st_size
    total = 0
    for root, _, files in os.walk(path):
        for name in files:
            with contextlib.suppress(OSError):  # removed meanwhile
                total += os.lstat(os.path.join(root, name)).st_size
    return total


def _delete(path: Path) -> None:
    if path.is_symlink() or not path.is_dir():
        path.unlink(missing_ok=True)
    else:
        shutil.rmtree(path)


def _remove_files(*paths: Path) -> None:
    for path in paths:
        path.unlink(missing_ok=True)
