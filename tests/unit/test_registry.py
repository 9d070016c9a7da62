"""The one registry of kommuner, LIS systems and senders: the shipped files load, mistakes are located,
and the emulator's configuration derived from it is one the emulator accepts."""

from __future__ import annotations

import copy
import shutil
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from sf1630.config import ConfigError
from sf1630.platform.config import load_config
from sf1630.protocol import INF_REF_SF1630, Period
from sf1630.registry import delivery_label, load_registry, platform_config, write_platform_config
from sf1630.settings import config_dir


def test_shipped_senders_load() -> None:
    registry = load_registry()
    assert [s.code for s in registry.senders] == ["KY", "KSD", "DUBU", "AULA", "KP"]
    # SF1630 §2.1.3: only AULA and KP use routes; DUBU, KY and KSD do not.
    assert {s.code: s.routing for s in registry.senders} == {
        "KY": "simple",
        "KSD": "simple",
        "DUBU": "simple",
        "AULA": "dynamic",
        "KP": "dynamic",
    }
    ky = registry.sender("KY")
    assert ky.dag_id == "sf1630_sender_ky"
    assert ky.dataspec == "ky"
    assert ky.receipt_timeout == timedelta(hours=2)
    assert ky.housekeeping_grace == timedelta(days=1)
    assert ky.start_date.isoformat() == "2026-01-01"
    assert ky.smtp_conn_id == "sf1630_smtp"


def test_shipped_kommuner_load() -> None:
    registry = load_registry()
    assert len(registry.kommuner) == 98
    assert len(list(registry.recipients())) == 122
    assert all(len(k.cvr) == 8 and k.cvr.isdigit() for k in registry.kommuner)


def test_lookups() -> None:
    registry = load_registry()
    brondby = registry.kommune("brøndby")
    assert registry.kommune("153") == registry.kommune(brondby.cvr) == brondby
    recipient = registry.recipient("BROENDBY_LIS02_SIMPEL")
    assert (recipient.kommune, recipient.lis.name, recipient.index) == (brondby, "LIS02", 1)
    assert delivery_label("KY", brondby, recipient.lis, Period(2026, 10)) == "KY → Brøndby LIS02 2026-10"
    with pytest.raises(KeyError):
        registry.kommune("999")
    with pytest.raises(ConfigError, match="known: KY, KSD, DUBU, AULA, KP"):
        registry.sender("NOPE")


def _shipped(name: str) -> Any:
    return yaml.safe_load((config_dir() / name).read_text(encoding="utf-8"))


def _folder_with(tmp_path: Path, name: str, change: Callable[[Any], object]) -> Path:
    """The shipped configuration in ``tmp_path`` with ``change`` applied to file ``name``."""
    for shipped in ("kommuner.yaml", "senders.yaml"):
        shutil.copy(config_dir() / shipped, tmp_path / shipped)
    raw = copy.deepcopy(_shipped(name))
    change(raw)
    text = yaml.safe_dump(raw, sort_keys=False, allow_unicode=True)
    (tmp_path / name).write_text(text, encoding="utf-8")
    return tmp_path


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda r: r["senders"][0].update(colour="blue"), r"senders\[0\]\.colour: unknown key"),
        (lambda r: r["senders"][1].update(it_system="not-a-uuid"), r"senders\[1\]\.it_system: .*UUID"),
        (lambda r: r["senders"][1].update(code="KY"), "duplicate sender code 'KY'"),
        (lambda r: r["defaults"].update(retry_delay="soon"), "retry_delay: 'soon' is not a duration"),
        (lambda r: r["defaults"].pop("deadline"), r"senders\[0\]\.deadline: missing key"),
        (lambda r: r["senders"][0].pop("sftp_conn_id"), r"senders\[0\]\.sftp_conn_id: missing key"),
        (lambda r: r["senders"][0].update(sftp_conn_id="a b"), r"sftp_conn_id: String should match"),
        (lambda r: r["defaults"].update(retries=-1), "retries: Input should be greater than or equal to 0"),
        (lambda r: r["defaults"].update(start_date="1 Jan"), "start_date: Input should be a valid date"),
        (lambda r: r["defaults"].update(colour="x"), r"senders\.yaml:\d+: defaults\.colour: unknown key$"),
    ],
)
def test_sender_mistakes_are_named(tmp_path: Path, change: Callable[[Any], object], message: str) -> None:
    with pytest.raises(ConfigError, match=message) as caught:
        load_registry(_folder_with(tmp_path, "senders.yaml", change))
    assert caught.value.file == tmp_path / "senders.yaml"


