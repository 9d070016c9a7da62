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
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
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
    supersedes: str = ""  # the accepted file a forced re-send replaces (``force`` param), else ""

    @property
    def label(self) -> str:
        """How the delivery is shown in the UI (mapped task label), in summaries and alerts."""
        return delivery_label(self.sender, self.kommune, self.lis, self.period)

    @property
    def transaction_id(self) -> uuid.UUID:
        """A stable TransactionId: every upload attempt of this file is the same transaction."""
        return uuid.uuid5(uuid.NAMESPACE_URL, f"sf1630:{self.sender}:{self.file_name}:{self.lis.key}")

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON for XCom, with the label for ``map_index_template``."""
        return {
            "sender": self.sender,
            "kommune": self.kommune.model_dump(mode="json"),
            "lis": self.lis.model_dump(mode="json"),
            "period": str(self.period),
            "file_name": self.file_name,
            "supersedes": self.supersedes,
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
            supersedes=str(raw.get("supersedes") or ""),
        )


def file_name_for(sender: str, cvr: str, period: Period, lis_index: int) -> str:
    """The data file name; ``datoTid`` is midnight after the period plus one second per earlier LIS system."""
    created = period.next().first_day + timedelta(seconds=lis_index)
    return str(DataFileName(sender, RECIPIENT_KIND, cvr, period.code, created))


def superseding(delivery: Delivery, current: str, created: datetime, lis_index: int) -> Delivery:
    """``delivery`` again under a new name that supersedes the accepted file ``current``.

    The new ``datoTid`` is ``created`` (the forcing run's own moment, so a retry of that run finds the same
    name) plus one second per earlier LIS system of the kommune, as in :func:`file_name_for`. It must lie
    after the ``datoTid`` of ``current``: receivers take the newest name of a month as the current file.
    """
    stamp = created.replace(microsecond=0, tzinfo=None) + timedelta(seconds=lis_index)
    before = DataFileName.parse(current).created
    if stamp <= before:
        raise ValueError(
            f"a re-send of {current} must be made after {before:%Y-%m-%d %H:%M:%S}, not at {stamp}"
        )
    name = str(
        DataFileName(delivery.sender, RECIPIENT_KIND, delivery.kommune.cvr, delivery.period.code, stamp)
    )
    return replace(delivery, file_name=name, supersedes=current)


def force_deliveries(
    deliveries: Sequence[Delivery], current: Mapping[tuple[str, Period], str], created: datetime
) -> list[Delivery]:
    """The ``force`` plan: each delivery whose (LIS SFTP user, period) has an accepted ``current`` file is
    sent again under a superseding name; the others go out as planned (their own name is not accepted yet).
    """
    forced = []
    for delivery in deliveries:
        accepted = current.get((delivery.lis.key, delivery.period))
        if accepted is None or accepted == delivery.supersedes:
            forced.append(delivery)
            continue
        index = next(i for i, lis in enumerate(delivery.kommune.lis_systems) if lis.key == delivery.lis.key)
        forced.append(superseding(delivery, accepted, created, index))
    return forced


def _wanted(kommune: Kommune, keys: Sequence[str]) -> bool:
    return not keys or any(kommune.matches(key) for key in keys)


def _addressed(lis: LisSystem, recipients: set[str]) -> bool:
    return not recipients or bool(recipients & {lis.name.casefold(), lis.key.casefold()})


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
