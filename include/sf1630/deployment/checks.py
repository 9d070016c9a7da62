"""The checks of ``sf1630 preflight`` that need no Airflow, and the checklist they make up.

Each check answers, before the first month, a question the month would otherwise answer the hard way (a
failed run, a page at night): does the login work with the pinned host key, are ``IN/`` and ``OUT/`` there,
can the warehouse take a table, can the store take a file, does the mail server answer. A check never raises:
whatever goes wrong becomes a FAIL line saying what was checked, what went wrong and what to do about it.
Nothing here changes anything on the platform: over SFTP the checks only stat and list.
"""

from __future__ import annotations

import base64
import smtplib
import socket
import ssl
import stat
import uuid
from collections.abc import Callable, Iterable, Sequence
from contextlib import suppress
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from sf1630.database import Database, quoted
from sf1630.receiver.storage import Storage, write_private

if TYPE_CHECKING:
    from paramiko import PKey, SFTPClient

#: ``ok`` passed; ``FAIL`` did not (exit status 1); ``skip`` could not run because a check it needs failed.
Status = Literal["ok", "FAIL", "skip"]

#: What to do about a host key that is missing or wrong (docs/deploy.md, "Pin the host key").
PIN_HOST_KEY = (
    "run `ssh-keyscan -p PORT HOST`, compare `ssh-keygen -lf` of its output with the fingerprint KOMBIT "
    "gives you, and put the `<type> <base64>` line in the connection's extra.host_key (docs/deploy.md)"
)


@dataclass(frozen=True)
class Check:
    """One line of the checklist: what was checked, the outcome, and what to do when it failed."""

    status: Status
    what: str
    detail: str = ""
    fix: str = ""

    def line(self) -> str:
        """``ok    what: detail`` or ``FAIL  what: detail. Fix: fix``."""
        text = f"{self.status:<4}  {self.what}"
        if self.detail:
            text += f": {self.detail}"
        if self.status == "FAIL" and self.fix:
            text += f". Fix: {self.fix}"
        return text


class CheckFailed(Exception):
    """A check's own verdict: ``detail`` says what is wrong, ``fix`` (when given) what to do."""

    def __init__(self, detail: str, fix: str = "") -> None:
        super().__init__(detail)
        self.detail, self.fix = detail, fix


def describe(exc: BaseException) -> str:
    """An exception as one short line (its type and the first line of its message)."""
    message = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    text = f"{type(exc).__name__}: {message}" if message else type(exc).__name__
    return text if len(text) <= 300 else text[:297] + "..."


def run_check(what: str, probe: Callable[[], str], fix: str) -> Check:
    """Run ``probe`` (it returns the ok line's detail); any exception is a FAIL line, never a traceback."""
    try:
        return Check("ok", what, probe())
    except CheckFailed as failed:
        return Check("FAIL", what, failed.detail, failed.fix or fix)
    except Exception as exc:
        return Check("FAIL", what, describe(exc), fix)


T = TypeVar("T")


def attempt(what: str, probe: Callable[[], tuple[T, str]], fix: str) -> tuple[Check, T | None]:
    """:func:`run_check` for a probe that also yields a value the next checks need (None when it failed)."""
    found: list[T] = []

    def run() -> str:
        value, detail = probe()
        found.append(value)
        return detail

    check = run_check(what, run, fix)
    return check, (found[0] if found else None)


def skipped(what: str, because: str) -> Check:
    """A check that could not run because one it depends on failed (that one already failed the run)."""
    return Check("skip", what, f"not checked: {because}")


def any_failed(checks: Iterable[Check]) -> bool:
    """Whether a check failed (``skip`` only follows a failure, so it needs no count of its own)."""
    return any(check.status == "FAIL" for check in checks)


def checklist(checks: Sequence[Check]) -> str:
    """The printed checklist: one line per check and a last line with the count."""
    failures = sum(check.status == "FAIL" for check in checks)
    count = f"{len(checks)} check" + ("" if len(checks) == 1 else "s")
    summary = f"{count}, {failures} failed" if failures else f"{count}, all ok"
    return "\n".join([*(check.line() for check in checks), summary])


# --- SFTP: host key, login, folders


def fingerprint(key: PKey) -> str:
    """``ssh-ed25519 SHA256:…``, the form ``ssh-keygen -lf`` prints and KOMBIT can confirm."""
    return f"{key.get_name()} {key.fingerprint}"


def pinned_key(host_key: str) -> PKey:
    """The ``<type> <base64>`` of a connection's ``host_key`` extra as a key; CheckFailed when it is none."""
    import paramiko

    parts = host_key.split()
    try:
        return paramiko.PKey.from_type_string(parts[0], base64.b64decode(parts[1]))
    except Exception:
        raise CheckFailed(
            f"extra.host_key {host_key[:40]!r} is not a public key line `<type> <base64>`", PIN_HOST_KEY
        ) from None


def presented_host_key(host: str, port: int, timeout: float = 10) -> PKey:
    """The host key the server presents (key exchange only, no login): shown beside a missing or wrong pin.

    It is shown for comparison with KOMBIT's fingerprint, never trusted or stored.
    """
    import paramiko

    with socket.create_connection((host, port), timeout=timeout) as sock:
        transport = paramiko.Transport(sock)
        try:
            transport.start_client(timeout=timeout)
            return transport.get_remote_server_key()
        finally:
            transport.close()


