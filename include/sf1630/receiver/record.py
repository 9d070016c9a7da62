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

from sf1630.protocol import Period
from sf1630.receiver.inbox import InboxItem
from sf1630.warehouse import LoadEntry, Outcome, delivery_entry

#: XCom keys of records written by an earlier release → today's field (a run may span an upgrade).
_RENAMED = {"kommune": "cvr"}


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
    period: Period | None = None  # None until the claims hold; ``YYYY-MM`` on the wire ("" for None)
    spec: str = ""
    rows: int = 0
    checksum: str = ""
    received_at: str = ""
    summary: str = ""
    report: str = ""
    quarantine_folder: str = ""
    metadata_trusted: bool = True

    def to_xcom(self) -> dict[str, Any]:
        """The record as XCom (JSON): plain values, the period as ``YYYY-MM`` text."""
        period = "" if self.period is None else str(self.period)
        return {**asdict(self), "status": str(self.status), "period": period}

    @classmethod
    def from_xcom(cls, value: dict[str, Any]) -> ItemRecord:
        """The record back from XCom (also one written before the CVR's key became ``cvr``)."""
        fields = {_RENAMED.get(key, key): v for key, v in value.items()}
        period = fields.get("period") or ""
        fields["period"] = Period.parse(period) if period else None
        return cls(**{**fields, "status": Status(value["status"])})

    @property
    def item(self) -> InboxItem:
        return InboxItem(self.data_name, self.metadata_name, self.data_size)

    def claimed_period(self) -> Period:
        """The period the delivery's claims hold (every step after staging has one)."""
        if self.period is None:
            raise ValueError(f"{self.data_name}: its claims have not been checked, so its period is unknown")
        return self.period

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
        the record's own); only a record whose claims held has one."""
        return delivery_entry(
            self.file_transfer_uuid,
            self.data_name,
            self.sender,
            self.cvr,
            self.claimed_period(),
            rows=rows,
            checksum=checksum,
            outcome=outcome,
            received_at=datetime.fromisoformat(self.received_at),
            finished_at=finished_at,
            detail=detail,
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
