"""Shared pieces of the receiver's unit tests: a LIS system from the real configuration."""

from __future__ import annotations

import pytest
from sf1630.receiver.config import LisSystem, lis_system


@pytest.fixture
def herning() -> LisSystem:
    return lis_system("HERNING_LIS01_SIMPEL")
