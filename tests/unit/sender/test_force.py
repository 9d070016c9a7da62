"""``force``: an accepted delivery goes out again under a newer name that supersedes the earlier one."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sf1630.database import Database
from sf1630.protocol import DataFileName, Period
from sf1630.registry import Kommune, SenderSystem
from sf1630.sender.ledger import ACCEPTED, REJECTED, Ledger
from sf1630.sender.plan import Delivery, force_deliveries, plan_deliveries, superseding

FORCED_AT = datetime(2026, 12, 1, 9, 30, 0)
OCTOBER = Period(2026, 10)


def test_a_forced_delivery_gets_a_newer_name_that_supersedes(
    ky: SenderSystem, kommuner: tuple[Kommune, ...]
) -> None:
    first, second, third, _ = plan_deliveries(ky, kommuner, Period(2026, 10))
    current = {
        (first.lis.sftp_user, OCTOBER): first.file_name,
        (third.lis.sftp_user, OCTOBER): third.file_name,
    }
    forced = force_deliveries([first, second, third], current, FORCED_AT)
    assert forced[1] == second  # never accepted: sent as planned, under its own name
    assert forced[0].file_name == "KY_LIS_10100000_M10_20261201093000.csv"
    assert forced[0].supersedes == first.file_name
    # Brøndby's second LIS system keeps its one-second offset, so the two new names differ.
    assert forced[2].file_name == "KY_LIS_15300000_M10_20261201093001.csv"
    assert DataFileName.parse(forced[0].file_name).created > DataFileName.parse(first.file_name).created
    assert Delivery.from_dict(forced[0].to_dict()) == forced[0]


def test_the_same_forcing_moment_gives_the_same_name(ky: SenderSystem, kommuner: tuple[Kommune, ...]) -> None:
    first = plan_deliveries(ky, kommuner, Period(2026, 10))[0]
    current = {(first.lis.sftp_user, OCTOBER): first.file_name}
    assert force_deliveries([first], current, FORCED_AT) == force_deliveries([first], current, FORCED_AT)


def test_a_resend_cannot_be_older_than_what_it_replaces(
    ky: SenderSystem, kommuner: tuple[Kommune, ...]
) -> None:
    first = plan_deliveries(ky, kommuner, Period(2026, 10))[0]
    with pytest.raises(ValueError, match="must be made after"):
        superseding(first, first.file_name, datetime(2026, 10, 15), 0)


def test_the_ledger_records_what_a_resend_supersedes(
    tmp_path: Path, ky: SenderSystem, kommuner: tuple[Kommune, ...]
) -> None:
    ledger = Ledger(Database.sqlite(tmp_path / "l.sqlite"))
    first, second, *_ = plan_deliveries(ky, kommuner, Period(2026, 10))
    ledger.record(first, ACCEPTED, "t1")
    ledger.record(second, REJECTED, "t2")
    assert ledger.current_accepted("KY", OCTOBER) == {(first.lis.sftp_user, OCTOBER): first.file_name}
    [again] = force_deliveries([first], ledger.current_accepted("KY", OCTOBER), FORCED_AT)
    ledger.record(again, ACCEPTED, "t3")
    assert ledger.entries("KY", [again.file_name])[again.file_name].supersedes == first.file_name
    assert ledger.current_accepted("KY", OCTOBER) == {(first.lis.sftp_user, OCTOBER): again.file_name}
    assert ledger.current_accepted("KY", OCTOBER.previous()) == {}


def test_an_older_ledger_gets_the_supersedes_column(
    tmp_path: Path, ky: SenderSystem, kommuner: tuple[Kommune, ...]
) -> None:
    path = tmp_path / "old.sqlite"
    with sqlite3.connect(path) as conn:
        conn.execute(
            "CREATE TABLE sf1630_sender_ledger (sender TEXT NOT NULL, file_name TEXT NOT NULL, recipient TEXT"
            " NOT NULL, kommune_kode TEXT NOT NULL, period TEXT NOT NULL, status TEXT NOT NULL, transfer_uuid"
            " TEXT NOT NULL, errors TEXT NOT NULL, recorded_at TEXT NOT NULL,"
            " PRIMARY KEY (sender, file_name))"
        )
        first = plan_deliveries(ky, kommuner, Period(2026, 10))[0]
        conn.execute(
            "INSERT INTO sf1630_sender_ledger VALUES ('KY', ?, ?, '101', '2026-10', 'accepted', 't0', '[]',"
            " '2026-11-01T00:00:00+00:00')",
            (first.file_name, first.lis.sftp_user),
        )
    ledger = Ledger(Database.sqlite(path))
    assert ledger.entries("KY", [first.file_name])[first.file_name].supersedes == ""
    [again] = force_deliveries([first], ledger.current_accepted("KY", OCTOBER), FORCED_AT)
    ledger.record(again, ACCEPTED, "t1", at=datetime(2026, 12, 1, tzinfo=UTC))
    assert ledger.entries("KY", [again.file_name])[again.file_name].supersedes == first.file_name
