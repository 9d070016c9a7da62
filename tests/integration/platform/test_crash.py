"""A platform killed at any step of a transfer finishes it on restart: one delivery each, one receipt.

The emulator is run as a subprocess; ``SF1630_PLATFORM_CRASH_AT`` makes it die right after a given step, and
one test kills it from outside with SIGKILL while eight senders are uploading.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sqlite3
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import asyncssh
import pytest
from sf1630.platform.errorcodes import ErrorCode
from sf1630.platform.router import CRASH_ENV, CRASH_STEPS
from sf1630.protocol import METADATA_SUFFIX, RECEIPT_SUFFIX, read_metadata, read_receipt

from tests.support.platform import IKAST, IKAST2, IKAST_CVR, SENDER, connect_pinned, make_trigger, wait_for

DATA = b"kommunekode;antal\n0756;12\n"
Spawn = Callable[..., subprocess.Popen[bytes]]


@pytest.fixture
def spawn_logged(spawn: Spawn, tmp_path: Path) -> Callable[..., tuple[subprocess.Popen[bytes], int]]:
    """Start ``serve`` on a free port; returns the process and the port it printed."""

    def start(config: Path, home: Path, **env: str) -> tuple[subprocess.Popen[bytes], int]:
        log = tmp_path / f"serve-{time.monotonic_ns()}.log"
        process = spawn(config, home, log, **env)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            for line in log.read_text().splitlines():
                if line.startswith("listening on 127.0.0.1:"):
                    return process, int(line.split(":")[1].split()[0])
            assert process.poll() is None, log.read_text()
            time.sleep(0.05)
        raise AssertionError("platform did not start")

    return start


async def _upload(home: Path, port: int, keys: dict[str, Path], name: str, trigger: bytes) -> None:
    async with connect_pinned(home, port, SENDER, keys) as conn, conn.start_sftp_client() as sftp:  # type: ignore[attr-defined]
        async with sftp.open(f"OUT/{name}", "wb") as file:
            await file.write(DATA)
        async with sftp.open(f"OUT/{name}.trigger", "wb") as file:
            await file.write(trigger)


def _upload_until_crash(home: Path, port: int, keys: dict[str, Path], name: str, trigger: bytes) -> None:
    """Upload; the platform may die (by design) before it answers the trigger's close or the session's end."""
    with contextlib.suppress(asyncssh.ConnectionLost, asyncssh.SFTPConnectionLost, ConnectionError):
        asyncio.run(_upload(home, port, keys, name, trigger))


def _users(home: Path, user: str, folder: str) -> list[str]:
    return sorted(os.listdir(home / "users" / user / folder))


def _unfinished(home: Path) -> int:
    with sqlite3.connect(home / "journal.sqlite") as db:
        return int(db.execute("SELECT count(*) FROM transfers WHERE state != 'done'").fetchone()[0])


@pytest.mark.parametrize("step", CRASH_STEPS)
def test_crash_at_each_step_then_restart_delivers_exactly_once(
    step: str,
    spawn_logged: Callable[..., tuple[subprocess.Popen[bytes], int]],
    config_path: Path,
    tmp_path: Path,
    client_keys: dict[str, Path],
) -> None:
    home = tmp_path / "home"
    name = "KY_LIS_75600000_M03_20260402134858.csv"
    process, port = spawn_logged(config_path, home, **{CRASH_ENV: step})
    _upload_until_crash(home, port, client_keys, name, make_trigger(name, len(DATA), authority=IKAST_CVR))
    assert process.wait(30) == 137, f"the platform did not crash at {step}"
    host_key = (home / "host_key.pub").read_text()
    restarted, _ = spawn_logged(config_path, home)
    assert (home / "host_key.pub").read_text() == host_key, "the host key persists across restarts"
    receipt = read_receipt(wait_for(home / "users" / SENDER / "IN" / (name + RECEIPT_SUFFIX)).read_bytes())
    deadline = time.monotonic() + 10
    while _unfinished(home) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert receipt.ok
    assert _users(home, SENDER, "IN") == [name + RECEIPT_SUFFIX]
    assert _users(home, SENDER, "OUT") == []
    for recipient in (IKAST, IKAST2):
        assert _users(home, recipient, "IN") == [name, name + METADATA_SUFFIX]
        assert (home / "users" / recipient / "IN" / name).read_bytes() == DATA
        metadata = read_metadata((home / "users" / recipient / "IN" / (name + METADATA_SUFFIX)).read_bytes())
        assert metadata.file_transfer_uuid == receipt.file_transfer_uuid
    assert _unfinished(home) == 0
    assert os.listdir(home / "spool") == []
    audit = (home / "audit.log").read_text().splitlines()
    assert len([line for line in audit if receipt.file_transfer_uuid in line]) == 1
    restarted.send_signal(signal.SIGTERM)
    assert restarted.wait(30) == 0


@pytest.mark.parametrize("step", ["accepted", "cleaned", "receipt"])
def test_crash_during_a_failed_transfer_gives_one_error_receipt(
    step: str,
    spawn_logged: Callable[..., tuple[subprocess.Popen[bytes], int]],
    config_path: Path,
    tmp_path: Path,
    client_keys: dict[str, Path],
) -> None:
    home = tmp_path / "home"
    name = "KY_LIS_75600000_M03_20260402134858.csv"
    process, port = spawn_logged(config_path, home, **{CRASH_ENV: step})
    trigger = make_trigger(name, len(DATA) + 1, authority=IKAST_CVR)
    _upload_until_crash(home, port, client_keys, name, trigger)
    assert process.wait(30) == 137
    spawn_logged(config_path, home)
    receipt = read_receipt(wait_for(home / "users" / SENDER / "IN" / (name + RECEIPT_SUFFIX)).read_bytes())
    assert [error.code for error in receipt.errors] == [ErrorCode.FILE_SIZE_MISMATCH]
    assert _users(home, SENDER, "OUT") == [name]
    assert _users(home, IKAST, "IN") == [] and _users(home, IKAST2, "IN") == []


def test_sigkill_under_load_loses_nothing(
    spawn_logged: Callable[..., tuple[subprocess.Popen[bytes], int]],
    config_path: Path,
    tmp_path: Path,
    client_keys: dict[str, Path],
) -> None:
    home = tmp_path / "home"
    process, port = spawn_logged(config_path, home)
    completed: list[str] = []
    stopped: list[BaseException] = []

    async def sender(index: int) -> None:
        for month in range(1, 13):
            name = f"KY_LIS_75600000_M{month:02d}_2026010100{index:04d}.csv"
            trigger = make_trigger(name, len(DATA), authority=IKAST_CVR)
            try:
                await _upload(home, port, client_keys, name, trigger)
            except (OSError, asyncssh.Error) as exc:
                stopped.append(exc)
                return
            completed.append(name)

    async def killer(senders: asyncio.Future[list[None]]) -> None:
        receipts = home / "users" / SENDER / "IN"
        while len(os.listdir(receipts)) < 10 and not senders.done():
            await asyncio.sleep(0.01)
        process.send_signal(signal.SIGKILL)

    async def load() -> None:
        senders = asyncio.gather(*(sender(i) for i in range(8)))
        await asyncio.gather(killer(senders), senders)

    asyncio.run(load())
    process.wait(30)
    assert process.returncode == -signal.SIGKILL
    assert 10 <= len(completed) < 96, f"the kill should land while transfers are in flight: {stopped}"
    spawn_logged(config_path, home)
    for name in completed:
        wait_for(home / "users" / SENDER / "IN" / (name + RECEIPT_SUFFIX))
    deadline = time.monotonic() + 20
    while (_unfinished(home) or any(n.endswith(".trigger") for n in _users(home, SENDER, "OUT"))) and (
        time.monotonic() < deadline
    ):
        time.sleep(0.05)
    assert _unfinished(home) == 0
    receipts = {
        n.removesuffix(RECEIPT_SUFFIX): read_receipt((home / "users" / SENDER / "IN" / n).read_bytes())
        for n in _users(home, SENDER, "IN")
    }
    delivered = [n for n in _users(home, IKAST, "IN") if not n.endswith(METADATA_SUFFIX)]
    assert set(completed) <= {n for n, r in receipts.items() if r.ok}
    assert sorted(delivered) == sorted(n for n, r in receipts.items() if r.ok)
    assert _users(home, IKAST, "IN") == _users(home, IKAST2, "IN")
    for name in delivered:
        metadata = read_metadata((home / "users" / IKAST / "IN" / (name + METADATA_SUFFIX)).read_bytes())
        assert metadata.file_transfer_uuid == receipts[name].file_transfer_uuid
