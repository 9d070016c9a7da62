"""The emulator's test cast and helpers: KY routing dynamically, KSD by the simple pattern, Ikast-Brande
with two LIS systems, Herning with one.

One registry for every platform test, unit and integration: the users, it-systems and routes as the
emulator's YAML configuration (:func:`platform_config`), trigger documents for them, and a platform served
from a thread for tests that drive it with blocking clients.
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml
from sf1630.platform.config import PlatformConfig, load_config
from sf1630.protocol import INF_REF_SF1630, Trigger, to_xml

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
#: Each LIS system's it-system and authority.
LIS_SYSTEMS = {IKAST: IKAST_SYSTEM, IKAST2: IKAST2_SYSTEM, HERNING: HERNING_SYSTEM}
AUTHORITY = {IKAST: IKAST_CVR, IKAST2: IKAST_CVR, HERNING: HERNING_CVR}
PASSWORD = "test-only-password"


def platform_config(
    keys: dict[str, Path] | None = None, *, passwords: bool = True, **extra: Any
) -> dict[str, Any]:
    """The cast as the emulator's configuration; ``keys``: user → private key file (``.pub`` beside)."""
    users = []
    for user in USERS:
        entry: dict[str, Any] = {"name": user, "email": f"{user.lower()}@test.example"}
        if keys is not None:
            entry["authorized_keys"] = [keys[user].with_suffix(".pub").read_text().strip()]
        if passwords:
            entry["password"] = PASSWORD
        users.append(entry)
    systems = [
        {"uuid": str(KY_SYSTEM), "name": "KY", "sftp_user": SENDER},
        {"uuid": str(KSD_SYSTEM), "name": "KSD", "sftp_user": OTHER_SENDER},
        *({"uuid": str(system), "name": user, "sftp_user": user} for user, system in LIS_SYSTEMS.items()),
    ]
    routes = [
        {
            "inf_ref": INF_REF_SF1630,
            "sender_authority": AUTHORITY[user],
            "sender_it_system": str(KY_SYSTEM),
            "recipient_authority": AUTHORITY[user],
            "recipient_it_system": str(system),
            "sftp_username": user,
        }
        for user, system in LIS_SYSTEMS.items()
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


def write_config(folder: Path, keys: dict[str, Path] | None = None, **extra: Any) -> Path:
    """:func:`platform_config` written to ``folder/platform.yaml``."""
    path = folder / "platform.yaml"
    path.write_text(yaml.safe_dump(platform_config(keys, **extra), allow_unicode=True), encoding="utf-8")
    return path


def load_test_config(folder: Path, **extra: Any) -> PlatformConfig:
    """The cast's configuration as the emulator reads it."""
    return load_config(write_config(folder, **extra))


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
    """A dynamic-routing trigger document for ``file_name``."""
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
    """A platform served from a background thread of the test process."""

    home: Path
    port: int
    platform: Any
    loop: asyncio.AbstractEventLoop

    def folder(self, user: str, folder: str) -> Path:
        return self.home / "users" / user / folder

    def known_hosts(self, path: Path) -> Path:
        key = (self.home / "host_key.pub").read_text().split()
        path.write_text(f"[127.0.0.1]:{self.port} {key[0]} {key[1]}\n")
        return path


@contextmanager
def serve_in_thread(config_path: Path, home: Path) -> Iterator[RunningPlatform]:
    """Serve the platform on a free port from a thread with its own event loop; stop it on exit."""
    from sf1630.platform.server import Platform

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
    try:
        yield RunningPlatform(home, platform.port, platform, loop)
    finally:
        asyncio.run_coroutine_threadsafe(platform.stop(), loop).result(20)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(20)


def connect_pinned(home: Path, port: int, user: str, keys: dict[str, Path]) -> Any:
    """An asyncssh connection (``async with``) as ``user`` trusting only the host key in ``home``."""
    import asyncssh

    known = asyncssh.import_known_hosts(f"[127.0.0.1]:{port} {(home / 'host_key.pub').read_text().strip()}\n")
    return asyncssh.connect(
        "127.0.0.1", port, username=user, client_keys=[str(keys[user])], known_hosts=known, agent_path=None
    )


def connect_asyncssh(server: RunningPlatform, user: str, keys: dict[str, Path]) -> Any:
    """:func:`connect_pinned` to a platform served from a thread."""
    return connect_pinned(server.home, server.port, user, keys)


def aged(path: Path, seconds: float, now: float, content: bytes = b"x") -> Path:
    """Write ``path`` and set its times ``seconds`` before ``now`` (retention tests)."""
    path.write_bytes(content)
    os.utime(path, (now - seconds, now - seconds))
    return path
