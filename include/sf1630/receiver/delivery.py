"""One delivery from IN/ to the warehouse: metadata, download, validation, load, and only then delete.

The order is the contract with the platform and with ourselves: nothing leaves the server before the
warehouse has committed the rows and the ledger row together, so a crash anywhere leaves the delivery either
untouched on the server or recorded in the ledger (and then merely deleted on the next run). Everything the
delivery claims about itself (file name, sender, kommune, size) is checked against the listing and the
configuration before it is trusted; a refused delivery is quarantined, cleared from IN/ and reported with
the sender's contact.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, Protocol

from sf1630.database import Database
from sf1630.protocol import (
    METADATA_SUFFIX,
    DocumentTooLarge,
    FileMetadata,
    Period,
    ProtocolError,
    check_safe_name,
)
from sf1630.receiver import claims as claiming
from sf1630.receiver.config import Receiver
from sf1630.receiver.fetch import OpenSFTP, SizeMismatch, delete_remote, download_with_retries, read_small
from sf1630.receiver.inbox import InboxItem
from sf1630.receiver.quarantine import quarantine
from sf1630.registry import SenderSystem
from sf1630.warehouse import LoadEntry, LoadRequest, Outcome, load_delivery, record_outcome, recorded

if TYPE_CHECKING:
    import pyarrow as pa

log = logging.getLogger(__name__)

_UNKNOWN_CONTACT = "the platform operator (sender unknown)"


class Verdict(Protocol):
    """A data spec's judgement of one file (see ``sf1630.receiver.extract``)."""

    @property
    def ok(self) -> bool: ...
    @property
    def rows(self) -> int: ...
    @property
    def summary(self) -> str: ...
    def report_json(self) -> bytes: ...
    def report_html(self) -> bytes: ...


class ExtractSpec(Protocol):
    """What the receiver needs from a data spec: check a file, and shape its rows for the warehouse."""

    @property
    def name(self) -> str: ...
    @property
    def table(self) -> str: ...
    @property
    def snapshot(self) -> bool: ...
    def check(
        self, path: Path, *, kommune: str, period: str, engine: str = ...
    ) -> tuple[Verdict, pa.Table | None]: ...
    def create_sql(self, kind: str, schema: str) -> list[str]: ...
    def lineage(
        self, *, file_transfer_uuid: str, kommune: str, period: str, loaded_at: datetime
    ) -> tuple[tuple[tuple[str, object], ...], tuple[tuple[str, object], ...]]: ...


class Status(StrEnum):
    """How one inbox item ended."""

    LOADED = "loaded"
    ALREADY_LOADED = "already-loaded"
    QUARANTINED = "quarantined"


@dataclass(frozen=True)
class DeliveryResult:
    """What became of one inbox item (the load task's XCom; plain values only)."""

    status: Status
    data_name: str
    file_transfer_uuid: str = ""
    sender: str = ""
    kommune: str = ""
    period: str = ""
    spec: str = ""
    rows: int = 0
    summary: str = ""
    quarantine_folder: str = ""


class Quarantined(Exception):
    """The delivery was refused, quarantined and cleared from IN/; ``result`` says why and whom to contact.

    The receiver's refusal, after the platform handed the file over; the sender's ``DeliveryRejected`` is the
    platform refusing a trigger, another event with another owner.
    """

    def __init__(self, result: DeliveryResult) -> None:
        super().__init__(result.summary)
        self.result = result


@dataclass(frozen=True)
class Intake:
    """Everything processing needs, built once per task from configuration and connections."""

    receiver: Receiver
    database: Database
    open_sftp: OpenSFTP
    spec_for: Callable[[str], ExtractSpec]
    staging: Path
    quarantine_root: Path
    download_attempts: int = 3
    backoff_seconds: float = 1.0
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))


