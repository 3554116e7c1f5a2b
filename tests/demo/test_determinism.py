"""The demo shop is a pure function of its spec: same seed, same bytes (CSV and Parquet)."""

from __future__ import annotations

import datetime as dt
import hashlib
from pathlib import Path

import pytest

from winback.demo import ShopSpec, generate_shop


def _digests(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_same_seed_gives_identical_files(tmp_path: Path, fmt: str) -> None:
    spec = ShopSpec(n_customers=1500, seed=7, as_of=dt.date(2026, 3, 31), fmt=fmt)
    generate_shop(spec, tmp_path / "a")
    generate_shop(spec, tmp_path / "b")
    first, second = _digests(tmp_path / "a"), _digests(tmp_path / "b")
    assert len(first) == 13  # 8 tables + 4 truth tables + truth/world.json
    assert first == second


def test_different_seed_gives_different_shop(tmp_path: Path) -> None:
    base = ShopSpec(n_customers=1500, seed=7)
    generate_shop(base, tmp_path / "a")
    generate_shop(base.model_copy(update={"seed": 8}), tmp_path / "b")
    assert (tmp_path / "a" / "orders.csv").read_bytes() != (
        tmp_path / "b" / "orders.csv"
    ).read_bytes()


def test_summary_reports_rows_timings_and_progress(tmp_path: Path) -> None:
    messages: list[str] = []
    summary = generate_shop(ShopSpec(n_customers=500, seed=1), tmp_path, progress=messages.append)
    assert summary["rows"]["customers"] == 500
    assert summary["rows"]["orders"] >= 500
    assert summary["seconds"]["total"] > 0
    assert summary["peak_rss_mb"] > 0
    assert any("writing orders" in m for m in messages)
