"""Airflow's own processes for tests: the demo's launcher (:mod:`sf1630.demo.stack`) with a test's eyes.

For behaviour that only the real processes have (a DAG-level failure callback run by the DAG processor, a
Deadline Alert fired by the scheduler and called back in the triggerer, Celery workers; ``dag.test()``
cannot run a DAG with ``deadline=``, apache/airflow#73428). The processes are started, logged and stopped
exactly as the demo does it; :class:`ObservedStack` adds what a test needs: the metadata database's rows
(SQLite or PostgreSQL), triggering through the command line, waiting for parsing and runs, and diagnostics
for a failed assertion. Each stack has its own ``AIRFLOW_HOME``; the caller adds connections and settings.

    with airflow_stack(tmp_path / "airflow", dags_folder, env) as stack:
        stack.wait_parsed(["my_dag"])
        run_id = stack.trigger("my_dag", conf={"period": "2026-10"})
        assert stack.wait_run("my_dag", run_id) == "failed"
"""

from __future__ import annotations

import contextlib
import json
import re
import secrets
import sqlite3
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sf1630.demo.stack import (
    COMPONENTS,
    AirflowStack,
    Sizing,
    StackFailed,
    free_port,
    stack_environment,
    tail,
)

FINISHED = frozenset({"success", "failed"})
#: Test-speed settings on top of the demo's: quick re-parsing and heartbeats; 30 s for a task's calls to
#: the Execution API (5 s, the default, is not enough for one API server on SQLite on a busy 2-core
#: machine: a task whose start call times out four times is killed before it runs).
TEST_SETTINGS = {
    "AIRFLOW__WORKERS__EXECUTION_API_TIMEOUT": "30",
    "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "1",
    "AIRFLOW__TRIGGERER__JOB_HEARTBEAT_SEC": "1",
}


#: Between two looks at the metadata database while waiting (a read-only query: cheap beside a scheduler
#: loop, and a finished run is seen a quarter of a second after it finished, not a second).
POLL_SECONDS = 0.25


class ObservedStack(AirflowStack):
    """A running stack and what a test asks of it."""

    def query(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        """Rows from the metadata database, ``?`` placeholders (read only on SQLite, beside the scheduler)."""
        url = self.env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]
        if url.startswith("sqlite:///"):
            path = url.removeprefix("sqlite:///")
            with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)) as conn:
                return list(conn.execute(sql, params).fetchall())
        import psycopg

        dsn = re.sub(r"^postgresql\+\w+://", "postgresql://", url)
        with psycopg.connect(dsn, autocommit=True) as conn:
            return list(conn.execute(sql.replace("?", "%s"), params).fetchall())  # type: ignore[arg-type]

    def check_alive(self) -> None:
        """Fail the test, with the diagnostics, when a process has exited."""
        try:
            self.check()
        except StackFailed as failed:
            raise AssertionError(f"{failed}\n{self.diagnostics()}") from None

    def wait_parsed(self, dag_ids: Sequence[str], timeout: float = 180) -> None:
        """Until the DAG processor has serialized every DAG in ``dag_ids``; then unpause them."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with contextlib.suppress(Exception):  # the table appears with the first parse
                found = {row[0] for row in self.query("SELECT dag_id FROM serialized_dag")}
                if set(dag_ids) <= found:
                    break
            self.check_alive()
            time.sleep(POLL_SECONDS)
        else:
            raise AssertionError(f"DAGs {list(dag_ids)} not parsed within {timeout} s\n{self.diagnostics()}")
        pattern = "^(" + "|".join(re.escape(d) for d in dag_ids) + ")$"
        self.airflow("dags", "unpause", pattern, "--treat-dag-id-as-regex", "--yes")

    def trigger(self, dag_id: str, *, conf: Mapping[str, Any] | None = None, run_id: str = "") -> str:
        """Trigger a run with the ``airflow dags trigger`` command line; returns its run id."""
        run_id = run_id or f"manual__test_{secrets.token_hex(4)}"
        args = ["dags", "trigger", dag_id, "--run-id", run_id]
        if conf is not None:
            args += ["--conf", json.dumps(dict(conf))]
        self.airflow(*args)
        return run_id

    def run_states(self, run_id: str) -> dict[str, str]:
        """The state of each DAG's run called ``run_id``."""
        rows = self.query("SELECT dag_id, state FROM dag_run WHERE run_id = ?", run_id)
        return {str(dag_id): str(state) for dag_id, state in rows}

    def wait_runs(self, run_id: str, dag_ids: Sequence[str], timeout: float = 240) -> dict[str, str]:
        """Until the run ``run_id`` of every DAG in ``dag_ids`` has finished; the state of each."""
        deadline = time.monotonic() + timeout
        states: dict[str, str] = {}
        while time.monotonic() < deadline:
            with contextlib.suppress(sqlite3.OperationalError):
                states = {d: s for d, s in self.run_states(run_id).items() if d in dag_ids}
                if len(states) == len(dag_ids) and set(states.values()) <= FINISHED:
                    return states
            self.check_alive()
            time.sleep(POLL_SECONDS)
        raise AssertionError(f"{run_id} not finished in {timeout} s: {states}\n{self.diagnostics()}")

    def wait_run(self, dag_id: str, run_id: str, timeout: float = 240) -> str:
        """Until one run has finished; returns ``success`` or ``failed``."""
        return self.wait_runs(run_id, [dag_id], timeout)[dag_id]

    def diagnostics(self, lines: int = 60) -> str:
        """Task instance states, the tail of every task log and of every process's output."""
        parts = []
        with contextlib.suppress(Exception):
            rows = self.query(
                "SELECT dag_id, run_id, task_id, map_index, state, try_number FROM task_instance ORDER BY 1"
            )
            parts.append("task instances:\n" + "\n".join(map(str, rows)))
        for log in sorted((self.airflow_home / "logs").rglob("*.log")):
            parts.append(f"--- {log.relative_to(self.airflow_home)}\n{tail(log, 30)}")
        for name, process in self.processes.items():
            parts.append(f"=== {name} (exit {process.poll()})\n{tail(self.log(name), lines)}")
        return "\n".join(parts)


def observed_environment(
    home: Path, database_url: str, dags_folder: Path, extra: Mapping[str, str]
) -> dict[str, str]:
    """The demo's stack environment with test-speed settings and the caller's ``extra``."""
    (home / "plugins").mkdir(parents=True, exist_ok=True)
    env = stack_environment(
        home,
        database_url,
        dags_folder,
        plugins_folder=home / "plugins",
        api_port=free_port(),
        sizing=Sizing(parse_interval=5),
    )
    return {**env, **TEST_SETTINGS, **extra}


@contextmanager
def airflow_stack(
    home: Path,
    dags_folder: Path,
    env: Mapping[str, str],
    components: Sequence[str] = COMPONENTS,
    *,
    database_url: str = "",
) -> Iterator[ObservedStack]:
    """Migrate a fresh metadata database (SQLite in ``home`` unless ``database_url``) and run
    ``components``; stop them all on exit. Process output goes to ``home/../<home name>-processes``."""
    url = database_url or f"sqlite:///{home / 'airflow.db'}"
    stack = ObservedStack(
        observed_environment(home, url, dags_folder, env), home.with_name(f"{home.name}-processes"), cwd=home
    )
    try:
        stack.migrate()
        stack.start(components)
        yield stack
    finally:
        stack.stop()
