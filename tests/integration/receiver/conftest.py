"""Fixtures for the receiver's integration tests: the emulator as a subprocess, a sender that delivers through
it, the receiver configuration pointed at tmp_path, and both warehouses.

Deliveries reach the LIS system's IN/ the real way (data file and trigger uploaded as the sender, routed by
the platform), so the receiver reads exactly what the platform writes.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import paramiko
import pytest
import yaml
from sf1630.database import Database
from sf1630.protocol import (
    INF_REF_SF1630,
    ROUTING_RECIPIENT,
    FileContentDescriptor,
    FileDescriptor,
    RoutingInfo,
    Trigger,
    cvr_urn,
    to_xml,
)
from sf1630.receiver.config import Receiver, load_receiver
from sf1630.settings import config_dir

LIS_USER = "HERNING_LIS01_SIMPEL"
SENDERS = {"KY": "KY_SFTPSIMPEL", "KSD": "KSD_SFTPSIMPEL"}
PASSWORD = "receiver-test-only"
REPO = Path(__file__).resolve().parents[3]


def _yaml(name: str) -> dict[str, Any]:
    return dict(yaml.safe_load((config_dir() / name).read_text(encoding="utf-8")))


def platform_config() -> dict[str, Any]:
    """Two senders and the Herning LIS system, with the demo's it-system UUIDs and routes."""
    senders = {s["code"]: s for s in _yaml("senders.yaml")["senders"]}
    herning = load_receiver(LIS_USER)
    cvr, lis_it_system = herning.kommune.cvr, str(herning.lis.it_system)
    users = [*SENDERS.values(), LIS_USER]
    return {
        "users": [{"name": u, "email": f"{u.lower()}@test.example", "password": PASSWORD} for u in users],
        "it_systems": [
            *({"uuid": senders[c]["it_system"], "name": c, "sftp_user": u} for c, u in SENDERS.items()),
            {"uuid": lis_it_system, "name": "Herning LIS01", "sftp_user": LIS_USER},
        ],
        "routes": [
            {
                "inf_ref": INF_REF_SF1630,
                "sender_authority": cvr_urn(cvr),
                "sender_it_system": senders[code]["it_system"],
                "recipient_authority": cvr_urn(cvr),
                "recipient_it_system": lis_it_system,
                "sftp_username": LIS_USER,
            }
            for code in SENDERS
        ],
        "router": {"rescan_interval": "1s"},
    }


@dataclass
class Emulator:
    """The running ``sf1630 platform serve`` subprocess."""

    home: Path
    port: int
    process: subprocess.Popen[str]

    @property
    def host_key(self) -> str:
        return " ".join((self.home / "host_key.pub").read_text(encoding="ascii").split()[:2])

    def inbox(self, user: str = LIS_USER) -> Path:
        return self.home / "users" / user / "IN"

    def connection(self, user: str, port: int | None = None) -> dict[str, Any]:
        return {
            "conn_type": "sftp",
            "host": "127.0.0.1",
            "port": port or self.port,
            "login": user,
            "password": PASSWORD,
            "extra": {"host_key": self.host_key},
        }

    def sftp(self, user: str) -> paramiko.SFTPClient:
        client = paramiko.SSHClient()
        client.get_host_keys().add(
            f"[127.0.0.1]:{self.port}", *self.host_key.split()[:1], _key(self.host_key)
        )
        client.connect("127.0.0.1", self.port, username=user, password=PASSWORD, look_for_keys=False)
        sftp = client.open_sftp()
        sftp.sock.get_transport().set_keepalive(0)  # type: ignore[union-attr]
        return sftp

    def deliver(self, code: str, data_name: str, content: bytes, *, timeout: float = 30) -> Path:
        """Upload ``content`` and its trigger as sender ``code``; wait for the metadata in the LIS's IN/."""
        sender = SENDERS[code]
        senders = {s["code"]: s for s in _yaml("senders.yaml")["senders"]}
        herning = load_receiver(LIS_USER)
        routing = RoutingInfo(
            inf_ref=INF_REF_SF1630,
            sender_it_system=uuid.UUID(senders[code]["it_system"]),
            sender_authority=cvr_urn(herning.kommune.cvr),
            transaction_id=uuid.uuid4(),
            sender_timestamp=datetime.now(UTC),
            recipient_authority=cvr_urn(herning.kommune.cvr),
            recipient_it_system=herning.lis.it_system,
        )
        descriptor = FileDescriptor(data_name, len(content), sender, (ROUTING_RECIPIENT,))
        trigger = to_xml(Trigger(file=descriptor, content=FileContentDescriptor(routing=routing)))
        sftp = self.sftp(sender)
        try:
            with sftp.open(f"OUT/{data_name}", "wb") as out:
                out.write(content)
            with sftp.open(f"OUT/{data_name}.trigger", "wb") as out:
                out.write(trigger)
        finally:
            sftp.close()
        metadata = self.inbox() / f"{data_name}.metadata"
        receipt = self.home / "users" / sender / "IN" / f"{data_name}.sftpreceipt"
        deadline = time.monotonic() + timeout
        while not metadata.exists():
            if receipt.exists() and b"ErrorMessage" in receipt.read_bytes():
                raise AssertionError(f"platform refused {data_name}: {receipt.read_text()}")
            if time.monotonic() > deadline:
                raise AssertionError(f"{metadata} did not appear within {timeout} s")
            time.sleep(0.05)
        return metadata


