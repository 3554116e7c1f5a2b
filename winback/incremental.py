"""Incremental feature builds (issue 19): which kind of build a night runs, and the record
of what it built.

The snapshot-grained dbt models are incremental by as-of date (``dbt_project.yml``,
``macros/snapshots.sql``): dbt computes only the snapshots ``int_snapshot_rebuild_dates``
flags, by comparing tonight's grid and input digests with the record of the last
successful feature build (``meta.snapshot_builds``, ``meta.snapshot_input_digests``).
This module decides when that comparison cannot be trusted and the build must be a full
refresh (no record yet, or the settings or the dbt project changed since), and writes the
record once a build has succeeded, so that a failed build is simply computed again.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import NamedTuple

from winback import warehouse
from winback.config import DBT_PROJECT_DIR, Settings
from winback.transform import (
    FEATURE_BUILD,
    DbtNodeResult,
    dbt_target_dir,
    dbt_vars_digest,
    run_dbt,
)

BUILDS = "meta.snapshot_builds"
INPUT_DIGESTS = "meta.snapshot_input_digests"
# The models and data tests of the loaded files (nodes_of_loaded_files) that the feature
# builds built or passed, each with the key of what it read: the build's signature and
# the record of every raw table it reads (warehouse.raw_file_key).
FILE_NODES = "meta.file_nodes_built"
# What a build's signature covers: the project's models, macros, seeds and configuration.
_PROJECT_FILES = ("dbt_project.yml", "models", "macros", "seeds")


class FileNode(NamedTuple):
    """A model or data test of the loaded files (:func:`nodes_of_loaded_files`)."""

    kind: str  # model or test
    key: str  # the build signature and the file record of every raw table it reads
    relation: str | None  # a model's schema.table


@dataclass(frozen=True)
class FeatureBuildPlan:
    """Full refresh or incremental, and why (for the run's log)."""

    full_refresh: bool
    reason: str
    signature: str
    # Models and data tests of the loaded files that were built or passed on exactly
    # tonight's files, not run again: name → key of their inputs (empty on a full refresh).
    reused: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class SnapshotBuildSummary:
    """How many snapshots of tonight's grid the build computed and how many it kept."""

    snapshots: int
    computed: int
    full_refresh: bool
    reason: str
    reused_models: int = 0
    reused_tests: int = 0

    @property
    def kept(self) -> int:
        return self.snapshots - self.computed

    def describe(self) -> str:
        kind = "full refresh" if self.full_refresh else "incremental"
        tests = (
            f"; {self.reused_models} models and {self.reused_tests} data tests of unchanged "
            "files not run again (built and passed on the same files)"
            if self.reused_models or self.reused_tests
            else ""
        )
        return (
            f"feature snapshots: {self.computed} of {self.snapshots} computed, {self.kept} kept "
            f"({kind}: {self.reason}){tests}"
        )


def build_signature(settings: Settings) -> str:
    """A digest of everything besides the data that decides a snapshot's rows: the dbt
    vars and the files of the dbt project."""
    digest = dbt_vars_digest(settings)
    for top in _PROJECT_FILES:
        root = DBT_PROJECT_DIR / top
        paths = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file())
        for path in paths:
            digest.update(str(path.relative_to(DBT_PROJECT_DIR)).encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def plan_feature_build(settings: Settings, *, full_refresh: bool = False) -> FeatureBuildPlan:
    """Incremental unless asked otherwise, there is no record of an earlier build, or the
    settings or the dbt project changed since it. An incremental build does not run again
    the models and data tests of the loaded files (:func:`nodes_of_loaded_files`) built
    or passed on the same files (``FILE_NODES``): a file kept from an earlier load is the
    file they read, and their tables are as that build left them."""
    signature = build_signature(settings)
    if full_refresh:
        return FeatureBuildPlan(True, "asked for (--full-refresh)", signature)
    if not settings.warehouse.path.exists():
        return FeatureBuildPlan(True, "first build (new warehouse)", signature)
    # (not read-only: dbt may hold the warehouse open in this process already)
    with warehouse.connect(settings.warehouse) as con:
        if not (warehouse.table_exists(con, BUILDS) and warehouse.table_exists(con, INPUT_DIGESTS)):
            return FeatureBuildPlan(True, "first build (no record of an earlier one)", signature)
        previous = {
            row[0]
            for row in con.execute(f"select distinct build_signature from {BUILDS}").fetchall()
        }
        built = (
            dict(con.execute(f"select node_name, inputs_key from {FILE_NODES}").fetchall())
            if warehouse.table_exists(con, FILE_NODES)
            else {}
        )
        present = warehouse.relations(con)
    if previous != {signature}:
        return FeatureBuildPlan(
            True, "the settings or the dbt project changed since the last build", signature
        )
    nodes = {
        name: node
        for name, node in nodes_of_loaded_files(settings, signature).items()
        if built.get(name) == node.key
    }
    # A model whose table is gone is built again, with the nodes that read the same files.
    missing = {node.key for node in nodes.values() if node.relation not in (None, *present)}
    reused = {name: node.key for name, node in nodes.items() if node.key not in missing}
    return FeatureBuildPlan(False, "reusing the snapshots of the last build", signature, reused)


def nodes_of_loaded_files(settings: Settings, signature: str) -> dict[str, FileNode]:
    """The project's models (tables and views) and data tests whose result follows from
    the loaded files and the project alone: every node they read is a raw table with a
    file record or such a model, and nothing they use reads the environment (the run's
    values: ``macros/run_value.sql``), by name. From the manifest of the project's last
    dbt run (none yet: no node)."""
    manifest_path = dbt_target_dir(settings) / "manifest.json"
    if settings.engine != "duckdb" or not manifest_path.exists():
        return {}
    manifest = json.loads(manifest_path.read_text())
    nodes, sources = manifest.get("nodes", {}), manifest.get("sources", {})
    macros = manifest.get("macros", {})
    records: dict[str, str | None] = {}
    env_macros: dict[str, bool] = {}
    tables_of: dict[str, frozenset[str] | None] = {}

    def reads_environment(macro_id: str, seen: frozenset[str] = frozenset()) -> bool:
        if macro_id not in env_macros:
            macro = macros.get(macro_id, {})
            env_macros[macro_id] = "env_var(" in macro.get("macro_sql", "") or any(
                reads_environment(inner, seen | {macro_id})
                for inner in macro.get("depends_on", {}).get("macros", [])
                if inner not in seen
            )
        return env_macros[macro_id]

    def raw_tables(unique_id: str) -> frozenset[str] | None:
        if unique_id in tables_of:
            return tables_of[unique_id]
        tables_of[unique_id] = None  # (a cycle reads as not of the files)
        found: frozenset[str] | None = None
        if unique_id in sources:
            source = sources[unique_id]
            table = str(source["identifier"])
            if source.get("schema") == "raw":
                if table not in records:
                    records[table] = warehouse.raw_file_key(settings.warehouse, table)
                found = frozenset([table]) if records[table] is not None else None
        elif unique_id in nodes:
            node = nodes[unique_id]
            kind = node.get("resource_type")
            parents = node.get("depends_on", {}).get("nodes", [])
            pure = (
                (
                    kind == "test"
                    or (kind == "model" and node["config"]["materialized"] in ("table", "view"))
                )
                and parents
                and "env_var(" not in node.get("raw_code", "")
                and not any(map(reads_environment, node["depends_on"].get("macros", [])))
            )
            if pure:
                read = [raw_tables(parent) for parent in parents]
                if all(tables is not None for tables in read):
                    found = frozenset().union(*(t for t in read if t is not None))
        tables_of[unique_id] = found
        return found

    keys: dict[str, FileNode] = {}
    for unique_id, node in nodes.items():
        if node.get("resource_type") not in ("model", "test"):
            continue
        tables = raw_tables(unique_id)
        if not tables:
            continue
        inputs = "|".join(f"{table}={records[table]}" for table in sorted(tables))
        key = hashlib.sha256(f"{signature}|{inputs}".encode()).hexdigest()[:16]
        kind = str(node["resource_type"])
        relation = f"{node['schema']}.{node['alias']}" if kind == "model" else None
        keys[str(node["name"])] = FileNode(kind, key, relation)
    return keys


def record_feature_build(
    settings: Settings, plan: FeatureBuildPlan, nodes: list[DbtNodeResult]
) -> SnapshotBuildSummary:
    """After a successful feature build (its ``nodes``): record tonight's grid and input
    digests (what the next build compares against) and the models and data tests of the
    loaded files it built or passed, and count what this one computed."""
    file_nodes = nodes_of_loaded_files(settings, plan.signature)  # the build's manifest
    with warehouse.connect(settings.warehouse) as con:
        snapshots = int(
            warehouse.scalar(con, "select count(*) from intermediate.int_snapshot_dates")
        )
        computed = int(
            warehouse.scalar(
                con,
                "select count(*) from intermediate.int_snapshot_rebuild_dates where rebuild_features",
            )
        )
        has_ids = "build_id" in dict(warehouse.column_types(con, BUILDS))
        con.execute("begin")
        con.execute("create schema if not exists meta")
        con.execute(
            f"create or replace table {INPUT_DIGESTS} as "
            "select * from intermediate.int_snapshot_inputs_digested"
        )
        # Which build computed each snapshot's rows: tonight's for the ones it computed, the
        # earlier one's for those it kept (the publish copies only snapshots whose build
        # changed: winback.publish).
        con.execute(
            "create or replace temp table previous_builds as "
            + (
                f"select as_of_date, build_id from {BUILDS}"
                if has_ids
                else "select cast(null as date) as as_of_date, cast(null as varchar) as build_id "
                "where false"
            )
        )
        con.execute(
            f"""
            create or replace table {BUILDS} as
            select
                dates.as_of_date,
                dates.is_label_observed,
                dates.is_scoring_snapshot,
                $signature as build_signature,
                case
                    when coalesce(rebuilt.rebuild_features, true) or previous.build_id is null
                        then $build_id
                    else previous.build_id
                end as build_id,
                current_timestamp at time zone 'UTC' as built_at
            from intermediate.int_snapshot_dates as dates
            left join intermediate.int_snapshot_rebuild_dates as rebuilt
                on dates.as_of_date = rebuilt.as_of_date
            left join previous_builds as previous
                on dates.as_of_date = previous.as_of_date
            """,
            {"signature": plan.signature, "build_id": new_build_id()},
        )
        con.execute("drop table previous_builds")
        # The nodes of the loaded files built or passed tonight, or reused: not run again
        # on these files.
        done = {n.name for n in nodes if n.status in ("success", "pass")}
        con.execute(f"create or replace table {FILE_NODES} (node_name varchar, inputs_key varchar)")
        kept = [
            [name, node.key]
            for name, node in file_nodes.items()
            if name in done or plan.reused.get(name) == node.key
        ]
        if kept:
            con.executemany(f"insert into {FILE_NODES} values (?, ?)", kept)
        con.execute("commit")
    kinds = [file_nodes[name].kind for name in plan.reused if name in file_nodes]
    return SnapshotBuildSummary(
        snapshots,
        computed,
        plan.full_refresh,
        plan.reason,
        kinds.count("model"),
        kinds.count("test"),
    )


def new_build_id() -> str:
    """An id for one feature build (UTC time and a random suffix): it only has to differ
    from every earlier build's."""
    return f"{dt.datetime.now(dt.UTC):%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:8]}"


def build_features(
    settings: Settings,
    as_of: dt.date,
    *,
    full_refresh: bool = False,
    progress: Callable[[str], None] | None = None,
) -> tuple[list[DbtNodeResult], SnapshotBuildSummary]:
    """The nightly feature build (``transform.FEATURE_BUILD``) as of ``as_of``: plan it
    (incremental or full refresh), run dbt, and record what it built."""
    plan = plan_feature_build(settings, full_refresh=full_refresh)
    args = [*FEATURE_BUILD, "--full-refresh"] if plan.full_refresh else list(FEATURE_BUILD)
    args += sorted(plan.reused)  # FEATURE_BUILD ends with its --exclude list
    nodes = run_dbt(args, settings, as_of, progress=progress)
    return nodes, record_feature_build(settings, plan, nodes)
