"""Acting on receipts: success recorded and receipt deleted; errors remove the sender's data file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sf1630.database import Database
from sf1630.protocol import Period, ProtocolError, ReceiptError, TechnicalReceipt, to_xml
from sf1630.registry import Kommune, SenderSystem
from sf1630.sender.ledger import ACCEPTED, REJECTED, WITHDRAWN, Ledger
from sf1630.sender.plan import Delivery, plan_deliveries
from sf1630.sender.receipt import (
    DeliveryRejected,
    describe_errors,
    receipt_waiting,
    settle_receipt,
    withdraw_delivery,
)

from tests.unit.sender.conftest import FolderFiles


@pytest.fixture
def ledger(tmp_path: Path) -> Ledger:
    return Ledger(Database.sqlite(tmp_path / "ledger.sqlite"))


@pytest.fixture
def delivery(ky: SenderSystem, kommuner: tuple[Kommune, ...]) -> Delivery:
    return plan_deliveries(ky, kommuner, Period(2026, 10))[0]


def _put(folder: Any, where: str, name: str, data: bytes) -> Path:
    path = folder.root / where / name
    path.write_bytes(data)
    return path


def test_success_is_recorded_and_receipt_deleted(folder: Any, ledger: Ledger, delivery: Delivery) -> None:
    receipt = _put(
        folder, "IN", delivery.file_name + ".sftpreceipt", to_xml(TechnicalReceipt.success("tr-1"))
    )
    assert receipt_waiting(folder, delivery)
    outcome = settle_receipt(folder, delivery, ledger)
    assert outcome.accepted and outcome.transfer_uuid == "tr-1"
    assert not receipt.exists()
    entry = ledger.entries("KY", [delivery.file_name])[delivery.file_name]
    assert (entry.status, entry.transfer_uuid, entry.errors) == (ACCEPTED, "tr-1", ())
    assert ledger.accepted("KY", [delivery.file_name, "other.csv"]) == {delivery.file_name}


def test_error_removes_data_file_and_records_reasons(folder: Any, ledger: Ledger, delivery: Delivery) -> None:
    data = _put(folder, "OUT", delivery.file_name, b"a;b\r\n")
    errors = (
        ReceiptError(401, "No route", "no route for KY to 10100000"),
        ReceiptError(302, "Size", "size differs"),
    )
    receipt = _put(
        folder, "IN", delivery.file_name + ".sftpreceipt", to_xml(TechnicalReceipt.failure("tr-2", errors))
    )
    outcome = settle_receipt(folder, delivery, ledger)
    assert not outcome.accepted
    assert outcome.errors == errors
    assert outcome.removed == (f"OUT/{delivery.file_name}",)
    assert not data.exists() and not receipt.exists()
    entry = ledger.entries("KY", [delivery.file_name])[delivery.file_name]
    assert entry.status == REJECTED and entry.errors == errors
    message = str(DeliveryRejected(delivery, outcome))
    assert "code 401 (No route): no route for KY to 10100000" in message
    assert "code 302 (Size): size differs" in message
    assert describe_errors(()) == "no errors"


def test_later_acceptance_replaces_rejection(folder: Any, ledger: Ledger, delivery: Delivery) -> None:
    failure = TechnicalReceipt.failure("tr-3", [ReceiptError(401, "No route", "x")])
    _put(folder, "IN", delivery.file_name + ".sftpreceipt", to_xml(failure))
    settle_receipt(folder, delivery, ledger)
    assert ledger.accepted("KY", [delivery.file_name]) == set()
    _put(folder, "IN", delivery.file_name + ".sftpreceipt", to_xml(TechnicalReceipt.success("tr-4")))
    settle_receipt(folder, delivery, ledger)
    assert ledger.accepted("KY", [delivery.file_name]) == {delivery.file_name}


def test_unreadable_receipt_is_left_for_inspection(folder: Any, ledger: Ledger, delivery: Delivery) -> None:
    receipt = _put(
        folder, "IN", delivery.file_name + ".sftpreceipt", b"<!DOCTYPE x [<!ENTITY a 'b'>]><x>&a;</x>"
    )
    with pytest.raises(ProtocolError):
        settle_receipt(folder, delivery, ledger)
    assert receipt.exists()
    assert ledger.entries("KY", [delivery.file_name]) == {}


def test_missing_receipt(folder: Any, ledger: Ledger, delivery: Delivery) -> None:
    assert not receipt_waiting(folder, delivery)
    with pytest.raises(FileNotFoundError):
        settle_receipt(folder, delivery, ledger)


def test_overdue_delivery_is_withdrawn_trigger_first(folder: Any, ledger: Ledger, delivery: Delivery) -> None:
    """No receipt in time: the sender takes its trigger and data file back from OUT/ and records it."""
    data = _put(folder, "OUT", delivery.file_name, b"a;b\r\n")
    trigger = _put(folder, "OUT", delivery.file_name + ".trigger", b"<trigger/>")
    other = _put(folder, "OUT", "KY_LIS_85100000_M10_20261101000000.csv", b"another delivery")
    withdrawal = withdraw_delivery(folder, delivery, ledger)
    assert withdrawal.withdrawn and withdrawal.kept == ()
    assert withdrawal.removed == (f"OUT/{delivery.file_name}", f"OUT/{delivery.file_name}.trigger")
    assert withdrawal.describe() == f"removed OUT/{delivery.file_name}, OUT/{delivery.file_name}.trigger"
    assert not data.exists() and not trigger.exists() and other.exists()
    entry = ledger.entries("KY", [delivery.file_name])[delivery.file_name]
    assert (entry.status, entry.transfer_uuid, entry.errors) == (WITHDRAWN, "", ())
    assert ledger.accepted("KY", [delivery.file_name]) == set()  # a re-run sends it again


class PlatformHolds(FolderFiles):
    """OUT/ of a platform that has taken ``held``: removing it is refused, as the emulator does while it
    processes a transfer (the real server is exercised in tests/integration/sender/test_sender_dag.py)."""

    def __init__(self, root: Path, held: str) -> None:
        super().__init__(root)
        self.held = held

    def remove(self, path: str) -> None:
        if path == self.held:
            raise PermissionError(13, f"{path} belongs to a transfer in progress")
        super().remove(path)


@pytest.mark.parametrize("held", ["trigger", "data"])
def test_what_the_platform_has_taken_is_never_removed(
    tmp_path: Path, ledger: Ledger, delivery: Delivery, held: str
) -> None:
    name = f"OUT/{delivery.file_name}"
    files = PlatformHolds(tmp_path / "home", name + ".trigger" if held == "trigger" else name)
    data = _put(files, "OUT", delivery.file_name, b"a;b\r\n")
    trigger = _put(files, "OUT", delivery.file_name + ".trigger", b"<trigger/>")
    withdrawal = withdraw_delivery(files, delivery, ledger)
    assert not withdrawal.withdrawn
    assert data.exists(), "the platform's data file stays"
    assert trigger.exists() == (held == "trigger")  # a trigger removed before the data was held stays removed
    assert "refused: the platform is processing it" in withdrawal.describe()
    assert ledger.entries("KY", [delivery.file_name]) == {}  # its receipt will follow


def test_a_trigger_already_gone_means_the_platform_has_it(
    folder: Any, ledger: Ledger, delivery: Delivery
) -> None:
    data = _put(folder, "OUT", delivery.file_name, b"a;b\r\n")
    withdrawal = withdraw_delivery(folder, delivery, ledger)
    assert not withdrawal.withdrawn and withdrawal.removed == () and data.exists()
    assert withdrawal.describe().startswith("removed nothing; left OUT/")
