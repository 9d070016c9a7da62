"""The emulator's registry derived from kommuner.yaml and senders.yaml is one the emulator accepts."""

from __future__ import annotations

from pathlib import Path

import pytest
from sf1630.platform.config import load_config
from sf1630.protocol import INF_REF_SF1630
from sf1630.registry import platform_config, write_platform_config


def test_full_registry_loads_in_the_emulator(tmp_path: Path) -> None:
    raw = platform_config(passwords={"KY_SFTPSIMPEL": "pw"}, extra={"router": {"rescan_interval": "1s"}})
    config = load_config(write_platform_config(tmp_path / "platform.yaml", raw))
    assert len(config.users) == 4 + 122
    assert len(config.it_systems) == 4 + 122
    assert len(config.routes) == 4 * 122
    assert config.rescan_interval == 1.0
    assert config.user("KY_SFTPSIMPEL").password == "pw"  # type: ignore[union-attr]
    assert (tmp_path / "platform.yaml").stat().st_mode & 0o077 == 0


def test_narrowed_registry(tmp_path: Path) -> None:
    raw = platform_config(
        kommune_codes={"101", "153"}, sender_codes={"KY"}, authorized_keys={"KY_SFTPSIMPEL": []}
    )
    assert [u["name"] for u in raw["users"]] == [
        "KY_SFTPSIMPEL",
        "KOEBENHAVN_LIS01_SIMPEL",
        "BROENDBY_LIS01_SIMPEL",
        "BROENDBY_LIS02_SIMPEL",
    ]
    route = raw["routes"][0]
    assert route == {
        "inf_ref": INF_REF_SF1630,
        "sender_authority": "urn:oio:cvr-nr:10100000",
        "sender_it_system": "3951ee49-0bd7-571f-b9ad-9d0e335386b4",
        "recipient_authority": "urn:oio:cvr-nr:10100000",
        "recipient_it_system": "7b1f2188-4e9d-5700-938e-312b38e9fddd",
        "sftp_username": "KOEBENHAVN_LIS01_SIMPEL",
    }
    assert len(raw["routes"]) == 3
    load_config(write_platform_config(tmp_path / "p.yaml", raw))


def test_omitted_route() -> None:
    raw = platform_config(
        kommune_codes={"153"}, sender_codes={"KY"}, omit_routes={("KY", "BROENDBY_LIS02_SIMPEL")}
    )
    assert [r["sftp_username"] for r in raw["routes"]] == ["BROENDBY_LIS01_SIMPEL"]
    assert "BROENDBY_LIS02_SIMPEL" in [u["name"] for u in raw["users"]]


def test_unknown_kommune_code() -> None:
    with pytest.raises(ValueError, match="unknown kommunekode"):
        platform_config(kommune_codes={"000"})
