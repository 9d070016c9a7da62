"""Airflow's own processes for tests: API server, scheduler, DAG processor and triggerer (LocalExecutor).

For behaviour that only the real processes have (a DAG-level failure callback run by the DAG processor, a
Deadline Alert fired by the scheduler and called back in the triggerer; ``dag.test()`` cannot run a DAG
with ``deadline=``, apache/airflow#73428). Each stack has its own ``AIRFLOW_HOME`` and SQLite metadata
database; the caller adds its connections and settings as environment variables. Each process runs in a
process group of its own, so stopping it also stops the task processes it forked.

    with airflow_stack(tmp_path / "airflow", dags_folder, env) as stack:
        stack.wait_parsed(["my_dag"])
        run_id = stack.trigger("my_dag", conf={"period": "2026-10"})
        assert stack.wait_run("my_dag", run_id) == "failed"
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

BIN = Path(sys.executable).parent
PROCESSES = ("api-server", "scheduler", "dag-processor", "triggerer")
FINISHED = frozenset({"success", "failed"})


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class AirflowStack:
    """A running stack: its home, environment, processes and their logs."""

    home: Path
    env: dict[str, str]
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    logs: dict[str, Path] = field(default_factory=dict)

    @property
    def database(self) -> Path:
        return self.home / "airflow.db"

    def airflow(self, *args: str, timeout: float = 180) -> str:
        """Run one ``airflow`` command in the stack's environment; fail with its output."""
        result = subprocess.run(
            [str(BIN / "airflow"), *args],
            env=self.env,
            cwd=self.home,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        assert result.returncode == 0, f"airflow {' '.join(args)}:\n{result.stdout}\n{result.stderr}"
        return result.stdout

    def query(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        """Rows from the metadata database (read only; SQLite lets readers beside the scheduler)."""
        with contextlib.closing(
            sqlite3.connect(f"file:{self.database}?mode=ro", uri=True, timeout=30)
        ) as conn:
            return list(conn.execute(sql, params).fetchall())

    def start(self, name: str, command: Sequence[str]) -> subprocess.Popen[bytes]:
        """Start ``command`` in a process group of its own, output to ``logs/<name>.log``."""
        log = self.home / "logs" / f"{name}.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        with log.open("wb") as out:
            process = subprocess.Popen(
                list(command),
                stdout=out,
                stderr=subprocess.STDOUT,
                env=self.env,
                cwd=self.home,
                start_new_session=True,
            )
        self.processes[name], self.logs[name] = process, log
        return process

    def check_alive(self) -> None:
        for name, process in self.processes.items():
            assert process.poll() is None, f"{name} exited\n{self.diagnostics()}"

    def wait_parsed(self, dag_ids: Sequence[str], timeout: float = 180) -> None:
        """Until the DAG processor has serialized every DAG in ``dag_ids``; then unpause them."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with contextlib.suppress(sqlite3.OperationalError):
                found = {row[0] for row in self.query("SELECT dag_id FROM serialized_dag")}
                if set(dag_ids) <= found:
                    pattern = "^(" + "|".join(re.escape(d) for d in dag_ids) + ")$"
                    self.airflow("dags", "unpause", pattern, "--treat-dag-id-as-regex", "--yes")
                    return
            self.check_alive()
            time.sleep(1)
        raise AssertionError(f"DAGs {list(dag_ids)} not parsed within {timeout} s\n{self.diagnostics()}")

    def trigger(self, dag_id: str, *, conf: Mapping[str, Any] | None = None, run_id: str = "") -> str:
        """Trigger a run with the ``airflow dags trigger`` command line; returns its run id."""
        run_id = run_id or f"manual__test_{secrets.token_hex(4)}"
        args = ["dags", "trigger", dag_id, "--run-id", run_id]
        if conf is not None:
            args += ["--conf", json.dumps(dict(conf))]
        self.airflow(*args)
        return run_id

    def run_state(self, dag_id: str, run_id: str) -> str:
        rows = self.query("SELECT state FROM dag_run WHERE dag_id = ? AND run_id = ?", dag_id, run_id)
        return str(rows[0][0]) if rows else ""

    def wait_run(self, dag_id: str, run_id: str, timeout: float = 240) -> str:
        """Until the run has finished; returns ``success`` or ``failed``."""
        deadline = time.monotonic() + timeout
        state = ""
        while time.monotonic() < deadline:
            with contextlib.suppress(sqlite3.OperationalError):
                state = self.run_state(dag_id, run_id)
                if state in FINISHED:
                    return state
            self.check_alive()
            time.sleep(1)
        raise AssertionError(f"{dag_id} {run_id} not finished in {timeout} s ({state})\n{self.diagnostics()}")

    def diagnostics(self, lines: int = 60) -> str:
        """Task instance states, the tail of every task log and of every process's output."""
        parts = []
        with contextlib.suppress(Exception):
            rows = self.query(
                "SELECT dag_id, run_id, task_id, map_index, state FROM task_instance ORDER BY 1"
            )
            parts.append("task instances:\n" + "\n".join(map(str, rows)))
        for log in sorted((self.home / "task-logs").rglob("*.log")):
            parts.append(f"--- {log.relative_to(self.home)}\n{_tail(log, 30)}")
        for name, log in self.logs.items():
            parts.append(f"=== {name} (exit {self.processes[name].poll()})\n{_tail(log, lines)}")
        return "\n".join(parts)


def _tail(path: Path, lines: int) -> str:
    return "\n".join(path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])


def stack_env(home: Path, dags_folder: Path, extra: Mapping[str, str]) -> dict[str, str]:
    """The processes' environment: ours without Airflow's and pytest's settings, plus the stack's."""
    api_port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "PYTEST"))}
    env.update(
        {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
            "AIRFLOW__CORE__PARALLELISM": "4",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__DAGS_FOLDER": str(dags_folder),
            "AIRFLOW__CORE__PLUGINS_FOLDER": str(home / "plugins"),
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__PORT": str(api_port),
            "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{api_port}",
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{api_port}/execution/",
            # 5 s (the default) is not enough for one API server on SQLite on a busy 2-core machine: a task
            # whose start call times out four times is killed before it runs.
            "AIRFLOW__WORKERS__EXECUTION_API_TIMEOUT": "30",
            "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(32),
            "AIRFLOW__API__SECRET_KEY": secrets.token_urlsafe(32),
            "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(home / "task-logs"),
            "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
            "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(free_port()),
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
            "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "5",
            "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "1",
            "AIRFLOW__TRIGGERER__JOB_HEARTBEAT_SEC": "1",
            "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        }
    )
    env.update(extra)
    return env


def stop_group(process: subprocess.Popen[bytes], timeout: float = 15) -> None:
    """SIGTERM the process group, then SIGKILL what is left of it (task processes may outlive the leader)."""
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(10)


@contextmanager
def airflow_stack(
    home: Path, dags_folder: Path, env: Mapping[str, str], processes: Sequence[str] = PROCESSES
) -> Iterator[AirflowStack]:
    """Migrate a fresh metadata database in ``home`` and run ``processes``; stop them all on exit."""
    home.mkdir(parents=True, exist_ok=True)
    (home / "plugins").mkdir(exist_ok=True)
    stack = AirflowStack(home, stack_env(home, dags_folder, env))
    try:
        stack.airflow("db", "migrate", timeout=300)
        for name in processes:
            command = [str(BIN / "airflow"), name]
            if name == "api-server":
                command += ["--workers", "1"]
            stack.start(name, command)
        yield stack
    finally:
        for process in stack.processes.values():
            stop_group(process)
