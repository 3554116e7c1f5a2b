"""The SQL digest of the labelled rows a plan reads (issue 19): a night whose labelled rows
are those a registered version was trained on reads only the scoring snapshot, so the
digest must move with every labelled row the plan reads, and with nothing else."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from tests.models.conftest import build_features
from tests.shops import settings_for, write_orders_only_shop
from winback import incremental, warehouse
from winback.ingest import load_data_dir
from winback.models import lifecycle
from winback.models.snapshots import SnapshotPlan, plan_snapshots

AS_OF = dt.date(2026, 6, 15)
SEED = 42


@pytest.fixture(scope="module")
def mart(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("digest_shop")
    write_orders_only_shop(root / "shop", n_customers=400, seed=8)
    build_features(root / "shop", root / "winback.duckdb", AS_OF)
    with duckdb.connect(str(root / "winback.duckdb")) as con:
        con.execute("checkpoint")  # the whole mart in the file, for copies
    return root / "winback.duckdb"


@pytest.fixture
def copy(mart: Path, tmp_path: Path) -> Path:
    target = tmp_path / "winback.duckdb"
    target.write_bytes(mart.read_bytes())
    return target


def plan_of(path: Path, max_train_rows: int = 1_000_000) -> SnapshotPlan:
    wh = settings_for(path).warehouse
    return plan_snapshots(warehouse.snapshot_summaries(wh), max_train_rows)


def digest(path: Path, plan: SnapshotPlan, seed: int = SEED) -> str:
    wh = settings_for(path).warehouse
    return warehouse.labelled_rows_digest(wh, plan, seed, lifecycle.DIGEST_DECIMALS)


def update(path: Path, sql: str) -> int:
    with duckdb.connect(str(path)) as con:
        return con.execute(sql).fetchone()[0]  # type: ignore[index]


def test_the_digest_moves_with_labelled_rows_only(copy: Path) -> None:
    plan = plan_of(copy)
    before = digest(copy, plan)
    assert digest(copy, plan) == before
    # The scoring snapshot (unlabelled, new every night) is not what a version learns from.
    changed = update(
        copy,
        "update marts.customer_features set recency_days = recency_days + 1 "
        f"where as_of_date = '{plan.scoring_date}'",
    )
    assert changed > 0 and digest(copy, plan) == before
    # Float noise below the digest's decimals (a parallel sum's last bits) neither.
    update(
        copy,
        "update marts.customer_features set avg_order_value = avg_order_value + 1e-9 "
        f"where as_of_date = '{plan.valid_date}'",
    )
    assert digest(copy, plan) == before
    # One labelled row of a training snapshot changed: another digest.
    update(
        copy,
        "update marts.customer_features set recency_days = recency_days + 1 where "
        f"customer_id = (select min(customer_id) from marts.customer_features "
        f"where as_of_date = '{plan.train_dates[0]}' and is_label_observed) "
        f"and as_of_date = '{plan.train_dates[0]}'",
    )
    assert digest(copy, plan) != before


def test_a_sampled_snapshot_digests_its_sample(copy: Path) -> None:
    plan = plan_of(copy, max_train_rows=600)
    date = plan.train_dates[-1]
    assert plan.quota(date) is not None
    wh = settings_for(copy).warehouse
    sampled = set(
        warehouse.read_features(wh, plan, SEED).frame.query("as_of_date == @date")["customer_id"]
    )
    with duckdb.connect(str(copy), read_only=True) as con:
        everyone = {
            r[0]
            for r in con.execute(
                "select customer_id from marts.customer_features where as_of_date = ? "
                "and is_label_observed",
                [date],
            ).fetchall()
        }
    outside, inside = min(everyone - sampled), min(sampled & everyone)
    before = digest(copy, plan)
    assert digest(copy, plan, seed=SEED + 1) != before  # another seed, another sample
    bump = "update marts.customer_features set recency_days = recency_days + 1 "
    update(copy, bump + f"where as_of_date = '{date}' and customer_id = '{outside}'")
    assert digest(copy, plan) == before
    update(copy, bump + f"where as_of_date = '{date}' and customer_id = '{inside}'")
    assert digest(copy, plan) != before


def test_scoring_only_reads_the_scoring_snapshot_as_the_full_read_has_it(mart: Path) -> None:
    wh = settings_for(mart).warehouse
    plan = plan_of(mart)
    full = warehouse.read_features(wh, plan, SEED)
    alone = warehouse.read_features(wh, plan, SEED, scoring_only=True)
    assert alone.scoring_only and not full.scoring_only
    assert set(alone.frame["as_of_date"]) == {pd.Timestamp(plan.scoring_date)}
    expected = full.frame[full.frame["is_scoring_snapshot"].astype(bool)].reset_index(drop=True)
    pd.testing.assert_frame_equal(alone.frame, expected)
    assert "scoring snapshot only" in alone.summary()


# The digest of a warehouse whose feature builds are recorded (winback.incremental), as
# the nightly flow builds it: each snapshot's part is kept under the build that wrote it.


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A shop and its warehouse after one recorded (first, full) feature build."""
    root = tmp_path_factory.mktemp("digest_recorded")
    write_orders_only_shop(root / "shop", n_customers=400, seed=8)
    settings = settings_for(root / "winback.duckdb", data_dir=root / "shop", as_of=AS_OF)
    load_data_dir(settings.warehouse.path, settings.data_dir, AS_OF)
    incremental.build_features(settings, AS_OF)
    with duckdb.connect(str(root / "winback.duckdb")) as con:
        con.execute("checkpoint")  # the whole warehouse in the file, for copies
    return root / "shop", root / "winback.duckdb"


