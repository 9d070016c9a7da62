"""The receiver's steps for the inbox items of one run: fetch, validate, load, delete.

The order is the contract with the platform and with ourselves: nothing leaves the server before the
warehouse has committed the rows and the ledger row together, so a crash anywhere leaves the delivery either
untouched on the server or recorded in the ledger (and then merely deleted on the next run). Everything the
delivery claims about itself (file name, sender, kommune, size) is checked against the listing and the
configuration before it is trusted; a refused delivery is quarantined (and only then cleared from IN/) and
reported with the sender's contact.

Each step is its own task and may run in its own process on any worker: what it hands on is a plain
:class:`ItemRecord` per inbox item (the tasks' XCom), and the files live in the receiver's object store
(:mod:`sf1630.receiver.storage`). Every step is idempotent: the staged file and the report folder have fixed
names, the load is a no-op when the ledger already has the FileTransferUUID, and the delete step removes
from IN/ only what the ledger (or the quarantine) holds.

- :func:`fetch_item`: metadata read (size-capped, hardened reader) and claims checked; already in the ledger
  → nothing to do but delete; else the data file is downloaded into staging with its size checked.
- :func:`validate_items`: every staged file of the run streamed into its staging table of the warehouse
  (:mod:`sf1630.warehouse.staging`: COPY in blocks, the file-level checks on the way) and validated there by
  GX's SQL engine, in one process (one GX import per run); reports written to the store.
- :func:`load_item`: a valid delivery promoted from its staging table into the warehouse table with its
  ledger row, the staging table dropped, in one transaction; an invalid one quarantined with its reports
  and recorded as quarantined (raises :class:`Quarantined`), its staging table dropped.
- :func:`delete_items`: both files removed from IN/ for every item the ledger or the quarantine holds; the
  staged files and any staging table left removed.

A delivery whose sender's data spec is missing or broken is HELD (:mod:`sf1630.receiver.held`): a
configuration error of the receiver, not the sender's, so it is neither quarantined nor deleted but stays in
IN/ for the run after the fix; its load fails (:class:`Held`) and so does the run, while the other senders'
files go on.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from sf1630.config import ConfigError
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
from sf1630.receiver.config import AcceptedSender, Receiver
from sf1630.receiver.fetch import OpenSFTP, SizeMismatch, delete_remote, download_with_retries, read_small
from sf1630.receiver.held import Hold, write_note
from sf1630.receiver.inbox import InboxItem
from sf1630.receiver.quarantine import quarantine
from sf1630.receiver.storage import Storage, StorePath, copy_tree, remove_tree, write_private
from sf1630.warehouse import LoadEntry, LoadRequest, Outcome, load_delivery, record_outcome, recorded
from sf1630.warehouse.load import StagedRows
from sf1630.warehouse.staging import StagedFile, StagingLost, drop_staging, stage, staging_table

if TYPE_CHECKING:
    from sf1630.dataspec.spec import DataSpec
    from sf1630.dataspec.validation import Validated, Validator

log = logging.getLogger(__name__)

#: What loading a data spec raises when the spec is missing, unreadable or broken (ConfigError names the
#: file, line and entry; a file that is not UTF-8 YAML is a ValueError).
SPEC_ERRORS = (ConfigError, OSError, ValueError)


class ExtractSpec(Protocol):
    """What the receiver needs from a data spec (see ``sf1630.receiver.extract``)."""

    @property
    def spec(self) -> DataSpec: ...
    @property
    def name(self) -> str: ...
    @property
    def table(self) -> str: ...
    @property
    def snapshot(self) -> bool: ...
    def validate_staged(
        self, validator: Validator, db: Database, staged: StagedFile, *, name: str, kommune: str, period: str
    ) -> Validated: ...
    def staged_columns(self) -> tuple[tuple[str, str], ...]: ...
    def create_sql(self, schema: str) -> list[str]: ...
    def table_sql(self, schema: str) -> tuple[list[str], list[str]]: ...
    def lineage(
        self, *, file_transfer_uuid: str, kommune: str, period: str, loaded_at: datetime
    ) -> tuple[tuple[tuple[str, object], ...], tuple[tuple[str, object], ...]]: ...


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
    kommune: str = ""
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


@dataclass(frozen=True)
class Intake:
    """Everything the steps need, built once per task from configuration and connections."""

    receiver: Receiver
    database: Database
    open_sftp: OpenSFTP
    spec_for: Callable[[str], ExtractSpec]
    storage: Storage
    download_attempts: int = 3
    backoff_seconds: float = 1.0
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))


@dataclass(frozen=True)
class _Claims:
    """The metadata's claims once checked against the listing and the configuration."""

    metadata: FileMetadata
    sender: AcceptedSender
    name: claiming.Claimed  # kommune (``authority``) and month, from the file name or from the data
    period: Period


