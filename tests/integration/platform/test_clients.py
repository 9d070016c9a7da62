"""The emulator works with the SFTP clients senders and receivers use: OpenSSH sftp, paramiko, asyncssh."""

from __future__ import annotations

import asyncio
import subprocess
import time
from pathlib import Path

import asyncssh
import paramiko
import pytest
from sf1630.protocol import METADATA_SUFFIX, RECEIPT_SUFFIX, read_metadata, read_receipt

from tests.support.platform import (
    HERNING,
    IKAST,
    IKAST2,
    IKAST2_SYSTEM,
    IKAST_CVR,
    PASSWORD,
    SENDER,
    RunningPlatform,
    connect_asyncssh,
    make_trigger,
    wait_for,
)

DATA = b"kommunekode;antal\n0756;12\n"
NAME = "KY_LIS_65700000_M03_20260402134858.csv"


def _assert_delivered(server: RunningPlatform, name: str, data: bytes, recipients: list[str]) -> None:
    receipt = read_receipt(wait_for(server.folder(SENDER, "IN") / (name + RECEIPT_SUFFIX)).read_bytes())
    assert receipt.ok, receipt.errors
    for recipient in recipients:
        folder = server.folder(recipient, "IN")
        assert (folder / name).read_bytes() == data
        metadata = read_metadata((folder / (name + METADATA_SUFFIX)).read_bytes())
        assert metadata.file_transfer_uuid == receipt.file_transfer_uuid
        assert metadata.file.file_name == name and metadata.file.size_in_bytes == len(data)
        assert metadata.file.sender == SENDER and metadata.file.recipients == (recipient,)
    assert sorted(p.name for p in server.folder(SENDER, "OUT").iterdir()) == []


def _openssh_sftp(port: int, known_hosts: Path, key: Path, batch: Path) -> subprocess.CompletedProcess[str]:
    command = ["/usr/bin/sftp", "-b", str(batch), "-P", str(port), "-i", str(key)]
    command += ["-o", f"UserKnownHostsFile={known_hosts}", "-o", "StrictHostKeyChecking=yes"]
    command += ["-o", "BatchMode=yes", f"{SENDER}@127.0.0.1"]
    return subprocess.run(command, capture_output=True, text=True, timeout=60)


def test_openssh_sftp_batch_upload_is_routed(
    running: RunningPlatform, client_keys: dict[str, Path], tmp_path: Path
) -> None:
    (tmp_path / "data.csv").write_bytes(DATA)
    (tmp_path / "data.trigger").write_bytes(make_trigger(NAME, len(DATA)))
    batch = tmp_path / "batch"
    batch.write_text(
        f"put {tmp_path / 'data.csv'} OUT/{NAME}\nput {tmp_path / 'data.trigger'} OUT/{NAME}.trigger\n"
    )
    known_hosts = running.known_hosts(tmp_path / "known_hosts")
    result = _openssh_sftp(running.port, known_hosts, client_keys[SENDER], batch)
    assert result.returncode == 0, result.stderr
    _assert_delivered(running, NAME, DATA, [HERNING])


def test_openssh_sftp_refuses_an_unpinned_host_key(
    running: RunningPlatform, client_keys: dict[str, Path], tmp_path: Path
) -> None:
    other = asyncssh.generate_private_key("ssh-ed25519").export_public_key().decode().split()
    (tmp_path / "known_hosts").write_text(f"[127.0.0.1]:{running.port} {other[0]} {other[1]}\n")
    (tmp_path / "batch").write_text("ls\n")
    result = _openssh_sftp(running.port, tmp_path / "known_hosts", client_keys[SENDER], tmp_path / "batch")
    assert result.returncode != 0
    assert "HOST IDENTIFICATION HAS CHANGED" in result.stderr or "verification failed" in result.stderr


def _paramiko_client(server: RunningPlatform, tmp_path: Path) -> paramiko.SSHClient:
    client = paramiko.SSHClient()
    client.load_host_keys(str(server.known_hosts(tmp_path / "known_hosts")))
    client.set_missing_host_key_policy(paramiko.RejectPolicy())
    return client


