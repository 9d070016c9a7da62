"""Retention deletes files unchanged for ``delete_after``; owners are warned once, ``warn_before`` earlier."""

from __future__ import annotations

import email
import subprocess
import sys
import time
from pathlib import Path

from sf1630.platform.config import PlatformConfig
from sf1630.platform.folders import IN, OUT, PlatformHome
from sf1630.platform.journal import Journal
from sf1630.platform.retention import sweep

from tests.support import REPO
from tests.support.mail import MailBox
from tests.support.platform import HERNING, SENDER, aged, load_test_config, platform_config

SHORT = {"delete_after": "100s", "warn_before": "40s", "sweep_interval": "1s"}


def test_sweep_warns_once_by_smtp_then_deletes(tmp_path: Path, smtp_server: tuple[int, MailBox]) -> None:
    port, inbox = smtp_server
    mail = {"smtp_host": "127.0.0.1", "smtp_port": port, "from": "sftp@serviceplatform.local"}
    config = load_test_config(tmp_path, retention=SHORT, mail=mail)
    home = PlatformHome(tmp_path / "home")
    home.prepare(config)
    journal = Journal(home.journal)
    now = time.time()
    fresh = aged(home.folder(HERNING, IN) / "fresh.csv", 10, now)
    old = aged(home.folder(HERNING, IN) / "old.csv", 70, now)
    expired = aged(home.folder(SENDER, OUT) / "expired.csv", 101, now)

    first = sweep(config, home, journal, now=now)
    assert first.warned == [f"{HERNING}/IN/old.csv"] and first.deleted == [f"{SENDER}/OUT/expired.csv"]
    assert fresh.exists() and old.exists() and not expired.exists()
    assert [to for to, _ in inbox.messages] == [[f"{HERNING.lower()}@test.example"]]
    message = inbox.messages[0][1]
    assert message["From"] == "sftp@serviceplatform.local" and "IN/old.csv" in message["Subject"]

    second = sweep(config, home, journal, now=now + 5)
    assert second.warned == [] and second.deleted == [] and len(inbox.messages) == 1

    third = sweep(config, home, journal, now=now + 31)
    assert third.deleted == [f"{HERNING}/IN/old.csv"] and len(inbox.messages) == 1


def test_a_changed_file_is_warned_about_again(tmp_path: Path) -> None:
    config = load_test_config(tmp_path, retention=SHORT)
    home = PlatformHome(tmp_path / "home")
    home.prepare(config)
    journal = Journal(home.journal)
    now = time.time()
    path = aged(home.folder(HERNING, IN) / "a.csv", 70, now)
    assert sweep(config, home, journal, now=now).warned == [f"{HERNING}/IN/a.csv"]
    aged(path, 65, now, b"changed")
    assert sweep(config, home, journal, now=now).warned == [f"{HERNING}/IN/a.csv"]
    outbox = sorted(home.outbox.iterdir())
    assert len(outbox) == 2 and all(p.suffix == ".eml" for p in outbox)
    message = email.message_from_bytes(outbox[0].read_bytes())
    assert message["To"] == f"{HERNING.lower()}@test.example"


def test_locked_files_are_left_alone(tmp_path: Path, config: PlatformConfig) -> None:
    from sf1630.platform.audit import AuditLog
    from sf1630.platform.router import Router

    config = load_test_config(tmp_path, retention=SHORT)
    home = PlatformHome(tmp_path / "home")
    home.prepare(config)
    journal = Journal(home.journal)
    router = Router(config, home, journal, AuditLog(None))
    now = time.time()
    aged(home.folder(SENDER, OUT) / "busy.csv", 500, now)
    assert router.claim(SENDER, "busy.csv")
    assert sweep(config, home, journal, router, now=now).deleted == []


def test_sweep_command_writes_outbox_mail(tmp_path: Path) -> None:
    import yaml

    path = tmp_path / "platform.yaml"
    path.write_text(yaml.safe_dump(platform_config(retention=SHORT), allow_unicode=True), encoding="utf-8")
    home = tmp_path / "home"
    (home / "users" / HERNING / IN).mkdir(parents=True)
    aged(home / "users" / HERNING / IN / "a.csv", 70, time.time())
    command = [
        sys.executable,
        "-m",
        "sf1630.platform.cli",
        "sweep",
        "--config",
        str(path),
        "--home",
        str(home),
    ]
    result = subprocess.run(command, capture_output=True, text=True, cwd=REPO, timeout=60)
    assert result.returncode == 0, result.stderr
    assert f"{HERNING}/IN/a.csv" in result.stdout.splitlines()[-1]
    assert len(list((home / "outbox").glob("*.eml"))) == 1
