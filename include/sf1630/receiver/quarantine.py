"""The quarantine: where a refused delivery's files and validation reports are kept for a person to read.

The recipient must clear IN/ (the platform would otherwise warn and eventually delete), yet a refused
extract has to stay inspectable and re-loadable by hand; so everything that belonged to the delivery goes
into one folder per delivery under the quarantine of the receiver's store
(:class:`~sf1630.receiver.storage.Storage`), with a ``reason.json`` on top, and is deleted from IN/ only once
stored. Raw extracts may hold personal data, so quarantine is kept only for the configured
``quarantine_keep`` (:func:`expire`). Names come from the server and pass ``check_safe_name`` before they
become paths.

A delivery the receiver's steps refuse is kept here by :func:`refuse_read` (its metadata was trusted: the
refusal is recorded in the warehouse ledger too), :func:`refuse_unread` (it was not: nothing of it builds a
path or a ledger row) or :func:`quarantine_invalid` (its extract failed validation); each reason names the
sender's contact, and IN/ is cleared by the delete step once the folder is complete.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from sf1630.protocol import METADATA_SUFFIX, check_safe_name
from sf1630.receiver.claims import Refusal
from sf1630.receiver.inbox import InboxItem
from sf1630.receiver.intake import Intake
from sf1630.receiver.record import ItemRecord, Quarantined, Status
from sf1630.receiver.storage import StorePath, copy_tree, make_private_dir, remove_tree, write_private
from sf1630.warehouse import Outcome, record_outcome, recorded
from sf1630.warehouse.staging import drop_staging, staging_table

log = logging.getLogger(__name__)
REASON_FILE = "reason.json"


def quarantine_folder(root: StorePath, name: str) -> StorePath:
    """A new, empty folder ``root/name`` (``name.2``, ``name.3``... when earlier ones exist)."""
    base = check_safe_name(name)
    make_private_dir(root)
    candidate, n = root / base, 1
    while candidate.exists():
        n += 1
        candidate = root / f"{base}.{n}"
    return make_private_dir(candidate)


def quarantine(
    root: StorePath,
    name: str,
    reason: Mapping[str, Any],
    *,
    files: Mapping[str, bytes | StorePath] | None = None,
    trees: Mapping[str, StorePath] | None = None,
) -> StorePath:
    """Keep ``files`` (bytes written, store paths copied), ``trees`` (folders copied; the one named ""
    into the folder itself) and ``reason`` in a new folder for delivery ``name``; ``reason.json`` is
    written last, so a folder with it is complete."""
    folder = quarantine_folder(root, name)
    for file_name, content in (files or {}).items():
        data = content if isinstance(content, bytes) else content.read_bytes()
        write_private(folder / check_safe_name(file_name), data)
    for tree_name, source in (trees or {}).items():
        copy_tree(source, folder / check_safe_name(tree_name) if tree_name else folder)
    text = json.dumps(dict(reason), indent=2, default=str).encode("utf-8")
    write_private(folder / REASON_FILE, text)
    return folder


def expire(root: StorePath, *, keep: timedelta, now: datetime) -> list[str]:
    """Delete quarantine folders whose ``quarantined_at`` is older than ``keep``; returns their names."""
    expired = []
    for folder in past_keep(root, keep=keep, now=now):
        remove_tree(folder)
        expired.append(folder.name)
    return expired


def past_keep(root: StorePath, *, keep: timedelta, now: datetime) -> list[StorePath]:
    """The quarantine folders whose ``quarantined_at`` is older than ``keep`` (what :func:`expire` deletes).

    The time comes from ``reason.json`` (object stores keep no reliable folder times); a folder without a
    readable reason is left alone and logged, since guessing its age could delete what a person needs.
    """
    if not root.exists():
        return []
    old = []
    for folder in sorted(root.iterdir(), key=str):
        try:
            reason = json.loads((folder / REASON_FILE).read_bytes())
            at = datetime.fromisoformat(str(reason["quarantined_at"]))
        except (OSError, ValueError, KeyError, TypeError):
            log.warning("quarantine folder %s has no readable %s: left alone", folder, REASON_FILE)
            continue
        if now - at > keep:
            old.append(folder)
    return old


def quarantine_invalid(intake: Intake, record: ItemRecord) -> ItemRecord:
    """Quarantine a delivery whose extract failed validation, with its reports, and raise
    :class:`~sf1630.receiver.record.Quarantined`; its staging table is dropped either way."""
    outcome = recorded(intake.database, record.file_transfer_uuid)
    if outcome is Outcome.QUARANTINED:  # a retry after the quarantine was recorded
        drop_staging(intake.database, staging_table(record.file_transfer_uuid))
        raise Quarantined(replace(record, status=Status.QUARANTINED))
    sender = intake.receiver.sender(record.sender)
    refusal = Refusal("invalid extract", record.summary, sender)
    staged = intake.storage.staged(record.data_name)
    metadata = intake.storage.staged(record.data_name + METADATA_SUFFIX).read_bytes()
    files: dict[str, bytes | StorePath] = {record.data_name: staged}
    trees = {"": intake.storage.report_folder(record.data_name)}
    refused = refuse_read(
        intake, record, metadata, refusal, files=files, trees=trees, checksum=record.checksum
    )
    drop_staging(intake.database, staging_table(record.file_transfer_uuid))
    raise Quarantined(refused)


def refuse_read(
    intake: Intake,
    record: ItemRecord,
    raw: bytes,
    refusal: Refusal,
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
    entry = record.ledger_entry(
        0, checksum, Outcome.QUARANTINED, intake.clock(), detail=str(refusal), report=str(folder)
    )
    record_outcome(intake.database, entry)
    summary = _summary(intake, record.item, refusal, folder)
    return replace(record, status=Status.QUARANTINED, summary=summary, quarantine_folder=str(folder))


def refuse_unread(intake: Intake, item: InboxItem, label: str, raw: bytes, refusal: Refusal) -> ItemRecord:
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


def _reason(intake: Intake, item: InboxItem, refusal: Refusal) -> dict[str, Any]:
    return {
        "lis_system": intake.receiver.sftp_user,
        "data_file": item.data_name,
        "metadata_file": item.metadata_name,
        "reason": refusal.reason,
        "detail": refusal.detail,
        "contact": intake.receiver.contact(refusal.sender.code) if refusal.sender else "",
        "quarantined_at": intake.clock().isoformat(),
    }


def _summary(intake: Intake, item: InboxItem, refusal: Refusal, folder: StorePath) -> str:
    contact = intake.receiver.contact(refusal.sender.code if refusal.sender else None)
    first_lines = "\n".join(refusal.detail.splitlines()[:12])
    return (
        f"{item.data_name} refused for {intake.receiver.sftp_user} ({refusal.reason}); nothing loaded. "
        f"Contact: {contact}. Files and reports kept in {folder}.\n{first_lines}"
    )
