"""Stage figures come from the process itself: time passes, memory peaks are per stage."""

from __future__ import annotations

import time

import numpy as np

from winback.stages import StageClock


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
