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
# The data tests of the loaded files (on the staging views of the shop's raw tables) that
# passed, each with the key of what it read: the build's signature and the record of
# every raw table it reads (warehouse.raw_file_key).
PASSED_TESTS = "meta.feature_tests_passed"
# The staging views that read one raw table each, as loaded (no run value, no var).
_RAW_VIEWS = ("staging", "shop")
# What a build's signature covers: the project's models, macros, seeds and configuration.
_PROJECT_FILES = ("dbt_project.yml", "models", "macros", "seeds")


@dataclass(frozen=True)
class FeatureBuildPlan:
    """Full refresh or incremental, and why (for the run's log)."""

    full_refresh: bool
    reason: str
    signature: str
    # Data tests of the loaded files that passed on exactly tonight's files, not run
    # again: name → key of their inputs (empty on a full refresh).
    reused_tests: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class SnapshotBuildSummary:
    """How many snapshots of tonight's grid the build computed and how many it kept."""

    snapshots: int
    computed: int
    full_refresh: bool
    reason: str
    reused_tests: int = 0

    @property
    def kept(self) -> int:
        return self.snapshots - self.computed

    def describe(self) -> str:
        kind = "full refresh" if self.full_refresh else "incremental"
        tests = (
            f"; {self.reused_tests} data tests of unchanged files not run again (they "
            "passed on the same files)"
            if self.reused_tests
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
    the data tests of the loaded files that passed on the same files
    (:func:`tests_of_loaded_files`, ``PASSED_TESTS``): a file kept from an earlier load
    is the file they checked."""
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
    if previous != {signature}:
        return FeatureBuildPlan(
            True, "the settings or the dbt project changed since the last build", signature
        )
    file_tests = tests_of_loaded_files(settings, signature)
    with warehouse.connect(settings.warehouse) as con:
        passed = (
            dict(con.execute(f"select test_name, inputs_key from {PASSED_TESTS}").fetchall())
            if warehouse.table_exists(con, PASSED_TESTS)
            else {}
        )
    reused = {name: key for name, key in file_tests.items() if passed.get(name) == key}
    return FeatureBuildPlan(False, "reusing the snapshots of the last build", signature, reused)


def tests_of_loaded_files(settings: Settings, signature: str) -> dict[str, str]:
    """The feature build's data tests that read only staging views of the shop's raw
    tables (functions of the loaded files and the project alone), each with the key of
    its inputs: the build signature and the record of every raw table it reads. From
    the manifest of the project's last dbt run (none yet: no test). A test whose raw
    table has no record is left out (always run)."""
    manifest_path = dbt_target_dir(settings) / "manifest.json"
    if settings.engine != "duckdb" or not manifest_path.exists():
        return {}
    manifest = json.loads(manifest_path.read_text())
    nodes, sources = manifest.get("nodes", {}), manifest.get("sources", {})

    def raw_table(parent: str) -> str | None:
        node = nodes.get(parent, {})
        reads = node.get("depends_on", {}).get("nodes", [])
        if node.get("resource_type") != "model" or tuple(node.get("fqn", [])[1:3]) != _RAW_VIEWS:
            return None
        if len(reads) != 1 or reads[0] not in sources:
            return None
        return str(sources[reads[0]]["identifier"])

    keys: dict[str, str] = {}
    records: dict[str, str | None] = {}
    for node in nodes.values():
        if node.get("resource_type") != "test":
            continue
        tables = [raw_table(parent) for parent in node["depends_on"]["nodes"]]
        if not tables or None in tables:
            continue
        for table in tables:
            if table not in records:
                records[table] = warehouse.raw_file_key(settings.warehouse, str(table))
        if any(records[table] is None for table in tables):
            continue
        inputs = "|".join(f"{t}={records[t]}" for t in sorted(set(map(str, tables))))
        keys[node["name"]] = hashlib.sha256(f"{signature}|{inputs}".encode()).hexdigest()[:16]
    return keys


def record_feature_build(
    settings: Settings, plan: FeatureBuildPlan, nodes: list[DbtNodeResult]
) -> SnapshotBuildSummary:
    """After a successful feature build (its ``nodes``): record tonight's grid and input
    digests (what the next build compares against) and the data tests of loaded files
    that passed, and count what this one computed."""
    file_tests = tests_of_loaded_files(settings, plan.signature)  # the build's manifest
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
        # The file tests that passed tonight or were reused: not run again on these files.
        passed = {n.name for n in nodes if n.resource_type == "test" and n.status == "pass"}
        con.execute(
            f"create or replace table {PASSED_TESTS} (test_name varchar, inputs_key varchar)"
        )
        kept = [
            [name, key]
            for name, key in file_tests.items()
            if name in passed or plan.reused_tests.get(name) == key
        ]
        if kept:
            con.executemany(f"insert into {PASSED_TESTS} values (?, ?)", kept)
        con.execute("commit")
    return SnapshotBuildSummary(
        snapshots, computed, plan.full_refresh, plan.reason, len(plan.reused_tests)
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
    args += sorted(plan.reused_tests)  # FEATURE_BUILD ends with its --exclude list
    nodes = run_dbt(args, settings, as_of, progress=progress)
    return nodes, record_feature_build(settings, plan, nodes)