def test_sender_mistake_names_its_line(tmp_path: Path) -> None:
    folder = _folder_with(tmp_path, "senders.yaml", lambda r: r["senders"][2].update(colour="blue"))
    lines = (folder / "senders.yaml").read_text(encoding="utf-8").splitlines()
    with pytest.raises(ConfigError) as caught:
        load_registry(folder)
    assert caught.value.line == lines.index("  colour: blue") + 1
    assert (
        str(caught.value) == f"{folder / 'senders.yaml'}:{caught.value.line}: senders[2].colour: unknown key"
    )


def test_duplicate_key_is_refused(tmp_path: Path) -> None:
    """A second key would silently replace the first (as a second ``routes:`` once dropped every route)."""
    folder = _folder_with(tmp_path, "senders.yaml", lambda r: None)
    text = (folder / "senders.yaml").read_text(encoding="utf-8")
    (folder / "senders.yaml").write_text(text.replace("  retries: 3\n", "  retries: 3\n  retries: 5\n", 1))
    line = text.splitlines().index("  retries: 3") + 2
    with pytest.raises(ConfigError, match=f"senders.yaml:{line}: document: not valid YAML: duplicate key"):
        load_registry(folder)


def test_sender_overrides_a_default(tmp_path: Path) -> None:
    registry = load_registry(
        _folder_with(tmp_path, "senders.yaml", lambda r: r["senders"][0].update(retries=7))
    )
    assert registry.senders[0].retries == 7
    assert registry.senders[1].retries == 3


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda r: r["kommuner"][0].update(cvr="123"), r"kommuner\[0\]\.cvr: String should match"),
        (lambda r: r["kommuner"][1].update(kode="101"), "duplicate kommunekode '101'"),
        (lambda r: r["kommuner"][0].update(lis_systems=[]), r"kommuner\[0\]\.lis_systems: .*at least 1"),
        (
            lambda r: r["kommuner"][1]["lis_systems"][0].update(
                sftp_user=r["kommuner"][0]["lis_systems"][0]["sftp_user"]
            ),
            "duplicate LIS SFTP user",
        ),
        (
            lambda r: r["kommuner"][0]["lis_systems"].append(dict(r["kommuner"][0]["lis_systems"][0])),
            r"kommuner\[0\]: duplicate LIS system name 'LIS01'",
        ),
    ],
)
def test_kommune_mistakes_are_named(tmp_path: Path, change: Callable[[Any], object], message: str) -> None:
    with pytest.raises(ConfigError, match=message) as caught:
        load_registry(_folder_with(tmp_path, "kommuner.yaml", change))
    assert caught.value.file == tmp_path / "kommuner.yaml"


def test_config_dir_override(tmp_path: Path) -> None:
    folder = _folder_with(tmp_path, "senders.yaml", lambda r: r["senders"].__delitem__(slice(1, None)))
    assert [s.code for s in load_registry(folder).senders] == ["KY"]


def test_full_platform_config_loads_in_the_emulator(tmp_path: Path) -> None:
    raw = platform_config(passwords={"KY_SFTPSIMPEL": "pw"}, extra={"router": {"rescan_interval": "1s"}})
    config = load_config(write_platform_config(tmp_path / "platform.yaml", raw))
    assert len(config.users) == 5 + 122
    assert len(config.it_systems) == 5 + 122
    assert len(config.routes) == 2 * 122  # AULA, KP
    assert len(config.simple_routes) == 3 * 122  # KY, KSD, DUBU
    assert config.may_deliver_simply("KY_SFTPSIMPEL", "KOEBENHAVN_LIS01_SIMPEL")
    assert not config.may_deliver_simply("AULA_SFTPSIMPEL", "KOEBENHAVN_LIS01_SIMPEL")
    assert config.rescan_interval == timedelta(seconds=1)
    assert config.user("KY_SFTPSIMPEL").password == "pw"  # type: ignore[union-attr]
    assert (tmp_path / "platform.yaml").stat().st_mode & 0o077 == 0