def missing_host_key(host: str, port: int) -> CheckFailed:
    """The failure of a connection without ``extra.host_key``, with the fingerprint the server presents."""
    try:
        presents = f"; the server presents {fingerprint(presented_host_key(host, port))}"
    except Exception as exc:
        presents = f"; the server's key could not be read either ({describe(exc)})"
    return CheckFailed(
        f"the host key is not pinned: the connection has no extra.host_key{presents}", PIN_HOST_KEY
    )


def login_failure(exc: BaseException, host: str, port: int, user: str) -> CheckFailed:
    """What a failed SFTP login means for the person setting it up, from paramiko's exception."""
    import paramiko

    if isinstance(exc, paramiko.BadHostKeyException):
        return CheckFailed(
            f"the host key is wrong: the server presents {fingerprint(exc.key)}, but the connection's "
            f"extra.host_key pins {fingerprint(exc.expected_key)}",
            "do not connect until the fingerprint is confirmed: if KOMBIT confirms the server's new "
            "fingerprint, put its key in extra.host_key; otherwise someone may be between you and the "
            "platform (docs/deploy.md)",
        )
    if isinstance(exc, paramiko.AuthenticationException):
        return CheckFailed(
            f"the server refused the login of {user} ({describe(exc)})",
            "check the connection's login and its key (extra.key_file or extra.private_key) or password; "
            "on Serviceplatformen the public key must be registered for this SFTP user's it-system",
        )
    if isinstance(exc, FileNotFoundError):
        return CheckFailed(
            f"a file the connection names does not exist ({describe(exc)})",
            "check extra.key_file: the key must be readable on every machine that runs tasks",
        )
    if isinstance(exc, OSError | socket.timeout | paramiko.ssh_exception.NoValidConnectionsError):
        return CheckFailed(
            f"cannot reach {host}:{port} ({describe(exc)})",
            "check the connection's host and port and that the firewall lets this machine reach the platform",
        )
    return CheckFailed(f"SSH failed ({describe(exc)})", "check the connection's host, port, login and key")


def folder_listing(client: SFTPClient, folder: str) -> str:
    """That ``folder`` exists in the SFTP user's root and is a folder; stat and list only."""
    try:
        attributes = client.stat(folder)
    except FileNotFoundError:
        raise CheckFailed(
            f"{folder}/ does not exist in the SFTP user's root",
            "every SFTP user on Serviceplatformen has IN/ and OUT/: ask KOMBIT to set the user up "
            "(the emulator creates them at start)",
        ) from None
    if not stat.S_ISDIR(attributes.st_mode or 0):
        raise CheckFailed(f"{folder} is not a folder", "ask KOMBIT to set the SFTP user's folders up")
    entries = client.listdir(folder)
    return f"{folder}/ exists ({len(entries)} entries)"


# --- the LIS side's warehouse and object store


def warehouse_writable(db: Database) -> str:
    """Create the schema (as the loader does), a scratch table, a row, drop it: all rolled back at the end."""
    if db.kind != "postgres":
        raise CheckFailed(f"a {db.kind} database cannot be a warehouse", "use a postgres connection")
    schema = quoted(db.schema)
    table = f"{schema}.{quoted('sf1630_preflight_' + uuid.uuid4().hex[:12])}"
    conn: Any = db.connect()
    try:
        for statement in (
            f"CREATE SCHEMA IF NOT EXISTS {schema}",
            f"CREATE TABLE {table} (probe integer)",
            f"INSERT INTO {table} VALUES (1)",  # noqa: S608 (checked, quoted identifiers)
            f"DROP TABLE {table}",
        ):
            conn.execute(statement)
    finally:
        with suppress(Exception):  # a failed statement has aborted the transaction already
            conn.rollback()
        conn.close()
    return f"{db.describe()}: created and dropped a scratch table (rolled back)"


def store_writable(storage: Storage) -> str:
    """Write, read back and delete a probe object where the receiver stages fetched files."""
    probe = storage.staged(f"sf1630-preflight-{uuid.uuid4().hex}.probe")
    content = b"sf1630 preflight probe\n"
    write_private(probe, content)
    try:
        with probe.open("rb") as stored:
            if stored.read() != content:
                raise CheckFailed(f"{probe} reads back differently", "check the object store")
    finally:
        probe.unlink()
    return f"wrote, read and deleted {probe}"


# --- mail


@dataclass(frozen=True)
class SmtpServer:
    """An SMTP connection's fields, read as the SMTP provider reads them (``disable_ssl``/``disable_tls``)."""

    host: str
    port: int | None
    use_ssl: bool
    starttls: bool
    login: str | None = None
    password: str | None = None
    timeout: float = 30

    def __str__(self) -> str:
        return f"{self.host}:{self.port or (465 if self.use_ssl else 25)}"


def smtp_answers(server: SmtpServer) -> str:
    """Connect, EHLO (STARTTLS and login when the connection uses them) and NOOP; no mail is sent."""
    context = ssl.create_default_context()
    client: smtplib.SMTP
    if server.use_ssl:
        client = smtplib.SMTP_SSL(server.host, server.port or 0, timeout=server.timeout, context=context)
    else:
        client = smtplib.SMTP(server.host, server.port or 0, timeout=server.timeout)
    try:
        client.ehlo()
        if server.starttls:
            client.starttls(context=context)
            client.ehlo()
        if server.login and server.password:
            client.login(server.login, server.password)
        code, reply = client.noop()
        if code != 250:
            raise CheckFailed(f"{server} answered NOOP with {code} {reply.decode(errors='replace')}")
    finally:
        with suppress(Exception):
            client.quit()
        client.close()
    steps = "EHLO, STARTTLS, " if server.starttls else "EHLO, "
    return f"{server} answered {steps}{'login, ' if server.login and server.password else ''}NOOP"
