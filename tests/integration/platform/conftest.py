"""Fixtures for the emulator's integration tests: a real platform (thread or subprocess), keys, triggers.

The platform runs its own asyncio loop in a background thread so that blocking clients (OpenSSH ``sftp``,
paramiko) can talk to it from the test thread; crash tests run it as a subprocess they can kill.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncssh
import pytest
import yaml
from sf1630.platform.config import load_config
from sf1630.platform.server import Platform
from sf1630.protocol import (
    INF_REF_SF1630,
    Trigger,
    to_xml,
)

SENDER = "KY_SFTPSIMPEL"
OTHER_SENDER = "KSD_SFTPSIMPEL"
IKAST = "IKAST-BRANDE_LIS01_SIMPEL"
IKAST2 = "IKAST-BRANDE_LIS02_SIMPEL"
HERNING = "HERNING_LIS01_SIMPEL"
USERS = (SENDER, OTHER_SENDER, IKAST, IKAST2, HERNING)
KY_SYSTEM = uuid.UUID("5f0c2a4e-6b1d-4c8e-9a3f-7d2e1b0c9a81")
KSD_SYSTEM = uuid.UUID("6a1d3b5f-7c2e-4d9f-8b40-8e3f2c1d0b92")
IKAST_SYSTEM = uuid.UUID("e9b2c365-e007-5602-863c-c4569044a4b4")
IKAST2_SYSTEM = uuid.UUID("1c0ffee0-e007-5602-863c-c4569044a4b4")
HERNING_SYSTEM = uuid.UUID("e7d500ef-14a5-58ef-af27-74a9fdd1a83e")
IKAST_CVR, HERNING_CVR = "urn:oio:cvr-nr:75600000", "urn:oio:cvr-nr:65700000"
PASSWORD = "test-only-password"
REPO = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="session")
def client_keys(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """One ed25519 client key per user, private key files in OpenSSH format (public beside, ``.pub``)."""
    folder = tmp_path_factory.mktemp("client-keys")
    keys = {}
    for user in USERS:
        key = asyncssh.generate_private_key("ssh-ed25519", comment=f"{user}@test")
        path = folder / user
        path.write_bytes(key.export_private_key())
        path.chmod(0o600)
        path.with_suffix(".pub").write_bytes(key.export_public_key())
        keys[user] = path
    return keys


def platform_config(keys: dict[str, Path], **extra: Any) -> dict[str, Any]:
    """The test registry: KY routing dynamically, KSD by the simple pattern, Ikast-Brande with two LIS
    systems, Herning with one."""
    users = [
        {
            "name": user,
            "email": f"{user.lower()}@test.example",
            "authorized_keys": [keys[user].with_suffix(".pub").read_text().strip()],
            "password": PASSWORD,
        }
        for user in USERS
    ]
    systems = [
        {"uuid": str(KY_SYSTEM), "name": "KY", "sftp_user": SENDER},
        {"uuid": str(KSD_SYSTEM), "name": "KSD", "sftp_user": OTHER_SENDER},
        {"uuid": str(IKAST_SYSTEM), "name": "Ikast LIS01", "sftp_user": IKAST},
        {"uuid": str(IKAST2_SYSTEM), "name": "Ikast LIS02", "sftp_user": IKAST2},
        {"uuid": str(HERNING_SYSTEM), "name": "Herning LIS01", "sftp_user": HERNING},
    ]
    routes = [
        {
            "inf_ref": INF_REF_SF1630,
            "sender_authority": cvr,
            "sender_it_system": str(KY_SYSTEM),
            "recipient_authority": cvr,
            "recipient_it_system": str(system),
            "sftp_username": user,
        }
        for cvr, system, user in (
            (IKAST_CVR, IKAST_SYSTEM, IKAST),
            (IKAST_CVR, IKAST2_SYSTEM, IKAST2),
            (HERNING_CVR, HERNING_SYSTEM, HERNING),
        )
    ]
    # KSD delivers by the simple pattern (SF1630 §2.1.3), to Herning and Ikast-Brande's first LIS system.
    simple_routes = [{"sender": OTHER_SENDER, "recipient": user} for user in (HERNING, IKAST)]
    config: dict[str, Any] = {
        "users": users,
        "it_systems": systems,
        "routes": routes,
        "simple_routes": simple_routes,
        "retention": {"delete_after": "30d", "warn_before": "10d", "sweep_interval": "1d"},
        "router": {"rescan_interval": "1s"},
    }
    config.update(extra)
    return config


@pytest.fixture
def config_path(tmp_path: Path, client_keys: dict[str, Path]) -> Path:
    """The test configuration written to a file."""
    path = tmp_path / "platform.yaml"
    path.write_text(yaml.safe_dump(platform_config(client_keys), allow_unicode=True), encoding="utf-8")
    return path


def make_trigger(
    file_name: str,
    size: int,
    *,
    sender: str = SENDER,
    it_system: uuid.UUID = KY_SYSTEM,
    authority: str = HERNING_CVR,
    recipient_it_system: uuid.UUID | None = None,
    inf_ref: str = INF_REF_SF1630,
) -> bytes:
    """A trigger document for ``file_name``."""
    trigger = Trigger.routed(
        file_name,
        size,
        sender=sender,
        sender_it_system=it_system,
        authority=authority,
        recipient_it_system=recipient_it_system,
        timestamp=datetime.now(UTC),
        senders_file_id="test-1",
        inf_ref=inf_ref,
    )
    return to_xml(trigger)


def wait_for(path: Path, timeout: float = 10.0) -> Path:
    """Wait until ``path`` exists (receipts appear asynchronously); fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not path.exists():
        if time.monotonic() > deadline:
            raise AssertionError(f"{path} did not appear within {timeout} s")
        time.sleep(0.01)
    return path


