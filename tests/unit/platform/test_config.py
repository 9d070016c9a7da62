"""The configuration is read strictly: every mistake stops the start with file, entry and problem."""

from __future__ import annotations

import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from sf1630.cli import main
from sf1630.config import ConfigError, parse_duration
from sf1630.platform.config import load_config

REPO = Path(__file__).resolve().parents[3]
DEMO = REPO / "include" / "config" / "platform-demo.yaml"
KY = "5f0c2a4e-6b1d-4c8e-9a3f-7d2e1b0c9a81"
LIS = "e9b2c365-e007-5602-863c-c4569044a4b4"


def minimal() -> dict[str, Any]:
    return {
        "users": [
            {"name": "KY_SFTPSIMPEL", "email": "drift@ky.example", "password": "dev"},
            {"name": "IKAST-BRANDE_LIS01_SIMPEL", "email": "lis@ikast.example"},
        ],
        "it_systems": [
            {"uuid": KY, "name": "KY", "sftp_user": "KY_SFTPSIMPEL"},
            {"uuid": LIS, "name": "LIS", "sftp_user": "IKAST-BRANDE_LIS01_SIMPEL"},
        ],
        "routes": [
            {
                "inf_ref": "KommunalLedelseInformationOverfør_1",
                "sender_authority": "75600000",
                "sender_it_system": KY,
                "recipient_authority": "urn:oio:cvr-nr:75600000",
                "recipient_it_system": LIS,
                "sftp_username": "IKAST-BRANDE_LIS01_SIMPEL",
            }
        ],
        "retention": {"delete_after": "30d", "warn_before": "10d", "sweep_interval": "1d"},
    }


def write(tmp_path: Path, config: dict[str, Any]) -> Path:
    path = tmp_path / "platform.yaml"
    path.write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")
    return path


def test_demo_configuration_is_valid() -> None:
    config = load_config(DEMO)
    assert {u.name for u in config.users} >= {"KY_SFTPSIMPEL", "IKAST-BRANDE_LIS01_SIMPEL"}
    assert config.retention.delete_after == timedelta(days=30)
    assert config.retention.warn_before == timedelta(days=10)
    assert config.mail is None
    assert all(u.authorized_keys == () for u in config.users), "no keys are committed"


def test_minimal_configuration_normalises_authorities(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, minimal()))
    assert config.routes[0].sender_authority == "urn:oio:cvr-nr:75600000"
    assert str(config.routes[0].sender_it_system) == KY


@pytest.mark.parametrize(
    ("change", "entry", "problem"),
    [
        (lambda c: c.update(extra=1), "extra", "unknown key"),
        (lambda c: c["users"][0].update(colour="red"), "users[0].colour", "unknown key"),
        (
            lambda c: c["it_systems"][0].update(uuid="not-a-uuid"),
            "it_systems[0].uuid",
            "'not-a-uuid' is not a UUID",
        ),
        (
            lambda c: c["routes"][0].update(sftp_username="NOBODY"),
            "routes[0].sftp_username",
            "'NOBODY' is not a configured user",
        ),
        (
            lambda c: c["routes"][0].update(sender_it_system=LIS[:-1] + "0"),
            "routes[0].sender_it_system",
            f"{LIS[:-1]}0 is not a configured it-system",
        ),
        (lambda c: c["routes"][0].update(sender_authority="1234"), "routes[0].sender_authority", "not a CVR"),
        (
            lambda c: c["it_systems"][0].update(sftp_user="NOBODY"),
            "it_systems[0].sftp_user",
            "'NOBODY' is not a configured user",
        ),
        (lambda c: c["users"][0].update(name="../etc"), "users[0].name", "name is unsafe"),
        (lambda c: c["users"][0].update(name="KY SFTP"), "users[0].name", "name must match"),
        (lambda c: c["users"].append(dict(c["users"][0])), "users[2]", "duplicate user name 'KY_SFTPSIMPEL'"),
        (
            lambda c: c["users"][0].update(authorized_keys=["ssh-ed25519 nonsense"]),
            "users[0].authorized_keys[0]",
            "is not an OpenSSH public key",
        ),
        (
            lambda c: c["retention"].update(delete_after="30 days"),
            "retention.delete_after",
            "not a duration",
        ),
        (
            lambda c: c["retention"].update(warn_before="31d"),
            "retention.warn_before",
            "warn_before must be shorter than delete_after",
        ),
        (lambda c: c["retention"].update(sweep_interval="0s"), "retention.sweep_interval", "than zero"),
        (
            lambda c: c.update(mail={"smtp_host": "h", "from": "a@b", "smtp_port": 0}),
            "mail.smtp_port",
            "0 is not a port number",
        ),
        (lambda c: c.update(mail={"smtp_host": "h"}), "mail.from", "missing key"),
        (lambda c: c["users"][0].update(demo_client_key="yes"), "users[0].demo_client_key", "valid boolean"),
        (lambda c: c["routes"][0].pop("inf_ref"), "routes[0].inf_ref", "missing key"),
    ],
)
def test_configuration_errors_name_file_entry_and_problem(
    tmp_path: Path, change: Any, entry: str, problem: str
) -> None:
    config = minimal()
    change(config)
    path = write(tmp_path, config)
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert caught.value.file == path and caught.value.entry == entry, caught.value
    assert problem in caught.value.problem, caught.value
    entry_key = entry.rsplit(".", 1)[-1].split("[")[0]
    if entry_key not in ("users", "authorized_keys", "inf_ref", "from"):  # a key in the file: its line
        assert path.read_text().splitlines()[caught.value.line - 1].lstrip(" -").startswith(entry_key)