def test_narrowed_platform_config(tmp_path: Path) -> None:
    raw = platform_config(
        kommune_codes={"101", "153"}, sender_codes={"KY", "AULA"}, authorized_keys={"KY_SFTPSIMPEL": []}
    )
    assert [u["name"] for u in raw["users"]] == [
        "KY_SFTPSIMPEL",
        "AULA_SFTPSIMPEL",
        "KOEBENHAVN_LIS01_SIMPEL",
        "BROENDBY_LIS01_SIMPEL",
        "BROENDBY_LIS02_SIMPEL",
    ]
    route = raw["routes"][0]
    assert route == {
        "inf_ref": INF_REF_SF1630,
        "sender_authority": "urn:oio:cvr-nr:10100000",
        "sender_it_system": "b86f858d-7aeb-587b-8986-5509eecba2f5",
        "recipient_authority": "urn:oio:cvr-nr:10100000",
        "recipient_it_system": "7b1f2188-4e9d-5700-938e-312b38e9fddd",
        "sftp_username": "KOEBENHAVN_LIS01_SIMPEL",
    }
    assert len(raw["routes"]) == 3
    assert raw["simple_routes"] == [
        {"sender": "KY_SFTPSIMPEL", "recipient": user}
        for user in ("KOEBENHAVN_LIS01_SIMPEL", "BROENDBY_LIS01_SIMPEL", "BROENDBY_LIS02_SIMPEL")
    ]
    load_config(write_platform_config(tmp_path / "p.yaml", raw))


def test_omitted_route() -> None:
    raw = platform_config(
        kommune_codes={"153"},
        sender_codes={"KY", "AULA"},
        omit_routes={("KY", "BROENDBY_LIS02_SIMPEL"), ("AULA", "BROENDBY_LIS02_SIMPEL")},
    )
    assert [r["sftp_username"] for r in raw["routes"]] == ["BROENDBY_LIS01_SIMPEL"]
    assert [r["recipient"] for r in raw["simple_routes"]] == ["BROENDBY_LIS01_SIMPEL"]
    assert "BROENDBY_LIS02_SIMPEL" in [u["name"] for u in raw["users"]]


def test_unknown_kommune_code() -> None:
    with pytest.raises(ValueError, match="unknown kommunekode"):
        platform_config(kommune_codes={"000"})


def _vendor_folder(tmp_path: Path, lis_systems: list[dict[str, str]]) -> Path:
    """A vendor's own deployment: senders.yaml with its recipients under ``kommuner:``, nothing else."""
    senders = yaml.safe_load((config_dir() / "senders.yaml").read_text(encoding="utf-8"))
    senders["senders"] = [s for s in senders["senders"] if s["code"] in {"KY", "AULA"}]
    senders["kommuner"] = [
        {"name": "Herning", "kode": "657", "cvr": "29189854", "lis_systems": lis_systems},
    ]
    (tmp_path / "senders.yaml").write_text(yaml.safe_dump(senders, allow_unicode=True), encoding="utf-8")
    return tmp_path


def test_a_vendor_deployment_needs_only_its_own_file(tmp_path: Path) -> None:
    lis = {
        "name": "LIS01",
        "sftp_user": "HERNING_LIS01_SIMPEL",
        "it_system": "4e2d1295-ba5c-54bf-93cf-b3f734dae45f",
    }
    registry = load_registry(_vendor_folder(tmp_path, [lis]))
    assert [k.name for k in registry.kommuner] == ["Herning"]
    assert [s.code for s in registry.senders] == ["KY", "AULA"]
    assert registry.sender("KY").contact_text == "KY drift <drift@ky.example>"
    (recipient,) = registry.recipients()
    assert recipient.lis.key == "HERNING_LIS01_SIMPEL"


@pytest.mark.parametrize(
    ("lis", "needs"),
    [
        (
            {"name": "LIS01", "it_system": "4e2d1295-ba5c-54bf-93cf-b3f734dae45f"},
            "sftp_user (the simple pattern",
        ),
        ({"name": "LIS01", "sftp_user": "HERNING_LIS01_SIMPEL"}, "it_system (dynamic routing"),
    ],
)
def test_a_recipient_must_carry_what_each_pattern_names(
    tmp_path: Path, lis: dict[str, str], needs: str
) -> None:
    with pytest.raises(ConfigError) as err:
        load_registry(_vendor_folder(tmp_path, [lis]))
    assert err.value.file.name == "senders.yaml" and err.value.entry == "kommuner[0].lis_systems[0]"
    assert needs in err.value.problem and "Herning LIS01" in err.value.problem
    lines = (tmp_path / "senders.yaml").read_text(encoding="utf-8").splitlines()
    assert "name: LIS01" in lines[err.value.line - 1] or "- " in lines[err.value.line - 1]


def test_a_lis_system_needs_a_user_or_an_it_system(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="needs its sftp_user") as err:
        load_registry(_vendor_folder(tmp_path, [{"name": "LIS01"}]))
    assert err.value.entry == "kommuner[0].lis_systems[0]"
