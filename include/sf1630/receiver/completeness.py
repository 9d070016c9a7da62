"""Which extracts a LIS system expects for a month, which have been loaded, and whom to chase for the rest.

Every accepted sender delivers one file per kommune per LIS system each month, so the expectation is a plain
cross product; the loaded set comes from the warehouse ledger. Kept free of Airflow so that the monthly
check and the deadline alert's callback share one tested definition of "missing" and of "too late".
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from sf1630.database import Database
from sf1630.protocol import Period
from sf1630.receiver.config import Receiver
from sf1630.warehouse import loaded_extracts

#: The completeness check runs at this hour (local time) on the 1st; the deadline falls at the same hour.
CHECK_HOUR = 6


@dataclass(frozen=True)
class MissingExtract:
    """One sender's extract not (yet) loaded for the month, with whom to contact about it."""

    sender: str
    kommune: str
    cvr: str
    contact: str


@dataclass(frozen=True)
class MonthCheck:
    """The verdict on one month: what is missing, a readable text, and whether the deadline has passed."""

    missing: tuple[MissingExtract, ...]
    text: str
    overdue: bool

    @property
    def complete(self) -> bool:
        """Every expected extract is loaded."""
        return not self.missing


def expected_extracts(receiver: Receiver) -> set[tuple[str, str]]:
    """(sender code, kommune CVR) for every accepted sender: one file each per month."""
    return {(sender.code, receiver.kommune.cvr) for sender in receiver.accepted}


def missing_extracts(receiver: Receiver, loaded: Iterable[tuple[str, str]]) -> tuple[MissingExtract, ...]:
    """The expected extracts not in ``loaded``, in the configured sender order."""
    have = set(loaded)
    kommune = receiver.kommune
    return tuple(
        MissingExtract(sender.code, kommune.name, kommune.cvr, receiver.contact(sender.code))
        for sender in receiver.accepted
        if (sender.code, kommune.cvr) not in have
    )


def describe_missing(receiver: Receiver, period: Period, missing: Iterable[MissingExtract]) -> str:
    """A few lines for a log or an alert: what is missing for ``period`` and whom to contact."""
    items = list(missing)
    if not items:
        return f"{receiver.sftp_user}: all {len(receiver.accepted)} extracts for {period} are loaded"
    lines = [
        f"{receiver.sftp_user} ({receiver.kommune.name}): {len(items)} extract(s) for {period} not loaded:"
    ]
    lines += [f"  - {m.sender} for {m.kommune} (CVR {m.cvr}): contact {m.contact}" for m in items]
    return "\n".join(lines)


def deadline_of(receiver: Receiver, period: Period) -> datetime:
    """When ``period`` must be complete: ``deadline_day`` of the month after, at the check's hour, local."""
    after = period.next()
    zone = ZoneInfo(receiver.settings.timezone)
    return datetime(after.year, after.month, receiver.settings.deadline_day, CHECK_HOUR, tzinfo=zone)


def check_month(receiver: Receiver, period: Period, db: Database, *, now: datetime) -> MonthCheck:
    """The verdict on ``period`` from the ledger in ``db`` at ``now`` (timezone-aware)."""
    missing = missing_extracts(receiver, loaded_extracts(db, str(period)))
    text = describe_missing(receiver, period, missing)
    return MonthCheck(missing, text, overdue=bool(missing) and now >= deadline_of(receiver, period))


def missing_report(receiver: Receiver, period: Period, db: Database) -> str:
    """The Deadline Alert's text for ``receiver`` and ``period`` from the ledger in ``db``."""
    missing = missing_extracts(receiver, loaded_extracts(db, str(period)))
    return f"SF1630 deadline missed. {describe_missing(receiver, period, missing)}"
