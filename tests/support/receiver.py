"""What the receiver's integration tests share: the emulator with senders delivering to Herning, the test
receiver configuration, and synthetic extracts.

Deliveries reach the LIS system's IN/ the real way (data file and trigger uploaded as the sender, delivered
by the platform in the sender's pattern: KY and KSD name the LIS user, AULA routes dynamically), so the
receiver reads exactly what the platform writes.
"""

from __future__ import annotations

import base64
import itertools
import json
import os
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import paramiko
from sf1630.database import Database
from sf1630.platform.process import RunningEmulator
from sf1630.protocol import Period, Trigger, cvr_urn, to_xml
from sf1630.receiver.config import Receiver, load_receiver
from sf1630.registry import load_registry, platform_config

from tests.support.config import write_config

LIS_USER = "HERNING_LIS01_SIMPEL"
KOMMUNE = "657"  # Herning
HERNING = "657"
SENDERS = {"KY": "KY_SFTPSIMPEL", "KSD": "KSD_SFTPSIMPEL", "AULA": "AULA_SFTPSIMPEL"}
PASSWORD = "receiver-test-only"
OCTOBER = Period(2026, 10)  # the month the synthetic extracts are for


def herning_platform() -> dict[str, Any]:
    """The emulator's configuration for KY, KSD (simple pattern) and AULA (routes) delivering to Herning."""
    users = [*SENDERS.values(), LIS_USER]
    return platform_config(
        kommune_codes={HERNING},
        sender_codes=set(SENDERS),
        passwords=dict.fromkeys(users, PASSWORD),
        extra={"router": {"rescan_interval": "1s"}},
    )


def _host_key(line: str) -> paramiko.PKey:
    kind, blob = line.split()[:2]
    return paramiko.PKey.from_type_string(kind, base64.b64decode(blob))


@dataclass
class Emulator:
    """The running emulator as the receiver tests use it: Herning's IN/, logins, deliveries."""

    running: RunningEmulator

    @property
    def port(self) -> int:
        return self.running.port

    @property
    def home(self) -> Path:
        return self.running.home

    @property
    def host_key(self) -> str:
        return self.running.host_key

    def inbox(self, user: str = LIS_USER) -> Path:
        return self.running.folder(user, "IN")

    def connection(self, user: str, port: int | None = None) -> dict[str, Any]:
        """The Airflow SFTP connection of ``user`` (password login, host key pinned)."""
        return {
            "conn_type": "sftp",
            "host": "127.0.0.1",
            "port": port or self.port,
            "login": user,
            "password": PASSWORD,
            "extra": {"host_key": self.host_key},
        }

    def sftp(self, user: str) -> paramiko.SFTPClient:
        """A paramiko session as ``user`` that trusts exactly the emulator's host key."""
        client = paramiko.SSHClient()
        client.get_host_keys().add(
            f"[127.0.0.1]:{self.port}", self.host_key.split()[0], _host_key(self.host_key)
        )
        client.connect("127.0.0.1", self.port, username=user, password=PASSWORD, look_for_keys=False)
        sftp = client.open_sftp()
        sftp.sock.get_transport().set_keepalive(0)  # type: ignore[union-attr]
        return sftp

    def deliver(self, code: str, data_name: str, content: bytes, *, timeout: float = 30) -> Path:
        """Upload ``content`` and its trigger as sender ``code`` in its pattern; wait for the metadata."""
        sender = load_registry().sender(code)
        herning = load_receiver(LIS_USER)
        if sender.routing == "simple":
            trigger = Trigger.simple(data_name, len(content), sender=sender.sftp_user, recipient=LIS_USER)
        else:
            trigger = Trigger.routed(
                data_name,
                len(content),
                sender=sender.sftp_user,
                sender_it_system=sender.it_system,
                authority=cvr_urn(herning.kommune.cvr),
                recipient_it_system=herning.lis.it_system,
                transaction_id=uuid.uuid4(),
                timestamp=datetime.now(UTC),
            )
        return self.upload(sender.sftp_user, data_name, content, to_xml(trigger), timeout=timeout)

    def upload(self, sender: str, data_name: str, content: bytes, trigger: bytes, *, timeout: float) -> Path:
        """Put the data file and its trigger into ``sender``'s OUT/; wait for the metadata in IN/."""
        sftp = self.sftp(sender)
        try:
            with sftp.open(f"OUT/{data_name}", "wb") as out:
                out.write(content)
            with sftp.open(f"OUT/{data_name}.trigger", "wb") as out:
                out.write(trigger)
        finally:
            sftp.close()
        metadata = self.inbox() / f"{data_name}.metadata"
        receipt = self.running.folder(sender, "IN") / f"{data_name}.sftpreceipt"
        deadline = time.monotonic() + timeout
        while not metadata.exists():
            if receipt.exists() and b"ErrorMessage" in receipt.read_bytes():
                raise AssertionError(f"platform refused {data_name}: {receipt.read_text()}")
            if time.monotonic() > deadline:
                raise AssertionError(f"{metadata} did not appear within {timeout} s")
            time.sleep(0.05)
        return metadata


