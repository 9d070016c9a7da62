"""Hostile metadata files are refused before anything is built from them: no entity is expanded, no path
leaves the staging area, and the delivery ends up in the quarantine with IN/ cleared."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from sf1630.airflow.receiver import build_receiver_dag
from sf1630.database import Database

from tests.support.receiver import Emulator, ReceiverSetup, next_logical_date

DATA = "KY_LIS_65700000_M10_20261101060000.csv"

ENTITY = b"""<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE ns:FileMetadata [<!ENTITY secret SYSTEM "file:///etc/hostname">]>
<ns:FileMetadata xmlns:ns="http://serviceplatformen.dk/xml/wsdl/soap11/SFTP/1/types">
<FileTransferUUID>&secret;</FileTransferUUID></ns:FileMetadata>"""


def traversal_metadata(name: str, size: int) -> bytes:
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<ns:FileMetadata xmlns:ns="http://serviceplatformen.dk/xml/wsdl/soap11/SFTP/1/types">
<FileTransferUUID>6b0a4b6e-1f1e-4a53-9f0e-2a3a1c0d9e11</FileTransferUUID>
<FileDescriptor><FileName>{name}</FileName><SizeInBytes>{size}</SizeInBytes><Sender>KY_SFTPSIMPEL</Sender>
<Recipients>HERNING_LIS01_SIMPEL</Recipients></FileDescriptor><FileContentDescriptor/>
</ns:FileMetadata>""".encode()


@pytest.mark.integration
@pytest.mark.parametrize("kind", ["entity", "traversal"])
def test_hostile_metadata_is_refused_and_quarantined(
    kind: str,
    emulator: Emulator,
    configure: Callable[..., ReceiverSetup],
    tmp_path: Path,
    airflow_db: Path,
    warehouse: Database,
) -> None:
    setup = configure(emulator, warehouse)
    payload = b"sag;beloeb\n1;2\n"
    escape = tmp_path / "escaped.csv"
    metadata = ENTITY if kind == "entity" else traversal_metadata(f"../../../../{escape}", len(payload))
    inbox = emulator.inbox()
    (inbox / DATA).write_bytes(payload)
    (inbox / f"{DATA}.metadata").write_bytes(metadata)
    before = {p for p in tmp_path.rglob("*") if "platform-home" not in p.parts}

    run = build_receiver_dag(setup.receiver).test(logical_date=next_logical_date())

    states = {ti.task_id: ti.state for ti in run.get_task_instances()}
    assert states["fetch"] == "success" and states["load"] == "failed" and states["delete"] == "success"
    assert sorted(p.name for p in inbox.iterdir()) == []
    folders = list(setup.quarantine.iterdir())
    assert [f.name for f in folders] == [DATA]
    kept = sorted(p.name for p in folders[0].iterdir())
    assert kept == sorted([DATA, f"{DATA}.metadata.rejected", "reason.json"])
    assert (folders[0] / f"{DATA}.metadata.rejected").read_bytes() == metadata
    assert not escape.exists()
    created = {p for p in tmp_path.rglob("*") if "platform-home" not in p.parts} - before
    store = tmp_path / "store"
    allowed = (setup.staging, setup.quarantine, store / "quarantine", store / "staging", store)
    assert all(any(p == a or a in p.parents for a in allowed) for p in created), created
    if kind == "entity":
        reason = (folders[0] / "reason.json").read_text()
        assert "unsafe-xml" in reason or "malformed" in reason