@dataclass
class RunningPlatform:
    """A platform served from a background thread."""

    home: Path
    port: int
    platform: Platform
    loop: asyncio.AbstractEventLoop

    def folder(self, user: str, folder: str) -> Path:
        return self.home / "users" / user / folder

    def known_hosts(self, path: Path) -> Path:
        key = (self.home / "host_key.pub").read_text().split()
        path.write_text(f"[127.0.0.1]:{self.port} {key[0]} {key[1]}\n")
        return path


def _serve_in_thread(config_path: Path, home: Path) -> tuple[RunningPlatform, threading.Thread]:
    loop = asyncio.new_event_loop()
    platform = Platform(load_config(config_path), home)
    started = threading.Event()

    def run() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(platform.start("127.0.0.1", 0))
        started.set()
        loop.run_forever()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    assert started.wait(20), "platform did not start"
    return RunningPlatform(home, platform.port, platform, loop), thread


@pytest.fixture
def running(config_path: Path, tmp_path: Path) -> Iterator[RunningPlatform]:
    """A platform with the test configuration, listening on a free port."""
    server, thread = _serve_in_thread(config_path, tmp_path / "home")
    yield server
    asyncio.run_coroutine_threadsafe(server.platform.stop(), server.loop).result(20)
    server.loop.call_soon_threadsafe(server.loop.stop)
    thread.join(20)


def connect_asyncssh(server: RunningPlatform, user: str, keys: dict[str, Path]) -> Any:
    """An asyncssh connection coroutine that pins the platform's host key."""
    known = asyncssh.import_known_hosts(
        f"[127.0.0.1]:{server.port} {(server.home / 'host_key.pub').read_text().strip()}\n"
    )
    return asyncssh.connect(
        "127.0.0.1",
        server.port,
        username=user,
        client_keys=[str(keys[user])],
        known_hosts=known,
        agent_path=None,
    )


@pytest.fixture
def spawn() -> Iterator[Callable[..., subprocess.Popen[bytes]]]:
    """Start ``platform serve`` as a subprocess (crash tests), its output in ``log``; killed at the end."""
    started: list[subprocess.Popen[bytes]] = []

    def start(config: Path, home: Path, log: Path, **env: str) -> subprocess.Popen[bytes]:
        command = [sys.executable, "-m", "sf1630.platform.cli", "serve", "--config", str(config)]
        command += ["--home", str(home), "--port", "0"]
        with log.open("wb") as out:
            process = subprocess.Popen(
                command, stdout=out, stderr=subprocess.STDOUT, env={**os.environ, **env}, cwd=REPO
            )
        started.append(process)
        return process

    yield start
    for process in started:
        if process.poll() is None:
            process.kill()
        process.wait(10)
