"""Reload a quarantined delivery from the quarantine store, after the LIS fixed its own data spec.

The quarantine keeps everything a refused delivery brought (data file, metadata file, reports); its
ledger row says ``quarantined``. Reloading checks the kept metadata against the configuration again,
validates the kept data file with the spec as it is NOW, the way the receiver's steps do (streamed into a
staging table of the warehouse and checked there by GX's SQL engine, so no row enters this process), and
promotes it with the ledger row turning from quarantined into loaded in the same transaction, so a second
reload (or a race of two) loads nothing: exactly once. A delivery that still fails gets fresh reports in
its folder and loads nothing. A delivery whose metadata could not be trusted has no ledger row and is not
reloaded: the sender must deliver it again.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from sf1630.protocol import (
    METADATA_SUFFIX,
    DataFileName,
    FileMetadata,
    Period,
    ProtocolError,
    check_safe_name,
)
from sf1630.receiver.intake import Intake
from sf1630.receiver.record import Status
from sf1630.receiver.storage import StorePath, copy_tree
from sf1630.warehouse import LoadRequest, Outcome, delivery_entry, load_delivery, recorded
from sf1630.warehouse.load import StagedRows
from sf1630.warehouse.staging import drop_staging, stage, staging_table

RELOADED_MARK = "reloaded.json"


class ReloadRefused(Exception):
    """The quarantined delivery cannot be reloaded; the message says why and what to do."""


@dataclass(frozen=True)
class ReloadResult:
    """What a reload did with one quarantined delivery."""

    status: Status
    data_name: str
    file_transfer_uuid: str
    sender: str
    cvr: str
    period: Period
    spec: str
    rows: int = 0
    summary: str = ""

    def as_dict(self) -> dict[str, Any]:
        """JSON-able form for XCom (the period as ``YYYY-MM`` text)."""
        return {**asdict(self), "status": str(self.status), "period": str(self.period)}


@dataclass(frozen=True)
class _Kept:
    folder: StorePath
    data: StorePath
    metadata: FileMetadata
    name: DataFileName


def kept_folder(root: StorePath, data_name: str) -> StorePath:
    """The newest quarantine folder of ``data_name`` (``name``, ``name.2``, …); ReloadRefused if none."""
    base = check_safe_name(data_name)
    found = [(1, root / base)] if (root / base).is_dir() else []
    for candidate in root.glob(f"{base}.*"):
        suffix = candidate.name[len(base) + 1 :]
        if suffix.isdigit() and candidate.is_dir():
            found.append((int(suffix), candidate))
    if not found:
        raise ReloadRefused(f"{data_name} is not in the quarantine {root}")
    return max(found)[1]


def _kept(intake: Intake, data_name: str) -> _Kept:
    from sf1630.protocol import read_metadata

    folder = kept_folder(intake.storage.quarantine, data_name)
    metadata_file = folder / (data_name + METADATA_SUFFIX)
    data = folder / data_name
    if not metadata_file.is_file() or not data.is_file():
        raise ReloadRefused(
            f"{folder} lacks the data file or its trusted metadata file: the sender must deliver again"
        )
    try:
        metadata = read_metadata(metadata_file.read_bytes())
        name = DataFileName.parse(metadata.file.file_name)
    except ProtocolError as err:
        raise ReloadRefused(f"{metadata_file}: {err}") from err
    receiver = intake.receiver
    if metadata.file.file_name != data_name or name.authority != receiver.kommune.cvr:
        raise ReloadRefused(f"{metadata_file} does not describe {data_name} for {receiver.kommune.name}")
    if receiver.sender(name.sender) is None:
        raise ReloadRefused(f"{receiver.sftp_user} accepts no extract from {name.sender}")
    if data.stat().st_size != metadata.file.size_in_bytes:
        raise ReloadRefused(
            f"{data} has {data.stat().st_size} bytes, the metadata says {metadata.file.size_in_bytes}"
        )
    return _Kept(folder, data, metadata, name)


def reload_quarantined(intake: Intake, data_name: str) -> ReloadResult:
    """Load the quarantined delivery ``data_name`` once; ALREADY_LOADED when it was reloaded before."""
    kept = _kept(intake, data_name)
    uuid = kept.metadata.file_transfer_uuid
    sender = intake.receiver.sender(kept.name.sender)
    assert sender is not None  # checked by _kept
    period = kept.name.month
    result = ReloadResult(
        Status.ALREADY_LOADED, data_name, uuid, sender.code, kept.name.authority, period, sender.dataspec
    )
    outcome = recorded(intake.database, uuid)
    if outcome is None:
        raise ReloadRefused(f"{data_name} (FileTransferUUID {uuid}) has no ledger row: nothing to reload")
    if outcome is Outcome.LOADED:
        return replace(result, summary="already loaded")
    from sf1630.dataspec.validation import Validator, write_reports

    spec = intake.spec_for(sender.dataspec)
    table = staging_table(uuid)
    with kept.data.open("rb") as source:
        staged = stage(intake.database, table, source, spec.spec)
    try:
        validator = Validator()
        validated = spec.validate_staged(
            validator, intake.database, staged, name=data_name, cvr=kept.name.authority, period=period
        )
        if not validated.success:
            with tempfile.TemporaryDirectory(prefix="sf1630-report-") as tmp:
                write_reports(validator, validated, Path(tmp))
                copy_tree(Path(tmp), kept.folder)
            summary = "\n".join(validated.report.summary_lines())
            raise ReloadRefused(
                f"{data_name} still fails its data spec; reports renewed in {kept.folder}:\n{summary}"
            )
        now = intake.clock()
        constants, replace_where = spec.lineage(
            file_transfer_uuid=uuid, cvr=kept.name.authority, period=period, loaded_at=now
        )
        entry = delivery_entry(
            uuid,
            data_name,
            sender.code,
            kept.name.authority,
            period,
            rows=staged.rows,
            checksum=staged.checksum,
            outcome=Outcome.LOADED,
            received_at=now,
            finished_at=now,
            detail=f"reloaded from quarantine {kept.folder.name}",
        )
        create, keys = spec.table_sql(intake.database.schema)
        request = LoadRequest(
            table=spec.table,
            create_sql=create,
            data=StagedRows(table, spec.staged_columns(), staged.rows),
            entry=entry,
            replace_where=replace_where,
            constants=constants,
            reload=True,
            key_sql=keys,
        )
        if not load_delivery(intake.database, request):
            return replace(result, summary="already loaded")
    finally:
        drop_staging(intake.database, table)  # dropped by the load's commit, else left by a refusal
    mark = {"file_transfer_uuid": uuid, "rows": staged.rows, "table": spec.table, "at": now.isoformat()}
    (kept.folder / RELOADED_MARK).write_text(json.dumps(mark, indent=2), encoding="utf-8")
    summary = f"{staged.rows} rows into {spec.table} from the quarantine"
    return replace(result, status=Status.LOADED, rows=staged.rows, summary=summary)