class _SpecUnusable(Exception):
    """The accepted ``sender``'s data spec could not be loaded while its claims were checked."""

    def __init__(self, sender: AcceptedSender, error: Exception) -> None:
        super().__init__(str(error))
        self.sender = sender
        self.error = error


class _Refusal(Exception):
    """Why a delivery is refused; ``sender`` once the file name has named an accepted one."""

    def __init__(self, reason: str, detail: str, sender: AcceptedSender | None = None) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail
        self.sender = sender


# --- fetch ------------------------------------------------------------------------------------------------


def fetch_item(intake: Intake, item: InboxItem, label: str) -> ItemRecord:
    """Check an inbox item's metadata and stage its data file; a refused one is quarantined (not deleted)."""
    folder = intake.receiver.settings.inbox
    received_at = intake.clock()
    raw = b""
    try:
        with intake.open_sftp() as sftp:
            raw = read_small(sftp, f"{folder}/{check_safe_name(item.metadata_name)}")
            data_path = f"{folder}/{check_safe_name(item.data_name)}"
            claims = _check_claims(intake.receiver, item, raw, lambda: claiming.read_head(sftp, data_path))
    except DocumentTooLarge as err:
        return _refuse_unread(intake, item, label, raw, _Refusal(f"metadata {err.reason}", str(err)))
    except _Refusal as refusal:
        return _refuse_unread(intake, item, label, raw, refusal)
    except _SpecUnusable as unusable:
        sender = unusable.sender
        unclaimed = ItemRecord(
            item.data_name,
            item.metadata_name,
            item.data_size,
            label,
            Status.STAGED,
            sender=sender.code,
            spec=sender.dataspec,
            received_at=received_at.isoformat(),
        )
        return _hold(intake, unclaimed, unusable.error)
    record = _record(item, label, claims, Status.STAGED, received_at)
    uuid = claims.metadata.file_transfer_uuid
    outcome = recorded(intake.database, uuid)
    if outcome is not None:
        log.info("%s (FileTransferUUID %s) is already in the ledger (%s)", item.data_name, uuid, outcome)
        status = Status.ALREADY_LOADED if outcome is Outcome.LOADED else Status.QUARANTINED
        return replace(record, status=status, summary=f"already in the ledger ({outcome})")
    storage = intake.storage
    write_private(storage.staged(item.data_name + METADATA_SUFFIX), raw)
    try:
        download_with_retries(
            intake.open_sftp,
            folder,
            item.data_name,
            storage.staged(item.data_name),
            claims.metadata.file.size_in_bytes,
            attempts=intake.download_attempts,
            backoff_seconds=intake.backoff_seconds,
        )
    except SizeMismatch as err:
        mismatch = _Refusal("size mismatch", str(err), claims.sender)
        return _refuse_read(intake, record, raw, mismatch, files={})
    log.info("%s: fetched %s into %s", label, item.data_name, storage.staging)
    return record


# --- validate ---------------------------------------------------------------------------------------------


def validate_items(intake: Intake, records: Sequence[ItemRecord], validator: Validator) -> list[ItemRecord]:
    """Validate every staged file of the run with one GX validator; reports go to the store."""
    return [_validate(intake, r, validator) if r.status is Status.STAGED else r for r in records]


def _validate(intake: Intake, record: ItemRecord, validator: Validator) -> ItemRecord:
    from sf1630.dataspec.validation import write_reports

    try:
        spec = intake.spec_for(record.spec)
    except SPEC_ERRORS as err:
        return _hold(intake, record, err)
    staged = _stage(intake, record, spec)
    validated = spec.validate_staged(
        validator,
        intake.database,
        staged,
        name=record.data_name,
        kommune=record.kommune,
        period=record.period,
    )
    destination = intake.storage.report_folder(record.data_name)
    with tempfile.TemporaryDirectory(prefix="sf1630-report-") as tmp:
        write_reports(validator, validated, Path(tmp))
        remove_tree(destination)
        copy_tree(Path(tmp), destination)
    summary = "\n".join(validated.report.summary_lines())
    log.info("%s\n%s\nreports: %s", record.label, summary, destination)
    status = Status.VALID if validated.success else Status.INVALID
    return replace(
        record,
        status=status,
        rows=staged.rows,
        checksum=staged.checksum,
        summary=summary,
        report=str(destination),
    )


