"""Shared pieces of the receiver's unit tests: a LIS system's receiver from the real configuration."""

from __future__ import annotations

import pytest
from sf1630.receiver.config import Receiver, load_receiver


@pytest.fixture
def herning() -> Receiver:
    return load_receiver("HERNING_LIS01_SIMPEL")
