"""Integrity of every DAG file in ``dags/``: imports cleanly, every DAG is operable, parsing does no work.

The DAG processor re-parses these files every few seconds on a 2-core machine: an import error hides the
DAG, a slow or I/O-heavy parse starves the scheduler, a DAG without owner, tags or retries is hard to run.
"""

from __future__ import annotations

import functools
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
DAGS_FOLDER = REPO_ROOT / "dags"
DAG_FILES = sorted(p for p in DAGS_FOLDER.glob("*.py") if not p.name.startswith("_"))
#: Data libraries belong inside tasks (design: thin DAG files); SSH clients may come with provider operators.
HEAVY_MODULES = ("polars", "great_expectations", "lxml", "duckdb", "pandas", "pyarrow", "psycopg")
#: Generous bound (Airflow's own dagbag_import_timeout is 30 s): a parse near it means work at import time.
PARSE_SECONDS_LIMIT = 10.0

#: One process per DAG file, as the DAG processor parses it (with SF1630_DEADLINES on, the deployed variant):
#: time the parse and list the heavy modules it loaded, then serialize the deadline alert of the DAGs named
#: after the file (after the timing, so serializing loads nothing the parse is charged with). Airflow itself
#: is imported once, before timing (the DAG processor has it already), and each file is parsed in a child
#: forked from that process, so every file starts from the same modules as a process of its own would, and
#: Airflow's import is paid once for all files instead of once per file.
_PROBE = """
import json, os, socket, sys, time, runpy
def refuse(*args, **kwargs):
    raise RuntimeError("network access while parsing a DAG file")
socket.socket.connect = refuse
socket.create_connection = refuse
import airflow.sdk
plan = json.loads(sys.argv[1])  # {dag file: [dag ids whose deadline alert to serialize]}
heavy_modules = sys.argv[2:]
def probe(path, wanted):
    started = time.perf_counter()
    dags = runpy.run_path(path)
    elapsed = time.perf_counter() - started
    heavy = sorted(m for m in heavy_modules if m in sys.modules)
    from airflow.serialization.serialized_objects import DagSerialization
    deadlines = {}
    for dag_id in wanted:
        [alert] = DagSerialization.serialize_dag(dags[dag_id])["deadline"]
        callback = alert["callback"]["__data__"]
        reference, interval = alert["reference"]["reference_type"], alert["interval"]["__data__"]
        deadlines[dag_id] = [reference, interval, callback["path"], callback["kwargs"]]
    return {"seconds": elapsed, "heavy": heavy, "deadlines": deadlines}
found = {}
for path, wanted in plan.items():
    read, write = os.pipe()
    sys.stdout.flush()
    child = os.fork()
    if child == 0:
        os.close(read)
        try:
            out = json.dumps(probe(path, wanted)).encode()
            code = 0
        except BaseException as error:
            import traceback
            out, code = "".join(traceback.format_exception(error)).encode(), 1
        with os.fdopen(write, "wb") as pipe:
            pipe.write(out)
        os._exit(code)
    os.close(write)
    with os.fdopen(read, "rb") as pipe:
        out = pipe.read().decode()
    _, status = os.waitpid(child, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(path + ": " + out)
    found[os.path.basename(path)] = json.loads(out)
print(json.dumps(found))
"""


@pytest.fixture(scope="module")
def dagbag() -> Iterator[Any]:
    from airflow.dag_processing.dagbag import DagBag

    yield DagBag(dag_folder=str(DAGS_FOLDER))


def test_there_are_dag_files() -> None:
    assert DAG_FILES, f"no DAG files in {DAGS_FOLDER}"


def test_no_import_errors(dagbag: Any) -> None:
    assert dagbag.import_errors == {}


def test_every_file_defines_dags(dagbag: Any) -> None:
    files_with_dags = {Path(dag.fileloc).resolve() for dag in dagbag.dags.values()}
    assert {p.resolve() for p in DAG_FILES} <= files_with_dags


def test_sender_dags_exist(dagbag: Any) -> None:
    for code in ("ky", "ksd", "dubu", "aula", "kp"):
        assert f"sf1630_sender_{code}" in dagbag.dag_ids


def test_a_task_process_builds_only_its_own_sender_dag() -> None:
    from sf1630.airflow.sender import sender_dags

    assert [dag.dag_id for dag in sender_dags("sf1630_sender_ksd")] == ["sf1630_sender_ksd"]
    assert sender_dags("sf1630_receiver_x") == []
    assert len(sender_dags()) == 5


def _dags(dagbag: Any) -> list[Any]:
    return sorted(dagbag.dags.values(), key=lambda d: d.dag_id)


def test_every_dag_has_tags_owner_doc_and_fixed_start(dagbag: Any) -> None:
    for dag in _dags(dagbag):
        assert dag.tags, dag.dag_id
        assert "sf1630" in dag.tags, dag.dag_id
        assert dag.doc_md and dag.doc_md.strip(), dag.dag_id
        assert dag.catchup is False, dag.dag_id
        assert dag.start_date is not None, dag.dag_id
        owners = {task.owner for task in dag.tasks}
        assert owners and "airflow" not in owners, (dag.dag_id, owners)


def test_every_dag_retries_with_backoff(dagbag: Any) -> None:
    for dag in _dags(dagbag):
        assert dag.default_args.get("retries", 0) >= 1, dag.dag_id
        assert dag.default_args.get("retry_exponential_backoff"), dag.dag_id
        retried = [t for t in dag.tasks if t.retries >= 1]
        assert retried, f"{dag.dag_id}: no task retries"