def _key(line: str) -> paramiko.PKey:
    kind, blob = line.split()[:2]
    return paramiko.PKey.from_type_string(kind, __import__("base64").b64decode(blob))


@pytest.fixture
def emulator(tmp_path: Path) -> Iterator[Emulator]:
    """``sf1630 platform serve`` on a free port, stopped at the end."""
    config = tmp_path / "platform.yaml"
    config.write_text(yaml.safe_dump(platform_config(), allow_unicode=True), encoding="utf-8")
    home = tmp_path / "platform-home"
    command = [sys.executable, "-m", "sf1630.platform.cli", "serve", "--config", str(config)]
    command += ["--home", str(home), "--host", "127.0.0.1", "--port", "0"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=REPO)
    port = _wait_listening(process)
    try:
        yield Emulator(home, port, process)
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)
        if process.stdout is not None:
            process.stdout.close()


def _wait_listening(process: subprocess.Popen[str]) -> int:
    assert process.stdout is not None
    seen = []
    for line in process.stdout:
        seen.append(line)
        match = re.search(r"listening on 127\.0\.0\.1:(\d+)", line)
        if match:
            return int(match.group(1))
    raise AssertionError("platform did not start:\n" + "".join(seen))


def warehouse_connection(db: Database) -> dict[str, Any]:
    if db.kind == "duckdb":
        return {"conn_type": "duckdb", "host": str(db.path), "extra": {"schema": db.schema}}
    return {
        "conn_type": "postgres",
        "host": "127.0.0.1",
        "port": 5432,
        "login": "postgres",
        "schema": "test",
        "extra": {"schema": db.schema},
    }


@dataclass
class ReceiverSetup:
    receiver: Receiver
    staging: Path
    quarantine: Path
    db: Database
    reports: Path


