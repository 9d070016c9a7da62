"""The DAG factory: one receiver and one completeness DAG per LIS system, shaped as the project requires."""

from __future__ import annotations

from datetime import timedelta

import pendulum
import pytest
from sf1630.airflow.completeness import build_completeness_dag
from sf1630.airflow.notify import OnCall
from sf1630.airflow.receiver import MetadataSensor, build_receiver_dag, receiver_dags
from sf1630.receiver.config import Receiver, load_receivers


def test_receiver_dag_shape(herning: Receiver) -> None:
    dag = build_receiver_dag(herning)
    assert dag.dag_id == "sf1630_receiver_herning_lis01_simpel"
    assert dag.max_active_runs == 1 and not dag.catchup
    assert dag.start_date == pendulum.datetime(2026, 1, 1, tz="Europe/Copenhagen")  # from receivers.yaml
    assert {"sf1630", "receiver", "HERNING_LIS01_SIMPEL"} <= set(dag.tags)
    assert dag.doc_md and "HERNING_LIS01_SIMPEL" in dag.doc_md and "Herning" in dag.doc_md
    tasks = {"wait_for_metadata", "fetch", "validate", "load", "delete", "housekeeping", "all_loaded"}
    assert set(dag.task_ids) == tasks
    assert dag.get_task("fetch").upstream_task_ids == {"wait_for_metadata"}
    assert dag.get_task("validate").upstream_task_ids == {"fetch"}
    assert dag.get_task("load").upstream_task_ids == {"validate"}
    assert dag.get_task("delete").upstream_task_ids == {"load"}
    assert dag.get_task("all_loaded").upstream_task_ids == {"load", "delete"}
    assert dag.get_task("delete").trigger_rule == "all_done"
    load = dag.get_task("load")
    assert load.owner == "lis-drift" and load.retries == 3 and load.retry_exponential_backoff
    assert load.multiple_outputs is False and dag.get_task("housekeeping").multiple_outputs is False
    assert dag.get_task("housekeeping").trigger_rule == "all_done"
    assert dag.get_task("all_loaded").trigger_rule == "all_success"  # a failed load fails the run
    wait = dag.get_task("wait_for_metadata")
    assert isinstance(wait, MetadataSensor) and wait.deferrable
    # One message per failed run: a DAG-level callback, none on the tasks (a run of 122 failures, 1 mail).
    assert isinstance(dag.on_failure_callback, OnCall) and dag.on_failure_callback.about == "receiver-failed"
    assert all(not task.on_failure_callback for task in dag.tasks)


def test_receiver_dag_run_deadline(herning: Receiver, monkeypatch: pytest.MonkeyPatch) -> None:
    """``run_deadline`` from receivers.yaml is the hourly run's Deadline Alert (off for dag.test())."""
    monkeypatch.setenv("SF1630_DEADLINES", "false")
    assert not build_receiver_dag(herning).deadline
    monkeypatch.setenv("SF1630_DEADLINES", "true")
    [deadline] = build_receiver_dag(herning).deadline
    assert deadline.interval == herning.settings.run_deadline == timedelta(hours=12)
    assert deadline.callback.path == "sf1630.airflow.notify.OnCall"
    assert deadline.callback.kwargs == {"about": "receiver-deadline", "key": "HERNING_LIS01_SIMPEL"}


def test_completeness_dag_gets_a_deadline_only_when_deadlines_are_on(
    herning: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SF1630_DEADLINES", "false")
    plain = build_completeness_dag(herning)
    monkeypatch.setenv("SF1630_DEADLINES", "true")
    alerted = build_completeness_dag(herning)
    assert not plain.deadline
    deadlines = alerted.deadline if isinstance(alerted.deadline, list) else [alerted.deadline]
    assert deadlines[0].interval == timedelta(days=herning.settings.deadline_day - 1)
    assert deadlines[0].callback.kwargs == {"about": "completeness-deadline", "key": "HERNING_LIS01_SIMPEL"}
    assert set(alerted.params.keys()) == {"period"}


def test_all_dags_build_quickly_from_the_cached_configuration(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SF1630_DEADLINES", "true")
    dags = list(receiver_dags())
    assert len(dags) == 2 * len(load_receivers()) == 244
    assert all(d.deadline for d in dags if d.dag_id.startswith("sf1630_completeness_"))


@pytest.mark.parametrize(
    "dag_id", ["sf1630_receiver_herning_lis01_simpel", "sf1630_completeness_herning_lis01_simpel"]
)
def test_a_task_process_builds_only_its_own_dag(dag_id: str) -> None:
    assert [d.dag_id for d in receiver_dags(dag_id)] == [dag_id]
    assert list(receiver_dags("sf1630_sender_ky")) == []
