"""The month's deliveries of one sender: one per kommune per LIS system, each with its final file name.

Names are a pure function of sender, kommune, LIS system and period, never of the clock, so a retry or a
re-run of the same month finds the files, triggers, receipts and ledger entries of the earlier attempt
under the same names and cannot produce a second delivery of one extract. A kommune with two LIS systems
gets two files whose names differ only in the last second of ``datoTid`` (the SF1630 name has no field for
the recipient system, and both files share the sender's ``OUT/``).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta

from sf1630.protocol import DataFileName
from sf1630.sender.config import Kommune, SenderSystem

#: The ``<Modtager>`` part of every SF1630 data file name.
RECIPIENT_KIND = "LIS"
_PERIOD_TEXT = re.compile(r"([0-9]{4})-(0[1-9]|1[0-2])")


@dataclass(frozen=True, order=True)
class Period:
    """A calendar month, the unit of an SF1630 extract."""

    year: int
    month: int

    def __post_init__(self) -> None:
        if not 1 <= self.month <= 12 or not 1900 <= self.year <= 9999:
            raise ValueError(f"{self.year}-{self.month} is not a month")

    @classmethod
    def parse(cls, text: str) -> Period:
        """``"2026-10"`` → October 2026."""
        match = _PERIOD_TEXT.fullmatch(text.strip())
        if match is None:
            raise ValueError(f"period {text!r} must be YYYY-MM")
        return cls(int(match[1]), int(match[2]))

    @classmethod
    def of(cls, moment: datetime) -> Period:
        """The month ``moment`` falls in (in ``moment``'s own timezone)."""
        return cls(moment.year, moment.month)

    def previous(self) -> Period:
        """The month before."""
        return Period(self.year - 1, 12) if self.month == 1 else Period(self.year, self.month - 1)

    def next(self) -> Period:
        """The month after."""
        return Period(self.year + 1, 1) if self.month == 12 else Period(self.year, self.month + 1)

    @property
    def code(self) -> str:
        """The ``udtræksperiode`` in file names, ``M01`` … ``M12``."""
        return f"M{self.month:02d}"

    @property
    def first_day(self) -> datetime:
        """Midnight at the start of the month (naive: the local calendar)."""
        return datetime(self.year, self.month, 1)

    def __str__(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"


@dataclass(frozen=True)
class Delivery:
    """One file of one sender to one LIS system of one kommune for one month."""

    sender: str
    kommune_name: str
    kommune_kode: str
    cvr: str
    lis_name: str
    lis_sftp_user: str
    lis_it_system: str
    period: str
    file_name: str

    @property
    def label(self) -> str:
        """How the delivery is shown in the UI (mapped task label) and in summaries."""
        return f"{self.kommune_kode} {self.kommune_name} → {self.lis_name}"

    @property
    def transaction_id(self) -> uuid.UUID:
        """A stable TransactionId: every upload attempt of this file is the same transaction."""
        return uuid.uuid5(uuid.NAMESPACE_URL, f"sf1630:{self.sender}:{self.file_name}:{self.lis_sftp_user}")

    def to_dict(self) -> dict[str, str]:
        """Plain JSON for XCom, with the label for ``map_index_template``."""
        return {**asdict(self), "label": self.label}

    @classmethod
    def from_dict(cls, raw: Mapping[str, object]) -> Delivery:
        """Inverse of :meth:`to_dict`."""
        return cls(**{key: str(raw[key]) for key in cls.__dataclass_fields__})


def file_name_for(sender: str, cvr: str, period: Period, lis_index: int) -> str:
    """The data file name; ``datoTid`` is midnight after the period plus one second per earlier LIS system."""
    created = period.next().first_day + timedelta(seconds=lis_index)
    return str(DataFileName(sender, RECIPIENT_KIND, cvr, period.code, created))


def _matches(kommune: Kommune, wanted: Sequence[str]) -> bool:
    keys = {kommune.kode, kommune.name.casefold(), kommune.cvr}
    return not wanted or any(w.strip().casefold() in keys or w.strip() in keys for w in wanted)


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
    recipients = {r.strip().casefold() for r in recipient_filter if r.strip()}
    deliveries = []
    for kommune in kommuner:
        if not _matches(kommune, [k for k in kommune_filter if k.strip()]):
            continue
        for index, lis in enumerate(kommune.lis_systems):
            if recipients and not recipients & {lis.name.casefold(), lis.sftp_user.casefold()}:
                continue
            deliveries.append(
                Delivery(
                    sender=sender.code,
                    kommune_name=kommune.name,
                    kommune_kode=kommune.kode,
                    cvr=kommune.cvr,
                    lis_name=lis.name,
                    lis_sftp_user=lis.sftp_user,
                    lis_it_system=str(lis.it_system),
                    period=str(period),
                    file_name=file_name_for(sender.code, kommune.cvr, period, index),
                )
            )
    return deliveries


def period_of_run(logical_date: datetime | None, run_after: datetime, override: str | None = None) -> Period:
    """The month a run delivers: the ``period`` param if given, else the logical date's month.

    With the monthly data-interval schedule the logical date is the start of the month being delivered
    (the run itself starts when the month is over). A run without a logical date (a manual run in
    Airflow 3 may have none) delivers the last complete month before it started.
    """
    if override:
        return Period.parse(override)
    if logical_date is not None:
        return Period.of(logical_date)
    return Period.of(run_after).previous()