@pytest.fixture
def configure(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[..., ReceiverSetup]:
    """Point the receiver configuration, connections and folders at this test; returns its receiver."""

    def setup(
        emulator: Emulator, db: Database, *, sftp_port: int | None = None, **overrides: Any
    ) -> ReceiverSetup:
        folder = tmp_path / "config"
        folder.mkdir(exist_ok=True)
        shutil.copy(config_dir() / "kommuner.yaml", folder / "kommuner.yaml")
        shutil.copy(config_dir() / "senders.yaml", folder / "senders.yaml")
        receivers = _yaml("receivers.yaml")
        receivers["defaults"].update(
            {
                "storage": f"file://{tmp_path / 'store'}",
                "wait_timeout": "20s",
                "poke_interval": "1s",
                "retries": 0,
                **overrides,
            }
        )
        (folder / "receivers.yaml").write_text(
            yaml.safe_dump(receivers, allow_unicode=True), encoding="utf-8"
        )
        monkeypatch.setenv("SF1630_CONFIG_DIR", str(folder))
        receiver = load_receiver(LIS_USER, folder)
        monkeypatch.setenv(
            f"AIRFLOW_CONN_{receiver.sftp_conn_id.upper()}",
            json.dumps(emulator.connection(LIS_USER, sftp_port)),
        )
        monkeypatch.setenv(
            f"AIRFLOW_CONN_{receiver.warehouse_conn_id.upper()}", json.dumps(warehouse_connection(db))
        )
        store = tmp_path / "store"
        return ReceiverSetup(
            receiver,
            store / "staging" / LIS_USER,
            store / "quarantine" / LIS_USER,
            db,
            store / "reports" / LIS_USER,
        )

    return setup


_RUNS = iter(range(1, 10_000))


def next_logical_date() -> datetime:
    """A fresh logical date per dag.test() call: runs of one DAG id share this worker's metadata DB."""
    n = next(_RUNS) + os.getpid() % 1000 * 100
    return datetime(2026, 1, 1, tzinfo=UTC) + __import__("datetime").timedelta(hours=n)


class CuttingProxy:
    """A TCP proxy on 127.0.0.1 that cuts the first ``cuts`` connections which carry more than ``after``
    bytes from the server, as a network drop in the middle of a download would."""

    def __init__(self, upstream_port: int, *, after: int, cuts: int = 1) -> None:
        import socket
        import threading

        self.upstream_port = upstream_port
        self.after = after
        self.cuts_left = cuts
        self.cuts_done = 0
        self._lock = threading.Lock()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self._listener.getsockname()[1])
        self._closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        import socket
        import threading

        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            server = socket.create_connection(("127.0.0.1", self.upstream_port))
            threading.Thread(target=self._pipe, args=(client, server, False), daemon=True).start()
            threading.Thread(target=self._pipe, args=(server, client, True), daemon=True).start()

    def _should_cut(self, sent: int) -> bool:
        with self._lock:
            if sent > self.after and self.cuts_left > 0:
                self.cuts_left -= 1
                self.cuts_done += 1
                return True
            return False

    def _pipe(self, source: Any, sink: Any, downstream: bool) -> None:
        import socket

        sent = 0
        try:
            while chunk := source.recv(16384):
                sink.sendall(chunk)
                sent += len(chunk)
                if downstream and self._should_cut(sent):
                    break
        except OSError:
            pass
        for sock in (source, sink):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    def close(self) -> None:
        self._closed = True
        self._listener.close()


def make_extract(code: str, *, rows: int, period: str = "2026-10", seed: int = 7) -> tuple[bytes, str]:
    """A valid synthetic file for Herning from the sender's data spec, and the spec's warehouse table."""
    from sf1630.dataspec.schema import csv_text
    from sf1630.dataspec.synth import synthesize
    from sf1630.receiver.extract import spec_for

    spec = spec_for(code.lower()).spec
    frame = synthesize(spec, rows, load_receiver(LIS_USER).kommune.cvr, period, seed)
    return csv_text(frame, spec).encode(spec.dialect.encoding), spec.warehouse_table


def corrupt_extract(
    code: str, *, rows: int, kind: str = "pattern_mismatch", period: str = "2026-10"
) -> bytes:
    """A synthetic file broken in one way the spec's suite must catch."""
    from sf1630.dataspec.corrupt import corrupt
    from sf1630.dataspec.synth import synthesize
    from sf1630.receiver.extract import spec_for

    spec = spec_for(code.lower()).spec
    return corrupt(synthesize(spec, rows, load_receiver(LIS_USER).kommune.cvr, period, 11), spec, kind)
