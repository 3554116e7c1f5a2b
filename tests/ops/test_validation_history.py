"""The nightly's Great Expectations gates keep their history (issue: a persistent GX
project): suites, checkpoints and every validation result are stored in a GX file project
beside the warehouse, and the Data Docs there list every stored validation."""

from __future__ import annotations

import datetime as dt
import gc
import json
import shutil
import socket
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import great_expectations.expectations as gxe
import pandas as pd
import pytest
from great_expectations.expectations.metadata_types import FailureSeverity

from winback.expectations.runner import (
    DataValidationError,
    ValidationReport,
    data_docs_dir,
    gate_key,
    gx_project_dir,
    run_gate,
    run_suite,
    validation_history,
)

TABLE = "raw.widgets"
SUITE = "widgets"
MONDAY = dt.datetime(2026, 6, 15, 2, 30, tzinfo=dt.UTC)
TUESDAY = dt.datetime(2026, 6, 16, 2, 45, tzinfo=dt.UTC)
WEDNESDAY = dt.datetime(2026, 6, 17, 2, 40, tzinfo=dt.UTC)
THURSDAY = dt.datetime(2026, 6, 18, 2, 35, tzinfo=dt.UTC)


def widgets_suite(extra: bool = False) -> list[gxe.Expectation]:
    suite: list[gxe.Expectation] = [
        gxe.ExpectTableRowCountToBeBetween(min_value=1),
        gxe.ExpectColumnValuesToNotBeNull(column="widget_id"),
        gxe.ExpectColumnValuesToBeBetween(column="price", min_value=0),
        # Prices above 100 are odd but possible: reported, never a reason to stop.
        gxe.ExpectColumnMaxToBeBetween(
            column="price", max_value=100, severity=FailureSeverity.WARNING
        ),
    ]
    if extra:  # the settings changed: a new expectation
        suite.append(gxe.ExpectColumnValuesToBeUnique(column="widget_id"))
    return suite


def widgets(max_price: float = 50.0, n: int = 40) -> pd.DataFrame:
    return pd.DataFrame(
        {"widget_id": range(n), "price": [max_price * (i + 1) / n for i in range(n)]}
    )


@dataclass
class Runs:
    warehouse: Path
    reports: dict[str, ValidationReport]
    error: DataValidationError


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Runs:
    """Four nightly gates on four days into one warehouse, with the network unreachable."""
    warehouse = tmp_path_factory.mktemp("history") / "warehouse" / "winback.duckdb"

    def no_network(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"Great Expectations tried the network: {args}")

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(socket.socket, "connect", no_network)
        patch.setattr(socket, "create_connection", no_network)
        patch.setattr(socket, "getaddrinfo", no_network)
        reports = {
            "monday": run_gate(widgets(), TABLE, SUITE, widgets_suite(), warehouse, MONDAY),
            "tuesday": run_gate(
                widgets(max_price=500.0), TABLE, SUITE, widgets_suite(), warehouse, TUESDAY
            ),
            "wednesday": run_gate(
                widgets(), TABLE, SUITE, widgets_suite(extra=True), warehouse, WEDNESDAY
            ),
        }
        broken = widgets().assign(price=lambda f: f["price"].where(f.index % 2 == 0, -1.0))
        with pytest.raises(DataValidationError) as raised:
            run_gate(broken, TABLE, SUITE, widgets_suite(extra=True), warehouse, THURSDAY)
    return Runs(warehouse, reports, raised.value)


def test_each_run_is_kept_with_its_day_and_outcome(runs: Runs) -> None:
    history = validation_history(runs.warehouse)
    assert [v.run_time for v in history] == [THURSDAY, WEDNESDAY, TUESDAY, MONDAY]  # newest first
    assert all(v.suite == SUITE and v.table == TABLE for v in history)
    thursday, wednesday, tuesday, monday = history
    for run, day in zip(history, ("06-18", "06-17", "06-16", "06-15"), strict=True):
        assert run.run_name == f"{SUITE}_on_{TABLE}_2026-{day}"
    assert (monday.success, monday.evaluated, monday.failed) == (True, 4, 0)
    # Tuesday broke the warning only: GX's verdict is "failed", the gate passed.
    assert (tuesday.success, tuesday.evaluated, tuesday.failed) == (False, 4, 1)
    assert tuesday.failed_critical == 0 and tuesday.gate_passed
    assert runs.reports["tuesday"].success and len(runs.reports["tuesday"].warnings) == 1
    # Wednesday's suite had one more expectation (the stored suite was replaced).
    assert (wednesday.success, wednesday.evaluated, wednesday.failed) == (True, 5, 0)
    # Thursday's gate stopped the run, and its result is kept all the same.
    assert (thursday.success, thursday.evaluated, thursday.failed) == (False, 5, 1)
    assert thursday.failed_critical == 1 and not thursday.gate_passed
    assert runs.error.report.failures[0].column == "price"