def test_durations() -> None:
    seconds = [parse_duration(v).total_seconds() for v in ("2s", "5m", "3h", "30d")]
    assert seconds == [2, 300, 10800, 30 * 86400]
    for bad in ("", "1w", "-1d", "1.5d", "d", 30):
        with pytest.raises(ValueError):
            parse_duration(bad)


def test_check_config_command_exits_2_with_the_message(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = minimal()
    config["routes"][0]["sftp_username"] = "NOBODY"
    path = write(tmp_path, config)
    command = [sys.executable, "-m", "sf1630.platform.cli", "check-config", "--config", str(path)]
    bad = subprocess.run(command, capture_output=True, text=True, cwd=REPO, timeout=60)
    assert bad.returncode == 2
    line = path.read_text().splitlines().index("  sftp_username: NOBODY") + 1
    expected = f"{path}:{line}: routes[0].sftp_username: 'NOBODY' is not a configured user"
    assert bad.stderr.strip() == expected
    assert main(["platform", "check-config", "--config", str(DEMO)]) == 0  # in-process: no second start-up
    assert "ok" in capsys.readouterr().out


@pytest.mark.parametrize("key", ["routes", "users"])
def test_a_duplicated_key_is_refused_with_its_line(tmp_path: Path, key: str) -> None:
    path = write(tmp_path, minimal())
    text = path.read_text(encoding="utf-8")
    path.write_text(text + f"{key}: []\n", encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert caught.value.line == len(text.splitlines()) + 1
    assert f"duplicate key '{key}'" in str(caught.value)


def test_check_config_checks_and_counts_routes_and_simple_routes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """In-process through the command's ``main`` (the process's exit code is the test above's)."""
    config = minimal()
    config["simple_routes"] = [{"sender": "KY_SFTPSIMPEL", "recipient": "IKAST-BRANDE_LIS01_SIMPEL"}]
    path = write(tmp_path, config)
    argv = ["platform", "check-config", "--config", str(path)]
    assert main(argv) == 0, capsys.readouterr().err
    assert capsys.readouterr().out.strip() == f"{path}: ok: 2 users, 2 it-systems, 1 routes, 1 simple routes"
    config["simple_routes"][0]["recipient"] = "NOBODY"
    write(tmp_path, config)
    assert main(argv) == 2
    assert (
        capsys.readouterr()
        .err.strip()
        .endswith("simple_routes[0].recipient: 'NOBODY' is not a configured user")
    )


def test_shipped_demo_configuration_uses_simple_routes_for_ky() -> None:
    config = load_config(DEMO)
    assert config.routes == () and len(config.simple_routes) == 3
    assert all(route.sender == "KY_SFTPSIMPEL" for route in config.simple_routes)


def test_a_key_without_a_value_counts_as_left_out(tmp_path: Path) -> None:
    """``routes:`` alone on its line (YAML's null) is no routes, as a hand-written file may have it."""
    config = minimal()
    config.update(routes=None, simple_routes=None, retention=None, mail=None, router=None)
    config["users"][0].update(authorized_keys=None, password=None)
    loaded = load_config(write(tmp_path, config))
    assert (loaded.routes, loaded.simple_routes, loaded.mail) == ((), (), None)
    assert loaded.retention.delete_after == timedelta(days=30) and loaded.users[0].authorized_keys == ()
