"""Races a sender can run against its own trigger, with a real asyncssh client against the real server.

Issue 11, items 1, 2, 4 and 5: a delivered file must be unreachable from every sender path whatever the
race (no shared inode with anything in ``OUT/``, recipient bytes unchanged), its retention clock starts at
delivery, names the platform writes cannot be sent, and a receipt once written is never replaced.
Each race is run many times; every round ends in a receipt and is checked for separation and bytes.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import Awaitable
from pathlib import Path

import asyncssh
import pytest
from sf1630.platform.errorcodes import ErrorCode
from sf1630.platform.retention import sweep
from sf1630.protocol import METADATA_SUFFIX, RECEIPT_SUFFIX, TechnicalReceipt, read_receipt

from tests.support.platform import (
    IKAST,
    IKAST2,
    IKAST_CVR,
    SENDER,
    RunningPlatform,
    connect_asyncssh,
    make_trigger,
    wait_for,
)

DATA = b"kommunekode;antal\n" + b"0756;12\n" * 1000
ROUNDS = int(os.environ.get("SF1630_RACE_ROUNDS", "25"))
FORTY_DAYS = 40 * 86400
RECIPIENTS = (IKAST, IKAST2)


def _inodes(folder: Path) -> dict[tuple[int, int], str]:
    found = {}
    for name in os.listdir(folder):
        info = os.lstat(folder / name)
        found[(info.st_dev, info.st_ino)] = name
    return found


async def _quietly(action: Awaitable[object]) -> None:
    """Run one racing request; refusals (permission denied, no such file, failure) are expected answers."""
    with contextlib.suppress(asyncssh.SFTPError, OSError):
        await action


async def _truncate(sftp: asyncssh.SFTPClient, path: str) -> None:
    async with sftp.open(path, "wb") as file:
        await file.write(b"")


async def _overwrite(sftp: asyncssh.SFTPClient, path: str) -> None:
    async with sftp.open(path, "r+b") as file:
        await file.write(b"TAMPERED", 0)


async def _attack_every_name(sftp: asyncssh.SFTPClient, names: list[str]) -> None:
    """After the receipt: try to truncate, overwrite and re-time every name the sender can see in OUT/."""
    old = time.time() - FORTY_DAYS
    for name in names:
        for action in (
            _truncate(sftp, f"OUT/{name}"),
            _overwrite(sftp, f"OUT/{name}"),
            sftp.utime(f"OUT/{name}", (old, old)),
        ):
            await _quietly(action)


def _check_round(server: RunningPlatform, name: str, receipt: TechnicalReceipt, started: float) -> None:
    out = _inodes(server.folder(SENDER, "OUT"))
    for recipient in RECIPIENTS:
        delivered = server.folder(recipient, "IN") / name
        if not receipt.ok:
            assert not delivered.exists(), f"{name}: an error receipt but a delivery"
            continue
        info = os.lstat(delivered)
        key = (info.st_dev, info.st_ino)
        assert key not in out, f"{name}: shares an inode with OUT/{out.get(key)}"
        assert info.st_nlink == len(RECIPIENTS), f"{name}: {info.st_nlink} names, only recipients may hold it"
        assert delivered.read_bytes() == DATA, f"{name}: the recipient's bytes changed"
        assert info.st_mtime >= started - 1, f"{name}: the sender's times travelled into IN/"


async def _race_round(server: RunningPlatform, sftp: asyncssh.SFTPClient, index: int) -> tuple[str, float]:
    """Upload, then fire the trigger together with renames, truncations and re-timings of the data file."""
    name = f"KY_LIS_75600000_M03_2026040213{index:04d}.csv"
    spare, moved = f"tmp-{index}.part", f"moved-{index}.csv"
    old = time.time() - FORTY_DAYS
    async with sftp.open(f"OUT/{spare}", "wb") as file:
        await file.write(DATA)
    if index % 2:
        async with sftp.open(f"OUT/{name}", "wb") as file:
            await file.write(DATA)
    await sftp.utime(f"OUT/{spare}", (old, old))
    started = time.time()
    trigger = make_trigger(name, len(DATA), authority=IKAST_CVR)

    async def put_trigger() -> None:
        async with sftp.open(f"OUT/{name}.trigger", "wb") as file:
            await file.write(trigger)

    await asyncio.gather(
        put_trigger(),
        _quietly(sftp.rename(f"OUT/{spare}", f"OUT/{name}")),
        _quietly(sftp.rename(f"OUT/{name}", f"OUT/{moved}")),
        _quietly(sftp.utime(f"OUT/{name}", (old, old))),
        _quietly(sftp.rename(f"OUT/{moved}", f"OUT/{name}")),
        _quietly(_truncate(sftp, f"OUT/{moved}")),
    )
    return name, started


def test_racing_renames_and_writes_never_reach_a_delivered_file(
    running: RunningPlatform, client_keys: dict[str, Path]
) -> None:
    outcomes: dict[str, int] = {}

    async def run() -> None:
        async with connect_asyncssh(running, SENDER, client_keys) as conn, conn.start_sftp_client() as sftp:
            for index in range(ROUNDS):
                name, started = await _race_round(running, sftp, index)
                receipt = read_receipt(
                    wait_for(running.folder(SENDER, "IN") / (name + RECEIPT_SUFFIX)).read_bytes()
                )
                await _attack_every_name(sftp, sorted(os.listdir(running.folder(SENDER, "OUT"))))
                _check_round(running, name, receipt, started)
                key = "success" if receipt.ok else str(receipt.errors[0].code)
                outcomes[key] = outcomes.get(key, 0) + 1
                for left in os.listdir(running.folder(SENDER, "OUT")):
                    await _quietly(sftp.remove(f"OUT/{left}"))

    asyncio.run(run())
    assert sum(outcomes.values()) == ROUNDS, outcomes
    assert outcomes.get("success", 0) > 0, f"no round delivered, the race was not exercised: {outcomes}"


def test_sender_times_do_not_travel_and_retention_counts_from_delivery(
    running: RunningPlatform, client_keys: dict[str, Path]
) -> None:
    name = "KY_LIS_75600000_M04_20260402134858.csv"
    old = time.time() - FORTY_DAYS

    async def upload() -> None:
        async with connect_asyncssh(running, SENDER, client_keys) as conn, conn.start_sftp_client() as sftp:
            async with sftp.open(f"OUT/{name}", "wb") as file:
                await file.write(DATA)
            await sftp.utime(f"OUT/{name}", (old, old))
            async with sftp.open(f"OUT/{name}.trigger", "wb") as file:
                await file.write(make_trigger(name, len(DATA), authority=IKAST_CVR))

    delivered_after = time.time() - 1
    asyncio.run(upload())
    assert read_receipt(wait_for(running.folder(SENDER, "IN") / (name + RECEIPT_SUFFIX)).read_bytes()).ok
    platform = running.platform
    result = sweep(platform.config, platform.home, platform.journal, platform.router)
    for recipient in RECIPIENTS:
        folder = running.folder(recipient, "IN")
        assert sorted(os.listdir(folder)) == [name, name + METADATA_SUFFIX], result.deleted
        assert os.stat(folder / name).st_mtime >= delivered_after
    assert result.deleted == []


RESERVED_NAMES = [
    "KY_LIS_75600000_M03_20260402134858.csv.metadata",
    "KY_LIS_75600000_M03_20260402134858.csv.sftpreceipt",
    "x.METADATA",
    "x.SftpReceipt",
    "x.metadata.",
    "x.metadata ",
    "x.sftpreceipt. .",
    "x.metadata\u200b",
    "x.sftpreceipt\u00a0",
    "x.metadata\ufeff",
]


@pytest.mark.parametrize("name", RESERVED_NAMES)
def test_a_platform_suffix_cannot_be_sent(
    name: str, running: RunningPlatform, client_keys: dict[str, Path]
) -> None:
    """The name is refused at upload, and a trigger naming it gets FILE_NAME_UNSAFE; nothing is delivered."""
    placeholder = "KY_LIS_75600000_M03_20260402134858.csv"
    trigger = make_trigger(placeholder, len(DATA), authority=IKAST_CVR).replace(
        f"<FileName>{placeholder}</FileName>".encode(), f"<FileName>{name}</FileName>".encode()
    )

    async def upload() -> bool:
        async with connect_asyncssh(running, SENDER, client_keys) as conn, conn.start_sftp_client() as sftp:
            try:
                async with sftp.open(f"OUT/{name}", "wb") as file:
                    await file.write(DATA)
                refused = False
            except asyncssh.SFTPPermissionDenied:
                refused = True
            async with sftp.open("OUT/forged.trigger", "wb") as file:
                await file.write(trigger)
            return refused

    assert asyncio.run(upload()), f"{name!r} was accepted into OUT/"
    receipt = read_receipt(wait_for(running.folder(SENDER, "IN") / "forged.sftpreceipt").read_bytes())
    assert [error.code for error in receipt.errors] == [ErrorCode.FILE_NAME_UNSAFE]
    for recipient in RECIPIENTS:
        assert os.listdir(running.folder(recipient, "IN")) == []


def test_a_retried_trigger_never_replaces_the_success_receipt(
    running: RunningPlatform, client_keys: dict[str, Path]
) -> None:
    name = "KY_LIS_75600000_M05_20260402134858.csv"
    trigger = make_trigger(name, len(DATA), authority=IKAST_CVR)
    receipts = running.folder(SENDER, "IN")

    async def upload(with_data: bool, trigger_name: str) -> None:
        async with connect_asyncssh(running, SENDER, client_keys) as conn, conn.start_sftp_client() as sftp:
            if with_data:
                async with sftp.open(f"OUT/{name}", "wb") as file:
                    await file.write(DATA)
            async with sftp.open(f"OUT/{trigger_name}", "wb") as file:
                await file.write(trigger)

    asyncio.run(upload(True, f"{name}.trigger"))
    first = wait_for(receipts / (name + RECEIPT_SUFFIX)).read_bytes()
    assert read_receipt(first).ok
    asyncio.run(upload(False, f"{name}.trigger"))
    asyncio.run(upload(False, "second.trigger"))
    wait_for(receipts / "second.sftpreceipt")
    deadline = time.monotonic() + 10
    while len(os.listdir(receipts)) < 3 and time.monotonic() < deadline:
        time.sleep(0.02)
    names = sorted(os.listdir(receipts))
    assert len(names) == 3, names
    assert (receipts / (name + RECEIPT_SUFFIX)).read_bytes() == first, "the SUCCESS receipt was replaced"
    later = [read_receipt((receipts / n).read_bytes()) for n in names if n != name + RECEIPT_SUFFIX]
    assert all(r.errors[0].code == ErrorCode.FILE_MISSING for r in later)
    assert len({r.file_transfer_uuid for r in later} | {read_receipt(first).file_transfer_uuid}) == 3


def test_two_triggers_for_one_data_file_each_keep_their_receipt(
    running: RunningPlatform, client_keys: dict[str, Path]
) -> None:
    name = "KY_LIS_75600000_M06_20260402134858.csv"
    trigger = make_trigger(name, len(DATA), authority=IKAST_CVR)

    async def upload() -> None:
        async with connect_asyncssh(running, SENDER, client_keys) as conn, conn.start_sftp_client() as sftp:
            async with sftp.open(f"OUT/{name}", "wb") as file:
                await file.write(DATA)

            async def put(trigger_name: str) -> None:
                async with sftp.open(f"OUT/{trigger_name}", "wb") as file:
                    await file.write(trigger)

            await asyncio.gather(put(f"{name}.trigger"), put("again.trigger"))

    asyncio.run(upload())
    receipts = running.folder(SENDER, "IN")
    deadline = time.monotonic() + 10
    while len(os.listdir(receipts)) < 2 and time.monotonic() < deadline:
        time.sleep(0.02)
    answers = [read_receipt((receipts / n).read_bytes()) for n in sorted(os.listdir(receipts))]
    assert len(answers) == 2, os.listdir(receipts)
    assert sum(a.ok for a in answers) <= 1
    delivered = (running.folder(IKAST, "IN") / name).exists()
    assert delivered == any(a.ok for a in answers), "a SUCCESS receipt exists exactly when it was delivered"


@pytest.mark.parametrize("ahead", [3600.0, 10 * 365 * 86400.0, None])
def test_times_in_the_future_are_refused(
    ahead: float | None, running: RunningPlatform, client_keys: dict[str, Path]
) -> None:
    """A file dated ahead would never expire (retention counts from its modification time).

    ``None`` is the largest time an SFTP v3 client can send (2^32 - 1, in 2106).
    """

    async def attempt() -> bool:
        async with connect_asyncssh(running, SENDER, client_keys) as conn, conn.start_sftp_client() as sftp:
            async with sftp.open("OUT/keep-forever.csv", "wb") as file:
                await file.write(DATA)
            future = time.time() + ahead if ahead is not None else float(2**32 - 1)
            try:
                await sftp.utime("OUT/keep-forever.csv", (future, future))
            except asyncssh.SFTPPermissionDenied:
                return True
            return False

    before = time.time()
    assert asyncio.run(attempt())
    assert os.stat(running.folder(SENDER, "OUT") / "keep-forever.csv").st_mtime < before + 60
