"""The deferred wait pins the platform's host key on its real (non-22) port: a wrong key fails the wait at
once, an empty IN/ costs one task: the wait succeeds and skips every later step (housekeeping only when it
has work)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import asyncssh
import pytest
from sf1630.airflow.receiver import MetadataSensor, build_receiver_dag
from sf1630.database import Database

from tests.support.receiver import LIS_USER, Emulator, ReceiverSetup, next_logical_date


@pytest.mark.integration
def test_wrong_host_key_fails_the_wait(
    emulator: Emulator,
    configure: Callable[..., ReceiverSetup],
    tmp_path: Path,
    airflow_db: Path,
    monkeypatch: pytest.MonkeyPatch,
    warehouse: Database,
) -> None:
    setup = configure(emulator, warehouse)
    (emulator.inbox() / "KY_LIS_65700000_M10_20261101060000.csv.metadata").write_bytes(b"<x/>")
    impostor = asyncssh.generate_private_key("ssh-ed25519").export_public_key().decode().strip()
    connection = {**emulator.connection(LIS_USER), "extra": {"host_key": impostor}}
    monkeypatch.setenv(f"AIRFLOW_CONN_{setup.receiver.sftp_conn_id.upper()}", json.dumps(connection))

    run = build_receiver_dag(setup.receiver).test(logical_date=next_logical_date())

    states = {ti.task_id: ti.state for ti in run.get_task_instances()}
    assert states["wait_for_metadata"] == "failed"  # the quick look already refuses the impostor
    assert states["fetch"] == "upstream_failed"


@pytest.mark.integration
def test_empty_inbox_is_one_task(
    emulator: Emulator,
    configure: Callable[..., ReceiverSetup],
    tmp_path: Path,
    airflow_db: Path,
    warehouse: Database,
) -> None:
    setup = configure(emulator, warehouse, wait_timeout="2s")

    run = build_receiver_dag(setup.receiver).test(logical_date=next_logical_date())

    states = {ti.task_id: ti.state for ti in run.get_task_instances()}
    assert states.pop("wait_for_metadata") == "success"
    assert set(states.values()) == {"skipped"}, states
    assert run.state == "success"


@pytest.mark.integration
def test_poke_looks_into_the_inbox_once(
    emulator: Emulator, configure: Callable[..., ReceiverSetup], tmp_path: Path, warehouse: Database
) -> None:
    """The synchronous look behind ``deferrable=False``: one listing over the pinned connection."""
    setup = configure(emulator, warehouse)
    sensor = MetadataSensor(
        task_id="wait",
        sftp_user=setup.receiver.sftp_user,
        sftp_conn_id=setup.receiver.sftp_conn_id,
        path="IN",
        deferrable=False,
    )
    assert sensor.poke({}).is_done is False
    (emulator.inbox() / "KY_LIS_65700000_M10_20261101060000.csv").write_bytes(b"x")
    assert sensor.poke({}).is_done is False
    (emulator.inbox() / "KY_LIS_65700000_M10_20261101060000.csv.metadata").write_bytes(b"<x/>")
    found = sensor.poke({})
    assert found.is_done is True
    assert found.xcom_value == [
        {
            "data_name": "KY_LIS_65700000_M10_20261101060000.csv",
            "metadata_name": "KY_LIS_65700000_M10_20261101060000.csv.metadata",
            "data_size": 1,
            "label": "KY → Herning LIS01 2026-10",
        }
    ]
