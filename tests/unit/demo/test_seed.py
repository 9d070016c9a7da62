"""``sf1630 demo seed``: configuration, keys, registry and source rows, with exactly one invalid extract."""

from __future__ import annotations

import contextlib
import json
import sqlite3
from pathlib import Path

import pytest
import yaml
from sf1630.dataspec import load_spec
from sf1630.dataspec.validation import validate_file
from sf1630.demo import DEMO_MONTH, INVALID_KOMMUNE
from sf1630.demo.layout import DemoHome, HomeInUse
from sf1630.demo.seed import SeedInfo, corrupted_rows, host_key_line, seed
from sf1630.platform.config import load_config
from sf1630.protocol import Period
from sf1630.registry import load_registry
from sf1630.sender.export import export_extract
from sf1630.sender.plan import plan_deliveries
from sqlalchemy import create_engine


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> tuple[DemoHome, SeedInfo]:
    home = DemoHome.at(tmp_path_factory.mktemp("demo"))
    return home, seed(home, kommune_count=4, rows=12)


def test_configuration_is_narrowed_and_tuned(seeded: tuple[DemoHome, SeedInfo]) -> None:
    home, info = seeded
    assert info.month == DEMO_MONTH
    assert info.kommuner == ["101", "147", "151", "153"]
    assert info.sftp_users == [
        "KOEBENHAVN_LIS01_SIMPEL",
        "FREDERIKSBERG_LIS01_SIMPEL",
        "BALLERUP_LIS01_SIMPEL",
        "BROENDBY_LIS01_SIMPEL",
        "BROENDBY_LIS02_SIMPEL",
    ]
    assert [k.kode for k in load_registry(home.config_dir).kommuner] == info.kommuner
    receivers = yaml.safe_load((home.config_dir / "receivers.yaml").read_text(encoding="utf-8"))
    assert receivers["defaults"]["wait_timeout"] == "20s"
    assert load_registry(home.config_dir).sender("KY").receipt_poll.total_seconds() == 1
    assert SeedInfo.load(home.seed_info) == info


def test_platform_registry_has_a_key_per_user_and_a_host_key(seeded: tuple[DemoHome, SeedInfo]) -> None:
    home, info = seeded
    config = load_config(home.platform_config)
    assert len(config.users) == 5 + len(info.sftp_users)
    assert len(config.routes) == 2 * len(info.sftp_users)  # AULA and KP route dynamically
    assert len(config.simple_routes) == 3 * len(info.sftp_users)  # KY, KSD and DUBU name the LIS user
    for user in config.users:
        assert len(user.authorized_keys) == 1 and user.password is None
        assert (home.keys / user.name).stat().st_mode & 0o077 == 0
    assert host_key_line(home).startswith("ssh-ed25519 AAAA")
    assert json.loads(home.seed_info.read_text())["invalid_files"] == [
        "KSD_LIS_10100000_M10_20261101000000.csv"
    ]


def test_source_rows_per_sender_and_kommune(seeded: tuple[DemoHome, SeedInfo]) -> None:
    home, info = seeded
    assert info.source_rows == {"KY": 48, "KSD": 48, "DUBU": 48, "AULA": 48, "KP": 48}
    with contextlib.closing(sqlite3.connect(home.source_db)) as con:
        per_kommune = con.execute(
            "SELECT myndighed_cvr, count(*) FROM ksd_sager GROUP BY 1 ORDER BY 1"
        ).fetchall()
    assert per_kommune == [("10100000", 12), ("14700000", 12), ("15100000", 12), ("15300000", 12)]


def test_exactly_the_chosen_ksd_extract_is_invalid(seeded: tuple[DemoHome, SeedInfo], tmp_path: Path) -> None:
    home, info = seeded
    source = create_engine(f"sqlite:///{home.source_db}")
    registry = load_registry(home.config_dir)
    verdicts = {}
    for code in info.senders:
        sender = registry.sender(code)
        for delivery in plan_deliveries(sender, registry.kommuner, Period.parse(info.month)):
            path = export_extract(
                source, sender, delivery.kommune, delivery.period, tmp_path / delivery.file_name
            )
            verdicts[delivery.file_name] = validate_file(path, load_spec(sender.dataspec)).success
    assert [name for name, ok in verdicts.items() if not ok] == info.invalid_files
    assert len(verdicts) == 5 * 5


def test_corruption_that_cannot_be_stored_is_refused() -> None:
    with pytest.raises(ValueError, match="cannot be stored"):
        corrupted_rows(load_spec("ksd"), "10100000", Period.parse(DEMO_MONTH), 12, "wrong_type")


def test_invalid_kommune_must_be_chosen(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="not among the chosen"):
        seed(DemoHome.at(tmp_path), kommune_count=1, invalid_kommune="851")
    assert INVALID_KOMMUNE == "101"


def test_seeding_twice_does_not_double_rows(tmp_path: Path) -> None:
    home = DemoHome.at(tmp_path)
    first = seed(home, kommune_count=1, rows=5)
    second = seed(home, kommune_count=1, rows=5)
    assert first == second
    with contextlib.closing(sqlite3.connect(home.source_db)) as con:
        assert con.execute("SELECT count(*) FROM ky_ydelser").fetchone() == (5,)


def test_reset_refuses_a_folder_it_did_not_create(tmp_path: Path) -> None:
    (tmp_path / "precious.txt").write_text("keep me")
    with pytest.raises(HomeInUse):
        DemoHome.at(tmp_path).reset()
    assert (tmp_path / "precious.txt").exists()
    fresh = DemoHome.at(tmp_path / "fresh")
    fresh.reset()
    (fresh.root / "left-over").write_text("x")
    fresh.reset()
    assert sorted(p.name for p in fresh.root.iterdir()) == [".sf1630-demo"]
