"""Issue 11, items 3, 6, 7 and 8: faults that used to lock a transfer, stop retention or lose an audit line.

Each test drives the real router, journal, audit log, retention sweep and (for mail) a real aiosmtpd server.
"""

from __future__ import annotations

import json
import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sf1630.platform.audit import AuditLog
from sf1630.platform.config import PlatformConfig
from sf1630.platform.errorcodes import ErrorCode
from sf1630.platform.folders import IN, OUT, PlatformHome
from sf1630.platform.journal import DONE, Journal
from sf1630.platform.retention import sweep
from sf1630.platform.router import Router
from sf1630.platform.server import Platform, StartupError
from sf1630.protocol import RECEIPT_SUFFIX, read_receipt

from tests.support.mail import smtp_server_with
from tests.support.platform import HERNING, IKAST, IKAST_CVR, SENDER, aged, load_test_config, make_trigger

DATA = b"x;y\n1;2\n"
NAME = "KY_LIS_75600000_M03_20260402134858.csv"
SHORT = {"delete_after": "100s", "warn_before": "40s", "sweep_interval": "1s"}


def _router(config: PlatformConfig, home: PlatformHome) -> Router:
    return Router(config, home, Journal(home.journal), AuditLog(home.audit_log))


def _place(home: PlatformHome, trigger: bytes, trigger_name: str = f"{NAME}.trigger") -> None:
    (home.folder(SENDER, OUT) / NAME).write_bytes(DATA)
    (home.folder(SENDER, OUT) / trigger_name).write_bytes(trigger)


def _trigger_bytes(home: PlatformHome) -> bytes:
    return (home.folder(SENDER, OUT) / f"{NAME}.trigger").read_bytes()


def _receipt(home: PlatformHome, name: str = NAME + RECEIPT_SUFFIX) -> Any:
    return read_receipt((home.folder(SENDER, IN) / name).read_bytes())


# ---------------------------------------------------------------------- item 3: sizes the schema accepts


@pytest.mark.parametrize("size", [2**63 - 1, 2**63, 2**64 - 1, len(DATA) + 1, 0])
def test_any_size_the_schema_accepts_ends_in_a_receipt(
    size: int, config: PlatformConfig, home: PlatformHome
) -> None:
    """SizeInBytes up to 2^64-1 (unsignedLong) used to overflow the journal and lock the transfer for good."""
    _place(home, make_trigger(NAME, size, authority=IKAST_CVR))
    router = _router(config, home)
    assert router.claim(SENDER, f"{NAME}.trigger")
    record = router.process(SENDER, f"{NAME}.trigger")
    assert record is not None and record.outcome == "failure"
    assert [e.code for e in _receipt(home).errors] == [ErrorCode.FILE_SIZE_MISMATCH]
    assert router.journal.count() == router.journal.count(DONE) == 1
    assert not router.is_locked(SENDER, NAME) and not router.is_locked(SENDER, f"{NAME}.trigger")
    # A corrected trigger is processed normally (it used to get "in use").
    (home.folder(SENDER, IN) / (NAME + RECEIPT_SUFFIX)).unlink()
    (home.folder(SENDER, OUT) / f"{NAME}.trigger").write_bytes(
        make_trigger(NAME, len(DATA), authority=IKAST_CVR)
    )
    assert router.claim(SENDER, f"{NAME}.trigger")
    assert router.process(SENDER, f"{NAME}.trigger") is not None
    assert _receipt(home).ok


def test_a_transfer_the_journal_refuses_still_gets_a_receipt(
    config: PlatformConfig, home: PlatformHome
) -> None:
    """A journal that fails (here: closed under the router) must not leave the trigger locked, unanswered."""
    _place(home, make_trigger(NAME, len(DATA), authority=IKAST_CVR))
    router = _router(config, home)
    router.journal.close()
    assert router.claim(SENDER, f"{NAME}.trigger")
    router.process(SENDER, f"{NAME}.trigger")
    assert [e.code for e in _receipt(home).errors] == [ErrorCode.INTERNAL_ERROR]
    assert os.listdir(home.folder(SENDER, OUT)) == [NAME], "trigger removed, data left for the sender"
    assert os.listdir(home.folder(IKAST, IN)) == []
    assert not router.is_locked(SENDER, NAME) and not router.is_locked(SENDER, f"{NAME}.trigger")