def warehouse_connection(db: Database) -> dict[str, Any]:
    """The Airflow connection of a test warehouse."""
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
    """Herning's receiver as configured for one test, with its folders and warehouse."""

    receiver: Receiver
    staging: Path
    quarantine: Path
    db: Database
    reports: Path


def write_receiver_config(folder: Path, work: Path, **overrides: Any) -> Path:
    """The shipped configuration for Herning in ``folder``, the receivers' store in ``work/store``, short
    waits."""
    defaults: dict[str, Any] = {
        "storage": f"file://{work / 'store'}",
        "wait_timeout": "20s",
        "poke_interval": "1s",
        "retries": 0,
    }
    # Herning only: every dag.test() re-parses and re-writes the whole DAG bundle (apache/airflow#64884),
    # 2 DAGs here instead of 244.
    return write_config(folder, kommuner=(KOMMUNE,), receivers={**defaults, **overrides})


def connection_variables(setup: ReceiverSetup, emulator: Emulator, sftp_port: int | None) -> dict[str, str]:
    """The ``AIRFLOW_CONN_*`` variables of the receiver's SFTP and warehouse connections."""
    receiver = setup.receiver
    return {
        f"AIRFLOW_CONN_{receiver.sftp_conn_id.upper()}": json.dumps(emulator.connection(LIS_USER, sftp_port)),
        f"AIRFLOW_CONN_{receiver.warehouse_conn_id.upper()}": json.dumps(warehouse_connection(setup.db)),
    }


_RUNS = itertools.count(1)


def next_logical_date() -> datetime:
    """A fresh logical date per dag.test() call: runs of one DAG id share this worker's metadata DB."""
    n = next(_RUNS) + os.getpid() % 1000 * 100
    return datetime(2026, 1, 1, tzinfo=UTC) + timedelta(hours=n)


def make_extract(code: str, *, rows: int, period: Period = OCTOBER, seed: int = 7) -> tuple[bytes, str]:
    """A valid synthetic file for Herning from the sender's data spec, and the spec's warehouse table."""
    from sf1630.dataspec.schema import csv_text
    from sf1630.dataspec.synth import synthesize
    from sf1630.receiver.extract import spec_for

    spec = spec_for(code.lower()).spec
    frame = synthesize(spec, rows, load_receiver(LIS_USER).kommune.cvr, period, seed)
    return csv_text(frame, spec).encode(spec.dialect.encoding), spec.warehouse_table


def corrupt_extract(
    code: str, *, rows: int, kind: str = "pattern_mismatch", period: Period = OCTOBER
) -> bytes:
    """A synthetic file broken in one way the spec's suite must catch."""
    from sf1630.dataspec.corrupt import corrupt
    from sf1630.dataspec.synth import synthesize
    from sf1630.receiver.extract import spec_for

    spec = spec_for(code.lower()).spec
    return corrupt(synthesize(spec, rows, load_receiver(LIS_USER).kommune.cvr, period, 11), spec, kind)