def test_sender_dag_shape(dagbag: Any) -> None:
    dag = dagbag.dags["sf1630_sender_ky"]
    assert set(dag.task_ids) == {"plan", "deliver", "housekeeping", "summary", "all_delivered"}
    assert dag.get_task("summary").trigger_rule == "all_done"
    assert dag.get_task("all_delivered").trigger_rule == "all_success"  # fails the run if a delivery failed
    assert dag.get_task("all_delivered").upstream_task_ids == {"deliver"}
    assert not dag.get_task("all_delivered").downstream_task_ids
    assert dag.get_task("deliver").map_index_template
    assert set(dag.params.keys()) == {"kommune", "recipient", "period", "force"}
    assert (
        dag.deadline is None or dag.deadline == []
    )  # SF1630_DEADLINES=false in tests (apache/airflow#73428)
    # One on-call message per failed run: the callback is the DAG's, never the tasks'.
    assert type(dag.on_failure_callback).__name__ == "OnCall"
    assert dag.on_failure_callback.about == "sender-failed" and dag.on_failure_callback.key == "KY"
    assert all(not task.on_failure_callback for task in dag.tasks)


#: The DAGs whose deadline alerts are read from each file's probe (the rest only parse).
_DEADLINE_DAGS = {
    "sender_dags.py": ["sf1630_sender_ky", "sf1630_sender_aula"],
    "receiver_dags.py": ["sf1630_completeness_herning_lis01_simpel", "sf1630_receiver_herning_lis01_simpel"],
}


@functools.cache
def _probes() -> dict[str, dict[str, Any]]:
    """Run :data:`_PROBE` on every DAG file once per test process (the parse tests and the deadline tests
    share it; make test runs a module on one worker, --dist loadfile)."""
    plan = json.dumps({str(path): _DEADLINE_DAGS.get(path.name, []) for path in DAG_FILES})
    result = subprocess.run(
        [sys.executable, "-c", _PROBE, plan, *HEAVY_MODULES],
        capture_output=True,
        text=True,
        env={**os.environ, "SF1630_DEADLINES": "true"},  # the deployed variant, deadline alerts included
        timeout=240,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    found: dict[str, dict[str, Any]] = json.loads(result.stdout.strip().splitlines()[-1])
    return found


def _probe(file_name: str) -> dict[str, Any]:
    """What :data:`_PROBE` found for one DAG file (parsed in a process of its own)."""
    return _probes()[file_name]


@pytest.mark.parametrize("dag_file", DAG_FILES, ids=lambda p: p.name)
def test_parse_does_no_work(dag_file: Path) -> None:
    """Parsing loads no heavy library, opens no connection, and is far below the import timeout."""
    probe = _probe(dag_file.name)
    assert probe["heavy"] == [], f"{dag_file.name} imports {probe['heavy']} at parse time"
    assert probe["seconds"] < PARSE_SECONDS_LIMIT


def test_sender_deadline_alert_in_deployments() -> None:
    """With SF1630_DEADLINES on (the default outside tests) each sender DAG carries a serializable alert."""
    found = _probe("sender_dags.py")["deadlines"]
    callback = "sf1630.airflow.notify.OnCall"
    about = "sender-deadline"
    assert found == {
        "sf1630_sender_ky": ["DagRunQueuedAtDeadline", 172800.0, callback, {"about": about, "key": "KY"}],
        "sf1630_sender_aula": ["DagRunQueuedAtDeadline", 172800.0, callback, {"about": about, "key": "AULA"}],
    }


def test_receiver_dag_shape(dagbag: Any) -> None:
    dag = dagbag.dags["sf1630_receiver_herning_lis01_simpel"]
    assert set(dag.task_ids) == {
        "wait_for_metadata",
        "fetch",
        "validate",
        "load",
        "delete",
        "housekeeping",
        "all_loaded",
    }
    assert dag.get_task("housekeeping").trigger_rule == "all_done"
    assert dag.get_task("delete").trigger_rule == "all_done"
    assert dag.get_task("all_loaded").upstream_task_ids == {"load", "delete"}
    assert dag.get_task("load").map_index_template
    # Every accepted sender's spec asset is declared (as an inlet), so parsing registers it before the first
    # load's event: created on the fly, two loads finishing together raced and one was set failed.
    assert {a.name for a in dag.get_task("load").inlets} == {
        f"sf1630_lis_{code}" for code in ("ky", "ksd", "dubu", "aula", "kp")
    }
    assert "sf1630_completeness_herning_lis01_simpel" in dagbag.dag_ids


def test_completeness_deadline_alert_in_deployments() -> None:
    """With SF1630_DEADLINES on, each completeness and receiver DAG carries a serializable alert keyed by the
    SFTP user: the completeness deadline day, and the hourly run's ``run_deadline`` (12h)."""
    found = [alert[1:] for alert in _probe("receiver_dags.py")["deadlines"].values()]
    callback, user = "sf1630.airflow.notify.OnCall", "HERNING_LIS01_SIMPEL"
    assert found == [
        [9 * 86400.0, callback, {"about": "completeness-deadline", "key": user}],
        [12 * 3600.0, callback, {"about": "receiver-deadline", "key": user}],
    ]
