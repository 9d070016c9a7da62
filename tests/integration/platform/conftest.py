"""Fixtures for the emulator's integration tests: client keys, the test cast's configuration, a platform
served from a thread (for blocking clients) or spawned as a process (for crash tests).

The cast and the helpers are in :mod:`tests.support.platform` and :mod:`tests.support.emulator`.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import asyncssh
import pytest

from tests.support.emulator import spawn_emulator
from tests.support.platform import USERS, RunningPlatform, serve_in_thread, write_config


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


@pytest.fixture
def config_path(tmp_path: Path, client_keys: dict[str, Path]) -> Path:
    """The test configuration written to a file."""
    return write_config(tmp_path, client_keys)


@pytest.fixture
def running(config_path: Path, tmp_path: Path) -> Iterator[RunningPlatform]:
    """A platform with the test configuration, listening on a free port."""
    with serve_in_thread(config_path, tmp_path / "home") as server:
        yield server


@pytest.fixture
def spawn() -> Iterator[Callable[..., subprocess.Popen[bytes]]]:
    """Start ``platform serve`` as a subprocess (crash tests), its output in ``log``; killed at the end."""
    started: list[subprocess.Popen[bytes]] = []

    def start(config: Path, home: Path, log: Path, **env: str) -> subprocess.Popen[bytes]:
        process = spawn_emulator(config, home, log, **env)
        started.append(process)
        return process

    yield start
    for process in started:
        if process.poll() is None:
            process.kill()
        process.wait(10)
