"""Which extracts a LIS system expects for a month, which have been loaded, and whom to chase for the rest.

Every accepted sender delivers one file per kommune per LIS system each month, so the expectation is a plain
cross product; the loaded set comes from the warehouse ledger. Kept free of Airflow so that the monthly
check and the deadline alert's callback share one tested definition of "missing".
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sf1630.protocol import DataFileName
from sf1630.receiver.config import LisSystem


@dataclass(frozen=True)
class MissingExtract:
    sender: str
    kommune: str
    cvr: str
    contact: str


def period_of(moment: datetime) -> str:
    """The ``YYYY-MM`` period of a moment (the run's data_interval_start)."""
    return f"{moment.year:04d}-{moment.month:02d}"


def period_of_file(name: DataFileName) -> str:
    """``YYYY-MM`` for a data file: the month from ``M<mm>``, the year from datoTid (December in January)."""
    month = int(name.period[1:])
    year = name.created.year if month <= name.created.month else name.created.year - 1
    return f"{year:04d}-{month:02d}"


def expected_extracts(system: LisSystem) -> set[tuple[str, str]]:
    """(sender code, kommune CVR) for every accepted sender: one file each per month."""
    return {(sender.code, system.cvr) for sender in system.senders}


def missing_extracts(system: LisSystem, loaded: Iterable[tuple[str, str]]) -> tuple[MissingExtract, ...]:
    """The expected extracts not in ``loaded``, in the configured sender order."""
    have = set(loaded)
    return tuple(
        MissingExtract(sender.code, system.kommune, system.cvr, sender.contact)
        for sender in system.senders
        if (sender.code, system.cvr) not in have
    )


def describe_missing(system: LisSystem, period: str, missing: Iterable[MissingExtract]) -> str:
    """A few lines for a log or an alert: what is missing for ``period`` and whom to contact."""
    items = list(missing)
    if not items:
        return f"{system.sftp_user}: all {len(system.senders)} extracts for {period} are loaded"
    lines = [f"{system.sftp_user} ({system.kommune}): {len(items)} extract(s) for {period} not loaded:"]
    lines += [f"  - {m.sender} for {m.kommune} (CVR {m.cvr}): contact {m.contact}" for m in items]
    return "\n".join(lines)
