"""Each user is confined to its own IN/ and OUT/: escapes, links and other users' folders are refused."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import asyncssh
import pytest

from tests.support.platform import HERNING, SENDER, RunningPlatform, connect_asyncssh

REFUSED = (asyncssh.SFTPPermissionDenied, asyncssh.SFTPNoSuchFile, asyncssh.SFTPFailure)


def _run(server: RunningPlatform, keys: dict[str, Path], script: object) -> object:
    async def go() -> object:
        async with connect_asyncssh(server, SENDER, keys) as conn, conn.start_sftp_client() as sftp:
            return await script(sftp)  # type: ignore[operator]

    return asyncio.run(go())


def test_root_shows_only_in_and_out(running: RunningPlatform, client_keys: dict[str, Path]) -> None:
    async def script(sftp: asyncssh.SFTPClient) -> tuple[list[str], ...]:
        listings = []
        for path in ("/", "..", "/../../..", "IN/.."):
            listings.append(sorted(n for n in await sftp.listdir(path) if n not in (".", "..")))
        return tuple(listings)

    assert _run(running, client_keys, script) == (["IN", "OUT"],) * 4


@pytest.mark.parametrize(
    "path",
    [
        f"/../{HERNING}/IN",
        f"../{HERNING}/IN/x.csv",
        "/etc/passwd",
        "/../../../../etc/passwd",
        "IN/../../KSD_SFTPSIMPEL/OUT/x",
        "/OUT/sub/x",
    ],
)
def test_paths_outside_the_users_folders_are_refused(
    path: str, running: RunningPlatform, client_keys: dict[str, Path]
) -> None:
    (running.folder(HERNING, "IN") / "x.csv").write_bytes(b"secret")

    async def script(sftp: asyncssh.SFTPClient) -> list[str]:
        outcomes = []
        for label, action in (
            ("read", lambda: sftp.open(path, "rb")),
            ("write", lambda: sftp.open(path, "wb")),
            ("list", lambda: sftp.listdir(path)),
            ("remove", lambda: sftp.remove(path)),
        ):
            try:
                await action()
                outcomes.append(f"{label} allowed")
            except REFUSED:
                pass
        return outcomes

    assert _run(running, client_keys, script) == []
    assert (running.folder(HERNING, "IN") / "x.csv").read_bytes() == b"secret"


def test_links_folders_and_writes_into_in_are_refused(
    running: RunningPlatform, client_keys: dict[str, Path]
) -> None:
    (running.folder(SENDER, "OUT") / "a.csv").write_bytes(b"a")

    async def script(sftp: asyncssh.SFTPClient) -> list[str]:
        allowed = []
        for label, action in (
            ("symlink", lambda: sftp.symlink("/etc/passwd", "OUT/p")),
            ("symlink in", lambda: sftp.symlink("a.csv", "OUT/b.csv")),
            ("hard link", lambda: sftp.link("OUT/a.csv", "OUT/c.csv")),
            ("readlink", lambda: sftp.readlink("OUT/a.csv")),
            ("mkdir", lambda: sftp.mkdir("OUT/sub")),
            ("rmdir", lambda: sftp.rmdir("OUT")),
            ("write IN", lambda: sftp.open("IN/x.csv", "wb")),
            ("rename to IN", lambda: sftp.posix_rename("OUT/a.csv", "IN/a.csv")),
            ("chmod", lambda: sftp.chmod("OUT/a.csv", 0o777)),
        ):
            try:
                await action()
                allowed.append(label)
            except REFUSED:
                pass
        return allowed

    assert _run(running, client_keys, script) == []
    assert not any(p.is_symlink() for p in running.folder(SENDER, "OUT").iterdir())


def test_a_planted_symlink_is_not_followed(running: RunningPlatform, client_keys: dict[str, Path]) -> None:
    os.symlink(running.folder(HERNING, "IN"), running.folder(SENDER, "IN") / "elsewhere")
    os.symlink("/etc/passwd", running.folder(SENDER, "IN") / "passwd")

    async def script(sftp: asyncssh.SFTPClient) -> list[str]:
        allowed = []
        for label, action in (
            ("read", lambda: sftp.open("IN/passwd", "rb")),
            ("list", lambda: sftp.listdir("IN/elsewhere")),
            ("stat", lambda: sftp.stat("IN/passwd")),
        ):
            try:
                await action()
                allowed.append(label)
            except REFUSED:
                pass
        return allowed

    assert _run(running, client_keys, script) == []


def test_receiver_may_read_and_delete_its_in(running: RunningPlatform, client_keys: dict[str, Path]) -> None:
    (running.folder(SENDER, "IN") / "r.sftpreceipt").write_bytes(b"<r/>")

    async def script(sftp: asyncssh.SFTPClient) -> bytes:
        async with sftp.open("IN/r.sftpreceipt", "rb") as file:
            content = await file.read()
        await sftp.remove("IN/r.sftpreceipt")
        return bytes(content)

    assert _run(running, client_keys, script) == b"<r/>"
    assert not (running.folder(SENDER, "IN") / "r.sftpreceipt").exists()
