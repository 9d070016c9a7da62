"""A sender the receiver accepts whose data spec is missing or broken, through the real receiver DAG
(``dag.test()``) and the emulator: a configuration error of the receiver, not the sender's. Its file is HELD
(left in IN/, nothing quarantined, nothing in the ledger) with a reason naming the sender, the spec and the
problem; the other sender's file in the same run loads; the run fails at its leaf; the run's one failure
message lists the held file."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sf1630.airflow.notify import OnCall
from sf1630.airflow.receiver import build_receiver_dag
from sf1630.database import Database
from sf1630.settings import dataspec_dir

from tests.support.receiver import LIS_USER, Emulator, ReceiverSetup, make_extract, next_logical_date

from .test_delivery import KY_DATA, ledger, row_count, states

pytestmark = pytest.mark.integration
KSD_DATA = "KSD_LIS_65700000_M10_20261101060000.csv"


def _break(folder: Path, how: str) -> str:
    """Make the copy's KSD spec missing or broken; returns what the reason must say."""
    ksd = folder / "ksd.yaml"
    if how == "missing":
        ksd.unlink()
        return "no spec called 'ksd'"
    text = ksd.read_text(encoding="utf-8")
    ksd.write_text(text.replace("  encoding: utf-8\n", "  encoding: utf-16\n"), encoding="utf-8")
    return "ksd.yaml:14: file.encoding: 'utf-16' is not one of"


@pytest.mark.parametrize("how", ["missing", "broken"])
def test_a_sender_whose_data_spec_is_unusable_is_held_and_the_others_load(
    how: str,
    emulator: Emulator,
    configure: Callable[..., ReceiverSetup],
    warehouse: Database,
    airflow_db: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from sf1630.receiver.extract import spec_for

    setup = configure(emulator, warehouse)
    ky, ky_table = make_extract("KY", rows=25)
    ksd, _ = make_extract("KSD", rows=15)  # a good file: the fault is the receiver's spec, not the data
    emulator.deliver("KY", KY_DATA, ky)
    emulator.deliver("KSD", KSD_DATA, ksd)
    folder = tmp_path / "dataspecs"
    shutil.copytree(dataspec_dir(), folder)
    problem = _break(folder, how)
    monkeypatch.setenv("SF1630_DATASPEC_DIR", str(folder))
    spec_for.cache_clear()
    started = datetime.now(UTC)
    try:
        run = build_receiver_dag(setup.receiver).test(logical_date=next_logical_date())
    finally:
        spec_for.cache_clear()

    assert run.state == "failed" and states(run)["all_loaded"] == "upstream_failed"
    assert states(run)["validate"] == "success" and states(run)["delete"] == "success"
    labels = {ti.rendered_map_index: ti.state for ti in run.get_task_instances() if ti.task_id == "load"}
    assert labels == {"KSD → Herning LIS01 2026-10": "failed", "KY → Herning LIS01 2026-10": "success"}
    assert ledger(warehouse) == [(KY_DATA, "loaded", 25)]
    assert row_count(warehouse, ky_table) == 25
    # Held: still in IN/ with its metadata, nothing quarantined, no staged copy left.
    assert sorted(p.name for p in emulator.inbox().iterdir()) == [KSD_DATA, f"{KSD_DATA}.metadata"]
    assert not setup.quarantine.exists() or not any(setup.quarantine.iterdir())
    assert not any(setup.staging.iterdir())

    validated = run.get_task_instances()[0].xcom_pull(task_ids="validate")
    [held] = [r for r in validated if r["status"] == "held"]
    assert held["data_name"] == KSD_DATA and held["sender"] == "KSD" and held["spec"] == "ksd"
    summary = held["summary"]
    assert f"{KSD_DATA} held in IN/ of {LIS_USER}: data spec 'ksd' of sender KSD cannot be used" in summary
    assert problem in summary and "not the sender's" in summary

    # The run's one failure message lists the held file and the spec to fix.
    context = {
        "dag_run": {"dag_id": run.dag_id, "run_id": run.run_id, "state": "failed", "start_date": started}
    }
    alert = OnCall(about="receiver-failed", key=LIS_USER).build(context, warehouse)
    assert alert.subject.endswith(
        "1 delivery held (data spec unusable) (sf1630_receiver_herning_lis01_simpel)"
    )
    assert f"  - KSD ({KSD_DATA}): data spec 'ksd' cannot be used:" in alert.body
    assert problem in alert.body and "no delivery refused" not in alert.subject


def test_a_file_whose_claims_need_the_missing_spec_is_held_at_fetch(
    emulator: Emulator,
    configure: Callable[..., ReceiverSetup],
    warehouse: Database,
    airflow_db: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A name outside the SF1630 pattern: the kommune and month come from the data, read with the spec."""
    from sf1630.receiver.extract import spec_for

    setup = configure(emulator, warehouse)
    name = "ksd_sager_oktober.csv"
    ksd, _ = make_extract("KSD", rows=5)
    emulator.deliver("KSD", name, ksd)
    folder = tmp_path / "dataspecs"
    shutil.copytree(dataspec_dir(), folder)
    problem = _break(folder, "missing")
    monkeypatch.setenv("SF1630_DATASPEC_DIR", str(folder))
    spec_for.cache_clear()
    try:
        run = build_receiver_dag(setup.receiver).test(logical_date=next_logical_date())
    finally:
        spec_for.cache_clear()

    assert run.state == "failed" and states(run)["fetch"] == "success" and states(run)["load"] == "failed"
    assert sorted(p.name for p in emulator.inbox().iterdir()) == [name, f"{name}.metadata"]
    assert ledger(warehouse) == []
    assert not setup.quarantine.exists() or not any(setup.quarantine.iterdir())
    [held] = run.get_task_instances()[0].xcom_pull(task_ids="validate")
    assert held["status"] == "held" and held["sender"] == "KSD" and problem in held["summary"]