# ---------------------------------------------------------------------- item 5 (unit): receipt names


def test_an_existing_receipt_is_never_replaced(config: PlatformConfig, home: PlatformHome) -> None:
    earlier = home.folder(SENDER, IN) / (NAME + RECEIPT_SUFFIX)
    earlier.write_bytes(b"an earlier answer")
    _place(home, make_trigger(NAME, len(DATA), authority=IKAST_CVR))
    router = _router(config, home)
    assert router.claim(SENDER, f"{NAME}.trigger")
    record = router.process(SENDER, f"{NAME}.trigger")
    assert record is not None and record.outcome == "success"
    assert earlier.read_bytes() == b"an earlier answer"
    assert record.receipt_name == f"{NAME}.{record.id}{RECEIPT_SUFFIX}"
    assert _receipt(home, record.receipt_name).ok


def test_a_receipt_name_taken_after_planning_moves_to_the_transfer_id(
    config: PlatformConfig, home: PlatformHome
) -> None:
    """Even a file appearing between planning and writing is not replaced; the journal learns the name."""
    _place(home, make_trigger(NAME, len(DATA), authority=IKAST_CVR))
    router = _router(config, home)
    assert router.claim(SENDER, f"{NAME}.trigger")
    record = router._plan(
        SENDER, f"{NAME}.trigger", (home.folder(SENDER, OUT) / f"{NAME}.trigger").read_bytes()
    )
    router.journal.accept(record)
    (home.folder(SENDER, IN) / record.receipt_name).write_bytes(b"someone else's")
    router._execute(record)
    assert (home.folder(SENDER, IN) / (NAME + RECEIPT_SUFFIX)).read_bytes() == b"someone else's"
    assert _receipt(home, record.id + RECEIPT_SUFFIX).ok


# ---------------------------------------------------------------------- item 6: one process per home


def test_a_second_platform_on_one_home_refuses_to_start(tmp_path: Path, config: PlatformConfig) -> None:
    first = Platform(config, tmp_path / "home", workers=1)
    try:
        with pytest.raises(StartupError, match="in use by another platform process"):
            Platform(config, tmp_path / "home", workers=1)
    finally:
        first.journal.close()
        first.audit.close()
        first.release()
    second = Platform(config, tmp_path / "home", workers=1)
    second.journal.close()
    second.audit.close()
    second.release()


# ---------------------------------------------------------------------- item 8: crash leftovers


def test_restart_cleans_the_spool(tmp_path: Path, config: PlatformConfig) -> None:
    home = PlatformHome(tmp_path / "home")
    home.prepare(config)
    for index in range(3):
        (home.spool / f"{index:032x}.tmp").write_bytes(b"half a receipt")
    platform = Platform(config, home.root, workers=1)
    try:
        assert os.listdir(home.spool) == []
    finally:
        platform.journal.close()
        platform.audit.close()
        platform.release()


def test_a_replay_after_the_audit_line_writes_no_second_one(
    config: PlatformConfig, home: PlatformHome
) -> None:
    """Killed between the audit line and *done*: the restart finishes the transfer, one line in all."""
    _place(home, make_trigger(NAME, len(DATA), authority=IKAST_CVR))
    first = _router(config, home)
    assert first.claim(SENDER, f"{NAME}.trigger")
    record = first.process(SENDER, f"{NAME}.trigger")
    assert record is not None
    first.journal.set_state(record.id, "cleaned")  # as if killed after the audit line, before "done"
    first.journal.close()
    first.audit.close()
    second = _router(config, home)
    assert second.resume() == 1
    second.audit.close()
    lines = [json.loads(line) for line in home.audit_log.read_text().splitlines()]
    assert [line["file_transfer_uuid"] for line in lines] == [record.id]
    assert second.journal.count(DONE) == 1


