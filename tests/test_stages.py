"""Stage figures come from the process itself: time passes, memory peaks are per stage."""

from __future__ import annotations

import time

import numpy as np

from winback.config import TimeoutSettings
from winback.stages import Heartbeat, StageClock, report_progress


def test_each_stage_reports_its_own_time_and_peak() -> None:
    clock = StageClock()
    with clock.stage("big"):
        block = np.ones(300 * 1024 * 1024 // 8)  # ~300 MB touched
        del block
    with clock.stage("small"):
        time.sleep(0.05)
    big, small = clock.figures
    assert (big.stage, small.stage) == ("big", "small")
    assert small.seconds >= 0.05
    assert big.peak_rss_mb is not None and small.peak_rss_mb is not None
    assert big.peak_rss_mb - small.peak_rss_mb > 200  # the reset made the second peak its own
    assert "| **total** |" in clock.to_markdown()


def test_stages_say_when_they_start_and_end() -> None:
    said: list[str] = []
    clock = StageClock(progress=said.append)
    with clock.stage("dbt build"):
        pass
    assert said[0] == "▶ dbt build …"
    assert said[1].startswith("✓ dbt build 0.0 s")


def test_the_heartbeat_tells_how_long_and_where_long_work_is() -> None:
    said: list[str] = []
    with Heartbeat("training", said.append, every_seconds=0.05):
        report_progress("boosting round 3 of at most 400")
        time.sleep(0.3)
    stopped = len(said)
    time.sleep(0.15)
    assert stopped >= 3 and len(said) == stopped  # beats while it runs, not after
    assert said[-1].startswith("training: ") and said[-1].endswith(
        "so far: boosting round 3 of at most 400"
    )
    report_progress("nobody listens")  # no heartbeat running: a no-op


def test_step_time_limits_grow_with_the_data_and_can_be_fixed() -> None:
    limits = TimeoutSettings(step_seconds={"train_model": 3600, "decide": 0})
    small, big = (
        limits.for_step("build_features", 100_000),
        limits.for_step("build_features", 38_000_000),
    )
    assert small is not None and big is not None
    assert small == limits.minimum_seconds + 3 and big == limits.minimum_seconds + 30 * 38
    assert limits.for_step("load_raw", 0, 2_000_000_000) == limits.minimum_seconds + 1200
    assert limits.for_step("train_model", 38_000_000) == 3600
    assert limits.for_step("decide", 38_000_000) is None