def test_validation_results_are_files_of_the_gx_project(runs: Runs) -> None:
    store = gx_project_dir(runs.warehouse) / "uncommitted" / "validations" / SUITE
    files = sorted(store.glob("*/*/*.json"))
    assert len(files) == 4
    by_day = {}
    for path in files:
        run_name, run_time = path.parent.parent.name, path.parent.name
        result = json.loads(path.read_text())
        assert result["meta"]["run_id"]["run_name"] == run_name
        by_day[run_time[:8]] = (run_name, result["statistics"]["evaluated_expectations"])
    assert by_day == {
        "20260615": (f"{SUITE}_on_{TABLE}_2026-06-15", 4),
        "20260616": (f"{SUITE}_on_{TABLE}_2026-06-16", 4),
        "20260617": (f"{SUITE}_on_{TABLE}_2026-06-17", 5),
        "20260618": (f"{SUITE}_on_{TABLE}_2026-06-18", 5),
    }


def test_suite_checkpoint_and_config_are_stored_in_the_project(runs: Runs) -> None:
    project = gx_project_dir(runs.warehouse)
    assert project == runs.warehouse.parent / "gx"
    suite = json.loads((project / "expectations" / f"{SUITE}.json").read_text())
    assert suite["name"] == SUITE
    assert len(suite["expectations"]) == 5  # the latest suite, with the extra expectation
    assert "expect_column_values_to_be_unique" in {e["type"] for e in suite["expectations"]}
    checkpoint = json.loads((project / "checkpoints" / f"{TABLE}_checkpoint.json").read_text())
    assert [a["type"] for a in checkpoint["actions"]] == ["update_data_docs"]
    assert [v["name"] for v in checkpoint["validation_definitions"]] == [f"{TABLE}_validation"]
    assert (project / "validation_definitions" / f"{TABLE}_validation.json").is_file()
    config = (project / "great_expectations.yml").read_text()
    assert "analytics_enabled: false" in config
    assert f"warehouse_{TABLE}:" in config  # the datasource, its asset and batch definition
    assert str(data_docs_dir(runs.warehouse)) in config


def test_data_docs_list_every_stored_validation(runs: Runs) -> None:
    docs = data_docs_dir(runs.warehouse)
    assert docs == runs.warehouse.parent / "data_docs"
    index = (docs / "index.html").read_text()
    # Linked to the dbt docs site (make docs), once, however many runs rewrote it.
    assert index.count('href="../dbt_docs/index.html"') == 1
    history = validation_history(runs.warehouse)
    reported = [r.data_docs_url for r in runs.reports.values()] + [runs.error.report.data_docs_url]
    assert sorted(v.data_docs_url or "" for v in history) == sorted(u or "" for u in reported)
    for run in history:
        assert run.data_docs_url is not None
        page = Path(run.data_docs_url.removeprefix("file://"))
        assert page.is_file() and run.run_name in page.parts
        assert page.relative_to(docs).as_posix() in index
    assert (docs / "expectations" / f"{SUITE}.html").is_file()
    assert "Data Docs: file://" in str(runs.error)


def test_deleted_data_docs_are_rebuilt_from_the_stored_results(runs: Runs, tmp_path: Path) -> None:
    """The site is derived: delete it, and the next gate renders every stored validation."""
    warehouse = tmp_path / "warehouse" / "winback.duckdb"
    shutil.copytree(runs.warehouse.parent, warehouse.parent)
    shutil.rmtree(data_docs_dir(warehouse))
    friday = THURSDAY + dt.timedelta(days=1)
    run_gate(widgets(), TABLE, SUITE, widgets_suite(extra=True), warehouse, friday)
    history = validation_history(warehouse)
    assert len(history) == 5 and history[0].run_time == friday
    index = (data_docs_dir(warehouse) / "index.html").read_text()
    for run in history:
        assert run.data_docs_url is not None
        page = Path(run.data_docs_url.removeprefix("file://"))
        assert page.is_file()
        assert page.relative_to(data_docs_dir(warehouse)).as_posix() in index


def test_no_gx_project_no_history(tmp_path: Path) -> None:
    assert validation_history(tmp_path / "warehouse" / "winback.duckdb") == []
    assert not (tmp_path / "warehouse").exists()


