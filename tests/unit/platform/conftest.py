"""Fixtures for the emulator's unit tests: a small registry on disk, a prepared home and trigger documents."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from sf1630.platform.config import PlatformConfig, load_config
from sf1630.platform.folders import PlatformHome
from sf1630.protocol import (
    INF_REF_SF1630,
    Trigger,
    to_xml,
)

SENDER, IKAST, IKAST2, HERNING = "KY_SFTPSIMPEL", "IKAST_LIS01", "IKAST_LIS02", "HERNING_LIS01"
KY = uuid.UUID("5f0c2a4e-6b1d-4c8e-9a3f-7d2e1b0c9a81")
SYSTEMS = {
    IKAST: uuid.UUID("e9b2c365-e007-5602-863c-c4569044a4b4"),
    IKAST2: uuid.UUID("1c0ffee0-e007-5602-863c-c4569044a4b4"),
    HERNING: uuid.UUID("e7d500ef-14a5-58ef-af27-74a9fdd1a83e"),
}
IKAST_CVR, HERNING_CVR = "urn:oio:cvr-nr:75600000", "urn:oio:cvr-nr:65700000"
AUTHORITY = {IKAST: IKAST_CVR, IKAST2: IKAST_CVR, HERNING: HERNING_CVR}


def registry(**extra: Any) -> dict[str, Any]:
    users = [SENDER, IKAST, IKAST2, HERNING]
    config: dict[str, Any] = {
        "users": [{"name": u, "email": f"{u.lower()}@test.example"} for u in users],
        "it_systems": [{"uuid": str(KY), "name": "KY", "sftp_user": SENDER}]
        + [{"uuid": str(s), "name": u, "sftp_user": u} for u, s in SYSTEMS.items()],
        "routes": [
            {
                "inf_ref": INF_REF_SF1630,
                "sender_authority": AUTHORITY[u],
                "sender_it_system": str(KY),
                "recipient_authority": AUTHORITY[u],
                "recipient_it_system": str(s),
                "sftp_username": u,
            }
            for u, s in SYSTEMS.items()
        ],
    }
    config.update(extra)
    return config


def write_config(tmp_path: Path, **extra: Any) -> PlatformConfig:
    path = tmp_path / "platform.yaml"
    path.write_text(yaml.safe_dump(registry(**extra), allow_unicode=True), encoding="utf-8")
    return load_config(path)


@pytest.fixture
def config(tmp_path: Path) -> PlatformConfig:
    return write_config(tmp_path)


@pytest.fixture
def home(tmp_path: Path, config: PlatformConfig) -> PlatformHome:
    home = PlatformHome(tmp_path / "home")
    home.prepare(config)
    return home


def make_trigger(
    file_name: str, size: int, *, authority: str = HERNING_CVR, recipient: uuid.UUID | None = None
) -> bytes:
    trigger = Trigger.routed(
        file_name,
        size,
        sender=SENDER,
        sender_it_system=KY,
        authority=authority,
        recipient_it_system=recipient,
        timestamp=datetime.now(UTC),
    )
    return to_xml(trigger)
