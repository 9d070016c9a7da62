"""The month's deliveries of one sender: one per kommune per LIS system, each with its final file name.

Names are a pure function of sender, kommune, LIS system and period, never of the clock, so a retry or a
re-run of the same month finds the files, triggers, receipts and ledger entries of the earlier attempt
under the same names and cannot produce a second delivery of one extract. A kommune with two LIS systems
gets two files whose names differ only in the last second of ``datoTid`` (the SF1630 name has no field for
the recipient system, and both files share the sender's ``OUT/``).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sf1630.protocol import DataFileName, Period
from sf1630.registry import Kommune, LisSystem, SenderSystem, delivery_label

#: The ``<Modtager>`` part of every SF1630 data file name.
RECIPIENT_KIND = "LIS"


@dataclass(frozen=True)
class Delivery:
    """One file of one sender to one LIS system of one kommune for one month."""

    sender: str
    kommune: Kommune
    lis: LisSystem
    period: Period
    file_name: str

    @property
    def label(self) -> str:
        """How the delivery is shown in the UI (mapped task label), in summaries and alerts."""
        return delivery_label(self.sender, self.kommune, self.lis, self.period)

    @property
    def transaction_id(self) -> uuid.UUID:
        """A stable TransactionId: every upload attempt of this file is the same transaction."""
        return uuid.uuid5(uuid.NAMESPACE_URL, f"sf1630:{self.sender}:{self.file_name}:{self.lis.sftp_user}")

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON for XCom, with the label for ``map_index_template``."""
        return {
            "sender": self.sender,
            "kommune": self.kommune.model_dump(mode="json"),
            "lis": self.lis.model_dump(mode="json"),
            "period": str(self.period),
            "file_name": self.file_name,
            "label": self.label,
        }

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> Delivery:
        """Inverse of :meth:`to_dict` (other keys are ignored)."""
        return cls(
            sender=str(raw["sender"]),
            kommune=Kommune.model_validate(raw["kommune"]),
            lis=LisSystem.model_validate(raw["lis"]),
            period=Period.parse(str(raw["period"])),
            file_name=str(raw["file_name"]),
        )


def file_name_for(sender: str, cvr: str, period: Period, lis_index: int) -> str:
    """The data file name; ``datoTid`` is midnight after the period plus one second per earlier LIS system."""
    created = period.next().first_day + timedelta(seconds=lis_index)
    return str(DataFileName(sender, RECIPIENT_KIND, cvr, period.code, created))


def _wanted(kommune: Kommune, keys: Sequence[str]) -> bool:
    return not keys or any(kommune.matches(key) for key in keys)


def _addressed(lis: LisSystem, recipients: set[str]) -> bool:
    return not recipients or bool(recipients & {lis.name.casefold(), lis.sftp_user.casefold()})


def plan_deliveries(
    sender: SenderSystem,
    kommuner: Iterable[Kommune],
    period: Period,
    *,
    kommune_filter: Sequence[str] = (),
    recipient_filter: Sequence[str] = (),
) -> list[Delivery]:
    """Every delivery of ``sender`` for ``period``, optionally narrowed to some kommuner and LIS systems.

    ``kommune_filter`` matches a kommunekode, a CVR or a kommune name (any case); ``recipient_filter``
    matches a LIS system name (``LIS01``) or its SFTP user. Empty filters mean everything.
    """
    keys = [key for key in kommune_filter if key.strip()]
    recipients = {r.strip().casefold() for r in recipient_filter if r.strip()}
    return [
        Delivery(sender.code, kommune, lis, period, file_name_for(sender.code, kommune.cvr, period, index))
        for kommune in kommuner
        if _wanted(kommune, keys)
        for index, lis in enumerate(kommune.lis_systems)
        if _addressed(lis, recipients)
    ]
