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

from sf1630.protocol import (
    METADATA_SUFFIX,
    DataFileName,
    DocumentTooLarge,
    FileMetadata,
    ProtocolError,
    check_safe_name,
)
from sf1630.receiver.completeness import period_of_file
from sf1630.receiver.config import LisSystem, SenderSource
from sf1630.receiver.fetch import OpenSFTP, SizeMismatch, delete_remote, download_with_retries, read_small
from sf1630.receiver.inbox import Delivery
from sf1630.receiver.quarantine import quarantine
from sf1630.warehouse import (
    LedgerEntry,
    LoadRequest,
    Outcome,
    WarehouseTarget,
    load_delivery,
    record_outcome,
    recorded,
)

if TYPE_CHECKING:
    import pyarrow as pa

log = logging.getLogger(__name__)


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
    def create_sql(self, engine: str, schema: str) -> list[str]: ...
    def lineage(
        self, *, file_transfer_uuid: str, kommune: str, period: str, loaded_at: datetime
    ) -> tuple[tuple[tuple[str, object], ...], tuple[tuple[str, object], ...]]: ...


class Status(StrEnum):
    LOADED = "loaded"
    ALREADY_LOADED = "already-loaded"
    QUARANTINED = "quarantined"


@dataclass(frozen=True)
class DeliveryResult:
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


class DeliveryRejected(Exception):
    """The delivery was refused, quarantined and cleared from IN/; ``result`` says why and whom to contact."""

    def __init__(self, result: DeliveryResult) -> None:
        super().__init__(result.summary)
        self.result = result


@dataclass(frozen=True)
class Receiver:
    """Everything processing needs, built once per task from configuration and connections."""

    system: LisSystem
    target: WarehouseTarget
    open_sftp: OpenSFTP
    spec_for: Callable[[str], ExtractSpec]
    staging: Path
    quarantine_root: Path
    download_attempts: int = 3
    backoff_seconds: float = 1.0
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))


@dataclass(frozen=True)
class _Claims:
    """The metadata's claims once checked against the listing and the configuration."""

    metadata: FileMetadata
    sender: SenderSource
    name: DataFileName
    period: str


class _Refusal(Exception):
    def __init__(self, reason: str, detail: str, sender: SenderSource | None = None) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail
        self.sender = sender


def process_delivery(receiver: Receiver, delivery: Delivery) -> DeliveryResult:
    """Take one delivery from IN/ into the warehouse, or into the quarantine (then raise DeliveryRejected)."""
    folder = receiver.system.inbox
    received_at = receiver.clock()
    raw = b""
    try:
        with receiver.open_sftp() as sftp:
            raw = read_small(sftp, f"{folder}/{check_safe_name(delivery.metadata_name)}")
        claims = _check_claims(receiver.system, delivery, raw)
    except DocumentTooLarge as err:
        _refuse_unread(receiver, delivery, raw, _Refusal(f"metadata {err.reason}", str(err)))
    except _Refusal as refusal:
        _refuse_unread(receiver, delivery, raw, refusal)
    metadata = claims.metadata
    uuid = metadata.file_transfer_uuid
    if recorded(receiver.target, uuid) is not None:
        log.info(
            "%s (FileTransferUUID %s) is already in the ledger: deleting it from IN/",
            delivery.data_name,
            uuid,
        )
        _clear_inbox(receiver, delivery)
        return _result(Status.ALREADY_LOADED, delivery, claims, summary="already in the ledger")
    staged = _download(receiver, delivery, claims, raw, received_at)
    spec = receiver.spec_for(claims.sender.spec)
    verdict, rows = spec.check(
        staged,
        kommune=claims.name.authority,
        period=claims.period,
        engine=receiver.system.validation_engine,
    )
    checksum = _sha256(staged)
    if not verdict.ok or rows is None:
        _reject_invalid(receiver, delivery, claims, raw, staged, verdict, checksum, received_at)
    loaded = _load(receiver, spec, claims, rows, checksum, received_at)
    _clear_inbox(receiver, delivery)
    staged.unlink(missing_ok=True)
    status = Status.LOADED if loaded else Status.ALREADY_LOADED
    return _result(
        status, delivery, claims, rows=rows.num_rows, summary=f"{rows.num_rows} rows into {spec.table}"
    )


