"""The journal keeps unfinished transfers across a restart and forgets nothing it was told."""

from __future__ import annotations

from pathlib import Path

from sf1630.platform.journal import CLEANED, DONE, Delivery, Journal, TransferRecord


def record(transfer_id: str = "t-1") -> TransferRecord:
    return TransferRecord(
        id=transfer_id,
        sender="KY_SFTPSIMPEL",
        trigger_name="a.csv.trigger",
        data_name="a.csv",
        receipt_name="a.csv.sftpreceipt",
        receipt_xml=b"<receipt/>",
        outcome="success",
        size=10,
        error_codes=[],
        deliveries=[Delivery("B", b"<m-b/>"), Delivery("A", b"<m-a/>")],
    )


def test_unfinished_transfers_survive_reopening(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "j.sqlite")
    journal.accept(record("t-1"))
    journal.accept(record("t-2"))
    journal.delivered("t-1", "A")
    journal.set_state("t-2", DONE)
    journal.close()
    reopened = Journal(tmp_path / "j.sqlite")
    [pending] = reopened.unfinished()
    assert pending.id == "t-1" and pending.data_name == "a.csv" and pending.receipt_xml == b"<receipt/>"
    assert [(d.recipient, d.metadata_xml, d.delivered) for d in pending.deliveries] == [
        ("A", b"<m-a/>", True),
        ("B", b"<m-b/>", False),
    ]
    reopened.set_state("t-1", CLEANED)
    assert reopened.unfinished()[0].state == CLEANED
    assert reopened.count() == 2 and reopened.count(DONE) == 1


def test_failure_replaces_the_plan(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "j.sqlite")
    journal.accept(record())
    journal.fail("t-1", b"<error/>", [500])
    [pending] = journal.unfinished()
    assert (pending.outcome, pending.receipt_xml, pending.error_codes, pending.deliveries) == (
        "failure",
        b"<error/>",
        [500],
        [],
    )


def test_warnings_are_remembered_per_file_version(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "j.sqlite")
    assert not journal.warned("U", "IN", "a.csv", 1)
    journal.record_warning("U", "IN", "a.csv", 1)
    assert journal.warned("U", "IN", "a.csv", 1)
    assert not journal.warned("U", "IN", "a.csv", 2)
    journal.forget_warning("U", "IN", "a.csv")
    assert not journal.warned("U", "IN", "a.csv", 1)
