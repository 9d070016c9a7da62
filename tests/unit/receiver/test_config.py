"""The receivers' configuration resolves every LIS system and refuses inconsistent files loudly."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from sf1630.receiver.config import ReceiverConfigError, build_systems, lis_systems, parse_duration
from sf1630.settings import config_dir


def receivers() -> dict[str, Any]:
    return dict(yaml.safe_load((config_dir() / "receivers.yaml").read_text(encoding="utf-8")))


def kommuner() -> dict[str, Any]:
    return dict(yaml.safe_load((config_dir() / "kommuner.yaml").read_text(encoding="utf-8")))


def test_every_lis_system_of_kommuner_gets_a_receiver() -> None:
    systems = lis_systems()
    expected = {lis["sftp_user"] for k in kommuner()["kommuner"] for lis in k["lis_systems"]}
    assert {s.sftp_user for s in systems} == expected
    assert len({s.dag_id for s in systems}) == len(systems) == 122


def test_defaults_overrides_and_connection_ids_resolve() -> None:
    by_user = {s.sftp_user: s for s in lis_systems()}
    kbh, herning = by_user["KOEBENHAVN_LIS01_SIMPEL"], by_user["HERNING_LIS01_SIMPEL"]
    assert kbh.grace == timedelta(days=1) and herning.grace == timedelta(days=2)
    assert herning.sftp_conn_id == "sf1630_sftp_herning_lis01_simpel"
    assert herning.cvr == "65700000" and herning.kommune == "Herning"
    assert [s.code for s in herning.senders] == ["KY", "KSD", "DUBU", "AULA"]
    assert herning.sender("KY") is not None and herning.sender("KP") is None
    ikast = by_user["IKAST-BRANDE_LIS01_SIMPEL"]
    assert ikast.sftp_conn_id == "sf1630_sftp_ikast_brande_lis01_simpel"  # AIRFLOW_CONN_… a shell can export


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda r: r["defaults"].update(colour="blue"), "unknown key(s) colour"),
        (lambda r: r["defaults"].update(grace="two days"), "not a duration"),
        (lambda r: r["defaults"].update(accepts=["KY", "KP"]), "accepts unknown sender(s) KP"),
        (lambda r: r["overrides"].update(NOBODY_LIS01={"grace": "1d"}), "unknown LIS system(s) NOBODY_LIS01"),
        (lambda r: r["senders"]["KY"].pop("contact"), "missing key(s) contact"),
        (lambda r: r["defaults"].update(deadline_day=31), "deadline_day must be 1..28"),
        (lambda r: r["defaults"].update(validation_engine="pandas"), "must be project or gx"),
    ],
)
def test_inconsistent_configuration_is_refused_with_the_file_named(change: Any, message: str) -> None:
    raw = receivers()
    change(raw)
    with pytest.raises(ReceiverConfigError, match=r"receivers\.yaml.*") as err:
        build_systems(raw, kommuner(), source=str(Path("x/receivers.yaml")))
    assert message in str(err.value)


def test_durations() -> None:
    assert parse_duration("30s", where="t") == timedelta(seconds=30)
    assert parse_duration("6h", where="t") == timedelta(hours=6)
    assert parse_duration(90, where="t") == timedelta(seconds=90)
    with pytest.raises(ReceiverConfigError, match="t: '5 weeks'"):
        parse_duration("5 weeks", where="t")