def _check_claims(system: LisSystem, delivery: Delivery, raw: bytes) -> _Claims:
    from sf1630.protocol import read_metadata

    try:
        metadata = read_metadata(raw)
    except ProtocolError as err:
        raise _Refusal(f"metadata {err.reason}", str(err)) from err
    claimed = metadata.file.file_name
    try:
        check_safe_name(claimed)
        name = DataFileName.parse(claimed)
    except ProtocolError as err:
        raise _Refusal(f"file name {err.reason}", str(err)) from err
    if claimed + METADATA_SUFFIX != delivery.metadata_name:
        raise _Refusal("file name mismatch", f"metadata {delivery.metadata_name} describes {claimed!r}")
    sender = system.sender(name.sender)
    if sender is None:
        raise _Refusal("sender not accepted", f"{system.sftp_user} accepts no extract from {name.sender!r}")
    if metadata.file.sender != sender.sftp_user:
        detail = f"Sender {metadata.file.sender!r} is not {name.sender}'s SFTP user {sender.sftp_user!r}"
        raise _Refusal("wrong sender", detail, sender)
    if name.authority != system.cvr:
        detail = (
            f"file is for CVR {name.authority}, {system.sftp_user} serves {system.kommune} ({system.cvr})"
        )
        raise _Refusal("wrong kommune", detail, sender)
    return _Claims(metadata, sender, name, period_of_file(name))


def _download(
    receiver: Receiver, delivery: Delivery, claims: _Claims, raw: bytes, received_at: datetime
) -> Path:
    expected = claims.metadata.file.size_in_bytes
    try:
        return download_with_retries(
            receiver.open_sftp,
            receiver.system.inbox,
            delivery.data_name,
            receiver.staging,
            expected,
            attempts=receiver.download_attempts,
            backoff_seconds=receiver.backoff_seconds,
        )
    except SizeMismatch as err:
        refusal = _Refusal("size mismatch", str(err), claims.sender)
        _refuse_read(receiver, delivery, claims, raw, refusal, received_at, files={})


def _load(
    receiver: Receiver,
    spec: ExtractSpec,
    claims: _Claims,
    rows: pa.Table,
    checksum: str,
    received_at: datetime,
) -> bool:
    uuid = claims.metadata.file_transfer_uuid
    loaded_at = receiver.clock()
    constants, replace_where = spec.lineage(
        file_transfer_uuid=uuid, kommune=claims.name.authority, period=claims.period, loaded_at=loaded_at
    )
    entry = _entry(claims, rows.num_rows, checksum, Outcome.LOADED, received_at, loaded_at)
    request = LoadRequest(
        table=spec.table,
        create_sql=spec.create_sql(receiver.target.engine, receiver.target.schema),
        data=rows,
        entry=entry,
        replace_where=replace_where,
        constants=constants,
    )
    return load_delivery(receiver.target, request)


def _reject_invalid(
    receiver: Receiver,
    delivery: Delivery,
    claims: _Claims,
    raw: bytes,
    staged: Path,
    verdict: Verdict,
    checksum: str,
    received_at: datetime,
) -> NoReturn:
    refusal = _Refusal("invalid extract", verdict.summary, claims.sender)
    files: dict[str, bytes | Path] = {
        delivery.data_name: staged,
        "validation.json": verdict.report_json(),
        "validation.html": verdict.report_html(),
    }
    _refuse_read(receiver, delivery, claims, raw, refusal, received_at, files=files, checksum=checksum)


