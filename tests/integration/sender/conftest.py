"""Fixtures for the sender's integration tests: the emulator as a subprocess, connections, data, a proxy.

The emulator runs exactly as deployed (``sf1630 platform serve``) with a registry derived by
``sf1630.registry`` for a handful of kommuner, so a test month has a few deliveries instead of 122.
Connections reach the DAG's tasks as ``AIRFLOW_CONN_*`` variables, and the senders' configuration is a
copy with short retry delays and poll intervals (``SF1630_CONFIG_DIR``) so failure paths finish quickly.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pendulum
import pytest
import yaml
from sf1630.registry import platform_config, write_platform_config
from sf1630.settings import INCLUDE_DIR

REPO = Path(__file__).resolve().parents[3]
KOMMUNER = ("101", "153", "851")  # København, Brøndby (two LIS systems), Aalborg: four deliveries
SENDER_PASSWORD = "sender-test-password"
OCTOBER_START = pendulum.datetime(2026, 10, 1, tz="Europe/Copenhagen")  # the October run's logical date
SENDER_USER = "KY_SFTPSIMPEL"


@dataclass
class Emulator:
    """A running ``sf1630 platform serve`` process."""

    home: Path
    port: int
    host_key: str
    process: subprocess.Popen[str]
    output: list[str] = field(default_factory=list)

    def folder(self, user: str, name: str) -> Path:
        return self.home / "users" / user / name

    def files(self, user: str, name: str) -> list[str]:
        folder = self.folder(user, name)
        return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def start_emulator(config: dict[str, Any], workdir: Path) -> Emulator:
    """Start the emulator on a port the OS picks; wait until it says it listens."""
    workdir.mkdir(parents=True, exist_ok=True)
    config_path = write_platform_config(workdir / "platform.yaml", config)
    home = workdir / "platform-home"
    command = [sys.executable, "-m", "sf1630.platform.cli", "serve", "--config", str(config_path)]
    command += ["--home", str(home), "--host", "127.0.0.1", "--port", "0"]
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=REPO, env=os.environ.copy()
    )
    assert process.stdout is not None
    output: list[str] = []
    deadline = time.monotonic() + 60
    port = None
    while port is None:
        line = process.stdout.readline()
        if not line:
            raise AssertionError("emulator exited:\n" + "".join(output))
        output.append(line)
        match = re.match(r"listening on 127\.0\.0\.1:([0-9]+)", line)
        if match:
            port = int(match[1])
        if time.monotonic() > deadline:
            process.kill()
            raise AssertionError("emulator did not start:\n" + "".join(output))
    drain = threading.Thread(target=lambda: output.extend(process.stdout), daemon=True)  # type: ignore[arg-type]
    drain.start()
    host_key = " ".join((home / "host_key.pub").read_text(encoding="ascii").split()[:2])
    return Emulator(home, port, host_key, process, output)


def stop_emulator(emulator: Emulator) -> None:
    if emulator.process.poll() is None:
        emulator.process.terminate()
        try:
            emulator.process.wait(20)
        except subprocess.TimeoutExpired:
            emulator.process.kill()
            emulator.process.wait(10)


class DroppingProxy:
    """A TCP proxy on 127.0.0.1 that cuts the first connection sending more than ``limit`` bytes upstream.

    Later connections pass untouched, so a retry of the interrupted upload gets through.
    """

    def __init__(self, target_port: int, limit: int) -> None:
        self.target_port, self.limit = target_port, limit
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.dropped = 0
        self.connections = 0
        self._lock = threading.Lock()
        self._closing = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self._closing:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.target_port))
            self.connections += 1
            threading.Thread(target=self._pump, args=(client, upstream, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client, False), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket, upstream: bool) -> None:
        sent = 0
        try:
            while chunk := source.recv(65536):
                if upstream:
                    with self._lock:
                        cut = self.dropped == 0 and sent + len(chunk) > self.limit
                        if cut:
                            self.dropped += 1
                    if cut:
                        sink.sendall(chunk[: self.limit - sent])
                        break
                sink.sendall(chunk)
                sent += len(chunk)
        except OSError:
            pass
        finally:
            for sock in (source, sink):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()

    def close(self) -> None:
        self._closing = True
        self.listener.close()


@pytest.fixture
def fast_config_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The shipped configuration with test-speed retries and polls, as ``SF1630_CONFIG_DIR``."""
    folder = tmp_path / "config"
    shutil.copytree(INCLUDE_DIR / "config", folder)  # the other DAG files read their files from here too
    senders = yaml.safe_load((INCLUDE_DIR / "config" / "senders.yaml").read_text(encoding="utf-8"))
    senders["defaults"].update(
        retries=2, retry_delay="1s", max_retry_delay="2s", receipt_poll="1s", receipt_timeout="2m"
    )
    (folder / "senders.yaml").write_text(yaml.safe_dump(senders, allow_unicode=True), encoding="utf-8")
    monkeypatch.setenv("SF1630_CONFIG_DIR", str(folder))
    return folder


