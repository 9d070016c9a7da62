"""docker-compose.yml checked without a Docker engine: what compose would run must exist and be safe.

No engine runs on the build machines, so the file is checked the way a reviewer would: it parses, every
container command is a real ``sf1630`` or ``airflow`` command line (parsed with the project's and Airflow's
own argument parsers), every file it mounts or builds from exists, every port is published on 127.0.0.1
only, every host name in a URL is a service of the file, and the connections its entry point exports from a
really seeded demo home are valid and pin the emulator's host key.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml
from sf1630.cli import build_parser
from sf1630.receiver.config import load_receivers
from sf1630.registry import load_registry

REPO = Path(__file__).resolve().parents[2]
COMPOSE = REPO / "docker-compose.yml"
IMAGE = "sf1630-airflow:latest"
AIRFLOW_SERVICES = {"airflow-init", "api-server", "scheduler", "dag-processor", "triggerer", "celery-worker"}
INTERPOLATION = re.compile(r"\$\{([A-Z0-9_]+)(?::?[-?]([^}]*))?\}")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return dict(yaml.safe_load(COMPOSE.read_text(encoding="utf-8")))


def _services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return dict(compose["services"])


def _ours(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The services that run the project's image (the others are stock postgres and redis)."""
    return {name: s for name, s in _services(compose).items() if s.get("image") == IMAGE}


def _interpolate(value: str) -> str:
    """Resolve ``${VAR:-default}`` to its default and ``${VAR:?message}`` to a stand-in, as compose would
    with a minimal ``.env``."""
    return INTERPOLATION.sub(lambda m: m[2] if "-" in m[0] else f"test-{m[1].lower()}", value)


def test_stack_has_every_part(compose: dict[str, Any]) -> None:
    assert set(_services(compose)) == {"postgres", "redis", "mailpit", "seed", "emulator", *AIRFLOW_SERVICES}
    assert set(_ours(compose)) == {"seed", "emulator", *AIRFLOW_SERVICES}
    for name in AIRFLOW_SERVICES:
        env = _services(compose)[name]["environment"]
        assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor", name
        assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].startswith("postgresql+psycopg2://"), name
    assert _services(compose)["seed"]["restart"] == "no"


def test_every_worker_and_the_api_server_share_the_receivers_store(compose: dict[str, Any]) -> None:
    """A receiver run's steps may land on different workers and the views read the reports the workers
    wrote: the store's default place ($AIRFLOW_HOME/sf1630) is one named volume in all of them."""
    for name in ("celery-worker", "api-server", "scheduler", "triggerer"):
        volumes = _services(compose)[name]["volumes"]
        assert "sf1630-store:/opt/airflow/sf1630" in volumes, name
    assert "sf1630-store" in compose["volumes"]


