"""The receivers' configuration resolves every LIS system and refuses inconsistent files loudly, naming the
file, the line and the entry."""

from __future__ import annotations

import shutil
from datetime import timedelta
from pathlib import Path

import pytest
from sf1630.config import ConfigError
from sf1630.receiver.config import load_receivers
from sf1630.registry import load_registry
from sf1630.settings import config_dir


def test_every_lis_system_of_kommuner_gets_a_receiver() -> None:
    receivers = load_receivers()
    expected = {r.lis.sftp_user for r in load_registry().recipients()}
    assert {r.sftp_user for r in receivers} == expected
    assert len({r.dag_id for r in receivers}) == len(receivers) == 122


def test_defaults_overrides_and_connection_ids_resolve() -> None:
    by_user = {r.sftp_user: r for r in load_receivers()}
    kbh, herning = by_user["KOEBENHAVN_LIS01_SIMPEL"], by_user["HERNING_LIS01_SIMPEL"]
    assert kbh.settings.grace == timedelta(days=1) and herning.settings.grace == timedelta(days=2)
    assert herning.sftp_conn_id == "sf1630_sftp_herning_lis01_simpel"
    assert herning.kommune.cvr == "65700000" and herning.kommune.name == "Herning"
    assert [s.code for s in herning.accepted] == ["KY", "KSD", "DUBU", "AULA", "KP"]
    assert herning.sender("KY") is not None and herning.sender("NOPE") is None
    assert herning.sender("KY").dataspec == "ky"  # type: ignore[union-attr]
    assert herning.contact("DUBU") == "DUBU support <support@dubu.example>"
    ikast = by_user["IKAST-BRANDE_LIS01_SIMPEL"]
    assert ikast.sftp_conn_id == "sf1630_sftp_ikast_brande_lis01_simpel"  # AIRFLOW_CONN_… a shell can export


OVERRIDE = "overrides.KOEBENHAVN_LIS01_SIMPEL"


def _config_with(tmp_path: Path, old: str, new: str) -> tuple[Path, int]:
    """A copy of the configuration with ``old`` replaced by ``new`` in receivers.yaml, and ``new``'s line."""
    folder = tmp_path / "config"
    folder.mkdir()
    for name in ("kommuner.yaml", "senders.yaml"):
        shutil.copy(config_dir() / name, folder / name)
    text = (config_dir() / "receivers.yaml").read_text(encoding="utf-8")
    assert old in text
    text = text.replace(old, new, 1)
    (folder / "receivers.yaml").write_text(text, encoding="utf-8")
    return folder, text[: text.index(new)].count("\n") + 1


def test_bad_duration_is_refused_with_its_line(tmp_path: Path) -> None:
    folder, line = _config_with(tmp_path, "  grace: 2d", "  grace: two days")
    with pytest.raises(ConfigError) as err:
        load_receivers(folder)
    assert err.value.file.name == "receivers.yaml" and err.value.line == line
    assert err.value.entry == "defaults.grace" and "not a duration" in err.value.problem


def test_override_for_an_unknown_lis_system_is_refused(tmp_path: Path) -> None:
    folder, line = _config_with(tmp_path, "overrides:\n", "overrides:\n  NOBODY_LIS01:\n    grace: 1d\n")
    with pytest.raises(ConfigError) as err:
        load_receivers(folder)
    assert err.value.line == line + 1
    assert (err.value.entry, err.value.problem) == ("overrides.NOBODY_LIS01", "unknown LIS system")


@pytest.mark.parametrize(
    ("old", "new", "entry", "problem"),
    [
        ("  owner: lis-drift", "  owner: lis-drift\n  colour: blue", "defaults.colour", "unknown key"),
        ("    grace: 1d", "    grace: 1d\n    accepts: [KY, NOPE]", OVERRIDE + ".accepts", "['NOPE']"),
        ("accepts: [KY, KSD, DUBU, AULA, KP]", "accepts: [KY, NOPE]", "defaults.accepts", "['NOPE']"),
        ("deadline_day: 10", "deadline_day: 31", "defaults.deadline_day", "less than or equal to 28"),
        ("quarantine_keep: 30d", "quarantine_keep: soon", "defaults.quarantine_keep", "duration"),
        ("    grace: 1d", "    grace: 1d\n    grace: 3d", "document", "duplicate key 'grace'"),
    ],
)
def test_inconsistent_configuration_is_refused_with_the_entry_named(
    tmp_path: Path, old: str, new: str, entry: str, problem: str
) -> None:
    folder, _ = _config_with(tmp_path, old, new)
    with pytest.raises(ConfigError, match=r"receivers\.yaml:\d+: ") as err:
        load_receivers(folder)
    assert err.value.entry == entry and problem in err.value.problem, err.value


LIS_TEAM = """
defaults:
  sftp_conn_id: "sf1630_sftp_{user}"
  warehouse_conn_id: sf1630_warehouse
  inbox: IN
  schedule: "0 * * * *"
  timezone: Europe/Copenhagen
  start_date: "2026-01-01"
  wait_timeout: 55m
  poke_interval: 30s
  grace: 2d
  quarantine_keep: 30d
  deadline_day: 10
  run_deadline: 12h
  owner: lis-team
  retries: 1
  retry_delay: 1m
  max_retry_delay: 5m
  accepts: [KY]
kommuner:
  - name: Herning
    kode: "657"
    cvr: "29189854"
    lis_systems:
      - {name: LIS01, sftp_user: HERNING_LIS01_SIMPEL}
senders:
  - {code: KY, name: KY, sftp_user: KY_SFTPSIMPEL, dataspec: ky, contact: "KY drift <drift@ky.example>"}
"""


def test_a_lis_team_deployment_needs_only_its_own_file(tmp_path: Path) -> None:
    (tmp_path / "receivers.yaml").write_text(LIS_TEAM, encoding="utf-8")
    (receiver,) = load_receivers(tmp_path)
    assert (receiver.sftp_user, receiver.kommune.cvr, receiver.lis.it_system) == (
        "HERNING_LIS01_SIMPEL",
        "29189854",
        None,
    )
    assert [s.code for s in receiver.accepted] == ["KY"] and receiver.sender("KY") is not None
    assert receiver.contact("KY") == "KY drift <drift@ky.example>"
    assert receiver.contact("KSD") == "the platform operator (sender unknown)"


@pytest.mark.parametrize(
    ("old", "new", "entry", "problem"),
    [
        (
            "{name: LIS01, sftp_user: HERNING_LIS01_SIMPEL}",
            "{name: LIS01, it_system: 7b1f2188-4e9d-5700-938e-312b38e9fddd}",
            "kommuner[0].lis_systems[0]",
            "a receiver needs the LIS system's sftp_user",
        ),
        ("accepts: [KY]", "accepts: [KY, KSD]", "defaults.accepts", "['KSD']"),
        ("dataspec: ky,", "dataspec: ky, routing: simple,", "senders[0].routing", "unknown key"),
        ('kode: "657"', 'kode: "6570"', "kommuner[0].kode", "should match pattern"),
    ],
)
def test_a_lis_team_file_is_checked_like_every_other(
    tmp_path: Path, old: str, new: str, entry: str, problem: str
) -> None:
    assert old in LIS_TEAM
    (tmp_path / "receivers.yaml").write_text(LIS_TEAM.replace(old, new), encoding="utf-8")
    with pytest.raises(ConfigError, match=r"receivers\.yaml:\d+: ") as err:
        load_receivers(tmp_path)
    assert err.value.entry == entry and problem in err.value.problem, err.value
