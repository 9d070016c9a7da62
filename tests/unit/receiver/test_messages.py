"""What on-call reads about a LIS system: a failed receiver run, a missed completeness deadline, a receiver
run past its ``run_deadline``, and the RESOLVED note; built from a real ledger and real quarantine files."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sf1630.alert import Kind, RunRef
from sf1630.database import Database
from sf1630.protocol import Period
from sf1630.receiver.completeness import (
    DETAIL_LINES,
    completeness_alert,
    expected_extracts,
    failed_run_alert,
    merge_refusals,
    missing_extracts,
    quarantined_since,
    receiver_period,
    refusals_from_ledger,
    run_deadline_alert,
)
from sf1630.receiver.config import Receiver
from sf1630.warehouse import LoadEntry, Outcome, record_outcome, refused_since

OCTOBER = Period(2026, 10)
START = datetime(2026, 11, 3, 10, 0, tzinfo=UTC)
URL = "http://airflow.example/dags/sf1630_receiver_herning_lis01_simpel/runs/r1"
RUN = RunRef("sf1630_receiver_herning_lis01_simpel", "r1", URL, state="failed")
KSD_FILE = "KSD_LIS_65700000_M10_20261101060000.csv"
DUBU_FILE = "DUBU_LIS_65700000_M10_20261101060000.csv"
VALIDATION = "\n".join(
    ["2 of 17 expectations failed:"] + [f"  row {n}: person_noegle breaks its pattern" for n in range(20)]
)


def _ledger(db: Database) -> Database:
    rows = [
        (
            "u-ksd",
            KSD_FILE,
            "KSD",
            Outcome.QUARANTINED,
            START + timedelta(minutes=5),
            f"invalid extract: {VALIDATION}",
        ),
        (
            "u-old",
            DUBU_FILE,
            "DUBU",
            Outcome.QUARANTINED,
            START - timedelta(hours=1),
            "size mismatch: earlier run",
        ),
        (
            "u-ky",
            "KY_LIS_65700000_M10_20261101060000.csv",
            "KY",
            Outcome.LOADED,
            START + timedelta(minutes=6),
            "",
        ),
    ]
    for uuid, name, sender, outcome, when, detail in rows:
        entry = LoadEntry(
            uuid, name, sender, "65700000", Period(2026, 10), 0, "0" * 64, outcome, when, when, detail
        )
        record_outcome(db, entry)
    return db


def _quarantine(root: Path, name: str, when: datetime, **reason: str) -> Path:
    folder = root / name
    folder.mkdir(parents=True)
    body = {"data_file": name, "quarantined_at": when.isoformat(), **reason}
    (folder / "reason.json").write_text(json.dumps(body), encoding="utf-8")
    return folder


def test_failed_run_lists_each_refusal_with_reason_contact_and_folder(
    herning: Receiver, tmp_path: Path, warehouse: Database
) -> None:
    db = _ledger(warehouse)
    root = tmp_path / "quarantine"
    ksd_folder = _quarantine(
        root, KSD_FILE, START + timedelta(minutes=5), reason="invalid extract", detail="x"
    )
    # A metadata file that could not be trusted: quarantined, but no ledger row (nothing to key it on).
    _quarantine(
        root, "junk.csv", START + timedelta(minutes=7), reason="metadata not well-formed", detail="line 1"
    )
    _quarantine(root, "older.csv", START - timedelta(days=1), reason="old", detail="")
    (root / "broken").mkdir()
    (root / "broken" / "reason.json").write_text("{not json", encoding="utf-8")

    ledger = refusals_from_ledger(herning, refused_since(db, START))
    assert [r.file_name for r in ledger] == [KSD_FILE]  # the older DUBU refusal was another run's
    refusals = merge_refusals(ledger, quarantined_since(herning, root, START))
    alert = failed_run_alert(herning, refusals, RUN)
    assert alert.kind is Kind.FAILED
    assert alert.subject == (
        "SF1630 FAILED: HERNING_LIS01_SIMPEL (Herning LIS01): 2 deliveries refused "
        "(sf1630_receiver_herning_lis01_simpel)"
    )
    body = alert.body
    assert f"  - KSD → Herning LIS01 2026-10 ({KSD_FILE}):" in body
    assert "      invalid extract: 2 of 17 expectations failed:" in body
    assert f"… {20 + 1 - DETAIL_LINES} more line(s)" in body  # a long validation summary is cut
    assert "      Contact: KSD drift <drift@ksd.example>" in body
    assert f"      Files and reports kept in {ksd_folder}" in body
    assert "  - unknown sender → Herning LIS01 (junk.csv):" in body
    assert "metadata not well-formed: line 1" in body
    assert "older.csv" not in body and "DUBU" not in body
    assert body.endswith(f"Open in Airflow: {URL}")


def test_failed_run_without_a_refusal_says_where_to_look(herning: Receiver) -> None:
    alert = failed_run_alert(herning, [], RUN, ["the warehouse ledger could not be read (IOError: gone)"])
    assert alert.subject.endswith(
        "receiver run failed, no delivery refused (sf1630_receiver_herning_lis01_simpel)"
    )
    assert "No delivery was refused in this run" in alert.body
    assert "Note: the warehouse ledger could not be read (IOError: gone)" in alert.body


def test_failed_run_lists_held_deliveries_from_this_runs_notes(herning: Receiver, tmp_path: Path) -> None:
    """A held delivery (its data spec unusable) is listed beside the refused ones; a note older than the
    run, or one that cannot be read, is not."""
    from sf1630.receiver.held import Hold, held_since, write_note

    root = tmp_path / "held"
    problem = "include/dataspecs/ksd.yaml:14: file.encoding: 'utf-16' is not one of [...]"
    write_note(root, Hold(KSD_FILE, "KSD", "ksd", problem, (START + timedelta(minutes=1)).isoformat()))
    write_note(root, Hold(DUBU_FILE, "DUBU", "dubu", "old", (START - timedelta(days=1)).isoformat()))
    (root / "torn.csv.json").write_text("{", encoding="utf-8")
    held = held_since(root, START)
    assert [h.data_file for h in held] == [KSD_FILE]

    alert = failed_run_alert(herning, [], RUN, held=held)
    assert alert.subject == (
        "SF1630 FAILED: HERNING_LIS01_SIMPEL (Herning LIS01): 1 delivery held (data spec unusable) "
        "(sf1630_receiver_herning_lis01_simpel)"
    )
    assert f"  - KSD ({KSD_FILE}): data spec 'ksd' cannot be used:\n      {problem}" in alert.body
    assert "not the sender's" in alert.body and "No delivery was refused" not in alert.body


def test_missed_completeness_deadline_lists_missing_and_whom_to_call(herning: Receiver) -> None:
    missing = missing_extracts(herning, {("KY", "65700000"), ("KSD", "65700000")})
    run = RunRef(
        "sf1630_completeness_herning_lis01_simpel", "scheduled__2026-10-31T05:00:00+00:00", URL, "running"
    )
    alert = completeness_alert(herning, OCTOBER, missing, run)
    assert alert.kind is Kind.DEADLINE_MISSED
    assert alert.subject == (
        "SF1630 DEADLINE MISSED: HERNING_LIS01_SIMPEL (Herning LIS01): 3 extract(s) for 2026-10 not loaded"
    )
    assert alert.body.startswith("Deadline 2026-11-10 06:00 CET passed: 3 of 5 extract(s) for 2026-10")
    assert "  - DUBU for Herning (CVR 65700000): contact DUBU support <support@dubu.example>" in alert.body
    assert "  - AULA for Herning (CVR 65700000): contact Aula drift <drift@aula.example>" in alert.body


def test_completeness_deadline_of_a_complete_month_is_a_resolved_note(herning: Receiver) -> None:
    alert = completeness_alert(herning, OCTOBER, missing_extracts(herning, expected_extracts(herning)), RUN)
    assert alert.kind is Kind.RESOLVED
    assert (
        alert.subject
        == "SF1630 RESOLVED: HERNING_LIS01_SIMPEL (Herning LIS01): all 5 extracts for 2026-10 are loaded"
    )
    assert "Nothing is left to do" in alert.body


def test_receiver_run_deadline(herning: Receiver) -> None:
    missing = missing_extracts(herning, {("KY", "65700000")})
    running = RunRef(RUN.dag_id, "r2", URL, state="running")
    alert = run_deadline_alert(herning, OCTOBER, missing, running, timedelta(hours=12))
    assert alert.kind is Kind.DEADLINE_MISSED
    assert alert.subject == (
        "SF1630 DEADLINE MISSED: HERNING_LIS01_SIMPEL (Herning LIS01): "
        "receiver run not done 12h after queueing (running)"
    )
    assert "is still running: later hourly runs wait behind it" in alert.body
    assert (
        "Not loaded for 2026-10 (4 of 5):" in alert.body
        and "contact KSD drift <drift@ksd.example>" in alert.body
    )
    # Ended (failed: its failure message went out) and the month complete: only a RESOLVED note.
    resolved = run_deadline_alert(herning, OCTOBER, (), RUN, timedelta(hours=12))
    assert resolved.kind is Kind.RESOLVED and "every extract for 2026-10 is loaded" in resolved.subject
    # Ended but the month is still incomplete: it still pages.
    failed = run_deadline_alert(herning, OCTOBER, missing, RUN, timedelta(hours=12))
    assert failed.kind is Kind.DEADLINE_MISSED and "(it ended failed)" in failed.body


def test_receiver_period_is_the_local_month_before() -> None:
    # 23:30 UTC on 31 October is 1 November in Copenhagen: files for October are being collected.
    assert receiver_period(datetime(2026, 10, 31, 23, 30, tzinfo=UTC), "Europe/Copenhagen") == OCTOBER
    assert receiver_period(datetime(2026, 10, 31, 22, 30, tzinfo=UTC), "Europe/Copenhagen") == Period(2026, 9)