def test_commands_are_real_entry_points(compose: dict[str, Any]) -> None:
    """``sf1630 …`` parsed by ``sf1630.cli.build_parser()``, ``airflow …`` by Airflow's own CLI parser."""
    airflow_argvs = []
    for name, service in _ours(compose).items():
        command = list(service["command"])
        assert command[0] in {"sf1630", "airflow"}, f"{name}: {command}"
        if command[0] == "sf1630":
            args = build_parser().parse_args(command[1:])  # exits (fails the test) on an unknown command
            assert callable(args.handler), name
        else:
            airflow_argvs.append(command[1:])
    assert len(airflow_argvs) == len(AIRFLOW_SERVICES)
    script = (
        "import json, sys\n"
        "from airflow.cli.cli_parser import get_parser\n"
        "for argv in json.loads(sys.argv[1]):\n"
        "    get_parser().parse_args(argv)\n"
    )
    env = {**os.environ, "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor"}  # `celery worker` exists only then
    result = subprocess.run(
        [sys.executable, "-c", script, json.dumps(airflow_argvs)], env=env, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr[-3000:]


def test_airflow_entry_point_wraps_the_command(compose: dict[str, Any]) -> None:
    """The Airflow containers start through the connections script, which compose mounts from ``configs``."""
    configs = compose["configs"]
    for name in AIRFLOW_SERVICES:
        service = _services(compose)[name]
        entrypoint = service["entrypoint"]
        assert entrypoint[:3] == ["/usr/bin/tini", "--", "python"], name
        mounted = {c["target"]: c["source"] for c in service["configs"]}
        assert entrypoint[3] in mounted and mounted[entrypoint[3]] in configs, name


def test_referenced_files_exist(compose: dict[str, Any]) -> None:
    for name, service in _ours(compose).items():
        assert (REPO / service["build"] / "Dockerfile").is_file(), name
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("."):
                assert (REPO / source).is_dir(), f"{name}: {volume}"
            else:
                assert source in compose["volumes"], f"{name}: {volume}"
        for config in service.get("configs", []):
            assert config["source"] in compose["configs"], name
    for config in compose["configs"].values():
        assert "content" in config or (REPO / config["file"]).is_file()
    ignored = {line.strip() for line in (REPO / ".dockerignore").read_text().splitlines()}
    for line in (REPO / "Dockerfile").read_text(encoding="utf-8").splitlines():
        if line.startswith("COPY "):
            for source in line.split()[1:-1]:
                assert (REPO / source).exists() and source not in ignored, line


def test_ports_are_published_on_localhost_only(compose: dict[str, Any]) -> None:
    published = {name: s.get("ports", []) for name, s in _services(compose).items()}
    assert published["api-server"] and published["emulator"] and published["mailpit"]
    for name, ports in published.items():
        for port in ports:
            assert isinstance(port, str) and port.startswith("127.0.0.1:"), f"{name}: {port}"


def test_urls_name_services_of_the_file(compose: dict[str, Any]) -> None:
    services = set(_services(compose))
    env = _services(compose)["scheduler"]["environment"]
    for key, value in env.items():
        if "://" in str(value):
            host = urlsplit(_interpolate(str(value))).hostname
            assert host in services or host == "127.0.0.1", f"{key}: {host}"
    assert env["SF1630_PLATFORM_HOST"] in services and env["SF1630_DB_HOST"] in services
    assert env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] == "http://api-server:8080/execution/"
    for key, value in env.items():
        if key.startswith("AIRFLOW_CONN_"):
            _check_connection(key, str(value), host_key=None)


def _check_connection(name: str, value: str, host_key: str | None) -> dict[str, Any]:
    """A connection variable is JSON with a conn_type, or a URI; an SFTP one pins the host key."""
    if value.lstrip().startswith("{"):
        conn = dict(json.loads(value))
    else:
        parts = urlsplit(value)
        conn = {"conn_type": parts.scheme, "host": parts.hostname, "extra": {}}
    assert conn.get("conn_type"), name
    if conn["conn_type"] == "sftp":
        extra = conn.get("extra") or {}
        assert extra.get("host_key"), f"{name} does not pin the host key"
        assert not extra.get("no_host_key_check"), name
        if host_key is not None:
            assert extra["host_key"] == host_key, name
    return conn


