"""Issue 11 item 1: the SFTP server's own request handlers raced against the router, thousands of times.

The SSH round trip makes a race through a real client rare; here the real :class:`PlatformSFTPServer`
handlers (the code every client request runs) spin renames, truncating opens and re-timings of the data
file in one thread while the real router processes the trigger in another. Whatever interleaving happens,
the delivered file must never share an inode with a name in ``OUT/``, keep its bytes and have exactly the
recipients' names.
"""

from __future__ import annotations

import contextlib
import os
import random
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import asyncssh
import pytest
from asyncssh import SFTPAttrs
from sf1630.platform.config import PlatformConfig
from sf1630.platform.folders import IN, OUT
from sf1630.platform.server import Platform, PlatformSFTPServer
from sf1630.protocol import RECEIPT_SUFFIX, read_receipt

from tests.support.platform import IKAST, IKAST2, IKAST_CVR, SENDER, make_trigger

DATA = b"kommunekode;antal\n" + b"0756;12\n" * 500
ROUNDS = int(os.environ.get("SF1630_LINK_RACE_ROUNDS", "200"))
_WRITE_CREATE_TRUNC = 0x02 | 0x08 | 0x10


@pytest.fixture
def fine_switching() -> Iterator[None]:
    """Let the interpreter switch threads every microsecond, so the two threads interleave densely."""
    before = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    yield
    sys.setswitchinterval(before)


@pytest.fixture
def platform(tmp_path: Path, config: PlatformConfig) -> Iterator[Platform]:
    """A real platform (router, journal, audit) that is not listening: the handlers are called directly."""
    running = Platform(config, tmp_path / "home", workers=1)
    yield running
    running.journal.close()
    running.audit.close()
    running.release()


def _handlers(platform: Platform) -> PlatformSFTPServer:
    """The sender's SFTP session handlers without a channel (``__init__`` only binds the channel)."""
    server = object.__new__(PlatformSFTPServer)
    server.user = SENDER
    server.platform = platform
    return server


def _attacks(server: PlatformSFTPServer, name: str) -> list[Callable[[], object]]:
    data, other = f"OUT/{name}".encode(), f"OUT/{name}.moved".encode()
    old = time.time() - 40 * 86400

    def truncate() -> None:
        server.close(server.open(data, _WRITE_CREATE_TRUNC, SFTPAttrs()))

    return [
        lambda: server.rename(data, other),
        lambda: server.rename(other, data),
        truncate,
        lambda: server.setstat(data, SFTPAttrs(atime=old, mtime=old)),
        lambda: server.posix_rename(data, other),
        lambda: server.posix_rename(other, data),
    ]


def _race(platform: Platform, name: str, rng: random.Random) -> bool:
    """One transfer with the handlers hammering its data file from a random moment; True if delivered."""
    out = platform.home.folder(SENDER, OUT)
    (out / name).write_bytes(DATA)
    (out / f"{name}.trigger").write_bytes(make_trigger(name, len(DATA), authority=IKAST_CVR))
    assert platform.router.claim(SENDER, f"{name}.trigger")
    worker = threading.Thread(target=platform.router.process, args=(SENDER, f"{name}.trigger"))
    attacks = _attacks(_handlers(platform), name)
    rng.shuffle(attacks)
    worker.start()
    index, start = 0, time.perf_counter() + rng.uniform(0, 0.004)
    while time.perf_counter() < start:
        pass
    while worker.is_alive():
        with contextlib.suppress(asyncssh.SFTPError, OSError):
            attacks[index % len(attacks)]()
        index += 1
    worker.join()
    receipt = read_receipt((platform.home.folder(SENDER, IN) / (name + RECEIPT_SUFFIX)).read_bytes())
    return receipt.ok


def test_handlers_raced_against_the_router_never_reach_a_delivered_file(
    platform: Platform, fine_switching: None
) -> None:
    delivered, rng = 0, random.Random(1630)
    out = platform.home.folder(SENDER, OUT)
    for index in range(ROUNDS):
        name = f"KY_LIS_75600000_M03_2026040213{index:04d}.csv"
        ok = _race(platform, name, rng)
        names = {(os.lstat(out / n).st_dev, os.lstat(out / n).st_ino): n for n in os.listdir(out)}
        for recipient in (IKAST, IKAST2):
            target = platform.home.folder(recipient, IN) / name
            if not ok:
                assert not target.exists()
                continue
            info = os.lstat(target)
            assert (info.st_dev, info.st_ino) not in names, f"round {index}: OUT/ still names the delivery"
            assert info.st_nlink == 2, f"round {index}: the delivered file has {info.st_nlink} names"
            assert target.read_bytes() == DATA, f"round {index}: the delivered bytes changed"
        delivered += ok
        for left in os.listdir(out):
            (out / left).unlink()
    print(f"{delivered} of {ROUNDS} rounds delivered")
    assert delivered > ROUNDS // 4, f"only {delivered} of {ROUNDS} rounds delivered: the race was not run"
