"""Fixtures for the emulator's unit tests: the test cast's configuration on disk and a prepared home.

The cast, its configuration and trigger documents are in :mod:`tests.support.platform`.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from sf1630.platform.config import PlatformConfig
from sf1630.platform.folders import PlatformHome

from tests.support.platform import load_test_config


@pytest.fixture
def config(tmp_path: Path) -> PlatformConfig:
    return load_test_config(tmp_path)


@pytest.fixture
def home(tmp_path: Path, config: PlatformConfig) -> PlatformHome:
    home = PlatformHome(tmp_path / "home")
    home.prepare(config)
    return home