def test_a_gate_that_passed_on_the_same_data_is_not_run_again(tmp_path: Path) -> None:
    """Issue 19: a gate keyed on its data's content (``gate_key``) that passed before
    returns that pass without reading the data; other data, another suite, a failure, a
    pass with warnings or ``reuse=False`` run it."""
    warehouse = tmp_path / "winback.duckdb"
    reads: list[str] = []

    def reading(frame: pd.DataFrame, label: str) -> Callable[[], pd.DataFrame]:
        def read() -> pd.DataFrame:
            reads.append(label)
            return frame

        return read

    clean = [e for e in widgets_suite() if e.severity != FailureSeverity.WARNING]
    key = gate_key(SUITE, clean, "file-a:loader-1:load-1:40:40:0")
    first = run_gate(
        reading(widgets(), "a"), TABLE, SUITE, clean, warehouse, MONDAY, "mon", reuse_key=key
    )
    assert first.success and first.passed_before is None and reads == ["a"]
    again = run_gate(
        reading(widgets(), "a2"), TABLE, SUITE, clean, warehouse, TUESDAY, "tue", reuse_key=key
    )
    assert again.success and again.passed_before == "mon" and reads == ["a"]
    assert "not run again" in again.to_markdown() and "`mon`" in again.to_markdown()
    assert [v.run_name for v in validation_history(warehouse)] == ["mon"]  # nothing stored

    # Another file, another suite, or reuse turned off: validated.
    other = gate_key(SUITE, clean, "file-b:loader-1:load-2:40:40:0")
    assert (
        run_gate(
            reading(widgets(), "b"), TABLE, SUITE, clean, warehouse, reuse_key=other
        ).passed_before
        is None
    )
    stricter = [*clean, gxe.ExpectColumnValuesToBeUnique(column="widget_id")]
    assert gate_key(SUITE, stricter, "file-a:loader-1:load-1:40:40:0") != key
    forced = run_gate(
        reading(widgets(), "c"), TABLE, SUITE, clean, warehouse, reuse_key=key, reuse=False
    )
    assert forced.passed_before is None and reads == ["a", "b", "c"]

    # A failure is never recorded: the same data fails again.
    bad = gate_key(SUITE, clean, "file-bad")
    for label in ("bad1", "bad2"):
        with pytest.raises(DataValidationError):
            run_gate(
                reading(widgets().assign(price=-1.0), label),
                TABLE,
                SUITE,
                clean,
                warehouse,
                reuse_key=bad,
            )
    # A pass with a warning is not either: the warning is reported on every run.
    warned = gate_key(SUITE, widgets_suite(), "file-pricey")
    for label in ("w1", "w2"):
        report = run_gate(
            reading(widgets(max_price=500.0), label),
            TABLE,
            SUITE,
            widgets_suite(),
            warehouse,
            reuse_key=warned,
        )
        assert report.success and report.warnings and report.passed_before is None
    assert reads[-4:] == ["bad1", "bad2", "w1", "w2"]


@pytest.mark.parametrize("kept", [True, False], ids=["gx-project", "ephemeral"])
def test_a_validated_frame_is_not_kept_alive_by_great_expectations(
    tmp_path: Path, kept: bool
) -> None:
    """GX keeps the batches it loaded in its datasource's engine, and its context outlives
    the call: the gate drops them, or each validated frame stayed in memory for the rest of
    the night (issue 19: the 1M raw-orders frame, 191 MB, through the whole feature build).
    Also when the gate fails, and for a frame the gate read itself."""
    warehouse = tmp_path / "winback.duckdb"
    suite = widgets_suite()

    def validated(frame: pd.DataFrame, price: float) -> weakref.ref[pd.DataFrame]:
        alive = weakref.ref(frame)
        expectations = [*suite, gxe.ExpectColumnMinToBeBetween(column="price", min_value=price)]
        try:
            if kept:
                run_gate(frame, TABLE, SUITE, expectations, warehouse, MONDAY, f"p{price}")
            else:
                run_suite(frame, TABLE, SUITE, expectations)
        except DataValidationError:
            assert price > 1
        return alive

    for price in (0.0, 1000.0):  # a pass, then a failure
        alive = validated(widgets(), price)
        gc.collect()
        assert alive() is None

    read: list[weakref.ref[pd.DataFrame]] = []

    def reading() -> pd.DataFrame:
        frame = widgets()
        read.append(weakref.ref(frame))
        return frame

    run_gate(reading, TABLE, SUITE, suite, warehouse, TUESDAY, "read")
    gc.collect()
    assert len(read) == 1
    assert read[0]() is None