def test_paramiko_key_upload_is_routed(
    running: RunningPlatform, client_keys: dict[str, Path], tmp_path: Path
) -> None:
    client = _paramiko_client(running, tmp_path)
    client.connect(
        "127.0.0.1",
        running.port,
        username=SENDER,
        key_filename=str(client_keys[SENDER]),
        allow_agent=False,
        look_for_keys=False,
    )
    with client, client.open_sftp() as sftp:
        with sftp.open(f"/OUT/{NAME}", "wb") as file:
            file.write(DATA)
        with sftp.open(f"OUT/{NAME}.tmp", "wb") as file:
            file.write(make_trigger(NAME, len(DATA)))
        sftp.posix_rename(f"OUT/{NAME}.tmp", f"OUT/{NAME}.trigger")
        _assert_delivered(running, NAME, DATA, [HERNING])
        assert sorted(sftp.listdir("IN")) == [NAME + RECEIPT_SUFFIX]


def test_paramiko_password_auth_and_wrong_password(running: RunningPlatform, tmp_path: Path) -> None:
    client = _paramiko_client(running, tmp_path)
    kwargs = {"username": IKAST, "allow_agent": False, "look_for_keys": False}
    client.connect("127.0.0.1", running.port, password=PASSWORD, **kwargs)  # type: ignore[arg-type]
    with client, client.open_sftp() as sftp:
        assert sorted(sftp.listdir("/")) == ["IN", "OUT"]
    with pytest.raises(paramiko.AuthenticationException):
        _paramiko_client(running, tmp_path).connect(
            "127.0.0.1",
            running.port,
            password="wrong",
            **kwargs,  # type: ignore[arg-type]
        )
    with pytest.raises(paramiko.AuthenticationException):
        _paramiko_client(running, tmp_path).connect(
            "127.0.0.1",
            running.port,
            username="NOBODY",
            password=PASSWORD,
            allow_agent=False,
            look_for_keys=False,
        )


async def _asyncssh_upload(server: RunningPlatform, keys: dict[str, Path], name: str, trigger: bytes) -> None:
    async with connect_asyncssh(server, SENDER, keys) as conn, conn.start_sftp_client() as sftp:
        async with sftp.open(f"OUT/{name}", "wb") as file:
            await file.write(DATA)
        async with sftp.open(f"OUT/{name}.trigger", "wb") as file:
            await file.write(trigger)


def test_asyncssh_routes_to_every_matching_recipient(
    running: RunningPlatform, client_keys: dict[str, Path]
) -> None:
    name = "KY_LIS_75600000_M03_20260402134858.csv"
    asyncio.run(
        _asyncssh_upload(running, client_keys, name, make_trigger(name, len(DATA), authority=IKAST_CVR))
    )
    _assert_delivered(running, name, DATA, [IKAST, IKAST2])


def test_asyncssh_routes_to_the_named_recipient_it_system(
    running: RunningPlatform, client_keys: dict[str, Path]
) -> None:
    name = "KY_LIS_75600000_M04_20260502134858.csv"
    trigger = make_trigger(name, len(DATA), authority=IKAST_CVR, recipient_it_system=IKAST2_SYSTEM)
    asyncio.run(_asyncssh_upload(running, client_keys, name, trigger))
    _assert_delivered(running, name, DATA, [IKAST2])
    assert not (running.folder(IKAST, "IN") / name).exists()


def test_trigger_written_behind_the_servers_back_is_found_by_the_rescan(running: RunningPlatform) -> None:
    out = running.folder(SENDER, "OUT")
    (out / NAME).write_bytes(DATA)
    (out / f"{NAME}.trigger").write_bytes(make_trigger(NAME, len(DATA)))
    _assert_delivered(running, NAME, DATA, [HERNING])


def test_audit_line_per_transfer_without_secrets(
    running: RunningPlatform, client_keys: dict[str, Path]
) -> None:
    asyncio.run(_asyncssh_upload(running, client_keys, NAME, make_trigger(NAME, len(DATA))))
    receipt = read_receipt(wait_for(running.folder(SENDER, "IN") / (NAME + RECEIPT_SUFFIX)).read_bytes())
    # The audit line follows the receipt (the transfer's last step): give it the moment it takes.
    deadline = time.monotonic() + 10
    while True:
        log = (running.home / "audit.log").read_text()
        lines = [line for line in log.splitlines() if receipt.file_transfer_uuid in line]
        if lines or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert len(lines) == 1
    assert f'"recipients": ["{HERNING}"]' in lines[0] and '"outcome": "success"' in lines[0]
    assert PASSWORD not in log and "ssh-ed25519" not in log
