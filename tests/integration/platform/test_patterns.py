"""Both SFTP patterns SF1630 names, through every client senders use: OpenSSH sftp, paramiko and asyncssh.

KY (``SENDER``) routes dynamically (``ROUTING_V1_0_0`` + ``SFTPDynamicRoutingInfo``), KSD (``OTHER_SENDER``)
names the LIS system's SFTP user (the simple pattern). Each upload must end in the same files (data file,
metadata, receipt), and every document either pattern writes (the trigger, the metadata, the receipt) must
validate against the project's schema and against KOMBIT's (with the project's namespace beside it).
"""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import paramiko
import pytest
from lxml import etree
from sf1630.platform.errorcodes import ErrorCode
from sf1630.protocol import (
    METADATA_SUFFIX,
    RECEIPT_SUFFIX,
    ROUTING_RECIPIENT,
    FileDescriptor,
    Trigger,
    read_metadata,
    read_receipt,
    to_xml,
)
from sf1630.protocol.document import xml_schema

from tests.support.kombit import kombit_reference_schema
from tests.support.platform import (
    HERNING,
    HERNING_CVR,
    IKAST2,
    KY_SYSTEM,
    OTHER_SENDER,
    SENDER,
    RunningPlatform,
    connect_asyncssh,
    wait_for,
)

DATA = b"myndighed_cvr;antal\n65700000;12\n"


def _simple(name: str) -> bytes:
    return to_xml(
        Trigger.simple(name, len(DATA), sender=OTHER_SENDER, recipient=HERNING, senders_file_id=name)
    )


def _dynamic(name: str) -> bytes:
    trigger = Trigger.routed(
        name,
        len(DATA),
        sender=SENDER,
        sender_it_system=KY_SYSTEM,
        authority=HERNING_CVR,
        timestamp=datetime.now(UTC).replace(microsecond=0),
        senders_file_id=name,
    )
    return to_xml(trigger)


PATTERNS: dict[str, tuple[str, str, Callable[[str], bytes]]] = {
    "simple": (OTHER_SENDER, "KSD", _simple),
    "dynamic": (SENDER, "KY", _dynamic),
}


def _openssh(
    server: RunningPlatform, keys: dict[str, Path], user: str, files: dict[str, bytes], tmp: Path
) -> None:
    lines = []
    for index, (name, content) in enumerate(files.items()):
        local = tmp / f"upload-{index}"
        local.write_bytes(content)
        lines.append(f"put {local} OUT/{name}")
    (tmp / "batch").write_text("\n".join(lines) + "\n")
    command = ["/usr/bin/sftp", "-b", str(tmp / "batch"), "-P", str(server.port), "-i", str(keys[user])]
    command += ["-o", f"UserKnownHostsFile={server.known_hosts(tmp / 'known_hosts')}"]
    command += ["-o", "StrictHostKeyChecking=yes", "-o", "BatchMode=yes", f"{user}@127.0.0.1"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr


def _paramiko(
    server: RunningPlatform, keys: dict[str, Path], user: str, files: dict[str, bytes], tmp: Path
) -> None:
    client = paramiko.SSHClient()
    client.load_host_keys(str(server.known_hosts(tmp / "known_hosts")))
    client.set_missing_host_key_policy(paramiko.RejectPolicy())
    client.connect(
        "127.0.0.1",
        server.port,
        username=user,
        key_filename=str(keys[user]),
        allow_agent=False,
        look_for_keys=False,
    )
    with client, client.open_sftp() as sftp:
        for name, content in files.items():
            with sftp.open(f"OUT/{name}.part", "wb") as file:
                file.write(content)
            sftp.posix_rename(f"OUT/{name}.part", f"OUT/{name}")


def _asyncssh(
    server: RunningPlatform, keys: dict[str, Path], user: str, files: dict[str, bytes], tmp: Path
) -> None:
    async def upload() -> None:
        async with connect_asyncssh(server, user, keys) as conn, conn.start_sftp_client() as sftp:
            for name, content in files.items():
                async with sftp.open(f"OUT/{name}", "wb") as file:
                    await file.write(content)

    asyncio.run(upload())


CLIENTS: dict[str, Callable[..., None]] = {"openssh": _openssh, "paramiko": _paramiko, "asyncssh": _asyncssh}


def _valid_everywhere(document: bytes) -> None:
    tree = etree.fromstring(document)
    own, kombit = xml_schema(), kombit_reference_schema()
    assert own.validate(tree), own.error_log
    assert kombit.validate(tree), kombit.error_log


@pytest.mark.parametrize("client", list(CLIENTS))
@pytest.mark.parametrize("pattern", list(PATTERNS))
def test_each_pattern_through_each_client_delivers_valid_documents(
    running: RunningPlatform, client_keys: dict[str, Path], tmp_path: Path, client: str, pattern: str
) -> None:
    user, code, build = PATTERNS[pattern]
    name = f"{code}_LIS_65700000_M03_20260402134858.csv"
    trigger = build(name)
    CLIENTS[client](running, client_keys, user, {name: DATA, f"{name}.trigger": trigger}, tmp_path)

    receipt_xml = wait_for(running.folder(user, "IN") / (name + RECEIPT_SUFFIX)).read_bytes()
    receipt = read_receipt(receipt_xml)
    assert receipt.ok, receipt.errors
    assert receipt.senders_file_id == name
    inbox = running.folder(HERNING, "IN")
    assert (inbox / name).read_bytes() == DATA
    metadata_xml = (inbox / (name + METADATA_SUFFIX)).read_bytes()
    metadata = read_metadata(metadata_xml)
    assert metadata.file_transfer_uuid == receipt.file_transfer_uuid
    assert metadata.file.sender == user and metadata.file.recipients == (HERNING,)
    assert (metadata.content.routing is None) == (pattern == "simple")
    assert list(running.folder(user, "OUT").iterdir()) == []
    for document in (trigger, metadata_xml, receipt_xml):
        _valid_everywhere(document)


@pytest.mark.parametrize(
    ("recipients", "code"),
    [
        ((IKAST2,), ErrorCode.SIMPLE_RECIPIENT_NOT_PERMITTED),
        (("NOBODY_LIS01",), ErrorCode.SIMPLE_RECIPIENT_UNKNOWN),
        ((ROUTING_RECIPIENT, HERNING), ErrorCode.ROUTING_MARKER_MIXED),
        ((ROUTING_RECIPIENT,), ErrorCode.ROUTING_MARKER_WITHOUT_INFO),
    ],
)
def test_wrong_recipients_get_their_code_through_a_real_client(
    running: RunningPlatform, client_keys: dict[str, Path], tmp_path: Path, recipients: Any, code: ErrorCode
) -> None:
    name = "KSD_LIS_65700000_M03_20260402134858.csv"
    trigger = to_xml(Trigger(FileDescriptor(name, len(DATA), OTHER_SENDER, recipients)))
    _asyncssh(running, client_keys, OTHER_SENDER, {name: DATA, f"{name}.trigger": trigger}, tmp_path)
    receipt_xml = wait_for(running.folder(OTHER_SENDER, "IN") / (name + RECEIPT_SUFFIX)).read_bytes()
    assert [e.code for e in read_receipt(receipt_xml).errors] == [int(code)]
    _valid_everywhere(receipt_xml)
    for user in (HERNING, IKAST2):
        assert list(running.folder(user, "IN").iterdir()) == []
    assert [p.name for p in running.folder(OTHER_SENDER, "OUT").iterdir()] == [name]