@pytest.fixture
def recorded_copy(recorded: tuple[Path, Path], tmp_path: Path) -> Path:
    """A copy of the recorded warehouse, for one test to change."""
    path = tmp_path / "winback.duckdb"
    path.write_bytes(recorded[1].read_bytes())
    return path


def fresh_digest(path: Path, plan: SnapshotPlan, tmp_path: Path) -> str:
    """The digest computed from the rows alone: on a copy without the build record."""
    bare = tmp_path / "bare.duckdb"
    bare.write_bytes(path.read_bytes())
    with duckdb.connect(str(bare)) as con:
        con.execute("drop table meta.snapshot_builds")
        con.execute(f"drop table if exists {warehouse.DIGEST_PARTS}")
        con.execute("checkpoint")
    return digest(bare, plan)


def test_kept_snapshots_reuse_their_digest_parts(recorded_copy: Path, tmp_path: Path) -> None:
    path = recorded_copy
    plan = plan_of(path)
    first = digest(path, plan)
    assert first == fresh_digest(path, plan, tmp_path)  # the same digest as before
    with duckdb.connect(str(path)) as con:
        kept = con.execute(f"select count(*) from {warehouse.DIGEST_PARTS}").fetchone()
    assert kept == (len([d for d in plan.read_dates if d != plan.scoring_date]),)
    # A labelled row changed by hand, the build record untouched: the kept part is
    # trusted (only feature builds change the mart), so nothing is computed again.
    target = plan.train_dates[0]
    bump = (
        "update marts.customer_features set recency_days = recency_days + 1 where "
        f"as_of_date = '{target}' and customer_id = (select min(customer_id) from "
        f"marts.customer_features where as_of_date = '{target}' and is_label_observed)"
    )
    update(path, bump)
    assert digest(path, plan) == first
    # The snapshot written again by another build: its part is computed again.
    update(
        path,
        f"update meta.snapshot_builds set build_id = 'another' where as_of_date = '{target}'",
    )
    moved = digest(path, plan)
    assert moved != first and moved == fresh_digest(path, plan, tmp_path)


def test_an_incremental_night_digests_as_a_fresh_computation(
    recorded: tuple[Path, Path], recorded_copy: Path, tmp_path: Path
) -> None:
    shop, path = recorded[0], recorded_copy
    digest(path, plan_of(path))  # the first night's parts are kept
    next_day = AS_OF + dt.timedelta(days=1)
    settings = settings_for(path, data_dir=shop, as_of=next_day)
    load_data_dir(settings.warehouse.path, settings.data_dir, next_day)
    _, summary = incremental.build_features(settings, next_day)
    assert not summary.full_refresh and 0 < summary.computed < summary.snapshots
    plan = plan_of(path)
    assert digest(path, plan) == fresh_digest(path, plan, tmp_path)
