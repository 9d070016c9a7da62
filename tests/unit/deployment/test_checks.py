"""The plain checks of ``sf1630 preflight``: their lines, the warehouse kind, the SMTP probe."""

from __future__ import annotations

import socket
from pathlib import Path

from sf1630.database import Database
from sf1630.deployment.checks import (
    Check,
    CheckFailed,
    SmtpServer,
    checklist,
    run_check,
    smtp_answers,
    warehouse_writable,
)

from tests.support.mail import MailBox


def test_a_check_never_raises_and_a_failure_says_what_to_do() -> None:
    def broken() -> str:
        raise KeyError("no such thing")

    def refused() -> str:
        raise CheckFailed("IN/ does not exist", "ask KOMBIT")

    assert run_check("it", lambda: "fine", "fix") == Check("ok", "it", "fine")
    assert run_check("it", broken, "do this").line() == "FAIL  it: KeyError: 'no such thing'. Fix: do this"
    assert run_check("it", refused, "unused").line() == "FAIL  it: IN/ does not exist. Fix: ask KOMBIT"
    lines = checklist([Check("ok", "a", "x"), Check("FAIL", "b", "y", "z"), Check("skip", "c", "w")])
    assert lines.splitlines() == ["ok    a: x", "FAIL  b: y. Fix: z", "skip  c: w", "3 checks, 1 failed"]


def test_sqlite_is_no_warehouse(tmp_path: Path) -> None:
    check = run_check("w", lambda: warehouse_writable(Database.sqlite(tmp_path / "w.sqlite")), "")
    assert check.status == "FAIL" and "cannot be a warehouse" in check.detail


def test_smtp_probe_sends_no_mail(smtp_server: tuple[int, MailBox]) -> None:
    port, mailbox = smtp_server
    server = SmtpServer("127.0.0.1", port, use_ssl=False, starttls=False, timeout=10)
    assert smtp_answers(server) == f"127.0.0.1:{port} answered EHLO, NOOP"
    assert mailbox.messages == []


def test_smtp_probe_of_a_server_that_is_down_fails() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    server = SmtpServer("127.0.0.1", port, use_ssl=False, starttls=False, timeout=5)
    check = run_check("mail", lambda: smtp_answers(server), "check the connection")
    assert check.status == "FAIL" and check.detail.startswith("ConnectionRefusedError")
