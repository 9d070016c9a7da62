"""What a LIS system expects each month, how the missing extracts are described, and when it is too late."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from sf1630.database import Database
from sf1630.protocol import Period
from sf1630.receiver.completeness import (
    check_month,
    deadline_of,
    describe_missing,
    expected_extracts,
    missing_extracts,
)
from sf1630.receiver.config import Receiver
from sf1630.warehouse import LoadEntry, Outcome, record_outcome

OCTOBER = Period(2026, 10)
WHEN = datetime(2026, 11, 3, tzinfo=UTC)


def test_missing_lists_each_absent_sender_with_its_contact(herning: Receiver) -> None:
    assert expected_extracts(herning) == {(c, "65700000") for c in ("KY", "KSD", "DUBU", "AULA", "KP")}
    missing = missing_extracts(herning, {("KY", "65700000"), ("KSD", "65700000"), ("KY", "10100000")})
    assert [m.sender for m in missing] == ["DUBU", "AULA", "KP"]
    text = describe_missing(herning, OCTOBER, missing)
    assert "3 extract(s) for 2026-10 not loaded" in text
    assert "KP for Herning (CVR 65700000): contact KP drift <drift@kp.example>" in text
    assert "DUBU for Herning (CVR 65700000): contact DUBU support <support@dubu.example>" in text
    assert "Aula drift <drift@aula.example>" in text


def test_nothing_missing_says_so(herning: Receiver) -> None:
    loaded = expected_extracts(herning)
    assert missing_extracts(herning, loaded) == ()
    assert "all 5 extracts for 2026-10 are loaded" in describe_missing(herning, OCTOBER, ())


def test_deadline_is_the_deadline_day_of_the_next_month_in_local_time(herning: Receiver) -> None:
    deadline = deadline_of(herning, OCTOBER)
    assert deadline.isoformat() == "2026-11-10T06:00:00+01:00"
    assert deadline_of(herning, Period(2026, 12)).isoformat() == "2027-01-10T06:00:00+01:00"


def test_month_check_and_report_read_the_ledger(
    herning: Receiver, tmp_path: Path, warehouse: Database
) -> None:
    db = warehouse
    for sender, outcome in (("KY", Outcome.LOADED), ("KSD", Outcome.LOADED), ("DUBU", Outcome.QUARANTINED)):
        name = f"{sender}_LIS_65700000_M10_20261101060000.csv"
        entry = LoadEntry(
            f"u-{sender}", name, sender, "65700000", Period(2026, 10), 5, "0" * 64, outcome, WHEN, WHEN
        )
        record_outcome(db, entry)
    before = check_month(herning, OCTOBER, db, now=datetime(2026, 11, 10, 4, 59, tzinfo=UTC))
    after = check_month(herning, OCTOBER, db, now=datetime(2026, 11, 10, 5, 0, tzinfo=UTC))
    assert [m.sender for m in before.missing] == ["DUBU", "AULA", "KP"]  # quarantined is not loaded
    assert not before.complete and not before.overdue and after.overdue
    assert check_month(herning, OCTOBER, db, now=WHEN).text.startswith("HERNING_LIS01_SIMPEL (Herning): 3 ")