def _refuse_read(
    receiver: Receiver,
    delivery: Delivery,
    claims: _Claims,
    raw: bytes,
    refusal: _Refusal,
    received_at: datetime,
    *,
    files: dict[str, bytes | Path],
    checksum: str = "",
) -> NoReturn:
    """Quarantine a delivery whose metadata was trusted, record it in the ledger, clear IN/, raise."""
    files = {delivery.metadata_name: raw, **files}
    folder = quarantine(
        receiver.quarantine_root, delivery.data_name, _reason(receiver, delivery, refusal), files=files
    )
    entry = _entry(
        claims, 0, checksum, Outcome.QUARANTINED, received_at, receiver.clock(), detail=str(refusal)
    )
    record_outcome(receiver.target, entry)
    _clear_inbox(receiver, delivery)
    summary = _summary(receiver, delivery, refusal, folder)
    raise DeliveryRejected(_result(Status.QUARANTINED, delivery, claims, summary=summary, folder=str(folder)))


def _refuse_unread(receiver: Receiver, delivery: Delivery, raw: bytes, refusal: _Refusal) -> NoReturn:
    """Quarantine a delivery whose metadata cannot be trusted: keep the bytes, build no path from them."""
    files: dict[str, bytes | Path] = {delivery.metadata_name + ".rejected": raw}
    folder = quarantine(
        receiver.quarantine_root, delivery.data_name, _reason(receiver, delivery, refusal), files=files
    )
    with receiver.open_sftp() as sftp:
        _move_data_to(sftp, receiver.system.inbox, delivery.data_name, folder)
        delete_remote(sftp, receiver.system.inbox, delivery.metadata_name)
    summary = _summary(receiver, delivery, refusal, folder)
    raise DeliveryRejected(
        DeliveryResult(Status.QUARANTINED, delivery.data_name, summary=summary, quarantine_folder=str(folder))
    )


def _move_data_to(sftp: Any, folder: str, data_name: str, destination: Path) -> None:
    """Copy the data file (named by the listing, already checked) into the quarantine, then delete it."""
    with (destination / check_safe_name(data_name)).open("wb") as out:
        sftp.getfo(f"{folder}/{data_name}", out)
    delete_remote(sftp, folder, data_name)


def _clear_inbox(receiver: Receiver, delivery: Delivery) -> None:
    with receiver.open_sftp() as sftp:
        delete_remote(sftp, receiver.system.inbox, delivery.data_name, delivery.metadata_name)


def _reason(receiver: Receiver, delivery: Delivery, refusal: _Refusal) -> dict[str, Any]:
    return {
        "lis_system": receiver.system.sftp_user,
        "data_file": delivery.data_name,
        "metadata_file": delivery.metadata_name,
        "reason": refusal.reason,
        "detail": refusal.detail,
        "contact": refusal.sender.contact if refusal.sender else "",
        "quarantined_at": receiver.clock().isoformat(),
    }


def _summary(receiver: Receiver, delivery: Delivery, refusal: _Refusal, folder: Path) -> str:
    contact = refusal.sender.contact if refusal.sender else "the platform operator (sender unknown)"
    first_lines = "\n".join(refusal.detail.splitlines()[:12])
    return (
        f"{delivery.data_name} refused for {receiver.system.sftp_user} ({refusal.reason}); nothing loaded. "
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
) -> LedgerEntry:
    return LedgerEntry(
        file_transfer_uuid=claims.metadata.file_transfer_uuid,
        file_name=claims.metadata.file.file_name,
        sender=claims.sender.code,
        kommune=claims.name.authority,
        period=claims.period,
        rows=rows,
        checksum=checksum,
        outcome=outcome,
        received_at=received_at,
        finished_at=finished_at,
        detail=detail[:2000],
    )


def _result(
    status: Status, delivery: Delivery, claims: _Claims, *, rows: int = 0, summary: str = "", folder: str = ""
) -> DeliveryResult:
    return DeliveryResult(
        status=status,
        data_name=delivery.data_name,
        file_transfer_uuid=claims.metadata.file_transfer_uuid,
        sender=claims.sender.code,
        kommune=claims.name.authority,
        period=claims.period,
        spec=claims.sender.spec,
        rows=rows,
        summary=summary,
        quarantine_folder=folder,
    )


def _sha256(path: Path) -> str:
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()
