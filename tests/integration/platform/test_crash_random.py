"""Fault injection: the platform is killed at random moments while transfers are in flight, round after round.

Each round starts ``platform serve`` on the same home, lets a random number of senders upload a random number
of transfers, and kills the process: usually with SIGKILL after a random delay, sometimes by
``SF1630_PLATFORM_CRASH_AT`` at a random step (which may also strike while the restart replays the journal).
After the last round the platform runs undisturbed until everything settled, then the exactly-once checks
run over the whole history: every acknowledged trigger has exactly one receipt, a SUCCESS receipt exactly
when both recipients hold the file (same bytes, metadata naming the receipt's transfer), no error receipt
with a delivery, one journal row and one audit line per transfer, nothing left unfinished, an empty spool,
and no delivered inode reachable from a sender's ``OUT/``.

The default run is short (``SF1630_CRASH_ROUNDS``, default 6); ``bench/bench_crash.py`` runs hundreds and
prints the figures (``SF1630_CRASH_SUMMARY`` names a JSON file the test writes them to).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import signal
import sqlite3
import subprocess
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import asyncssh
from sf1630.platform.router import CRASH_ENV, CRASH_STEPS
from sf1630.protocol import METADATA_SUFFIX, RECEIPT_SUFFIX, read_metadata, read_receipt

from tests.support.platform import IKAST, IKAST2, IKAST_CVR, SENDER, connect_pinned, make_trigger

DATA = b"kommunekode;antal\n" + b"0756;12\n" * 200
ROUNDS = int(os.environ.get("SF1630_CRASH_ROUNDS", "6"))
SEED = int(os.environ.get("SF1630_CRASH_SEED", "1630"))
Spawn = Callable[..., subprocess.Popen[bytes]]


@dataclass
class History:
    """What the senders saw, and what was injected."""

    started: set[str] = field(default_factory=set)
    acknowledged: set[str] = field(default_factory=set)
    injections: Counter[str] = field(default_factory=Counter)
    in_flight_at_kill: list[int] = field(default_factory=list)
    restarts: int = 0


class Server:
    """One ``serve`` process on the shared home; ``port`` once it listens, None if it died starting."""

    def __init__(self, spawn: Spawn, config: Path, home: Path, log: Path, **env: str) -> None:
        self.process = spawn(config, home, log, **env)
        self.armed = env.get(CRASH_ENV, "")
        self.port: int | None = None
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            for line in log.read_text(errors="replace").splitlines():
                if line.startswith("listening on 127.0.0.1:"):
                    self.port = int(line.split(":")[1].split()[0])
                    return
            if self.process.poll() is not None:
                return
            time.sleep(0.02)
        raise AssertionError(f"the platform neither listened nor died: {log.read_text()}")


async def _sender(home: Path, port: int, keys: dict[str, Path], names: list[str], history: History) -> None:
    with contextlib.suppress(OSError, asyncssh.Error):
        async with connect_pinned(home, port, SENDER, keys) as conn, conn.start_sftp_client() as sftp:  # type: ignore[attr-defined]
            for name in names:
                history.started.add(name)
                async with sftp.open(f"OUT/{name}", "wb") as file:
                    await file.write(DATA)
                async with sftp.open(f"OUT/{name}.trigger", "wb") as file:
                    await file.write(make_trigger(name, len(DATA), authority=IKAST_CVR))
                history.acknowledged.add(name)


async def _round(
    server: Server, home: Path, keys: dict[str, Path], rng: random.Random, first: int, history: History
) -> int:
    """Senders upload while the process is killed (or kills itself); returns the next free name index."""
    assert server.port is not None
    batches: list[list[str]] = []
    for _ in range(rng.randint(2, 6)):
        count = rng.randint(2, 8)
        batches.append([f"KY_LIS_75600000_M03_2026{first + i:010d}.csv" for i in range(count)])
        first += count
    senders = asyncio.ensure_future(
        asyncio.gather(*(_sender(home, server.port, keys, b, history) for b in batches))
    )
    # The kill's random delay counts from the first upload of this round, so it lands while transfers are
    # in flight however slowly the senders connect on a loaded machine.
    started = len(history.started)
    deadline = time.monotonic() + 60
    while len(history.started) == started and not senders.done() and time.monotonic() < deadline:
        await asyncio.sleep(0.005)
    await asyncio.wait([senders], timeout=rng.uniform(0.0, 0.4))
    answered = {n.removesuffix(RECEIPT_SUFFIX) for n in os.listdir(home / "users" / SENDER / "IN")}
    history.in_flight_at_kill.append(len(history.started - answered))
    if server.process.poll() is None:
        server.process.send_signal(signal.SIGKILL)
        history.injections["sigkill"] += 1
    else:
        history.injections[f"crash_at_{server.armed}"] += 1
    await senders
    return first


def _unfinished(home: Path) -> int:
    with contextlib.closing(sqlite3.connect(home / "journal.sqlite")) as db:
        return int(db.execute("SELECT count(*) FROM transfers WHERE state != 'done'").fetchone()[0])


def _settle(home: Path, history: History) -> None:
    out, receipts = home / "users" / SENDER / "OUT", home / "users" / SENDER / "IN"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        pending = [n for n in os.listdir(out) if n.endswith(".trigger")]
        missing = [n for n in history.acknowledged if not (receipts / (n + RECEIPT_SUFFIX)).exists()]
        if not pending and not missing and _unfinished(home) == 0:
            return
        time.sleep(0.1)
    raise AssertionError(f"did not settle: triggers {pending}, receipts missing for {missing}")


def _check_exactly_once(home: Path, history: History) -> dict[str, int]:
    users = home / "users"
    receipts = {
        n.removesuffix(RECEIPT_SUFFIX): read_receipt((users / SENDER / "IN" / n).read_bytes())
        for n in os.listdir(users / SENDER / "IN")
    }
    assert set(receipts) <= history.started, set(receipts) - history.started
    assert history.acknowledged <= set(receipts), "an acknowledged trigger lost its answer"
    delivered = {
        r: {n for n in os.listdir(users / r / "IN") if not n.endswith(METADATA_SUFFIX)}
        for r in (IKAST, IKAST2)
    }
    succeeded = {n for n, r in receipts.items() if r.ok}
    for recipient, names in delivered.items():
        assert names == succeeded, (recipient, names ^ succeeded)
        listing = set(os.listdir(users / recipient / "IN"))
        assert listing == names | {n + METADATA_SUFFIX for n in names}
        for name in names:
            assert (users / recipient / "IN" / name).read_bytes() == DATA
            metadata = read_metadata((users / recipient / "IN" / (name + METADATA_SUFFIX)).read_bytes())
            assert metadata.file_transfer_uuid == receipts[name].file_transfer_uuid
    out_inodes = {(os.lstat(p).st_dev, os.lstat(p).st_ino) for p in (users / SENDER / "OUT").iterdir()}
    for name in succeeded:
        info = os.lstat(users / IKAST / "IN" / name)
        assert (info.st_dev, info.st_ino) not in out_inodes
    with contextlib.closing(sqlite3.connect(home / "journal.sqlite")) as db:
        rows = db.execute("SELECT id, outcome, receipt_name FROM transfers").fetchall()
    assert _unfinished(home) == 0
    by_uuid = {row[0]: row for row in rows}
    for receipt in receipts.values():
        assert by_uuid[receipt.file_transfer_uuid][1] == ("success" if receipt.ok else "failure")
    assert len([r for r in rows if r[1] == "success"]) == len(succeeded), "a file was transferred twice"
    audit = [
        json.loads(line)
        for line in (home / "audit.log").read_text().splitlines()
        if line.strip().startswith("{")
    ]
    audited = Counter(line["file_transfer_uuid"] for line in audit)
    assert set(audited) == set(by_uuid) and set(audited.values()) == {1}, "one audit line per transfer"
    assert os.listdir(home / "spool") == []
    return {
        "transfers_started": len(history.started),
        "triggers_acknowledged": len(history.acknowledged),
        "receipts": len(receipts),
        "success": len(succeeded),
        "failure": len(receipts) - len(succeeded),
        "journal_rows": len(rows),
    }


def _listening(spawn: Spawn, config: Path, home: Path, server: Server, log: Path, history: History) -> Server:
    """Restart (unarmed) until a server listens: an armed step may strike while the journal is replayed."""
    attempt = 0
    while server.port is None:
        assert server.process.wait(30) == 137, log.read_text()
        history.injections["crash_at_during_replay"] += 1
        attempt += 1
        server = Server(spawn, config, home, log.with_suffix(f".replay{attempt}.log"))
    return server


def test_random_kills_while_transfers_are_in_flight_lose_and_double_nothing(
    spawn: Spawn, config_path: Path, tmp_path: Path, client_keys: dict[str, Path]
) -> None:
    home, rng, history = tmp_path / "home", random.Random(SEED), History()
    next_name = 0
    log = tmp_path / "serve-0.log"
    server = Server(spawn, config_path, home, log)
    for index in range(ROUNDS):
        server = _listening(spawn, config_path, home, server, log, history)
        next_name = asyncio.run(_round(server, home, client_keys, rng, next_name, history))
        server.process.wait(30)
        history.restarts += 1
        armed = {CRASH_ENV: rng.choice(CRASH_STEPS)} if rng.random() < 0.3 and index < ROUNDS - 1 else {}
        log = tmp_path / f"serve-{index + 1}.log"
        server = Server(spawn, config_path, home, log, **armed)
    server = _listening(spawn, config_path, home, server, log, history)
    _settle(home, history)
    figures = _check_exactly_once(home, history)
    server.process.send_signal(signal.SIGTERM)
    assert server.process.wait(30) == 0
    summary = {
        "rounds": ROUNDS,
        "fault_injections": sum(history.injections.values()),
        "injections": dict(sorted(history.injections.items())),
        "rounds_with_transfers_in_flight_at_kill": sum(1 for n in history.in_flight_at_kill if n),
        "restarts": history.restarts,
        **figures,
    }
    print(json.dumps(summary))
    if os.environ.get("SF1630_CRASH_SUMMARY"):
        Path(os.environ["SF1630_CRASH_SUMMARY"]).write_text(json.dumps(summary, indent=2))
    assert summary["fault_injections"] >= ROUNDS
    assert summary["rounds_with_transfers_in_flight_at_kill"] > 0, (
        "no kill landed while transfers were in flight"
    )
