"""Fixtures for the receiver's integration tests: the emulator with senders delivering to Herning, and the
receiver configuration pointed at this test. The helpers are in :mod:`tests.support.receiver`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sf1630.database import Database
from sf1630.receiver.config import load_receiver

from tests.support import emulator as platform
from tests.support.receiver import (
    LIS_USER,
    Emulator,
    ReceiverSetup,
    connection_variables,
    herning_platform,
    write_receiver_config,
)


@pytest.fixture
def emulator(tmp_path: Path) -> Iterator[Emulator]:
    """``sf1630 platform serve`` on a free port, stopped at the end."""
    with platform.start(herning_platform(), tmp_path / "platform") as running:
        yield Emulator(running)


@pytest.fixture
def configure(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[..., ReceiverSetup]:
    """Point the receiver configuration, connections and folders at this test; returns its receiver."""

    def setup(
        emulator: Emulator, db: Database, *, sftp_port: int | None = None, **overrides: Any
    ) -> ReceiverSetup:
        folder = write_receiver_config(tmp_path / "config", tmp_path, **overrides)
        monkeypatch.setenv("SF1630_CONFIG_DIR", str(folder))
        receiver = load_receiver(LIS_USER, folder)
        store = tmp_path / "store"
        folders = (store / "staging" / LIS_USER, store / "quarantine" / LIS_USER)
        setup = ReceiverSetup(receiver, *folders, db, store / "reports" / LIS_USER)
        for name, value in connection_variables(setup, emulator, sftp_port).items():
            monkeypatch.setenv(name, value)
        return setup

    return setup
