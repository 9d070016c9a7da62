"""``sf1630 preflight`` against real parts: the emulator (SFTP with its host key), PostgreSQL, an SMTP server.

The deployment is KY (simple pattern) delivering to Herning's LIS system, both sides in one configuration
folder as in the demo. Each test breaks one thing and reads the checklist: that check FAILs with what to do,
the others still report, the exit status is 1, and nothing is uploaded to the platform.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
import pytest
import yaml
from sf1630.cli import main
from sf1630.database import Database
from sf1630.dataspec.spec import load_spec
from sf1630.platform.process import RunningEmulator
from sf1630.protocol import Period
from sf1630.registry import platform_config
from sf1630.sender.source import seed_source

from tests.support import emulator as platform
from tests.support.config import write_config
from tests.support.mail import MailBox, smtp_connection
from tests.support.postgres import POSTGRES_DSN

SENDER = "KY_SFTPSIMPEL"
LIS = "HERNING_LIS01_SIMPEL"
HERNING = "657"
PASSWORD = "preflight-test-only"
PERIOD = "2026-10"


def _fingerprint(line: str) -> str:
    import base64

    import paramiko

    kind, blob = line.split()[:2]
    return f"{kind} {paramiko.PKey.from_type_string(kind, base64.b64decode(blob)).fingerprint}"


def _other_host_key() -> str:
    import asyncssh

    key = asyncssh.generate_private_key("ssh-ed25519")
    return " ".join(key.export_public_key().decode().split()[:2])


def _sftp(running: RunningEmulator, user: str) -> dict[str, Any]:
    connection = platform.sftp_connection(
        running.port, running.host_key, login=user, password=PASSWORD, look_for_keys=False
    )
    return dict(json.loads(connection))


def write_deployment(folder: Path, store: Path) -> Path:
    """The demo's configuration narrowed to KY and Herning, the receivers' store under ``store``."""
    write_config(folder, kommuner=(HERNING,), receivers={"storage": f"file://{store}", "accepts": ["KY"]})
    senders = yaml.safe_load((folder / "senders.yaml").read_text(encoding="utf-8"))
    senders["senders"] = [s for s in senders["senders"] if s["code"] == "KY"]
    text = yaml.safe_dump(senders, allow_unicode=True, sort_keys=False)
    (folder / "senders.yaml").write_text(text, encoding="utf-8")
    return folder


@dataclass
class Deployment:
    """One test's deployment: its configuration folder and connections, which a test may break first."""

    folder: Path
    emulator: RunningEmulator
    store: Path
    mailbox: MailBox
    connections: dict[str, dict[str, Any]] = field(default_factory=dict)

    def environment(self) -> dict[str, str]:
        return {f"AIRFLOW_CONN_{c.upper()}": json.dumps(v) for c, v in self.connections.items()}

    def run(
        self, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
    ) -> tuple[int, list[str]]:
        """``sf1630 preflight`` in this process: its exit status and its checklist lines."""
        for name in [n for n in os.environ if n.startswith("AIRFLOW_CONN_SF1630_")]:
            monkeypatch.delenv(name)
        for name, value in self.environment().items():
            monkeypatch.setenv(name, value)
        args = ["preflight", "--config", str(self.folder), "--kommune", HERNING, "--period", PERIOD]
        status = main(args)
        captured = capsys.readouterr()
        # The test's own servers log into the same output (test_the_command_prints_... runs the command
        # alone and checks for tracebacks): keep the checklist's lines.
        checklist = re.compile(r"(ok  |FAIL|skip)  |[0-9]+ checks?, ")
        return status, [entry for entry in captured.out.splitlines() if checklist.match(entry)]


def line(lines: list[str], what: str) -> str:
    [found] = [entry for entry in lines if what in entry]
    return found


@pytest.fixture
def emulator(tmp_path: Path) -> Iterator[RunningEmulator]:
    config = platform_config(
        kommune_codes={HERNING},
        sender_codes={"KY"},
        passwords={SENDER: PASSWORD, LIS: PASSWORD},
        extra={"router": {"rescan_interval": "1s"}},
    )
    with platform.start(config, tmp_path / "platform") as running:
        yield running


