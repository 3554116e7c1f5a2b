"""Exports that senders take (issue 17), through the real ``winback`` CLI in subprocesses:
one file per channel with the contacted rows only (never the control group), messages in
the customer's language, a manifest whose checksums hold, past contacts left out of a
production export, and a killed export that leaves no partial folder."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from pathlib import Path

import duckdb
import pandas as pd
import pytest
from mlflow import MlflowClient

from tests.ops.conftest import Workspace, publish_runs
from winback.config import ReminderSettings
from winback.demo import ShopSpec, generate_shop

AS_OF = "2026-06-30"
CJK = re.compile(r"[\u4e00-\u9fff]")
ZH_TIME_ZONES = set(ReminderSettings().zh_timezones)


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory, prefect_api_url: str) -> Workspace:
    """One published nightly run of a demo shop (its export made at the end of the run)."""
    root = tmp_path_factory.mktemp("exports")
    generate_shop(
        ShopSpec(n_customers=1500, seed=11, as_of=dt.date.fromisoformat(AS_OF)), root / "shop"
    )
    workspace = Workspace(root, prefect_api_url)
    done = workspace.run("nightly", "--data-dir", "shop", "--as-of", AS_OF)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "export: " in done.stdout and "replay" in done.stdout
    return workspace


def published(workspace: Workspace, sql: str) -> pd.DataFrame:
    con = duckdb.connect(str(workspace.published), read_only=True)
    try:
        return con.execute(sql).df()
    finally:
        con.close()


def manifest(folder: Path) -> dict:
    return json.loads((folder / "manifest.json").read_text(encoding="utf-8"))


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def read_export(path: Path) -> pd.DataFrame:
    if path.suffix == ".parquet":
        return pd.read_parquet(path)
    return pd.read_csv(path, dtype=str, keep_default_na=False)


def test_the_nightly_exports_one_file_per_channel_with_the_contacted_rows_only(
    shop: Workspace,
) -> None:
    folder = shop.root / "exports" / "winback" / AS_OF
    got = manifest(folder)
    listed = published(
        shop,
        f"select customer_id, channel, is_contacted, is_control_group from marts.winback_list "
        f"where as_of_date = '{AS_OF}'",
    )
    plan = published(shop, f"select * from marts.winback_contact_plan where as_of_date = '{AS_OF}'")
    contacted = listed[listed["is_contacted"]]
    control = set(listed.loc[listed["is_control_group"], "customer_id"])
    assert len(contacted) > 0 and len(control) > 0
    assert got["replay"] is True and got["skipped_past"] == 0
    assert {f["file"] for f in got["files"]} == {f"{c}.csv" for c in contacted["channel"].unique()}
    assert got["rows"] == len(plan) == sum(f["rows"] for f in got["files"])
    customers = pd.read_csv(shop.root / "shop" / "customers.csv", dtype=str)
    for entry in got["files"]:
        path = folder / entry["file"]
        frame = read_export(path)
        channel = entry["channel"]
        assert sha256(path) == entry["sha256"] and path.stat().st_size == entry["bytes"]
        assert len(frame) == entry["rows"] == int((plan["channel"] == channel).sum())
        assert (frame["channel"] == channel).all()
        assert set(frame["customer_id"]) == set(
            contacted.loc[contacted["channel"] == channel, "customer_id"]
        )
        assert entry["customers"] == frame["customer_id"].nunique()
        assert not set(frame["customer_id"]) & control  # R10: never the control group
        assert frame["contact_key"].is_unique
        # The customer's language: Chinese for the zh time zones, English otherwise.
        zh = frame["contact_time_zone"].isin(ZH_TIME_ZONES)
        assert (frame["language"] == zh.map({True: "zh", False: "en"})).all()
        has_cjk = frame["message"].map(lambda text: bool(CJK.search(text)))
        assert (has_cjk == zh).all()
        assert frame["message"].str.len().gt(20).all()
        # UTC and local times of the same moment.
        utc = pd.to_datetime(frame["contact_at_utc"], utc=True)
        for when, local, zone in zip(
            utc, frame["contact_at_local"], frame["contact_time_zone"], strict=True
        ):
            assert when.tz_convert(zone).tz_localize(None) == pd.Timestamp(local)
        # The contact fields the channel needs, from the merchant's customers file.
        fields = got["contact_fields"][channel]
        if channel == "email":
            assert fields == ["email"]
        if fields:
            merged = frame[["customer_id", *fields]].merge(
                customers[["customer_id", *fields]], on="customer_id", suffixes=("", "_file")
            )
            for column in fields:
                assert (merged[column] == merged[f"{column}_file"]).all()
    assert "push" not in got["contact_fields"] or "push" in got["missing_contact_fields"]


def test_parquet_export_and_a_production_export_leaves_out_past_contacts(
    shop: Workspace,
) -> None:
    out = shop.root / "parquet"
    done = shop.run("export", "--as-of", AS_OF, "--format", "parquet", "--out", str(out))
    assert done.returncode == 0, done.stdout + done.stderr
    folder = out / "winback" / AS_OF
    csv_folder = shop.root / "exports" / "winback" / AS_OF
    for entry in manifest(folder)["files"]:
        assert entry["file"].endswith(".parquet")
        frame = read_export(folder / entry["file"])
        same = read_export(csv_folder / entry["file"].replace(".parquet", ".csv"))
        assert list(frame["contact_key"]) == list(same["contact_key"])
        assert list(frame["message"]) == list(same["message"])
    # Without an as-of date the export is for sending now: the demo's July contacts
    # are past, so none is written, and the summary says so and what to do.
    now = shop.run("export", "--out", str(shop.root / "now"))
    assert now.returncode == 0, now.stdout + now.stderr
    got = manifest(shop.root / "now" / "winback" / AS_OF)
    total = manifest(csv_folder)["rows"]
    assert got["replay"] is False and got["rows"] == 0 and got["skipped_past"] == total
    assert f"{total:,} win-back contacts already past were left out" in now.stdout
    assert "give its --as-of date" in now.stdout


def test_a_killed_export_leaves_no_partial_folder_and_keeps_the_previous_one(
    shop: Workspace,
) -> None:
    out = shop.root / "killed"
    folder = out / "winback" / AS_OF
    killed = shop.run("export", "--as-of", AS_OF, "--out", str(out), kill_at="export:file-written")
    assert killed.returncode == -9, killed.stdout + killed.stderr
    assert not folder.exists()
    hidden = [p for p in folder.parent.iterdir() if p.name.startswith(".")]
    assert len(hidden) == 1 and len(list(hidden[0].iterdir())) == 1  # one file, no manifest
    done = shop.run("export", "--as-of", AS_OF, "--out", str(out))
    assert done.returncode == 0, done.stdout + done.stderr
    assert [p.name for p in folder.parent.iterdir()] == [AS_OF]  # the leftover is gone
    before = manifest(folder)
    digests = {e["file"]: sha256(folder / e["file"]) for e in before["files"]}
    assert digests == {e["file"]: e["sha256"] for e in before["files"]}
    # A re-export killed half-way leaves the earlier complete export as it was.
    again = shop.run("export", "--as-of", AS_OF, "--out", str(out), kill_at="export:file-written")
    assert again.returncode == -9
    assert manifest(folder) == before
    assert {e["file"]: sha256(folder / e["file"]) for e in before["files"]} == digests


def test_due_payment_reminders_are_exported_per_channel(shop: Workspace) -> None:
    at = "2026-06-30T03:00:00"
    decided = shop.run("payment-reminders", "--data-dir", "shop", "--at", at)
    assert decided.returncode == 0, decided.stdout + decided.stderr
    reminders = published(shop, "select * from marts.payment_reminders")
    assert len(reminders) > 0
    out = shop.root / "reminder_export"
    done = shop.run("export", "--reminders", "--at", at, "--out", str(out))
    assert done.returncode == 0, done.stdout + done.stderr
    (folder,) = (out / "reminders").iterdir()
    got = manifest(folder)
    due = reminders[pd.to_datetime(reminders["remind_at"]) >= pd.Timestamp(at)]
    assert got["rows"] == len(due) and got["skipped_past"] == len(reminders) - len(due)
    assert {f["channel"] for f in got["files"]} == set(due["channel"])
    for entry in got["files"]:
        frame = read_export(folder / entry["file"])
        expected = due[due["channel"] == entry["channel"]].set_index("order_id")
        assert sorted(frame["order_id"]) == sorted(expected.index)
        assert (frame["contact_key"] == "rm-" + frame["order_id"]).all()
        texts = expected.loc[frame["order_id"], "rendered_text"].tolist()
        assert frame["message"].tolist() == texts


def test_an_export_that_fails_after_the_publish_says_the_list_is_published(
    shop: Workspace,
) -> None:
    """The first screen must not claim nothing was published: the analysts already read
    the list; it names what failed and the command that makes the files."""
    runs_before = len(publish_runs(shop.published))
    blocker = shop.root / "not_a_folder"
    blocker.write_text("a file where the export folder should be\n", encoding="utf-8")
    done = shop.run(
        "nightly", "--data-dir", "shop", "--as-of", AS_OF, WINBACK_EXPORT__DIR=str(blocker)
    )
    assert done.returncode == 1, done.stdout + done.stderr
    screen = done.stderr[done.stderr.index("✗") :]
    assert screen.startswith("✗ Nightly run failed: ExportAfterPublishError")
    assert f"the list as of {AS_OF} was published, but exporting it to {blocker} failed" in screen
    assert "winback export --as-of" in screen and "Nothing was published" not in screen
    assert len(publish_runs(shop.published)) == runs_before + 1


def working(workspace: Workspace, sql: str) -> pd.DataFrame:
    con = duckdb.connect(str(workspace.warehouse), read_only=True)
    try:
        return con.execute(sql).df()
    finally:
        con.close()


def test_the_next_night_reads_the_sent_log_and_learns_from_the_exported_campaign(
    shop: Workspace,
) -> None:
    """Points 3 and 4 of issue 17 on two consecutive demo nights: the sender's log of the
    first night's export comes back, the status mart counts it, an opt-out withdraws the
    channel at once, and the second night's response learner sees the first night's
    exported contacts and control group. (Runs last: it adds a night to the shop.)"""
    first = shop.root / "exports" / "winback" / AS_OF
    email = read_export(first / "email.csv")
    steps = email[email["step"] == "1"].sort_values("contact_at_utc")
    sent, failed, bounced, opted = steps["contact_key"].iloc[:4]
    opted_customer = steps["customer_id"].iloc[3]
    log = pd.DataFrame(
        [
            (sent, "email", "sent", "2026-07-01T12:00:00Z"),
            (failed, "email", "failed", "2026-07-01T12:00:00Z"),
            (bounced, "email", "sent", "2026-07-01T12:00:00Z"),
            (bounced, "email", "bounced", "2026-07-01T12:05:00Z"),
            (opted, "email", "sent", "2026-07-01T12:00:00Z"),
            (opted, "email", "unsubscribed", "2026-07-01T13:00:00Z"),
            ("wb-20260630-NOBODY-1", "email", "sent", "2026-07-01T12:00:00Z"),
        ],
        columns=["contact_key", "channel", "status", "status_ts"],
    )
    log.to_csv(shop.root / "shop" / "contact_log.csv", index=False)
    next_night = "2026-07-01"
    uri = f"sqlite:///{shop.root}/mlflow/mlflow.db"
    registry = MlflowClient(tracking_uri=uri, registry_uri=uri)
    versions_before = registry.search_model_versions("name = 'winback_response'")
    done = shop.run("nightly", "--data-dir", "shop", "--as-of", next_night)
    assert done.returncode == 0, done.stdout + done.stderr
    # Issue 19: no contact's outcome completed overnight (the exported ones are still
    # open, below), so the response model fitted on the same completed history is
    # reused, not fitted and registered again.
    versions_after = registry.search_model_versions("name = 'winback_response'")
    assert versions_before
    assert {v.version for v in versions_after} == {v.version for v in versions_before}
    assert all(v.tags.get("features_digest") for v in versions_after)

    # A key Winback never exported is a bad reference: quarantined with the reason.
    rejected = published(
        shop, "select * from quarantine.rejected_rows where table_name = 'contact_log'"
    )
    assert rejected[["row_number", "reason_code"]].values.tolist() == [[7, "unknown_contact_key"]]
    assert "wb-20260630-NOBODY-1" in rejected["reason"].iloc[0]

    # The status mart reconciles the plan with the log.
    status = published(shop, "select * from marts.winback_contact_status").set_index("contact_key")
    assert status.loc[sent, "reconciliation"] == "sent"
    assert status.loc[failed, "reconciliation"] == "failed"
    assert status.loc[bounced, "reconciliation"] == "bounced"
    assert bool(status.loc[bounced, "is_sent"]) and int(status.loc[bounced, "log_rows"]) == 2
    assert status.loc[opted, "reconciliation"] == "opted_out"
    plan = published(shop, f"select * from marts.winback_contact_plan where as_of_date = '{AS_OF}'")
    first_night = status.loc[plan["contact_key"]]
    unlogged = first_night[first_night["log_rows"] == 0]
    due = pd.to_datetime(unlogged["planned_at"]) < pd.Timestamp("2026-07-02")
    assert (unlogged.loc[due, "reconciliation"] == "not_logged").all() and due.any()
    assert (unlogged.loc[~due, "reconciliation"] == "pending").all() and (~due).any()

    # The opt-out withdrew the email consent at once; the other consents stay.
    customers = pd.read_csv(shop.root / "shop" / "customers.csv").set_index("customer_id")
    assert bool(customers.loc[opted_customer, "consent_email"])
    consent = working(
        shop,
        "select * from intermediate.int_customers_consented "
        f"where customer_id = '{opted_customer}'",
    ).iloc[0]
    assert not consent["has_consent_email"] and consent["has_opted_out"]
    assert bool(consent["has_consent_sms"]) == bool(customers.loc[opted_customer, "consent_sms"])
    reachable = working(
        shop,
        "select channel from intermediate.int_winback_channels_reachable "
        f"where customer_id = '{opted_customer}'",
    )
    assert "email" not in set(reachable["channel"])
    second = published(
        shop,
        f"select * from marts.winback_list where as_of_date = '{next_night}' "
        f"and customer_id = '{opted_customer}'",
    )
    assert not (second["channel"] == "email").any()

    # Own campaigns became history: the first night's exported contacts up to the second
    # as-of date and its control group are in what the response learner reads, and the
    # frequency cap (R13) keeps the contacted customers out of the second night's list.
    history = working(shop, "select * from intermediate.int_winback_response_history")
    listed = published(shop, f"select * from marts.winback_list where as_of_date = '{AS_OF}'")
    control = listed[listed["is_selected"] & listed["is_control_group"]]
    first_contacts = plan[pd.to_datetime(plan["contact_at"]).dt.date <= dt.date(2026, 7, 1)]
    assert len(first_contacts) > 0 and len(control) > 0
    assert set(first_contacts["contact_key"]) <= set(history["contact_id"])
    held_out = history[history["customer_id"].isin(control["customer_id"]) & history["is_control"]]
    assert set(control["customer_id"]) == set(held_out["customer_id"])
    assert (held_out["channel"] == "none").all()
    # Their attribution windows are still open: the learner waits for their outcomes
    # (counted as not converted they would teach that contacts do nothing), while the
    # merchant's older campaigns are complete.
    own = history["contact_id"].str.startswith("wb-")
    assert not history.loc[own, "is_outcome_complete"].any()
    assert history.loc[~own, "is_outcome_complete"].all()
    from winback.decisions.allocate import read_inputs

    inputs = read_inputs(shop.warehouse)
    assert not inputs["history"]["contact_id"].str.startswith("wb-").any()
    assert set(inputs["history_open"]["contact_id"]) == set(history.loc[own, "contact_id"])
    capped = published(
        shop,
        f"select customer_id from marts.winback_exclusions where as_of_date = '{next_night}' "
        "and exclusion_reason = 'contacted_too_recently'",
    )
    contacted = set(listed.loc[listed["is_contacted"], "customer_id"])
    assert contacted & set(capped["customer_id"])
    assert not contacted & set(
        published(
            shop,
            f"select customer_id from marts.winback_list where as_of_date = '{next_night}' "
            "and is_contacted",
        )["customer_id"]
    )
