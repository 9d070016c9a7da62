"""What the receiver's steps hand on for one inbox item: the :class:`ItemRecord` (the tasks' XCom).

Each step may run in its own process on any worker, so what one step knows about an item travels as plain
values; :class:`Status` says where the item stands, :meth:`ItemRecord.ledger_entry` is its row in the
warehouse ledger, and the load step's two refusals, :class:`Quarantined`
and :class:`Held`, carry the record that says why.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from sf1630.receiver.inbox import InboxItem
from sf1630.warehouse import LoadEntry, Outcome


class Status(StrEnum):
    """Where one inbox item stands after a step."""

    STAGED = "staged"
    VALID = "valid"
    INVALID = "invalid"
    LOADED = "loaded"
    ALREADY_LOADED = "already-loaded"
    QUARANTINED = "quarantined"
    HELD = "held"


@dataclass(frozen=True)
class ItemRecord:
    """What the steps know about one inbox item; plain values only (it travels as XCom between tasks).

    ``label`` is the delivery's label in the UI (:func:`~sf1630.registry.delivery_label`); ``report`` is a
    URI in the receiver's store; ``rows`` and ``checksum`` (SHA-256 of the file) are what validation
    staged; ``metadata_trusted`` is false when the metadata could not be trusted (then nothing of it was
    used to build a path or a ledger row).
    """

    data_name: str
    metadata_name: str
    data_size: int
    label: str
    status: Status
    file_transfer_uuid: str = ""
    sender: str = ""
    cvr: str = ""
    period: str = ""
    spec: str = ""
    rows: int = 0
    checksum: str = ""
    received_at: str = ""
    summary: str = ""
    report: str = ""
    quarantine_folder: str = ""
    metadata_trusted: bool = True

    def to_xcom(self) -> dict[str, Any]:
        """The record as XCom (JSON)."""
        return {**asdict(self), "status": str(self.status)}

    @classmethod
    def from_xcom(cls, value: dict[str, Any]) -> ItemRecord:
        """The record back from XCom."""
        return cls(**{**value, "status": Status(value["status"])})

    @property
    def item(self) -> InboxItem:
        return InboxItem(self.data_name, self.metadata_name, self.data_size)

    def ledger_entry(
        self,
        rows: int,
        checksum: str,
        outcome: Outcome,
        finished_at: datetime,
        *,
        detail: str = "",
        report: str | None = None,
    ) -> LoadEntry:
        """The warehouse ledger's row for this delivery, loaded or quarantined (``report`` defaults to
        the record's own)."""
        return LoadEntry(
            file_transfer_uuid=self.file_transfer_uuid,
            file_name=self.data_name,
            sender=self.sender,
            cvr=self.cvr,
            period=self.period,
            rows=rows,
            checksum=checksum,
            outcome=outcome,
            received_at=datetime.fromisoformat(self.received_at),
            finished_at=finished_at,
            detail=detail[:2000],
            report=self.report if report is None else report,
        )


class Quarantined(Exception):
    """The delivery was refused and quarantined; ``record`` says why and whom to contact.

    The receiver's refusal, after the platform handed the file over; the sender's ``DeliveryRejected`` is the
    platform refusing a trigger, another event with another owner.
    """

    def __init__(self, record: ItemRecord) -> None:
        super().__init__(record.summary)
        self.record = record


class Held(Exception):
    """The delivery stays in IN/: its sender's data spec cannot be used (the receiver's configuration, not
    the sender's fault); ``record.summary`` names the sender, the spec and the problem."""

    def __init__(self, record: ItemRecord) -> None:
        super().__init__(record.summary)
        self.record = record
