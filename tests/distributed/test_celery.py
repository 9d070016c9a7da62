"""A month through Airflow as deployed: separate processes, the CeleryExecutor, Redis and PostgreSQL.

``dag.test()`` runs every task in one process; a deployment runs a scheduler, a DAG processor, a
triggerer, an API server (the workers reach the metadata database only through its Task Execution API)
and Celery workers that may sit on other machines. This test starts exactly those as separate process
groups against the machine's PostgreSQL (a fresh database, dropped afterwards) and Redis (a dedicated
database number and a queue of its own), with TWO Celery workers (one task at a time each, distinct
names) sharing one object store (staging, reports, quarantine under ``$AIRFLOW_HOME/sf1630``, as
docker-compose mounts one volume into every worker), triggers the KY sender DAG and the receiver DAG of
every LIS system through the scheduler with the ``airflow`` command line, and checks the end state: every
delivery is in the PostgreSQL warehouse exactly once, every SFTP folder on the emulator is empty, both
workers ran tasks, and a receiver run's steps ran on both workers (what one step staged, the next read).
"""

from __future__ import annotations

import json
import secrets
import shutil
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest
from sf1630.database import Database
from sf1630.dataspec import load_spec
from sf1630.platform.process import RunningEmulator, start_emulator
from sf1630.protocol import Period
from sf1630.receiver.config import connection_slug
from sf1630.registry import load_registry, platform_config, write_platform_config
from sf1630.sender.source import seed_source

from tests.support.airflow_stack import ObservedStack, airflow_stack
from tests.support.config import NEVER, write_config

pytestmark = [pytest.mark.integration, pytest.mark.timeout(900)]

REPO = Path(__file__).resolve().parents[2]
KOMMUNER = ("101", "147", "851")  # København, Frederiksberg, Aalborg: one LIS system each
SENDER = "KY"
PERIOD = "2026-10"
ROWS = 200
PASSWORD = "celery-test-only"
REDIS_DB = 11  # a database number no other test uses
RUN_TIMEOUT = 420.0
ADMIN_DSN = "host=127.0.0.1 port=5432 user=postgres dbname=postgres"
PROCESSING_DELAY = "8s"  # longer than the sender's 5 s quick look
WORKERS = ("worker-a", "worker-b")  # two Celery workers on one shared store


@dataclass
class World:
    """What the test started, for the assertions and the teardown."""

    stack: ObservedStack
    platform_home: Path
    sftp_users: list[str]


def _write_config(folder: Path, work: Path) -> None:
    """The shipped configuration for three kommuner, with test-speed waits and no schedule."""
    write_config(
        folder,
        kommuner=KOMMUNER,
        senders={
            "schedule": NEVER,
            "retries": 1,
            "retry_delay": "2s",
            "max_retry_delay": "4s",
            "receipt_poll": "1s",
            "receipt_timeout": "2m",
        },
        receivers={
            "schedule": NEVER,
            "wait_timeout": "6m",  # the receivers wait from before the sender starts
            "poke_interval": "1s",
            "retries": 1,  # the upstream defer race (see sf1630.airflow.arrival) is recovered by a retry
            "storage": f"file://{work / 'store'}",
        },
    )


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


def _celery_settings(database: str, config_dir: Path, connections: dict[str, Any]) -> dict[str, str]:
    """Celery on Redis with its result backend in PostgreSQL, the configuration, the connections."""
    env = {
        "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
        "AIRFLOW__CELERY__BROKER_URL": f"redis://127.0.0.1:6379/{REDIS_DB}",
        "AIRFLOW__CELERY__RESULT_BACKEND": f"db+postgresql://postgres@127.0.0.1:5432/{database}",
        "AIRFLOW__CELERY__WORKER_CONCURRENCY": "2",
        "AIRFLOW__OPERATORS__DEFAULT_QUEUE": f"sf1630_{database}",
        "SF1630_CONFIG_DIR": str(config_dir),
        "SF1630_DEADLINES": "true",
    }
    for conn_id, conn in connections.items():
        env[f"AIRFLOW_CONN_{conn_id.upper()}"] = json.dumps(conn)
    return env