def _hold(intake: Intake, record: ItemRecord, error: Exception) -> ItemRecord:
    """Hold a delivery whose sender's data spec cannot be used: its note for on-call, its staged copy
    removed, the file left in IN/ (nothing quarantined, nothing recorded in the ledger)."""
    problem = (str(error).strip().splitlines() or [type(error).__name__])[0]
    hold = Hold(record.data_name, record.sender, record.spec, problem, intake.clock().isoformat())
    write_note(intake.storage.held, hold)
    for name in (record.data_name, record.data_name + METADATA_SUFFIX):
        remove_tree(intake.storage.staged(name))
    summary = hold.summary(intake.receiver.settings.inbox, intake.receiver.sftp_user)
    log.error("%s: %s", record.label, summary)
    return replace(record, status=Status.HELD, summary=summary)


def _stage(intake: Intake, record: ItemRecord, spec: ExtractSpec) -> StagedFile:
    """Stream the staged file from the store into the delivery's staging table of the warehouse."""
    table = staging_table(record.file_transfer_uuid)
    with intake.storage.staged(record.data_name).open("rb") as source:
        return stage(intake.database, table, source, spec.spec)


# --- load -------------------------------------------------------------------------------------------------


def load_item(intake: Intake, record: ItemRecord) -> ItemRecord:
    """Load a valid item with its ledger row; quarantine an invalid one and raise :class:`Quarantined`."""
    if record.status is Status.QUARANTINED:
        raise Quarantined(record)
    if record.status is Status.HELD:
        raise Held(record)
    if record.status is Status.INVALID:
        return _quarantine_invalid(intake, record)
    if record.status is not Status.VALID:
        return record
    spec = intake.spec_for(record.spec)
    loaded_at = intake.clock()
    constants, replace_where = spec.lineage(
        file_transfer_uuid=record.file_transfer_uuid,
        kommune=record.kommune,
        period=record.period,
        loaded_at=loaded_at,
    )
    table = staging_table(record.file_transfer_uuid)
    create, keys = spec.table_sql(intake.database.schema)
    request = LoadRequest(
        table=spec.table,
        create_sql=create,
        data=StagedRows(table, spec.staged_columns(), record.rows),
        entry=_entry(record, record.rows, record.checksum, Outcome.LOADED, loaded_at),
        replace_where=replace_where,
        constants=constants,
        key_sql=keys,
    )
    try:
        done = load_delivery(intake.database, request)
    except StagingLost as lost:
        log.warning("%s: %s; staging it again from the store", record.label, lost)
        _restage(intake, record, spec)
        done = load_delivery(intake.database, request)
    if not done:
        drop_staging(intake.database, table)
        return replace(record, status=Status.ALREADY_LOADED, summary="already in the ledger")
    return replace(record, status=Status.LOADED, summary=f"{record.rows} rows into {spec.table}")


def _restage(intake: Intake, record: ItemRecord, spec: ExtractSpec) -> None:
    """Stage the validated file again (the server lost the UNLOGGED table): the same bytes or nothing."""
    staged = _stage(intake, record, spec)
    if (staged.checksum, staged.rows) != (record.checksum, record.rows) or not staged.ok:
        drop_staging(intake.database, staged.table)
        raise RuntimeError(f"{record.data_name} in the store is not the file validated; not loaded")


def _quarantine_invalid(intake: Intake, record: ItemRecord) -> ItemRecord:
    outcome = recorded(intake.database, record.file_transfer_uuid)
    if outcome is Outcome.QUARANTINED:  # a retry after the quarantine was recorded
        drop_staging(intake.database, staging_table(record.file_transfer_uuid))
        raise Quarantined(replace(record, status=Status.QUARANTINED))
    sender = intake.receiver.sender(record.sender)
    refusal = _Refusal("invalid extract", record.summary, sender)
    staged = intake.storage.staged(record.data_name)
    metadata = intake.storage.staged(record.data_name + METADATA_SUFFIX).read_bytes()
    files: dict[str, bytes | StorePath] = {record.data_name: staged}
    trees = {"": intake.storage.report_folder(record.data_name)}
    refused = _refuse_read(
        intake, record, metadata, refusal, files=files, trees=trees, checksum=record.checksum
    )
    drop_staging(intake.database, staging_table(record.file_transfer_uuid))
    raise Quarantined(refused)


# --- delete -----------------------------------------------------------------------------------------------