def test_a_replay_before_the_audit_line_writes_it(config: PlatformConfig, home: PlatformHome) -> None:
    _place(home, make_trigger(NAME, len(DATA), authority=IKAST_CVR))
    first = _router(config, home)
    assert first.claim(SENDER, f"{NAME}.trigger")
    record = first._plan(
        SENDER, f"{NAME}.trigger", (home.folder(SENDER, OUT) / f"{NAME}.trigger").read_bytes()
    )
    first.journal.accept(record)
    first.journal.close()
    home.audit_log.write_text('{"event": "transfer", "file_transfer_uuid": "torn', encoding="utf-8")
    second = _router(config, home)
    assert second.resume() == 1
    second.audit.close()
    lines = home.audit_log.read_text().splitlines()
    assert json.loads(lines[-1])["file_transfer_uuid"] == record.id, "a torn last line does not swallow it"
    assert sum(record.id in line for line in lines) == 1


# ---------------------------------------------------------------------- item 7: one mail error


class _Picky:
    """An aiosmtpd handler that refuses one recipient and keeps every other message."""

    def __init__(self, refused: str) -> None:
        self.refused = refused
        self.delivered: list[str] = []

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, options: Any) -> str:
        if address == self.refused:
            return "550 5.1.1 mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.delivered.extend(envelope.rcpt_tos)
        return "250 OK"


@pytest.fixture
def picky_smtp() -> Iterator[tuple[_Picky, int]]:
    with smtp_server_with(_Picky(f"{SENDER.lower()}@test.example")) as (port, handler):
        yield handler, port


def test_a_refused_mail_does_not_stop_retention(tmp_path: Path, picky_smtp: tuple[_Picky, int]) -> None:
    handler, port = picky_smtp
    mail = {"smtp_host": "127.0.0.1", "smtp_port": port, "from": "sftp@serviceplatform.local"}
    config = load_test_config(tmp_path, retention=SHORT, mail=mail)
    home = PlatformHome(tmp_path / "home")
    home.prepare(config)
    journal = Journal(home.journal)
    now = time.time()
    aged(home.folder(SENDER, OUT) / "a.csv", 70, now)  # first user: the mail server refuses this owner
    aged(home.folder(IKAST, IN) / "b.csv", 70, now)
    aged(home.folder(HERNING, IN) / "c.csv", 150, now)
    result = sweep(config, home, journal, now=now)
    assert result.failed == [f"{SENDER}/OUT/a.csv"]
    assert result.warned == [f"{IKAST}/IN/b.csv"] and result.deleted == [f"{HERNING}/IN/c.csv"]
    assert handler.delivered == [f"{IKAST.lower()}@test.example"]
    handler.refused = ""
    again = sweep(config, home, journal, now=now + 1)
    assert again.warned == [f"{SENDER}/OUT/a.csv"] and again.failed == [], "the failed mail is retried"


def test_an_unreachable_mail_server_does_not_stop_deletion(tmp_path: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])  # closed again: nothing listens there
    mail = {"smtp_host": "127.0.0.1", "smtp_port": port, "from": "sftp@serviceplatform.local"}
    config = load_test_config(tmp_path, retention=SHORT, mail=mail)
    home = PlatformHome(tmp_path / "home")
    home.prepare(config)
    journal = Journal(home.journal)
    now = time.time()
    aged(home.folder(SENDER, OUT) / "a.csv", 70, now)
    aged(home.folder(HERNING, IN) / "c.csv", 150, now)
    result = sweep(config, home, journal, now=now)
    assert result.failed == [f"{SENDER}/OUT/a.csv"] and result.deleted == [f"{HERNING}/IN/c.csv"]