def staging_dir(receiver: Receiver, home: Path) -> Path:
    """Where downloads land before validation: configured, or ``<home>/sf1630/staging/<user>``.

    ``home`` is the Airflow home, passed in by the Airflow face so that this module never imports Airflow.
    """
    configured = receiver.settings.staging_dir
    return (Path(configured) if configured else home / "sf1630" / "staging") / receiver.sftp_user


def quarantine_dir(receiver: Receiver, home: Path) -> Path:
    """Where refused deliveries are kept: configured, or ``<home>/sf1630/quarantine/<user>``."""
    configured = receiver.settings.quarantine_dir
    return (Path(configured) if configured else home / "sf1630" / "quarantine") / receiver.sftp_user


@dataclass(frozen=True)
class _Claims:
    """The metadata's claims once checked against the listing and the configuration."""

    metadata: FileMetadata
    sender: SenderSystem
    name: claiming.Claimed  # kommune (``authority``) and month, from the file name or from the data
    period: Period


class _Refusal(Exception):
    """Why a delivery is refused; ``sender`` once the file name has named an accepted one."""

    def __init__(self, reason: str, detail: str, sender: SenderSystem | None = None) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail
        self.sender = sender


def process_delivery(intake: Intake, item: InboxItem) -> DeliveryResult:
    """Take one inbox item into the warehouse, or into the quarantine (then raise :class:`Quarantined`)."""
    folder = intake.receiver.settings.inbox
    received_at = intake.clock()
    raw = b""
    try:
        with intake.open_sftp() as sftp:
            raw = read_small(sftp, f"{folder}/{check_safe_name(item.metadata_name)}")
            data_path = f"{folder}/{check_safe_name(item.data_name)}"
            claims = _check_claims(intake.receiver, item, raw, lambda: claiming.read_head(sftp, data_path))
    except DocumentTooLarge as err:
        _refuse_unread(intake, item, raw, _Refusal(f"metadata {err.reason}", str(err)))
    except _Refusal as refusal:
        _refuse_unread(intake, item, raw, refusal)
    metadata = claims.metadata
    uuid = metadata.file_transfer_uuid
    if recorded(intake.database, uuid) is not None:
        log.info(
            "%s (FileTransferUUID %s) is already in the ledger: deleting it from IN/",
            item.data_name,
            uuid,
        )
        _clear_inbox(intake, item)
        return _result(Status.ALREADY_LOADED, item, claims, summary="already in the ledger")
    staged = _download(intake, item, claims, raw, received_at)
    spec = intake.spec_for(claims.sender.dataspec)
    verdict, rows = spec.check(
        staged,
        kommune=claims.name.authority,
        period=str(claims.period),
        engine=intake.receiver.settings.validation_engine,
    )
    checksum = _sha256(staged)
    if not verdict.ok or rows is None:
        _reject_invalid(intake, item, claims, raw, staged, verdict, checksum, received_at)
    loaded = _load(intake, spec, claims, rows, checksum, received_at)
    _clear_inbox(intake, item)
    staged.unlink(missing_ok=True)
    status = Status.LOADED if loaded else Status.ALREADY_LOADED
    return _result(
        status, item, claims, rows=rows.num_rows, summary=f"{rows.num_rows} rows into {spec.table}"
    )


def _check_claims(receiver: Receiver, item: InboxItem, raw: bytes, head: Callable[[], bytes]) -> _Claims:
    from sf1630.protocol import read_metadata

    try:
        metadata = read_metadata(raw)
    except ProtocolError as err:
        raise _Refusal(f"metadata {err.reason}", str(err)) from err
    claimed = metadata.file.file_name
    try:
        check_safe_name(claimed)
    except ProtocolError as err:
        raise _Refusal(f"file name {err.reason}", str(err)) from err
    if claimed + METADATA_SUFFIX != item.metadata_name:
        raise _Refusal("file name mismatch", f"metadata {item.metadata_name} describes {claimed!r}")
    name = claiming.from_name(claimed)
    sender = _claimed_sender(receiver, metadata, name)
    if name is None:
        from sf1630.receiver.extract import spec_for

        try:
            name = claiming.from_data(head(), spec_for(sender.dataspec).spec, claimed)
        except claiming.Unclaimed as err:
            raise _Refusal(claiming.UNCLAIMED, str(err), sender) from err
    kommune = receiver.kommune
    if name.authority != kommune.cvr:
        serves = f"{receiver.sftp_user} serves {kommune.name} ({kommune.cvr})"
        detail = f"file is for CVR {name.authority}, {serves}"
        raise _Refusal("wrong kommune", detail, sender)
    return _Claims(metadata, sender, name, name.month)


