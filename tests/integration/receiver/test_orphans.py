"""Housekeeping: data files without metadata beyond the grace period are quarantined and removed from IN/,
younger ones are left alone, and a metadata file without its data file is reported, not guessed at."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from sf1630.airflow.receiver import build_receiver_dag
from sf1630.database import Database

from tests.support.receiver import Emulator, ReceiverSetup, next_logical_date

OLD = "KSD_LIS_65700000_M09_20261001060000.csv"
YOUNG = "KY_LIS_65700000_M10_20261101060000.csv"
LONELY = "DUBU_LIS_65700000_M10_20261101060000.csv.metadata"


@pytest.mark.integration
def test_orphans_are_quarantined_after_grace_and_reported(
    emulator: Emulator,
    configure: Callable[..., ReceiverSetup],
    tmp_path: Path,
    airflow_db: Path,
    warehouse: Database,
) -> None:
    setup = configure(emulator, warehouse, grace="1h")
    inbox = emulator.inbox()
    for name in (OLD, YOUNG, LONELY):
        (inbox / name).write_bytes(b"x;y\n1;2\n")
    two_days_ago = time.time() - 2 * 24 * 3600
    os.utime(inbox / OLD, (two_days_ago, two_days_ago))

    run = build_receiver_dag(setup.receiver).test(logical_date=next_logical_date())

    housekeeping = next(ti for ti in run.get_task_instances() if ti.task_id == "housekeeping")
    assert housekeeping.state == "success"
    assert housekeeping.xcom_pull(task_ids="housekeeping") == {
        "quarantined_orphans": [OLD],
        "metadata_without_data": [LONELY],
        "unsafe_names": [],
        "expired_quarantine": [],
    }
    assert sorted(p.name for p in inbox.iterdir()) == sorted([YOUNG, LONELY])
    kept = setup.quarantine / OLD
    assert (kept / OLD).read_bytes() == b"x;y\n1;2\n"
    assert json.loads((kept / "reason.json").read_text())["reason"] == "data file without metadata"
