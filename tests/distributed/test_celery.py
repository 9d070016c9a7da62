"""A month through Airflow as deployed: separate processes, the CeleryExecutor, Redis and PostgreSQL.

``dag.test()`` runs every task in one process; a deployment runs a scheduler, a DAG processor, a
triggerer, an API server (the workers reach the metadata database only through its Task Execution API)
and Celery workers that may sit on other machines. This test starts exactly those as separate process
groups against the machine's PostgreSQL (a fresh database, dropped afterwards) and Redis (a dedicated
database number and a queue of its own), triggers the KY sender DAG and the receiver DAG of every LIS
system through the scheduler with the ``airflow`` command line, and checks the end state: every delivery
is in the PostgreSQL warehouse exactly once and every SFTP folder on the emulator is empty.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
import pytest
import yaml
from sf1630.database import Database
from sf1630.dataspec import load_spec
from sf1630.platform.process import RunningEmulator, start_emulator
from sf1630.protocol import Period
from sf1630.receiver.config import connection_slug
from sf1630.registry import load_registry, platform_config, write_platform_config
from sf1630.sender.source import seed_source
from sf1630.settings import INCLUDE_DIR

from tests.support.airflow_stack import stop_group

pytestmark = [pytest.mark.integration, pytest.mark.xdist_group("celery"), pytest.mark.timeout(900)]

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
KOMMUNER = ("101", "147", "851")  # København, Frederiksberg, Aalborg: one LIS system each
SENDER = "KY"
PERIOD = "2026-10"
ROWS = 200
PASSWORD = "celery-test-only"
REDIS_DB = 11  # a database number no other test uses
NEVER = "0 0 29 2 *"  # 29 February: no scheduled run before 2032, so only the triggered runs exist
RUN_TIMEOUT = 420.0
ADMIN_DSN = "host=127.0.0.1 port=5432 user=postgres dbname=postgres"
PROCESSING_DELAY = "8s"  # longer than the sender's 5 s quick look


@dataclass
class Stack:
    """What the test started, for the assertions and the teardown."""

    workdir: Path
    database: str
    env: dict[str, str]
    platform_home: Path
    lis_users: list[str]
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    logs: dict[str, Path] = field(default_factory=dict)
    emulator: RunningEmulator | None = None

    @property
    def dsn(self) -> str:
        return f"host=127.0.0.1 port=5432 user=postgres dbname={self.database}"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _write_config(folder: Path, work: Path) -> None:
    """The shipped configuration narrowed to three kommuner, with test-speed waits and no schedule.

    The cron never fires, so the only runs are the ones the test triggers; include/config is untouched.
    """
    folder.mkdir(parents=True)
    source = INCLUDE_DIR / "config"
    kommuner = yaml.safe_load((source / "kommuner.yaml").read_text(encoding="utf-8"))
    kommuner["kommuner"] = [k for k in kommuner["kommuner"] if k["kode"] in KOMMUNER]
    senders = yaml.safe_load((source / "senders.yaml").read_text(encoding="utf-8"))
    senders["defaults"].update(
        schedule=NEVER,
        retries=1,
        retry_delay="2s",
        max_retry_delay="4s",
        receipt_poll="1s",
        receipt_timeout="2m",
    )
    receivers = yaml.safe_load((source / "receivers.yaml").read_text(encoding="utf-8"))
    receivers["defaults"].update(
        schedule=NEVER,
        wait_timeout="6m",  # the receivers wait from before the sender starts
        poke_interval="1s",
        retries=1,  # the upstream defer race (see sf1630.airflow.arrival) is recovered by a retry
        storage=f"file://{work / 'store'}",
    )
    for name, content in (("kommuner", kommuner), ("senders", senders), ("receivers", receivers)):
        text = yaml.safe_dump(content, allow_unicode=True, sort_keys=False)
        (folder / f"{name}.yaml").write_text(text, encoding="utf-8")


def _postgres_conn(database: str, schema: str) -> dict[str, Any]:
    return {
        "conn_type": "postgres",
        "host": "127.0.0.1",
        "port": 5432,
        "login": "postgres",
        "schema": database,
        "extra": {"schema": schema},
    }


def _sftp_conn(port: int, user: str, host_key: str) -> dict[str, Any]:
    return {
        "conn_type": "sftp",
        "host": "127.0.0.1",
        "port": port,
        "login": user,
        "password": PASSWORD,
        "extra": {"host_key": host_key, "look_for_keys": False, "allow_host_key_change": False},
    }


def _start(stack: Stack, name: str, command: list[str]) -> subprocess.Popen[bytes]:
    """Start ``command`` in its own process group (so teardown reaches its children) with output to a log."""
    log = stack.workdir / "logs" / f"{name}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("wb") as out:
        process = subprocess.Popen(
            command,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=stack.env,
            cwd=stack.workdir,
            start_new_session=True,
        )
    stack.processes[name], stack.logs[name] = process, log
    return process


def _start_emulator(stack: Stack, config: Path) -> tuple[int, str]:
    """``sf1630 platform serve`` on a free port; returns the port and the pinned host key.

    The platform takes its time, as the real one does: every receipt wait goes through the triggerer.
    """
    stack.logs["emulator"] = stack.workdir / "emulator.log"
    stack.emulator = start_emulator(
        config,
        stack.platform_home,
        log=stack.logs["emulator"],
        extra_args=["--processing-delay", PROCESSING_DELAY],
    )
    return stack.emulator.port, stack.emulator.host_key


def _airflow_env(work: Path, database: str, config_dir: Path, connections: dict[str, Any]) -> dict[str, str]:
    """The child processes' environment: Celery, PostgreSQL, the Task Execution API; nothing else shared."""
    api_port = _free_port()
    db_url = f"postgresql+psycopg2://postgres@127.0.0.1:5432/{database}"
    queue = f"sf1630_{database}"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "PYTEST"))}
    env.update(
        {
            "AIRFLOW_HOME": str(work / "airflow"),
            "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": db_url,
            "AIRFLOW__CELERY__BROKER_URL": f"redis://127.0.0.1:6379/{REDIS_DB}",
            "AIRFLOW__CELERY__RESULT_BACKEND": f"db+postgresql://postgres@127.0.0.1:5432/{database}",
            "AIRFLOW__CELERY__WORKER_CONCURRENCY": "2",
            "AIRFLOW__OPERATORS__DEFAULT_QUEUE": queue,
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__PORT": str(api_port),
            "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{api_port}",
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{api_port}/execution/",
            "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(32),
            "AIRFLOW__API__SECRET_KEY": secrets.token_urlsafe(32),
            "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(_free_port()),
            "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(_free_port()),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
            "AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO / "plugins"),
            "AIRFLOW__SCHEDULER__MIN_FILE_PROCESS_INTERVAL": "5",
            "SF1630_CONFIG_DIR": str(config_dir),
            "SF1630_DEADLINES": "true",
            "GX_ANALYTICS_ENABLED": "False",
            "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        }
    )
    for conn_id, conn in connections.items():
        env[f"AIRFLOW_CONN_{conn_id.upper()}"] = json.dumps(conn)
    return env


def _airflow(stack: Stack, *args: str) -> str:
    """Run one ``airflow`` command in the stack's environment; fail with its output."""
    result = subprocess.run(
        [str(BIN / "airflow"), *args],
        env=stack.env,
        cwd=stack.workdir,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert result.returncode == 0, f"airflow {' '.join(args)}:\n{result.stdout}\n{result.stderr}"
    return result.stdout


def _query(stack: Stack, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    with psycopg.connect(stack.dsn, autocommit=True) as conn:
        return list(conn.execute(sql, params).fetchall())  # type: ignore[arg-type]


def _wait_parsed(stack: Stack, dag_ids: list[str], timeout: float = 120) -> None:
    """Until the DAG processor has serialized every DAG the test triggers."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(psycopg.errors.UndefinedTable):
            found = {row[0] for row in _query(stack, "SELECT dag_id FROM serialized_dag")}
            if set(dag_ids) <= found:
                return
        time.sleep(1)
    raise AssertionError(f"DAGs not parsed within {timeout} s\n{_diagnostics(stack)}")


def _wait_runs(stack: Stack, run_id: str, dag_ids: list[str]) -> dict[str, str]:
    """Until every triggered run has finished; returns the state per DAG."""
    deadline = time.monotonic() + RUN_TIMEOUT
    states: dict[str, str] = {}
    while time.monotonic() < deadline:
        rows = _query(stack, "SELECT dag_id, state FROM dag_run WHERE run_id = %s", run_id)
        states = {dag_id: str(state) for dag_id, state in rows}
        if len(states) == len(dag_ids) and all(s in {"success", "failed"} for s in states.values()):
            return states
        for name, process in stack.processes.items():
            assert process.poll() is None, f"{name} exited\n{_diagnostics(stack)}"
        time.sleep(1)
    raise AssertionError(f"runs not finished within {RUN_TIMEOUT} s: {states}\n{_diagnostics(stack)}")


def _tail(path: Path, lines: int = 60) -> str:
    text = path.read_text(encoding="utf-8", errors="replace").splitlines()
    return "\n".join(text[-lines:])


def _diagnostics(stack: Stack) -> str:
    """Task instance states, the task logs and the tail of each process's output."""
    parts = []
    with contextlib.suppress(Exception):
        rows = _query(
            stack, "SELECT dag_id, task_id, map_index, state, try_number FROM task_instance ORDER BY 1, 2, 3"
        )
        parts.append("task instances:\n" + "\n".join(map(str, rows)))
    for log in sorted((stack.workdir / "airflow" / "logs").rglob("*.log")):
        parts.append(f"--- {log.relative_to(stack.workdir)}\n{_tail(log, 40)}")
    for name, log in stack.logs.items():
        parts.append(f"=== {name} (exit {stack.processes[name].poll()})\n{_tail(log)}")
    return "\n".join(parts)


def _reset_redis() -> None:
    import redis

    client = redis.Redis(host="127.0.0.1", port=6379, db=REDIS_DB)
    try:
        client.flushdb()
    finally:
        client.close()


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    """Database, configuration, seeded source, emulator and the five Airflow processes; all torn down."""
    database = f"sf1630_celery_{secrets.token_hex(6)}"
    with psycopg.connect(ADMIN_DSN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{database}"')
    _reset_redis()
    config_dir = tmp_path / "config"
    _write_config(config_dir, tmp_path)
    registry = load_registry(config_dir)
    kommuner, senders = registry.kommuner, registry.senders
    lis_users = [lis.sftp_user for k in kommuner for lis in k.lis_systems]
    sender = next(s for s in senders if s.code == SENDER)
    stack = Stack(tmp_path, database, dict(os.environ), tmp_path / "platform-home", lis_users)
    try:
        with psycopg.connect(stack.dsn, autocommit=True) as conn:
            for schema in ("source", "sender", "lis"):
                conn.execute(f"CREATE SCHEMA {schema}")
        source = Database.from_connection(
            "seed", "postgres", login="postgres", schema=database, extra={"schema": "source"}
        )
        cvrs = [k.cvr for k in kommuner]
        seed_source(source, load_spec(sender.dataspec), cvrs, Period.parse(PERIOD), rows_per_kommune=ROWS)
        platform = platform_config(
            registry,
            sender_codes={SENDER},
            passwords={u: PASSWORD for u in [sender.sftp_user, *lis_users]},
            extra={"router": {"rescan_interval": "1s"}},
        )
        port, host_key = _start_emulator(stack, write_platform_config(tmp_path / "platform.yaml", platform))
        connections: dict[str, Any] = {
            sender.sftp_conn_id: _sftp_conn(port, sender.sftp_user, host_key),
            sender.source_conn_id: _postgres_conn(database, "source"),
            sender.ledger_conn_id: _postgres_conn(database, "sender"),
            "sf1630_warehouse": _postgres_conn(database, "lis"),
        }
        for user in lis_users:
            connections[f"sf1630_sftp_{connection_slug(user)}"] = _sftp_conn(port, user, host_key)
        stack.env = _airflow_env(tmp_path, database, config_dir, connections)
        _airflow(stack, "db", "migrate")
        queue = stack.env["AIRFLOW__OPERATORS__DEFAULT_QUEUE"]
        _start(stack, "api-server", [str(BIN / "airflow"), "api-server", "--workers", "1"])
        _start(stack, "scheduler", [str(BIN / "airflow"), "scheduler"])
        _start(stack, "dag-processor", [str(BIN / "airflow"), "dag-processor"])
        _start(stack, "triggerer", [str(BIN / "airflow"), "triggerer"])
        worker = [str(BIN / "airflow"), "celery", "worker", "--queues", queue, "--concurrency", "2"]
        _start(stack, "celery-worker", [*worker, "--celery-hostname", f"{database}@%h"])
        yield stack
    finally:
        for process in stack.processes.values():
            stop_group(process)
        if stack.emulator is not None:
            stack.emulator.stop()
        with psycopg.connect(ADMIN_DSN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        _reset_redis()
        shutil.rmtree(tmp_path / "store", ignore_errors=True)


def test_month_through_celery_workers(stack: Stack, capsys: pytest.CaptureFixture[str]) -> None:
    started = time.monotonic()
    sender_dag = f"sf1630_sender_{SENDER.lower()}"
    receiver_dags = [f"sf1630_receiver_{connection_slug(u)}" for u in stack.lis_users]
    dag_ids = [sender_dag, *receiver_dags]
    _wait_parsed(stack, dag_ids)
    pattern = "^(" + "|".join(re.escape(d) for d in dag_ids) + ")$"
    _airflow(stack, "dags", "unpause", pattern, "--treat-dag-id-as-regex", "--yes")
    run_id = f"celery_test_{secrets.token_hex(4)}"
    # The LIS side listens first: the receivers' runs wait (deferred) before the sender delivers anything.
    _trigger_all(stack, run_id, [(d, []) for d in receiver_dags])
    _wait_deferred(stack, run_id, receiver_dags)
    _trigger_all(stack, run_id, [(sender_dag, ["--conf", json.dumps({"period": PERIOD})])])

    states = _wait_runs(stack, run_id, dag_ids)
    assert states == dict.fromkeys(dag_ids, "success"), f"{states}\n{_diagnostics(stack)}"
    # A receiver run succeeds even when a load failed (its housekeeping leaf runs on all_done): check each.
    unfinished = _query(
        stack,
        "SELECT dag_id, task_id, map_index, state FROM task_instance"
        " WHERE run_id = %s AND state <> 'success'",
        run_id,
    )
    assert not unfinished, f"{unfinished}\n{_diagnostics(stack)}"
    _assert_loaded_once(stack)
    _assert_folders_clean(stack)
    _assert_waits_deferred(stack, run_id, sender_dag, receiver_dags)
    workers = _query(
        stack, "SELECT DISTINCT hostname FROM task_instance WHERE run_id = %s AND hostname <> ''", run_id
    )
    assert workers, "no task instance names the Celery worker that ran it"
    with capsys.disabled():
        print(f"\ncelery run: {len(dag_ids)} DAG runs in {time.monotonic() - started:.1f} s after start-up")


def _trigger_all(stack: Stack, run_id: str, runs: list[tuple[str, list[str]]]) -> None:
    """``airflow dags trigger`` for each (DAG, extra arguments), in parallel."""
    triggers = [
        subprocess.Popen(
            [str(BIN / "airflow"), "dags", "trigger", dag_id, "--run-id", run_id, *extra],
            env=stack.env,
            cwd=stack.workdir,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        for dag_id, extra in runs
    ]
    for trigger in triggers:
        output, _ = trigger.communicate(timeout=180)
        assert trigger.returncode == 0, output.decode(errors="replace")


def _wait_deferred(stack: Stack, run_id: str, dag_ids: list[str]) -> None:
    """Until each of these runs has a task waiting in the triggerer."""
    deadline = time.monotonic() + RUN_TIMEOUT
    while time.monotonic() < deadline:
        rows = _query(
            stack,
            "SELECT DISTINCT dag_id FROM task_instance WHERE run_id = %s AND state = 'deferred'",
            run_id,
        )
        if {row[0] for row in rows} >= set(dag_ids):
            return
        time.sleep(1)
    raise AssertionError(f"receivers not waiting within {RUN_TIMEOUT} s\n{_diagnostics(stack)}")


def _assert_loaded_once(stack: Stack) -> None:
    """Each kommune's file once in the warehouse ledger, its rows once in the table; sender ledger agrees."""
    ledger = _query(stack, "SELECT file_name, kommune, outcome, rows FROM lis.sf1630_ledger ORDER BY kommune")
    cvrs = sorted(k.cvr for k in load_registry(Path(stack.env["SF1630_CONFIG_DIR"])).kommuner)
    assert [row[1] for row in ledger] == cvrs, ledger
    assert {row[3] for row in ledger} == {ROWS}, ledger
    assert len({row[0] for row in ledger}) == len(cvrs)
    table = load_spec(SENDER.lower()).warehouse_table
    assert _query(stack, f"SELECT count(*) FROM lis.{table}") == [(ROWS * len(cvrs),)]  # noqa: S608
    sent = _query(stack, "SELECT file_name, status FROM sender.sf1630_sender_ledger")
    assert sorted(name for name, _ in sent) == sorted(row[0] for row in ledger), sent


def _assert_waits_deferred(stack: Stack, run_id: str, sender_dag: str, receiver_dags: list[str]) -> None:
    """Every receipt wait and every metadata wait went through the triggerer: Airflow's event log (the
    metadata behind the UI's Audit Log) holds a ``deferred`` event for each."""
    rows = _query(
        stack,
        "SELECT DISTINCT dag_id, task_id, map_index FROM log WHERE event = 'deferred' AND run_id = %s",
        run_id,
    )
    receipts = [r for r in rows if r[0] == sender_dag and r[1] == "deliver"]
    assert len(receipts) == len(KOMMUNER), rows
    waits = {r[0] for r in rows if r[1] == "wait_for_metadata"}
    assert waits == set(receiver_dags), rows


def _assert_folders_clean(stack: Stack) -> None:
    """The sender cleaned OUT/ and its receipts, every LIS fetched and deleted its files."""
    leftovers = {
        f"{user}/{folder}": sorted(p.name for p in (stack.platform_home / "users" / user / folder).iterdir())
        for user in [f"{SENDER}_SFTPSIMPEL", *stack.lis_users]
        for folder in ("IN", "OUT")
    }
    assert all(not files for files in leftovers.values()), leftovers