def _claimed_sender(
    receiver: Receiver, metadata: FileMetadata, name: claiming.Claimed | None
) -> SenderSystem:
    """The accepted sender the name's code names (its SFTP user must match), else the metadata's user's."""
    user = metadata.file.sender
    if name is None:
        sender = next((s for s in receiver.accepted if s.sftp_user == user), None)
        if sender is None:
            raise _Refusal("sender not accepted", f"{receiver.sftp_user} accepts no extract from {user!r}")
        return sender
    sender = receiver.sender(name.sender or "")
    if sender is None:
        raise _Refusal("sender not accepted", f"{receiver.sftp_user} accepts no extract from {name.sender!r}")
    if user != sender.sftp_user:
        detail = f"Sender {user!r} is not {name.sender}'s SFTP user {sender.sftp_user!r}"
        raise _Refusal("wrong sender", detail, sender)
    return sender


def _download(intake: Intake, item: InboxItem, claims: _Claims, raw: bytes, received_at: datetime) -> Path:
    expected = claims.metadata.file.size_in_bytes
    try:
        return download_with_retries(
            intake.open_sftp,
            intake.receiver.settings.inbox,
            item.data_name,
            intake.staging,
            expected,
            attempts=intake.download_attempts,
            backoff_seconds=intake.backoff_seconds,
        )
    except SizeMismatch as err:
        refusal = _Refusal("size mismatch", str(err), claims.sender)
        _refuse_read(intake, item, claims, raw, refusal, received_at, files={})


def _load(
    intake: Intake,
    spec: ExtractSpec,
    claims: _Claims,
    rows: pa.Table,
    checksum: str,
    received_at: datetime,
) -> bool:
    uuid = claims.metadata.file_transfer_uuid
    loaded_at = intake.clock()
    constants, replace_where = spec.lineage(
        file_transfer_uuid=uuid, kommune=claims.name.authority, period=str(claims.period), loaded_at=loaded_at
    )
    entry = _entry(claims, rows.num_rows, checksum, Outcome.LOADED, received_at, loaded_at)
    request = LoadRequest(
        table=spec.table,
        create_sql=spec.create_sql(intake.database.kind, intake.database.schema),
        data=rows,
        entry=entry,
        replace_where=replace_where,
        constants=constants,
    )
    return load_delivery(intake.database, request)


def _reject_invalid(
    intake: Intake,
    item: InboxItem,
    claims: _Claims,
    raw: bytes,
    staged: Path,
    verdict: Verdict,
    checksum: str,
    received_at: datetime,
) -> NoReturn:
    refusal = _Refusal("invalid extract", verdict.summary, claims.sender)
    files: dict[str, bytes | Path] = {
        item.data_name: staged,
        "validation.json": verdict.report_json(),
        "validation.html": verdict.report_html(),
    }
    _refuse_read(intake, item, claims, raw, refusal, received_at, files=files, checksum=checksum)


def _refuse_read(
    intake: Intake,
    item: InboxItem,
    claims: _Claims,
    raw: bytes,
    refusal: _Refusal,
    received_at: datetime,
    *,
    files: dict[str, bytes | Path],
    checksum: str = "",
) -> NoReturn:
    """Quarantine a delivery whose metadata was trusted, record it in the ledger, clear IN/, raise."""
    files = {item.metadata_name: raw, **files}
    folder = quarantine(intake.quarantine_root, item.data_name, _reason(intake, item, refusal), files=files)
    entry = _entry(claims, 0, checksum, Outcome.QUARANTINED, received_at, intake.clock(), detail=str(refusal))
    record_outcome(intake.database, entry)
    _clear_inbox(intake, item)
    summary = _summary(intake, item, refusal, folder)
    raise Quarantined(_result(Status.QUARANTINED, item, claims, summary=summary, folder=str(folder)))


