"""The DAG factory: one receiver and one completeness DAG per LIS system, shaped as the project requires."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sf1630.receiver.config import LisSystem, lis_systems
from sf1630.receiver.dag import build_completeness_dag, build_receiver_dag, receiver_dags


def test_receiver_dag_shape(herning: LisSystem) -> None:
    dag = build_receiver_dag(herning)
    assert dag.dag_id == "sf1630_receiver_herning_lis01_simpel"
    assert dag.max_active_runs == 1 and not dag.catchup
    assert {"sf1630", "receiver", "HERNING_LIS01_SIMPEL"} <= set(dag.tags)
    assert dag.doc_md and "HERNING_LIS01_SIMPEL" in dag.doc_md
    tasks = {"wait_for_metadata", "list_deliveries", "load_one", "housekeeping", "all_loaded"}
    assert set(dag.task_ids) == tasks
    load = dag.get_task("load_one")
    assert load.owner == "lis-drift" and load.retries == 3 and load.retry_exponential_backoff
    assert dag.get_task("housekeeping").trigger_rule == "all_done"
    assert dag.get_task("all_loaded").trigger_rule == "all_success"  # a failed load fails the run


def test_completeness_dag_gets_a_deadline_only_when_asked(herning: LisSystem) -> None:
    plain = build_completeness_dag(herning, with_deadline=False)
    alerted = build_completeness_dag(herning, with_deadline=True)
    assert not plain.deadline
    deadlines = alerted.deadline if isinstance(alerted.deadline, list) else [alerted.deadline]
    assert deadlines[0].interval == timedelta(days=herning.deadline_day - 1)
    assert deadlines[0].callback.kwargs == {"lis_user": "HERNING_LIS01_SIMPEL"}


def test_all_dags_build_quickly_from_the_cached_configuration(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SF1630_DEADLINES", "true")
    dags = list(receiver_dags())
    assert len(dags) == 2 * len(lis_systems()) == 244
    assert all(d.deadline for d in dags if d.dag_id.startswith("sf1630_completeness_"))
