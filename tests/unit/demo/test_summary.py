"""The closing table reads the ledgers, the audit log and the quarantine; progress lines stay short."""

from __future__ import annotations

import contextlib
import io
import json
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sf1630.database import Database
from sf1630.demo.environment import warehouse_schema
from sf1630.demo.layout import DemoHome
from sf1630.demo.progress import Progress
from sf1630.demo.seed import SeedInfo, seed
from sf1630.demo.summary import collect, render
from sf1630.protocol import Period, ReceiptError
from sf1630.registry import load_registry
from sf1630.sender.ledger import ACCEPTED, REJECTED, WITHDRAWN, Ledger
from sf1630.sender.plan import plan_deliveries
from sf1630.warehouse import LoadEntry, Outcome, record_outcome

from tests.support.postgres import fresh_database


def _fake_month(home: DemoHome, info: SeedInfo, dsn: str) -> None:
    """What a run leaves behind: receipts in the sender ledger, transfers, loads and one quarantine."""
    ledger = Ledger(Database.sqlite(home.sender_ledger))
    audit = []
    now = datetime(2026, 11, 1, tzinfo=UTC)
    registry = load_registry(home.config_dir)
    for code in info.senders:
        sender = registry.sender(code)
        for d in plan_deliveries(sender, registry.kommuner, Period.parse(info.month)):
            ledger.record(d, ACCEPTED, f"uuid-{d.file_name}")
            audit.append(json.dumps({"event": "transfer", "sender": sender.sftp_user, "outcome": "SUCCESS"}))
            bad = d.file_name in info.invalid_files
            outcome = Outcome.QUARANTINED if bad else Outcome.LOADED
            warehouse = Database.postgres(dsn, schema=warehouse_schema(d.lis.sftp_user))
            record_outcome(
                warehouse,
                LoadEntry(
                    f"uuid-{d.file_name}",
                    d.file_name,
                    code,
                    d.kommune.cvr,
                    d.period,
                    0 if bad else 12,
                    "c",
                    outcome,
                    now,
                    now,
                ),
            )
            if bad:
                folder = home.quarantine / d.lis.sftp_user / d.file_name
                folder.mkdir(parents=True)
                reason = {
                    "data_file": d.file_name,
                    "reason": "invalid extract",
                    "detail": "INVALID: 12 rows\n  FAIL expect_column_values_to_match_regex [person_noegle]"
                    "\nmore",
                }
                (folder / "reason.json").write_text(json.dumps(reason))
    home.platform_home.mkdir(exist_ok=True)
    (home.platform_home / "audit.log").write_text("\n".join(audit) + "\n")


@pytest.fixture
def warehouse_dsn() -> Iterator[str]:
    """A database of its own: the demo's warehouse names its schemas after the LIS systems."""
    with fresh_database("sf1630_demo") as dsn:
        yield dsn


@pytest.fixture
def finished(tmp_path: Path, warehouse_dsn: str) -> DemoHome:
    home = DemoHome.at(tmp_path / "demo")
    _fake_month(home, seed(home, kommune_count=2, rows=5), warehouse_dsn)
    return home


def test_summary_counts_every_sender(finished: DemoHome, warehouse_dsn: str) -> None:
    summary = collect(finished, warehouse_dsn)
    by_code = {line.code: line for line in summary.senders}
    assert set(by_code) == {"KY", "KSD", "DUBU", "AULA", "KP"}
    assert [(s.planned, s.transfers, s.receipts_ok, s.loaded_files) for s in by_code.values()] == [
        (2, 2, 2, 2),
        (2, 2, 2, 1),
        (2, 2, 2, 2),
        (2, 2, 2, 2),
        (2, 2, 2, 2),
    ]
    assert {code: line.routing for code, line in by_code.items()} == {
        "KY": "simple",
        "KSD": "simple",
        "DUBU": "simple",
        "AULA": "dynamic",
        "KP": "dynamic",
    }
    assert by_code["KSD"].quarantined == 1 and by_code["KY"].loaded_rows == 24
    assert summary.complete
    assert [q.reason for q in summary.quarantined] == ["invalid extract"]
    total = summary.totals()
    assert (total.planned, total.loaded_files, total.quarantined) == (10, 9, 1)


def test_rendered_table_names_the_places(finished: DemoHome, warehouse_dsn: str) -> None:
    text = render(collect(finished, warehouse_dsn), finished, wall_seconds=75)
    assert "KSD_LIS_10100000_M10_20261101000000.csv: invalid extract: INVALID: 12 rows" in text
    assert "    FAIL expect_column_values_to_match_regex [person_noegle]" in text and "more" not in text
    assert str(finished.postgres) in text and str(finished.quarantine) in text and str(finished.logs) in text
    assert "every delivery loaded except the deliberately invalid one in 1.2 min (75 s)" in text
    header = next(line for line in text.splitlines() if line.startswith("sender"))
    assert "receipts ok" in header and "rows loaded" in header and "quarantined" in header
    assert "pattern" in header
    kp = next(line for line in text.splitlines() if line.startswith("KP "))
    assert "dynamic" in kp and "lis_kp_pensionssager" in kp


def test_withdrawn_deliveries_are_not_counted_as_receipt_errors(
    finished: DemoHome, warehouse_dsn: str
) -> None:
    """A withdrawn delivery had no receipt at all: its own column, not "receipts err"."""
    registry = load_registry(finished.config_dir)
    first, second = plan_deliveries(
        registry.sender("KY"), registry.kommuner, Period.parse(SeedInfo.load(finished.seed_info).month)
    )[:2]
    ledger = Ledger(Database.sqlite(finished.sender_ledger))
    ledger.record(first, WITHDRAWN, "")
    ledger.record(second, REJECTED, "t", [ReceiptError(401, "No route", "none")])
    ky = next(line for line in collect(finished, warehouse_dsn).senders if line.code == "KY")
    assert (ky.receipts_ok, ky.receipts_error, ky.withdrawn) == (0, 1, 1)
    header = next(
        line
        for line in render(collect(finished, warehouse_dsn), finished).splitlines()
        if line.startswith("sender")
    )
    assert "receipts err  withdrawn" in header


def test_missing_loads_make_the_summary_incomplete(tmp_path: Path, warehouse_dsn: str) -> None:
    home = DemoHome.at(tmp_path / "demo")
    seed(home, kommune_count=1, rows=3)
    summary = collect(home, warehouse_dsn)
    assert not summary.complete
    assert "INCOMPLETE" in render(summary, home)
    with contextlib.closing(sqlite3.connect(home.source_db)) as con:
        assert con.execute("SELECT count(*) FROM aula_fravaer").fetchone() == (3,)


def test_progress_prints_changes_only_when_not_a_terminal() -> None:
    out = io.StringIO()
    stage = Progress(out, every=0).stage("senders")
    stage.update("1/4")
    stage.update("1/4")
    stage.update("2/4")
    stage.done("4/4 done")
    lines = out.getvalue().splitlines()
    assert [line.split("] ", 1)[1] for line in lines] == [
        "senders    1/4",
        "senders    2/4",
        "senders    4/4 done",
    ]
    quiet = io.StringIO()
    slow = Progress(quiet, every=3600).stage("receivers")
    slow.update("1/122")
    slow.update("2/122")
    slow.done("122/122")
    assert len(quiet.getvalue().splitlines()) == 2
