"""Reading the platform's technical receipt for a delivery and doing what the sender owes after it.

SUCCESS hands the file over to the platform: the sender records it in its ledger and deletes the receipt.
An error receipt leaves the transfer with the sender, whose duty it is to remove its data file from
``OUT/`` (the platform only removes what it accepted); the errors are recorded, the receipt deleted, and
the caller fails that one delivery with the codes and texts. The ledger is written before the receipt is
deleted, so a crash in between means the receipt is read again next time, not that the outcome is lost.

No receipt within ``receipt_timeout`` leaves the transfer with the sender too (SF1630): it withdraws its
trigger and data file from ``OUT/`` (:func:`withdraw_delivery`), unless the platform has taken them.
"""

from __future__ import annotations

from dataclasses import dataclass

from sf1630.protocol import MAX_DOCUMENT_BYTES, RECEIPT_SUFFIX, ReceiptError
from sf1630.sender.ledger import ACCEPTED, REJECTED, WITHDRAWN, Ledger
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


@dataclass(frozen=True)
class Withdrawal:
    """What the sender took back from ``OUT/`` after its receipt wait timed out, and what it left there.

    ``kept`` pairs a path with why it stayed: the platform holds it (locked while processing, or moved) or
    the server refused. ``withdrawn`` is true when the sender removed its trigger and no data file is left
    with the platform: then the transfer is over, and no receipt will come.
    """

    removed: tuple[str, ...]
    kept: tuple[tuple[str, str], ...]
    withdrawn: bool

    def describe(self) -> str:
        """``removed OUT/a, OUT/a.trigger`` or what was left in place and why, one line."""
        parts = [f"removed {', '.join(self.removed)}"] if self.removed else ["removed nothing"]
        parts += [f"left {path} ({why})" for path, why in self.kept]
        return "; ".join(parts)


_GONE = "no longer there: the platform has taken it"


def _take_back(sftp: RemoteFiles, path: str) -> str | None:
    """Remove ``path``; None when removed, else why it stays (gone already, or the server said no)."""
    try:
        sftp.remove(path)
    except FileNotFoundError:
        return _GONE
    except PermissionError:
        return "refused: the platform is processing it"
    except OSError as exc:  # a platform that moves or locks files may answer with a plain failure
        return f"refused: {exc}"
    return None


def withdraw_delivery(sftp: RemoteFiles, delivery: Delivery, ledger: Ledger) -> Withdrawal:
    """Take an unanswered delivery back from ``OUT/``: the trigger first, then the data file.

    The trigger goes first so the platform cannot start on the delivery while the sender removes its data
    file. The platform locks (the emulator) or moves (possibly the real platform) what it processes, so a
    removal that is refused or finds nothing means the platform has the transfer and its receipt will
    follow: then nothing more is removed, and nothing is recorded. Only a delivery whose trigger the sender
    removed itself is recorded as withdrawn.
    """
    trigger = trigger_path(delivery.file_name)
    why = _take_back(sftp, trigger)
    if why is not None:
        return Withdrawal((), ((trigger, why),), withdrawn=False)
    data = out_path(delivery.file_name)
    why = _take_back(sftp, data)
    if why not in (None, _GONE):
        return Withdrawal((trigger,), ((data, why),), withdrawn=False)
    removed = (data, trigger) if why is None else (trigger,)
    ledger.record(delivery, WITHDRAWN, "")
    return Withdrawal(removed, (), withdrawn=True)