def test_entry_point_exports_pinned_connections(compose: dict[str, Any], tmp_path: Path) -> None:
    """Run the seeding command and then the Airflow entry point exactly as compose would, on the host."""
    seed = list(_services(compose)["seed"]["command"])
    home = tmp_path / "demo"
    seed[seed.index("--home") + 1] = str(home)
    run = subprocess.run(
        [str(Path(sys.executable).with_name("sf1630")), *seed[1:], "--kommuner", "3", "--rows", "3"],
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0, run.stderr
    script = tmp_path / "connections.py"
    script.write_text(compose["configs"]["sf1630-connections"]["content"], encoding="utf-8")
    env = {k: _interpolate(str(v)) for k, v in _services(compose)["scheduler"]["environment"].items()}
    env |= {"SF1630_DEMO_HOME": str(home), "SF1630_CONFIG_DIR": str(home / "config")}
    dump = (
        "import json, os\n"
        "print(json.dumps({k: v for k, v in os.environ.items() if k.startswith('AIRFLOW_CONN_')}))"
    )
    result = subprocess.run(
        [sys.executable, str(script), sys.executable, "-c", dump],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    exported: dict[str, str] = json.loads(result.stdout.strip().splitlines()[-1])

    host_key = " ".join((home / "platform" / "host_key.pub").read_text(encoding="ascii").split()[:2])
    conns = {name: _check_connection(name, value, host_key) for name, value in exported.items()}
    expected = set()
    for sender in load_registry(home / "config").senders:
        expected |= {sender.sftp_conn_id, sender.source_conn_id, sender.ledger_conn_id}
    for receiver in load_receivers(home / "config"):
        expected |= {receiver.sftp_conn_id, receiver.warehouse_conn_id}
        expected.add(str(sender.smtp_conn_id))  # the notifiers' connection, set by compose itself
    assert {f"AIRFLOW_CONN_{c.upper()}" for c in expected} == set(conns)
    warehouses = {f"AIRFLOW_CONN_{s.warehouse_conn_id.upper()}" for s in load_receivers(home / "config")}
    schemas = [conns[name]["extra"]["schema"] for name in sorted(warehouses)]
    assert len(set(schemas)) == len(schemas), "every LIS system has its own warehouse schema"
    for name, conn in conns.items():
        if conn["conn_type"] == "sftp":
            assert conn["host"] == "emulator" and conn["port"] == 2222, name
            assert Path(conn["extra"]["key_file"]).is_file(), name
            assert "password" not in conn, name
        elif conn["conn_type"] == "postgres":
            assert conn["host"] == "postgres" and conn["schema"] == "sf1630", name
        elif conn["conn_type"] == "smtp":
            assert conn["host"] == "mailpit", name
        else:
            assert conn["conn_type"] == "sqlite" and Path(conn["host"]).is_file(), name


def test_notifiers_mail_goes_to_mailpit(compose: dict[str, Any]) -> None:
    """Every Airflow process (the DAG processor runs failure callbacks, the triggerer deadline callbacks)
    has the notifiers' SMTP connection, and it names Mailpit's SMTP listener in plain SMTP; the senders and
    receivers use that connection id and have an on-call address; Mailpit's web UI is on 127.0.0.1 only,
    its SMTP port not published at all."""
    from sf1630.receiver.config import load_receivers as receivers

    mailpit = _services(compose)["mailpit"]
    smtp_bind = mailpit["environment"]["MP_SMTP_BIND_ADDR"]
    ui_port = mailpit["environment"]["MP_UI_BIND_ADDR"].rsplit(":", 1)[1]
    assert mailpit["ports"] == [f"127.0.0.1:{ui_port}:{ui_port}"]
    conn_ids = {s.smtp_conn_id for s in load_registry().senders}
    conn_ids |= {r.settings.smtp_conn_id for r in receivers()}
    assert conn_ids == {"sf1630_smtp"}
    assert all(s.on_call_email for s in load_registry().senders)
    assert all(r.settings.on_call_email for r in receivers())
    for name in AIRFLOW_SERVICES:
        service = _services(compose)[name]
        conn = _check_connection(name, service["environment"]["AIRFLOW_CONN_SF1630_SMTP"], host_key=None)
        assert conn["conn_type"] == "smtp" and conn["host"] == "mailpit", name
        assert str(conn["port"]) == smtp_bind.rsplit(":", 1)[1], name
        assert conn["extra"]["disable_ssl"] is True and conn["extra"]["disable_tls"] is True, name
        assert conn["extra"]["from_email"], name
    depends = _services(compose)["scheduler"]["depends_on"]
    assert "mailpit" in depends