def _reset_redis() -> None:
    import redis

    client = redis.Redis(host="127.0.0.1", port=6379, db=REDIS_DB)
    try:
        client.flushdb()
    finally:
        client.close()


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    """Database, configuration, seeded source, emulator and the five Airflow processes; all torn down."""
    database = f"sf1630_celery_{secrets.token_hex(6)}"
    dsn = f"host=127.0.0.1 port=5432 user=postgres dbname={database}"
    with psycopg.connect(ADMIN_DSN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{database}"')
    _reset_redis()
    config_dir = tmp_path / "config"
    _write_config(config_dir, tmp_path)
    registry = load_registry(config_dir)
    kommuner, senders = registry.kommuner, registry.senders
    sftp_users = [lis.sftp_user for k in kommuner for lis in k.lis_systems]
    sender = next(s for s in senders if s.code == SENDER)
    emulator: RunningEmulator | None = None
    try:
        with psycopg.connect(dsn, autocommit=True) as conn:
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
            passwords={u: PASSWORD for u in [sender.sftp_user, *sftp_users]},
            extra={"router": {"rescan_interval": "1s"}},
        )
        # The platform takes its time, as the real one does: every receipt wait goes through the triggerer.
        emulator = start_emulator(
            write_platform_config(tmp_path / "platform.yaml", platform),
            tmp_path / "platform-home",
            log=tmp_path / "emulator.log",
            extra_args=["--processing-delay", PROCESSING_DELAY],
        )
        connections: dict[str, Any] = {
            sender.sftp_conn_id: _sftp_conn(emulator.port, sender.sftp_user, emulator.host_key),
            # The source is read through the provider's own hook, whose extras are libpq's: the schema
            # goes in as the search path.
            sender.source_conn_id: {
                **_postgres_conn(database, "source"),
                "extra": {"options": "-c search_path=source"},
            },
            sender.ledger_conn_id: _postgres_conn(database, "sender"),
            "sf1630_warehouse": _postgres_conn(database, "lis"),
        }
        for user in sftp_users:
            conn_id = f"sf1630_sftp_{connection_slug(user)}"
            connections[conn_id] = _sftp_conn(emulator.port, user, emulator.host_key)
        with airflow_stack(
            tmp_path / "airflow",
            REPO / "dags",
            _celery_settings(database, config_dir, connections),
            database_url=f"postgresql+psycopg2://postgres@127.0.0.1:5432/{database}",
        ) as stack:
            queue = stack.env["AIRFLOW__OPERATORS__DEFAULT_QUEUE"]
            worker = ["celery", "worker", "--queues", queue, "--concurrency", "1"]
            for name in WORKERS:
                named = {
                    "SF1630_WORKER_NAME": name,
                    "AIRFLOW__CORE__HOSTNAME_CALLABLE": "tests.support.worker_name.hostname",
                    "PYTHONPATH": str(REPO),
                }
                stack.run(f"celery-{name}", [*worker, "--celery-hostname", f"{name}-{database}@%h"], named)
            yield World(stack, tmp_path / "platform-home", sftp_users)
    finally:
        if emulator is not None:
            emulator.stop()
        with psycopg.connect(ADMIN_DSN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        _reset_redis()
        shutil.rmtree(tmp_path / "store", ignore_errors=True)


def test_month_through_celery_workers(world: World, capsys: pytest.CaptureFixture[str]) -> None:
    started = time.monotonic()
    stack = world.stack
    sender_dag = f"sf1630_sender_{SENDER.lower()}"
    receiver_dags = [f"sf1630_receiver_{connection_slug(u)}" for u in world.sftp_users]
    dag_ids = [sender_dag, *receiver_dags]
    stack.wait_parsed(dag_ids)
    run_id = f"celery_test_{secrets.token_hex(4)}"
    # The LIS side listens first: the receivers' runs wait (deferred) before the sender delivers anything.
    _trigger_all(stack, run_id, [(d, None) for d in receiver_dags])
    _wait_deferred(stack, run_id, receiver_dags)
    _trigger_all(stack, run_id, [(sender_dag, {"period": PERIOD})])

    states = stack.wait_runs(run_id, dag_ids, RUN_TIMEOUT)
    assert states == dict.fromkeys(dag_ids, "success"), f"{states}\n{stack.diagnostics()}"
    # A receiver run succeeds even when a load failed (its housekeeping leaf runs on all_done): check each.
    unfinished = stack.query(
        "SELECT dag_id, task_id, map_index, state FROM task_instance WHERE run_id = ? AND state <> 'success'",
        run_id,
    )
    assert not unfinished, f"{unfinished}\n{stack.diagnostics()}"
    _assert_loaded_once(stack)
    _assert_folders_clean(world)
    _assert_waits_deferred(stack, run_id, sender_dag, receiver_dags)
    workers = stack.query(
        "SELECT DISTINCT hostname FROM task_instance WHERE run_id = ? AND hostname <> ''", run_id
    )
    assert {w for (w,) in workers} == set(WORKERS), workers
    spread = stack.query(
        "SELECT dag_id, count(DISTINCT hostname) FROM task_instance WHERE run_id = ? AND hostname <> ''"
        " AND task_id IN ('fetch', 'validate', 'load', 'delete') GROUP BY dag_id",
        run_id,
    )
    steps_on_both = [dag for dag, hosts in spread if dag.startswith("sf1630_receiver_") and hosts > 1]
    assert steps_on_both, f"every receiver run's steps ran on one worker: {spread}"
    with capsys.disabled():
        print(f"\ncelery run: {len(dag_ids)} DAG runs in {time.monotonic() - started:.1f} s after start-up")


def _trigger_all(stack: ObservedStack, run_id: str, runs: list[tuple[str, dict[str, Any] | None]]) -> None:
    """Trigger each (DAG, conf) side by side, so the runs start together."""
    with ThreadPoolExecutor(len(runs)) as pool:
        list(pool.map(lambda run: stack.trigger(run[0], conf=run[1], run_id=run_id), runs))


def _wait_deferred(stack: ObservedStack, run_id: str, dag_ids: list[str]) -> None:
    """Until each of these runs has a task waiting in the triggerer."""
    deadline = time.monotonic() + RUN_TIMEOUT
    while time.monotonic() < deadline:
        rows = stack.query(
            "SELECT DISTINCT dag_id FROM task_instance WHERE run_id = ? AND state = 'deferred'", run_id
        )
        if {row[0] for row in rows} >= set(dag_ids):
            return
        time.sleep(1)
    raise AssertionError(f"receivers not waiting within {RUN_TIMEOUT} s\n{stack.diagnostics()}")


def _assert_loaded_once(stack: ObservedStack) -> None:
    """Each kommune's file once in the warehouse ledger, its rows once in the table; sender ledger agrees."""
    ledger = stack.query("SELECT file_name, kommune, outcome, rows FROM lis.sf1630_ledger ORDER BY kommune")
    cvrs = sorted(k.cvr for k in load_registry(Path(stack.env["SF1630_CONFIG_DIR"])).kommuner)
    assert [row[1] for row in ledger] == cvrs, ledger
    assert {row[3] for row in ledger} == {ROWS}, ledger
    assert len({row[0] for row in ledger}) == len(cvrs)
    table = load_spec(SENDER.lower()).warehouse_table
    assert stack.query(f"SELECT count(*) FROM lis.{table}") == [(ROWS * len(cvrs),)]  # noqa: S608
    sent = stack.query("SELECT file_name, status FROM sender.sf1630_sender_ledger")
    assert sorted(name for name, _ in sent) == sorted(row[0] for row in ledger), sent


def _assert_waits_deferred(
    stack: ObservedStack, run_id: str, sender_dag: str, receiver_dags: list[str]
) -> None:
    """Every receipt wait and every metadata wait went through the triggerer: Airflow's event log (the
    metadata behind the UI's Audit Log) holds a ``deferred`` event for each."""
    rows = stack.query(
        "SELECT DISTINCT dag_id, task_id, map_index FROM log WHERE event = 'deferred' AND run_id = ?", run_id
    )
    receipts = [r for r in rows if r[0] == sender_dag and r[1] == "deliver"]
    assert len(receipts) == len(KOMMUNER), rows
    waits = {r[0] for r in rows if r[1] == "wait_for_metadata"}
    assert waits == set(receiver_dags), rows


def _assert_folders_clean(world: World) -> None:
    """The sender cleaned OUT/ and its receipts, every LIS fetched and deleted its files."""
    leftovers = {
        f"{user}/{folder}": sorted(p.name for p in (world.platform_home / "users" / user / folder).iterdir())
        for user in [f"{SENDER}_SFTPSIMPEL", *world.sftp_users]
        for folder in ("IN", "OUT")
    }
    assert all(not files for files in leftovers.values()), leftovers
