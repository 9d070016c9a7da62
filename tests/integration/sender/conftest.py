"""Fixtures for the sender's integration tests: emulators, the test configuration and the connections.

The helpers they are built from are in :mod:`tests.support.sender` and :mod:`tests.support.emulator`.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sf1630.platform.process import RunningEmulator

from tests.support import emulator
from tests.support.sender import fast_config, ky_platform, sftp_connection


@pytest.fixture
def fast_config_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The shipped configuration with test-speed retries and polls, as ``SF1630_CONFIG_DIR``."""
    folder = fast_config(tmp_path / "config")
    monkeypatch.setenv("SF1630_CONFIG_DIR", str(folder))
    return folder


@pytest.fixture
def emulator_factory(tmp_path: Path) -> Iterator[Callable[..., RunningEmulator]]:
    """Start emulators for KY and a few kommuner; keyword arguments go to ``platform_config``."""
    started: list[RunningEmulator] = []

    def start(**overrides: Any) -> RunningEmulator:
        running = emulator.start(ky_platform(**overrides), tmp_path / f"emulator-{len(started)}")
        started.append(running)
        return running

    yield start
    for running in started:
        running.stop()


@pytest.fixture
def sender_env(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fast_config_dir: Path
) -> Callable[[int, str], dict[str, Path]]:
    """Point the KY connections at an SFTP port, a fresh ledger and a SQLite source; returns the paths."""

    def configure(port: int, host_key: str) -> dict[str, Path]:
        ledger = tmp_path / f"ledger-{uuid.uuid4().hex[:8]}.sqlite"
        source = tmp_path / "source-ky.sqlite"
        monkeypatch.setenv("AIRFLOW_CONN_SF1630_SFTP_KY", sftp_connection(port, host_key))
        monkeypatch.setenv(
            "AIRFLOW_CONN_SF1630_SENDER_LEDGER", json.dumps({"conn_type": "sqlite", "host": str(ledger)})
        )
        monkeypatch.setenv(
            "AIRFLOW_CONN_SF1630_SOURCE_KY", json.dumps({"conn_type": "sqlite", "host": str(source)})
        )
        return {"ledger": ledger, "source": source}

    return configure