@pytest.fixture
def deployment(
    tmp_path: Path, emulator: RunningEmulator, pg_schema: str, smtp_server: tuple[int, MailBox]
) -> Deployment:
    """Everything set up right: both SFTP users with the pinned host key, a seeded source, a ledger, the
    PostgreSQL warehouse, a local store and the SMTP server."""
    source = tmp_path / "source.sqlite"
    spec = load_spec("ky")
    seed_source(Database.sqlite(source), spec, ["65700000"], Period.parse(PERIOD), rows_per_kommune=5)
    port, mailbox = smtp_server
    connections = {
        "sf1630_sftp_ky": _sftp(emulator, SENDER),
        "sf1630_sftp_herning_lis01_simpel": _sftp(emulator, LIS),
        "sf1630_source_ky": {"conn_type": "sqlite", "host": str(source)},
        "sf1630_sender_ledger": {"conn_type": "sqlite", "host": str(tmp_path / "ledger.sqlite")},
        "sf1630_warehouse": {
            "conn_type": "postgres",
            "host": "127.0.0.1",
            "port": 5432,
            "login": "postgres",
            "schema": "test",
            "extra": {"schema": pg_schema},
        },
        "sf1630_smtp": json.loads(smtp_connection(port)),
    }
    folder = write_deployment(tmp_path / "config", tmp_path / "store")
    return Deployment(folder, emulator, tmp_path / "store", mailbox, connections)


def _platform_files(running: RunningEmulator) -> dict[str, list[str]]:
    return {f"{u}/{f}": running.files(u, f) for u in (SENDER, LIS) for f in ("IN", "OUT")}