def delete_items(intake: Intake, records: Iterable[ItemRecord]) -> list[str]:
    """Remove from IN/ every item the ledger holds (or whose untrusted files are quarantined), and its staged
    files; an item the ledger does not hold stays for the next run. Returns the deleted data file names."""
    deleted = []
    inbox = intake.receiver.settings.inbox
    with intake.open_sftp() as sftp:
        for record in records:
            if record.metadata_trusted:
                if recorded(intake.database, record.file_transfer_uuid) is None:
                    log.warning("%s is not in the ledger: left in IN/ for the next run", record.data_name)
                    continue
            elif not record.quarantine_folder:
                continue
            delete_remote(sftp, inbox, record.data_name, record.metadata_name)
            deleted.append(record.data_name)
            if record.metadata_trusted:
                for name in (record.data_name, record.data_name + METADATA_SUFFIX):
                    remove_tree(intake.storage.staged(name))
                drop_staging(intake.database, staging_table(record.file_transfer_uuid))
    return deleted


# --- claims, quarantine, ledger ---------------------------------------------------------------------------


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
            spec = spec_for(sender.dataspec).spec
        except SPEC_ERRORS as err:
            raise _SpecUnusable(sender, err) from err
        try:
            name = claiming.from_data(head(), spec, claimed)
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
) -> AcceptedSender:
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


def _refuse_read(
    intake: Intake,
    record: ItemRecord,
    raw: bytes,
    refusal: _Refusal,
    *,
    files: dict[str, bytes | StorePath],
    trees: dict[str, StorePath] | None = None,
    checksum: str = "",
) -> ItemRecord:
    """Quarantine a delivery whose metadata was trusted and record it in the ledger (IN/ is cleared by the
    delete step, once both are done)."""
    files = {record.metadata_name: raw, **files}
    reason = _reason(intake, record.item, refusal)
    folder = quarantine(intake.storage.quarantine, record.data_name, reason, files=files, trees=trees)
    entry = _entry(
        record, 0, checksum, Outcome.QUARANTINED, intake.clock(), detail=str(refusal), report=str(folder)
    )
    record_outcome(intake.database, entry)
    summary = _summary(intake, record.item, refusal, folder)
    return replace(record, status=Status.QUARANTINED, summary=summary, quarantine_folder=str(folder))


def _refuse_unread(intake: Intake, item: InboxItem, label: str, raw: bytes, refusal: _Refusal) -> ItemRecord:
    """Quarantine a delivery whose metadata cannot be trusted: keep the bytes, build no path from them."""
    files: dict[str, bytes | StorePath] = {item.metadata_name + ".rejected": raw}
    folder = quarantine(
        intake.storage.quarantine, item.data_name, _reason(intake, item, refusal), files=files
    )
    with intake.open_sftp() as sftp, (folder / check_safe_name(item.data_name)).open("wb") as out:
        sftp.getfo(f"{intake.receiver.settings.inbox}/{item.data_name}", out)
    summary = _summary(intake, item, refusal, folder)
    return ItemRecord(
        item.data_name,
        item.metadata_name,
        item.data_size,
        label,
        Status.QUARANTINED,
        summary=summary,
        quarantine_folder=str(folder),
        metadata_trusted=False,
    )


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


def _summary(intake: Intake, item: InboxItem, refusal: _Refusal, folder: StorePath) -> str:
    contact = intake.receiver.contact(refusal.sender.code if refusal.sender else None)
    first_lines = "\n".join(refusal.detail.splitlines()[:12])
    return (
        f"{item.data_name} refused for {intake.receiver.sftp_user} ({refusal.reason}); nothing loaded. "
        f"Contact: {contact}. Files and reports kept in {folder}.\n{first_lines}"
    )


def _entry(
    record: ItemRecord,
    rows: int,
    checksum: str,
    outcome: Outcome,
    finished_at: datetime,
    *,
    detail: str = "",
    report: str | None = None,
) -> LoadEntry:
    return LoadEntry(
        file_transfer_uuid=record.file_transfer_uuid,
        file_name=record.data_name,
        sender=record.sender,
        kommune=record.kommune,
        period=record.period,
        rows=rows,
        checksum=checksum,
        outcome=outcome,
        received_at=datetime.fromisoformat(record.received_at),
        finished_at=finished_at,
        detail=detail[:2000],
        report=record.report if report is None else report,
    )


def _record(
    item: InboxItem, label: str, claims: _Claims, status: Status, received_at: datetime
) -> ItemRecord:
    return ItemRecord(
        data_name=item.data_name,
        metadata_name=item.metadata_name,
        data_size=item.data_size,
        label=label,
        status=status,
        file_transfer_uuid=claims.metadata.file_transfer_uuid,
        sender=claims.sender.code,
        kommune=claims.name.authority,
        period=str(claims.period),
        spec=claims.sender.dataspec,
        received_at=received_at.isoformat(),
    )
