"""The receiver's steps for the inbox items of one run: fetch, validate, load, delete.

The order is the contract with the platform and with ourselves: nothing leaves the server before the
warehouse has committed the rows and the ledger row together, so a crash anywhere leaves the delivery either
untouched on the server or recorded in the ledger (and then merely deleted on the next run). Everything the
delivery claims about itself (file name, sender, kommune, size) is checked against the listing and the
configuration before it is trusted (:mod:`sf1630.receiver.claims`); a refused delivery is quarantined (and
only then cleared from IN/) and reported with the sender's contact (:mod:`sf1630.receiver.quarantine`).

Each step is its own task and may run in its own process on any worker: it works with the LIS system's
:class:`~sf1630.receiver.intake.Intake`, what it hands on is a plain
:class:`~sf1630.receiver.record.ItemRecord` per inbox item (the tasks' XCom), and the files live in the
receiver's object store (:mod:`sf1630.receiver.storage`). Every step is idempotent: the staged file and
the report folder have fixed names, the load is a no-op when the ledger already has the FileTransferUUID,
and the delete step removes from IN/ only what the ledger (or the quarantine) holds.

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
from collections.abc import Iterable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from sf1630.protocol import METADATA_SUFFIX, DocumentTooLarge, check_safe_name
from sf1630.receiver import claims as claiming
from sf1630.receiver.fetch import (
    SizeMismatch,
    delete_remote,
    download_with_retries,
    read_small,
    shared_session,
)
from sf1630.receiver.held import Hold, write_note
from sf1630.receiver.inbox import InboxItem
from sf1630.receiver.intake import SPEC_ERRORS, ExtractSpec, Intake
from sf1630.receiver.quarantine import quarantine_invalid, refuse_read, refuse_unread
from sf1630.receiver.record import Held, ItemRecord, Quarantined, Status
from sf1630.receiver.storage import copy_tree, remove_tree, write_private
from sf1630.warehouse import LoadRequest, Outcome, load_delivery, recorded
from sf1630.warehouse.load import StagedRows
from sf1630.warehouse.staging import StagedFile, StagingLost, drop_staging, stage, staging_table

if TYPE_CHECKING:
    from sf1630.dataspec.validation import Validator

log = logging.getLogger(__name__)


# --- fetch ------------------------------------------------------------------------------------------------


def fetch_items(intake: Intake, items: Sequence[tuple[InboxItem, str]]) -> list[ItemRecord]:
    """:func:`fetch_item` for each (item, label), over one SFTP session for them all (a fresh one after an
    error)."""
    with shared_session(intake.open_sftp) as open_sftp:
        steady = replace(intake, open_sftp=open_sftp)
        return [fetch_item(steady, item, label) for item, label in items]


def fetch_item(intake: Intake, item: InboxItem, label: str) -> ItemRecord:
    """Check an inbox item's metadata and stage its data file; a refused one is quarantined (not deleted)."""
    folder = intake.receiver.settings.inbox
    received_at = intake.clock()
    raw = b""
    try:
        with intake.open_sftp() as sftp:
            raw = read_small(sftp, f"{folder}/{check_safe_name(item.metadata_name)}")
            data_path = f"{folder}/{check_safe_name(item.data_name)}"
            claims = claiming.check_claims(
                intake.receiver, item, raw, lambda: claiming.read_head(sftp, data_path)
            )
    except DocumentTooLarge as err:
        return refuse_unread(intake, item, label, raw, claiming.Refusal(f"metadata {err.reason}", str(err)))
    except claiming.Refusal as refusal:
        return refuse_unread(intake, item, label, raw, refusal)
    except claiming.SpecUnusable as unusable:
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
    record = claims.record(item, label, Status.STAGED, received_at)
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
        mismatch = claiming.Refusal("size mismatch", str(err), claims.sender)
        return refuse_read(intake, record, raw, mismatch, files={})
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
        cvr=record.cvr,
        period=record.claimed_period(),
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
        return quarantine_invalid(intake, record)
    if record.status is not Status.VALID:
        return record
    spec = intake.spec_for(record.spec)
    loaded_at = intake.clock()
    constants, replace_where = spec.lineage(
        file_transfer_uuid=record.file_transfer_uuid,
        cvr=record.cvr,
        period=record.claimed_period(),
        loaded_at=loaded_at,
    )
    table = staging_table(record.file_transfer_uuid)
    create, keys = spec.table_sql(intake.database.schema)
    request = LoadRequest(
        table=spec.table,
        create_sql=create,
        data=StagedRows(table, spec.staged_columns(), record.rows),
        entry=record.ledger_entry(record.rows, record.checksum, Outcome.LOADED, loaded_at),
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