def test_correct_settings_pass_every_check_and_change_nothing(
    deployment: Deployment,
    pg_schema: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    before = _platform_files(deployment.emulator)
    status, lines = deployment.run(monkeypatch, capsys)
    checks = lines[:-1]
    assert status == 0, "\n".join(lines)
    assert all(entry.startswith("ok    ") for entry in checks), "\n".join(lines)
    assert lines[-1] == f"{len(checks)} checks, all ok"
    pinned = _fingerprint(deployment.emulator.host_key)
    for owner, user in (("sender KY", SENDER), (f"LIS {LIS}", LIS)):
        assert f"{user}@127.0.0.1:{deployment.emulator.port}, host key {pinned} verified" in line(
            lines, f"{owner}: SFTP login with the pinned host key"
        )
        for folder in ("IN", "OUT"):
            assert f"{folder}/ exists" in line(lines, f"{owner}: folder {folder}/ of {user}")
    assert "created and dropped a scratch table" in line(lines, "warehouse sf1630_warehouse writable")
    assert "wrote, read and deleted" in line(lines, "object store writable")
    assert "answered EHLO, NOOP" in line(lines, "mail: SMTP server of connection sf1630_smtp")
    # Nothing changed: no file on the platform, no table in the warehouse, no probe in the store, no mail.
    assert _platform_files(deployment.emulator) == before == {k: [] for k in before}
    with psycopg.connect(POSTGRES_DSN) as conn:
        tables = conn.execute("SELECT count(*) FROM pg_tables WHERE schemaname = %s", [pg_schema]).fetchone()
    assert tables == (0,)
    assert not [p for p in deployment.store.rglob("*") if p.is_file()]
    assert deployment.mailbox.messages == []


def test_wrong_host_key_fails_that_check_and_says_so(
    deployment: Deployment, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    wrong = _other_host_key()
    deployment.connections["sf1630_sftp_ky"]["extra"]["host_key"] = wrong
    status, lines = deployment.run(monkeypatch, capsys)
    assert status == 1
    login = line(lines, "sender KY: SFTP login with the pinned host key")
    assert login.startswith("FAIL  ") and "the host key is wrong" in login
    assert f"the server presents {_fingerprint(deployment.emulator.host_key)}" in login
    assert f"pins {_fingerprint(wrong)}" in login and "Fix: " in login
    assert line(lines, f"sender KY: folder IN/ of {SENDER}").startswith("skip  ")
    # The other checks still report.
    assert line(lines, f"LIS {LIS}: SFTP login with the pinned host key").startswith("ok    ")
    assert line(lines, "warehouse sf1630_warehouse writable").startswith("ok    ")
    assert line(lines, "mail: SMTP server").startswith("ok    ")
    assert lines[-1].endswith(", 1 failed")


def test_the_command_prints_the_checklist_and_exits_1_without_a_traceback(deployment: Deployment) -> None:
    """As a user runs it: a separate process, connections from the environment."""
    deployment.connections["sf1630_sftp_ky"]["extra"]["host_key"] = _other_host_key()
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW_CONN_")}
    env |= deployment.environment() | {"SF1630_CONFIG_DIR": str(deployment.folder)}
    command = [str(Path(sys.executable).with_name("sf1630")), "preflight", "--kommune", HERNING]
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=180, check=False)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    assert result.stdout.startswith(f"sf1630 preflight: {deployment.folder} (sides: sender, LIS)\n")
    assert "FAIL  sender KY: SFTP login with the pinned host key: the host key is wrong" in result.stdout
    _, *checks, summary = result.stdout.splitlines()
    assert all(re.match(r"(ok  |FAIL|skip)  ", entry) for entry in checks), "no log lines in the checklist"
    assert summary == f"{len(checks)} checks, 1 failed"


def test_missing_host_key_fails_and_shows_the_server_s_fingerprint(
    deployment: Deployment, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    del deployment.connections["sf1630_sftp_herning_lis01_simpel"]["extra"]["host_key"]
    status, lines = deployment.run(monkeypatch, capsys)
    assert status == 1
    login = line(lines, f"LIS {LIS}: SFTP login with the pinned host key")
    assert login.startswith("FAIL  ") and "the host key is not pinned" in login
    assert f"the server presents {_fingerprint(deployment.emulator.host_key)}" in login
    assert "ssh-keyscan" in login and "extra.host_key" in login
    assert line(lines, "sender KY: SFTP login with the pinned host key").startswith("ok    ")


def test_missing_connection_fails_and_skips_what_needs_it(
    deployment: Deployment, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    del deployment.connections["sf1630_sftp_herning_lis01_simpel"]
    status, lines = deployment.run(monkeypatch, capsys)
    assert status == 1
    resolved = line(lines, f"LIS {LIS}: connection sf1630_sftp_herning_lis01_simpel")
    assert resolved.startswith("FAIL  ")
    assert "not found (no AIRFLOW_CONN_SF1630_SFTP_HERNING_LIS01_SIMPEL" in resolved
    assert line(lines, f"LIS {LIS}: SFTP login").startswith("skip  ")
    assert line(lines, "object store writable").startswith("ok    ")


def test_extract_that_misses_the_spec_fails_naming_column_and_kommune(
    deployment: Deployment, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import contextlib
    import sqlite3

    source = Path(deployment.connections["sf1630_source_ky"]["host"])
    with contextlib.closing(sqlite3.connect(source)) as conn, conn:
        conn.execute("ALTER TABLE ky_ydelser RENAME COLUMN status TO state")
    status, lines = deployment.run(monkeypatch, capsys)
    assert status == 1
    extract = line(lines, f"sender KY: extract for Herning {PERIOD}")
    # SQLite reads the generated query's "status", no longer a column, as a text: the check names both.
    assert extract.startswith(
        f"FAIL  sender KY: extract for Herning {PERIOD}: Herning: the extract does not fit data spec ky: "
        'missing column(s) status; column(s) not in the spec: "status". Fix: correct extract_sql'
    ), extract
    assert line(lines, "sender KY: SFTP login").startswith("ok    ")  # the other checks still run


def test_wrong_password_is_a_refused_login(
    deployment: Deployment, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    deployment.connections["sf1630_sftp_ky"]["password"] = "not-the-password"
    status, lines = deployment.run(monkeypatch, capsys)
    assert status == 1
    assert f"the server refused the login of {SENDER}" in line(lines, "sender KY: SFTP login")


@pytest.mark.parametrize("folder", ["IN", "OUT"])
def test_missing_folder_fails(
    folder: str, deployment: Deployment, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    deployment.emulator.folder(LIS, folder).rmdir()
    status, lines = deployment.run(monkeypatch, capsys)
    assert status == 1
    missing = line(lines, f"LIS {LIS}: folder {folder}/ of {LIS}")
    assert missing.startswith("FAIL  ") and f"{folder}/ does not exist" in missing and "KOMBIT" in missing
    other = "OUT" if folder == "IN" else "IN"
    assert line(lines, f"LIS {LIS}: folder {other}/ of {LIS}").startswith("ok    ")


@pytest.fixture
def powerless_role() -> Iterator[str]:
    """A PostgreSQL login that may connect to database ``test`` but create nothing in it."""
    role = f"sf1630_preflight_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(POSTGRES_DSN, autocommit=True) as conn:
        conn.execute(f'CREATE ROLE "{role}" LOGIN')
    try:
        yield role
    finally:
        with psycopg.connect(POSTGRES_DSN, autocommit=True) as conn:
            conn.execute(f'DROP ROLE IF EXISTS "{role}"')


def test_unwritable_warehouse_fails(
    deployment: Deployment,
    powerless_role: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    warehouse = deployment.connections["sf1630_warehouse"]
    warehouse["login"] = powerless_role
    warehouse["extra"]["schema"] = f"{powerless_role}_lis"
    status, lines = deployment.run(monkeypatch, capsys)
    assert status == 1
    writable = line(lines, "warehouse sf1630_warehouse writable")
    assert writable.startswith("FAIL  ") and "permission denied" in writable
    assert "create the schema and tables" in writable
    assert line(lines, "connection sf1630_warehouse (warehouse)").startswith("ok    ")


def test_unreachable_warehouse_fails(
    deployment: Deployment, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    deployment.connections["sf1630_warehouse"]["port"] = _closed_port()
    status, lines = deployment.run(monkeypatch, capsys)
    assert status == 1
    unreachable = line(lines, "warehouse sf1630_warehouse writable")
    assert unreachable.startswith("FAIL  ") and "writable: OperationalError: connection failed" in unreachable


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_smtp_down_fails(
    deployment: Deployment, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    deployment.connections["sf1630_smtp"]["port"] = _closed_port()
    status, lines = deployment.run(monkeypatch, capsys)
    assert status == 1
    mail = line(lines, "mail: SMTP server of connection sf1630_smtp accepts a connection")
    assert mail.startswith("FAIL  ") and "connection: ConnectionRefusedError" in mail
    assert "Fix: check host, port" in mail


def test_no_mail_connection_is_not_a_failure(
    deployment: Deployment, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    del deployment.connections["sf1630_smtp"]
    status, lines = deployment.run(monkeypatch, capsys)
    assert status == 0, "\n".join(lines)
    assert "not set: on-call messages go to the task logs only" in line(lines, "mail: connection sf1630_smtp")


def test_invalid_configuration_names_file_and_line(
    deployment: Deployment, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path = deployment.folder / "receivers.yaml"
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace("quarantine_keep: 30d", "quarantine_keep: 30 days"), encoding="utf-8")
    status, lines = deployment.run(monkeypatch, capsys)
    assert status == 1
    config = line(lines, f"configuration {path}")
    assert config.startswith("FAIL  ") and f"{path}:" in config and "quarantine_keep" in config
    assert not [entry for entry in lines if entry.startswith(f"ok    LIS {LIS}")]
    assert line(lines, "sender KY: SFTP login").startswith("ok    ")  # the sender side is still checked


def test_a_folder_without_configuration_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["preflight", "--config", str(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert "FAIL  configuration" in out and "sf1630 init sender DIR" in out


# Needs the lead's loader (issue 18 item 3): the starters' folders hold one side each (senders.yaml with its
# kommuner; receivers.yaml with its kommune and senders), which the loaders read without the demo's files.

VENDOR_COLUMNS = {  # the starter's sql/ky.sql reads these vendor columns and renames them to the spec's
    "kommune_cvr": "myndighed_cvr",
    "sagsnummer": "sag_id",
    "linje_id": "ydelse_id",
    "borger_pseudonym": "person_noegle",
    "ydelse_type": "ydelsestype",
    "ydelse_kode": "ydelseskode",
    "status_kode": "status",
    "fra_dato": "startdato",
    "til_dato": "slutdato",
    "beloeb_kr": "beloeb",
    "dage": "antal_dage",
    "er_tilbagebetaling": "tilbagebetaling",
    "enhed": "sagsbehandler_enhed",
    "oprettet_tid": "registreret",
}


def _vendor_source(path: Path) -> Path:
    """A SQLite source in the vendor's own shape (table ``ydelse_linje``, its own column names)."""
    import contextlib
    import sqlite3

    seed_source(
        Database.sqlite(path), load_spec("ky"), ["65700000"], Period.parse(PERIOD), rows_per_kommune=5
    )
    renamed = ", ".join(f'"{spec}" AS "{vendor}"' for vendor, spec in VENDOR_COLUMNS.items())
    with contextlib.closing(sqlite3.connect(path)) as conn, conn:
        dated = f"SELECT {renamed}, '2026-10-15' AS udbetalt_dato FROM ky_ydelser"  # noqa: S608
        conn.execute(f"CREATE TABLE ydelse_linje AS {dated}")
        conn.execute("DROP TABLE ky_ydelser")
    return path


def test_the_starters_filled_in_pass_preflight(
    tmp_path: Path,
    emulator: RunningEmulator,
    pg_schema: str,
    smtp_server: tuple[int, MailBox],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """``sf1630 init`` for each side, its connections filled in (the starters' own values are the emulator's
    KY and Herning), and each side's preflight passes on its own folder."""
    port, mailbox = smtp_server
    for side in ("sender", "receiver"):
        assert main(["init", side, str(tmp_path / side)]) == 0
    capsys.readouterr()
    mail = json.loads(smtp_connection(port))
    vendor = {
        "sf1630_sftp_ky": _sftp(emulator, SENDER),
        "sf1630_source_ky": {"conn_type": "sqlite", "host": str(_vendor_source(tmp_path / "vendor.sqlite"))},
        "sf1630_sender_ledger": {"conn_type": "sqlite", "host": str(tmp_path / "ledger.sqlite")},
        "sf1630_smtp": mail,
    }
    lis = {
        "sf1630_sftp_herning_lis01_simpel": _sftp(emulator, LIS),
        "sf1630_warehouse": {
            "conn_type": "postgres",
            "host": "127.0.0.1",
            "port": 5432,
            "login": "postgres",
            "schema": "test",
            "extra": {"schema": pg_schema},
        },
        "sf1630_smtp": mail,
    }
    for side, connections in (("sender", vendor), ("receiver", lis)):
        folder = tmp_path / side / "include" / "sf1630-config"
        deployment = Deployment(folder, emulator, tmp_path / "store", mailbox, connections)
        status, lines = deployment.run(monkeypatch, capsys)
        assert status == 0, "\n".join(lines)
        assert all(entry.startswith("ok    ") for entry in lines[:-1])
    assert mailbox.messages == []


def _name_slack_connection(deployment: Deployment, conn_id: str) -> None:
    """KY's senders.yaml entry names a Slack connection for its on-call messages."""
    path = deployment.folder / "senders.yaml"
    senders = yaml.safe_load(path.read_text(encoding="utf-8"))
    senders["senders"][0]["slack_conn_id"] = conn_id
    path.write_text(yaml.safe_dump(senders, allow_unicode=True, sort_keys=False), encoding="utf-8")


@pytest.mark.parametrize(
    ("connection", "outcome"),
    [
        ({"conn_type": "slackwebhook", "password": "T000/B000/XXXX"}, "ok    "),
        ({"conn_type": "slackwebhook"}, "FAIL  "),
        ({"conn_type": "http", "password": "T000/B000/XXXX"}, "FAIL  "),
    ],
    ids=["webhook-with-token", "no-token", "not-a-webhook"],
)
def test_a_slack_connection_is_checked_without_posting(
    deployment: Deployment,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    connection: dict[str, Any],
    outcome: str,
) -> None:
    _name_slack_connection(deployment, "sf1630_slack")
    deployment.connections["sf1630_slack"] = connection
    status, lines = deployment.run(monkeypatch, capsys)
    slack = line(lines, "Slack: connection sf1630_slack is an incoming webhook")
    assert slack.startswith(outcome), slack
    assert status == (0 if outcome == "ok    " else 1), "\n".join(lines)
    assert ("nothing posted" in slack) if outcome == "ok    " else ("Fix: " in slack)


def test_a_missing_slack_connection_is_not_a_failure(
    deployment: Deployment, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _name_slack_connection(deployment, "sf1630_slack")
    status, lines = deployment.run(monkeypatch, capsys)
    assert status == 0, "\n".join(lines)
    assert "not set" in line(lines, "Slack: connection sf1630_slack")
