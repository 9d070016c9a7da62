"""Reading the platform's technical receipt for a delivery and doing what the sender owes after it.

SUCCESS hands the file over to the platform: the sender records it in its ledger and deletes the receipt.
An error receipt leaves the transfer with the sender, whose duty it is to remove its data file from
``OUT/`` (the platform only removes what it accepted); the errors are recorded, the receipt deleted, and
the caller fails that one delivery with the codes and texts. The ledger is written before the receipt is
deleted, so a crash in between means the receipt is read again next time, not that the outcome is lost.
"""

from __future__ import annotations

from dataclasses import dataclass

from sf1630.protocol import MAX_DOCUMENT_BYTES, RECEIPT_SUFFIX, ReceiptError
from sf1630.sender.ledger import ACCEPTED, REJECTED, Ledger
from sf1630.sender.plan import Delivery
from sf1630.sender.upload import RemoteFiles, exists, in_path, out_path, trigger_path


@dataclass(frozen=True)
class ReceiptOutcome:
    """What a receipt said and what the sender did about it."""

    file_name: str
    accepted: bool
    transfer_uuid: str
    errors: tuple[ReceiptError, ...] = ()
    removed: tuple[str, ...] = ()


class DeliveryRejected(Exception):
    """The platform's receipt refused a delivery; the message carries every error code and text.

    (Not the receiver's quarantine: this is Serviceplatformen saying no, before any LIS saw the file.)
    """

    def __init__(self, delivery: Delivery, outcome: ReceiptOutcome) -> None:
        self.delivery, self.outcome = delivery, outcome
        super().__init__(
            f"{delivery.label}: {delivery.file_name} rejected: {describe_errors(outcome.errors)}"
        )


def describe_errors(errors: tuple[ReceiptError, ...]) -> str:
    """``"code 3 (NO_ROUTE): no route for ...; code 7 (...): ..."``, one readable line."""
    return "; ".join(f"code {e.code} ({e.code_description}): {e.description}" for e in errors) or "no errors"


def receipt_path(delivery: Delivery) -> str:
    """``IN/<data file name>.sftpreceipt``."""
    return in_path(delivery.file_name + RECEIPT_SUFFIX)


def _remove_if_present(sftp: RemoteFiles, path: str) -> bool:
    try:
        sftp.remove(path)
    except FileNotFoundError:
        return False
    return True


def settle_receipt(sftp: RemoteFiles, delivery: Delivery, ledger: Ledger) -> ReceiptOutcome:
    """Read the receipt of ``delivery``, act on it, record it, delete it.

    Raises :class:`sf1630.protocol.ProtocolError` (receipt left in place for inspection) when the receipt
    cannot be read, and FileNotFoundError when there is none.
    """
    from sf1630.protocol import read_receipt  # lxml: not at DAG parse time

    path = receipt_path(delivery)
    with sftp.open(path, "rb") as handle:
        data = handle.read(MAX_DOCUMENT_BYTES + 1)
    receipt = read_receipt(data)
    if receipt.ok:
        ledger.record(delivery, ACCEPTED, receipt.file_transfer_uuid)
        sftp.remove(path)
        return ReceiptOutcome(delivery.file_name, True, receipt.file_transfer_uuid)
    removed = tuple(
        name
        for name in (out_path(delivery.file_name), trigger_path(delivery.file_name))
        if _remove_if_present(sftp, name)
    )
    ledger.record(delivery, REJECTED, receipt.file_transfer_uuid, receipt.errors)
    sftp.remove(path)
    return ReceiptOutcome(delivery.file_name, False, receipt.file_transfer_uuid, receipt.errors, removed)


def receipt_waiting(sftp: RemoteFiles, delivery: Delivery) -> bool:
    """Whether the receipt of ``delivery`` is in ``IN/``."""
    return exists(sftp, receipt_path(delivery))