def _refuse_unread(intake: Intake, item: InboxItem, raw: bytes, refusal: _Refusal) -> NoReturn:
    """Quarantine a delivery whose metadata cannot be trusted: keep the bytes, build no path from them."""
    files: dict[str, bytes | Path] = {item.metadata_name + ".rejected": raw}
    folder = quarantine(intake.quarantine_root, item.data_name, _reason(intake, item, refusal), files=files)
    with intake.open_sftp() as sftp:
        _move_data_to(sftp, intake.receiver.settings.inbox, item.data_name, folder)
        delete_remote(sftp, intake.receiver.settings.inbox, item.metadata_name)
    summary = _summary(intake, item, refusal, folder)
    raise Quarantined(
        DeliveryResult(Status.QUARANTINED, item.data_name, summary=summary, quarantine_folder=str(folder))
    )


def _move_data_to(sftp: Any, folder: str, data_name: str, destination: Path) -> None:
    """Copy the data file (named by the listing, already checked) into the quarantine, then delete it."""
    with (destination / check_safe_name(data_name)).open("wb") as out:
        sftp.getfo(f"{folder}/{data_name}", out)
    delete_remote(sftp, folder, data_name)


def _clear_inbox(intake: Intake, item: InboxItem) -> None:
    with intake.open_sftp() as sftp:
        delete_remote(sftp, intake.receiver.settings.inbox, item.data_name, item.metadata_name)


def _reason(intake: Intake, item: InboxItem, refusal: _Refusal) -> dict[str, Any]:
    return {
        "lis_system": intake.receiver.sftp_user,
        "data_file": item.data_name,
        "metadata_file": item.metadata_name,
        "reason": refusal.reason,
        "detail": refusal.detail,
        "contact": intake.receiver.contact(refusal.sender.code) if refusal.sender else "",
        "quarantined_at": intake.clock().isoformat(),
    }


def _summary(intake: Intake, item: InboxItem, refusal: _Refusal, folder: Path) -> str:
    contact = intake.receiver.contact(refusal.sender.code) if refusal.sender else _UNKNOWN_CONTACT
    first_lines = "\n".join(refusal.detail.splitlines()[:12])
    return (
        f"{item.data_name} refused for {intake.receiver.sftp_user} ({refusal.reason}); nothing loaded. "
        f"Contact: {contact}. Files and reports kept in {folder}.\n{first_lines}"
    )


def _entry(
    claims: _Claims,
    rows: int,
    checksum: str,
    outcome: Outcome,
    received_at: datetime,
    finished_at: datetime,
    *,
    detail: str = "",
) -> LoadEntry:
    return LoadEntry(
        file_transfer_uuid=claims.metadata.file_transfer_uuid,
        file_name=claims.metadata.file.file_name,
        sender=claims.sender.code,
        kommune=claims.name.authority,
        period=str(claims.period),
        rows=rows,
        checksum=checksum,
        outcome=outcome,
        received_at=received_at,
        finished_at=finished_at,
        detail=detail[:2000],
    )


def _result(
    status: Status, item: InboxItem, claims: _Claims, *, rows: int = 0, summary: str = "", folder: str = ""
) -> DeliveryResult:
    return DeliveryResult(
        status=status,
        data_name=item.data_name,
        file_transfer_uuid=claims.metadata.file_transfer_uuid,
        sender=claims.sender.code,
        kommune=claims.name.authority,
        period=str(claims.period),
        spec=claims.sender.dataspec,
        rows=rows,
        summary=summary,
        quarantine_folder=folder,
    )


def _sha256(path: Path) -> str:
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()