def sftp_connection(port: int, host_key: str) -> str:
    return json.dumps(
        {
            "conn_type": "sftp",
            "host": "127.0.0.1",
            "port": port,
            "login": SENDER_USER,
            "password": SENDER_PASSWORD,
            "extra": {"host_key": host_key, "look_for_keys": False, "allow_host_key_change": False},
        }
    )


@pytest.fixture
def emulator_factory(tmp_path: Path) -> Iterator[Callable[..., Emulator]]:
    """Start emulators for KY and a few kommuner; keyword arguments go to ``platform_config``."""
    started: list[Emulator] = []

    def start(**overrides: Any) -> Emulator:
        config = platform_config(
            kommune_codes=KOMMUNER,
            sender_codes={"KY"},
            passwords={SENDER_USER: SENDER_PASSWORD},
            extra={"router": {"rescan_interval": "1s"}},
            **overrides,
        )
        emulator = start_emulator(config, tmp_path / f"emulator-{len(started)}")
        started.append(emulator)
        return emulator

    yield start
    for emulator in started:
        stop_emulator(emulator)


@pytest.fixture
def sender_env(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fast_config_dir: Path
) -> Callable[[int, str], dict[str, Path]]:
    """Point the KY connections at an SFTP port, a fresh ledger and a DuckDB source; returns the paths."""

    def configure(port: int, host_key: str) -> dict[str, Path]:
        ledger = tmp_path / f"ledger-{uuid.uuid4().hex[:8]}.sqlite"
        source = tmp_path / "source-ky.duckdb"
        monkeypatch.setenv("AIRFLOW_CONN_SF1630_SFTP_KY", sftp_connection(port, host_key))
        monkeypatch.setenv(
            "AIRFLOW_CONN_SF1630_SENDER_LEDGER", json.dumps({"conn_type": "sqlite", "host": str(ledger)})
        )
        monkeypatch.setenv(
            "AIRFLOW_CONN_SF1630_SOURCE_KY", json.dumps({"conn_type": "duckdb", "host": str(source)})
        )
        return {"ledger": ledger, "source": source}

    return configure


def sender_dag(code: str = "ky") -> Any:
    """The sender DAG as the DAG processor sees it (parsed from ``dags/`` with the current environment)."""
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(REPO / "dags" / "sender_dags.py"))
    assert not bag.import_errors, bag.import_errors
    return bag.dags[f"sf1630_sender_{code}"]


def task_states(run: Any) -> dict[tuple[str, int], str]:
    return {(ti.task_id, ti.map_index): str(ti.state) for ti in run.get_task_instances()}


@pytest.fixture
def pg_schema() -> Iterator[str]:
    """A fresh PostgreSQL schema in database ``test``, dropped afterwards."""
    import psycopg

    name = f"sf1630_sender_it_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(host="127.0.0.1", user="postgres", dbname="test", autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{name}"')
    yield name
    with psycopg.connect(host="127.0.0.1", user="postgres", dbname="test", autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA "{name}" CASCADE')
