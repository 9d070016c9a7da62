"""Which kommune and month a delivery is about: from its file name, else from its data.

SF1630's data file name carries both (``<Afsender>_<Modtager>_<myndighedsID>_<periode>_<datoTid>.csv``),
but the integration description's own examples (``KY_LIS-DATA_201901.csv``) do not follow it, and a
delivery is not refused for its name alone. When the name does not follow the pattern, the sender is the
one whose SFTP user the metadata names, and the first data row's kommune and period columns (each data
spec names them: ``kommune_column``, ``period_column``) say the rest. One row decides nothing on its own:
validation then checks that every row carries that kommune and month (the receiver's
rows-belong-to-delivery check), exactly as it checks the rows against a name. Only a file where neither
the name nor the data give them is quarantined, with :data:`UNCLAIMED` as its reason.

:func:`check_claims` is the one place the fetch step (:mod:`sf1630.receiver.delivery`) checks what a
delivery's metadata claims about itself (file name, sender, kommune) against the listing and the
configuration before it is trusted; a claim that does not hold is a :class:`Refusal`, which the quarantine
(:mod:`sf1630.receiver.quarantine`) keeps with the sender's contact.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from sf1630.protocol import (
    METADATA_SUFFIX,
    DataFileName,
    FileMetadata,
    InvalidFileName,
    Period,
    ProtocolError,
    check_safe_name,
)
from sf1630.receiver.config import AcceptedSender, Receiver
from sf1630.receiver.inbox import InboxItem
from sf1630.receiver.intake import SPEC_ERRORS
from sf1630.receiver.record import ItemRecord, Status

if TYPE_CHECKING:
    from paramiko import SFTPClient

    from sf1630.dataspec import DataSpec

#: How much of the data file is read to find its first row (the header and one row fit many times over).
HEAD_BYTES = 64 * 1024
#: The quarantine reason when neither the name nor the data say which kommune and month a file is about.
UNCLAIMED = "kommune and period unknown"
FROM_NAME, FROM_DATA = "file name", "data"

_CVR = re.compile(r"[0-9]{8}")


@dataclass(frozen=True)
class Claimed:
    """What a delivery says it is about; ``authority`` and ``month`` read as on :class:`DataFileName`."""

    authority: str  # the kommune's CVR
    month: Period
    source: str  # FROM_NAME or FROM_DATA
    sender: str | None = None  # the sender code, when the file name gives it


class Unclaimed(Exception):
    """Neither the file name nor the data say which kommune and month the delivery is about."""


def from_name(name: str) -> Claimed | None:
    """Kommune, month and sender from a name following the SF1630 pattern; None when it does not."""
    try:
        parsed = DataFileName.parse(name)
    except InvalidFileName:
        return None
    return Claimed(parsed.authority, parsed.month, FROM_NAME, parsed.sender)


def from_data(head: bytes, spec: DataSpec, file_name: str) -> Claimed:
    """Kommune and month from the first data row of ``head`` (the file's first bytes); :class:`Unclaimed`.

    ``file_name`` is only quoted in the reason, so that it says both why the name did not serve and why
    the data did not either.
    """
    why_name = f"{file_name!r} does not follow <Afsender>_<Modtager>_<myndighedsID>_<periode>_<datoTid>.csv"
    try:
        header, row = _first_row(head, spec)
    except ValueError as exc:
        raise Unclaimed(f"{why_name}, and its data give no kommune and period: {exc}") from None
    values = dict(zip(header, row, strict=False))
    problems = []
    cvr = values.get(spec.kommune_column, "").strip()
    if not _CVR.fullmatch(cvr):
        problems.append(f"column {spec.kommune_column!r} holds {cvr!r}, not an 8-digit CVR number")
    raw_period = values.get(spec.period_column, "").strip()
    period = _period(raw_period, spec)
    if period is None:
        problems.append(f"column {spec.period_column!r} holds {raw_period!r}, not a month")
    if problems or period is None:
        raise Unclaimed(f"{why_name}, and its first row gives no kommune and period: {'; '.join(problems)}")
    return Claimed(cvr, period, FROM_DATA)


def _first_row(head: bytes, spec: DataSpec) -> tuple[list[str], list[str]]:
    dialect = spec.dialect
    try:
        text = head.decode(dialect.encoding.replace("-sig", ""), errors="strict")
    except UnicodeDecodeError as exc:
        # The head may end inside a multi-byte character; only an error before the last 3 bytes counts.
        if exc.start < len(head) - 3:
            raise ValueError(f"it is not {dialect.encoding}") from None
        text = head[: exc.start].decode(dialect.encoding)
    text = text.removeprefix("\ufeff")
    reader = csv.reader(io.StringIO(text), delimiter=dialect.separator, quotechar=dialect.quote)
    try:
        first = next(reader)
        header = first if dialect.header else [column.name for column in spec.columns]
        row = next(reader) if dialect.header else first
    except StopIteration:
        raise ValueError("it has no data row") from None
    except csv.Error as exc:
        raise ValueError(f"its first row cannot be read ({exc})") from None
    missing = [c for c in (spec.kommune_column, spec.period_column) if c not in header]
    if missing:
        raise ValueError(f"its header has no column {', '.join(repr(c) for c in missing)}")
    return header, row


def _period(text: str, spec: DataSpec) -> Period | None:
    try:
        return Period.parse(text)
    except ValueError:
        pass
    try:
        moment = datetime.strptime(text, spec.dialect.date_format)
    except ValueError:
        return None
    return Period(moment.year, moment.month)


def read_head(sftp: SFTPClient, path: str, limit: int = HEAD_BYTES) -> bytes:
    """The first ``limit`` bytes of remote file ``path`` (a name already checked), never more."""
    with sftp.open(path, "rb") as handle:
        return bytes(handle.read(limit))


@dataclass(frozen=True)
class CheckedClaims:
    """The metadata's claims once checked against the listing and the configuration."""

    metadata: FileMetadata
    sender: AcceptedSender
    name: Claimed  # kommune (``authority``) and month, from the file name or from the data
    period: Period

    def record(self, item: InboxItem, label: str, status: Status, received_at: datetime) -> ItemRecord:
        """The step's record of ``item``, built from the claims only once they hold."""
        return ItemRecord(
            data_name=item.data_name,
            metadata_name=item.metadata_name,
            data_size=item.data_size,
            label=label,
            status=status,
            file_transfer_uuid=self.metadata.file_transfer_uuid,
            sender=self.sender.code,
            cvr=self.name.authority,
            period=self.period,
            spec=self.sender.dataspec,
            received_at=received_at.isoformat(),
        )


class SpecUnusable(Exception):
    """The accepted ``sender``'s data spec could not be loaded while its claims were checked."""

    def __init__(self, sender: AcceptedSender, error: Exception) -> None:
        super().__init__(str(error))
        self.sender = sender
        self.error = error


class Refusal(Exception):
    """Why a delivery is refused; ``sender`` once the file name has named an accepted one."""

    def __init__(self, reason: str, detail: str, sender: AcceptedSender | None = None) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail
        self.sender = sender


def check_claims(receiver: Receiver, item: InboxItem, raw: bytes, head: Callable[[], bytes]) -> CheckedClaims:
    """Check the metadata ``raw`` of ``item`` (``head`` reads the data file's first bytes, when the name
    does not say kommune and month); :class:`Refusal` when a claim does not hold, :class:`SpecUnusable`
    when the sender's data spec is needed and cannot be loaded."""
    from sf1630.protocol import read_metadata

    try:
        metadata = read_metadata(raw)
    except ProtocolError as err:
        raise Refusal(f"metadata {err.reason}", str(err)) from err
    claimed = metadata.file.file_name
    try:
        check_safe_name(claimed)
    except ProtocolError as err:
        raise Refusal(f"file name {err.reason}", str(err)) from err
    if claimed + METADATA_SUFFIX != item.metadata_name:
        raise Refusal("file name mismatch", f"metadata {item.metadata_name} describes {claimed!r}")
    name = from_name(claimed)
    sender = _claimed_sender(receiver, metadata, name)
    if name is None:
        from sf1630.receiver.extract import spec_for

        try:
            spec = spec_for(sender.dataspec).spec
        except SPEC_ERRORS as err:
            raise SpecUnusable(sender, err) from err
        try:
            name = from_data(head(), spec, claimed)
        except Unclaimed as err:
            raise Refusal(UNCLAIMED, str(err), sender) from err
    kommune = receiver.kommune
    if name.authority != kommune.cvr:
        serves = f"{receiver.sftp_user} serves {kommune.name} ({kommune.cvr})"
        detail = f"file is for CVR {name.authority}, {serves}"
        raise Refusal("wrong kommune", detail, sender)
    return CheckedClaims(metadata, sender, name, name.month)


def _claimed_sender(receiver: Receiver, metadata: FileMetadata, name: Claimed | None) -> AcceptedSender:
    """The accepted sender the name's code names (its SFTP user must match), else the metadata's user's."""
    user = metadata.file.sender
    if name is None:
        sender = next((s for s in receiver.accepted if s.sftp_user == user), None)
        if sender is None:
            raise Refusal("sender not accepted", f"{receiver.sftp_user} accepts no extract from {user!r}")
        return sender
    sender = receiver.sender(name.sender or "")
    if sender is None:
        raise Refusal("sender not accepted", f"{receiver.sftp_user} accepts no extract from {name.sender!r}")
    if user != sender.sftp_user:
        detail = f"Sender {user!r} is not {name.sender}'s SFTP user {sender.sftp_user!r}"
        raise Refusal("wrong sender", detail, sender)
    return sender
