"""Airflow as it runs in production, on one machine: scheduler, DAG processor, triggerer and API server.

The demo, ``sf1630 demo ui``, the scheduler tests and the Airflow benchmark all start the same four
processes with the same environment, so this module owns that: :func:`stack_environment` (LocalExecutor,
the metadata database, the API server's address and secrets, the settings sized for a small machine),
:class:`AirflowStack` (start each component in its own process group with its output in a log, stop them
all, none left behind), and :class:`RestClient` (Airflow's public REST API with the simple auth manager's
token). Nothing here touches Airflow's internals: everything goes through the ``airflow`` command line,
environment variables and the REST API. The test harness (``tests/support/airflow_stack``) and the Celery
test start their stacks with this class too.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

#: The components a LocalExecutor deployment runs; the scheduler forks the task processes.
COMPONENTS = ("api-server", "scheduler", "dag-processor", "triggerer")
ADMIN = "admin"
#: Items per REST page (the API server is configured to allow it).
PAGE = 1000


class StackFailed(RuntimeError):
    """A component exited or did not become ready; the message names its log."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass(frozen=True)
class Sizing:
    """How much Airflow may run at once on this machine (the defaults suit 2 cores).

    Task processes start from the forkserver with their imports done (:mod:`sf1630.deployment.
    task_processes`), so a slot mostly waits (an SSH login, the emulator, the API server, PostgreSQL) and
    the default month is slot-bound well past 2 per core (measured in docs/deploy.md, "Slots").
    Airflow's default is 32. The DAG files only change when someone edits them, so the DAG processor
    re-parses rarely instead of every 30 s.
    """

    parallelism: int = 12
    max_active_tasks_per_dag: int = 12
    parse_interval: int = 600
    parsing_processes: int = 1


def admin_password(airflow_home: Path) -> str:
    """The UI/API password of ``admin``, created once per home in the simple auth manager's own file."""
    path = passwords_file(airflow_home)
    if path.exists():
        with contextlib.suppress(ValueError, KeyError, TypeError):
            return str(json.loads(path.read_text(encoding="utf-8"))[ADMIN])
    path.parent.mkdir(parents=True, exist_ok=True)
    password = secrets.token_urlsafe(12)
    path.write_text(json.dumps({ADMIN: password}) + "\n", encoding="utf-8")
    path.chmod(0o600)
    return password


def passwords_file(airflow_home: Path) -> Path:
    return airflow_home / "simple_auth_manager_passwords.json.generated"


def _secret(airflow_home: Path, name: str) -> str:
    """A secret shared by the components (JWT signing), kept in the home so a restart reuses it."""
    path = airflow_home / f".{name}"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(32), encoding="ascii")
        path.chmod(0o600)
    return path.read_text(encoding="ascii").strip()


def stack_environment(
    airflow_home: Path,
    sql_alchemy_conn: str,
    dags_folder: Path,
    *,
    plugins_folder: Path | None = None,
    api_port: int = 8080,
    sizing: Sizing | None = None,
    forkserver: bool = True,
) -> dict[str, str]:
    """The ``AIRFLOW_*`` variables (beyond the inherited environment) every component runs with.

    ``forkserver``: the scheduler's task processes start from a forkserver with both sides' modules
    preloaded (:mod:`sf1630.deployment.task_processes`; the UI plugin's module too when ``plugins_folder``
    is given), as the deployment docs recommend; off, they fork
    from Airflow's default workers and import everything per task (the benchmark compares the two).
    """
    from sf1630.deployment.task_processes import scheduler_settings

    sizing = sizing or Sizing()
    base_url = f"http://127.0.0.1:{api_port}"
    env = {
        "AIRFLOW_HOME": str(airflow_home),
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": sql_alchemy_conn,
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
        "AIRFLOW__CORE__DAGS_FOLDER": str(dags_folder),
        "AIRFLOW__CORE__PARALLELISM": str(sizing.parallelism),
        "AIRFLOW__CORE__MAX_ACTIVE_TASKS_PER_DAG": str(sizing.max_active_tasks_per_dag),
        "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": str(sizing.parse_interval),
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": str(sizing.parse_interval),
        "AIRFLOW__DAG_PROCESSOR__PARSING_PROCESSES": str(sizing.parsing_processes),
        "AIRFLOW__API__HOST": "127.0.0.1",  # the UI is for this machine only
        "AIRFLOW__API__PORT": str(api_port),
        "AIRFLOW__API__BASE_URL": base_url,
        "AIRFLOW__API__WORKERS": "1",
        "AIRFLOW__API__MAXIMUM_PAGE_LIMIT": str(PAGE),
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{base_url}/execution/",
        "AIRFLOW__API_AUTH__JWT_SECRET": _secret(airflow_home, "jwt_secret"),
        "AIRFLOW__API__SECRET_KEY": _secret(airflow_home, "api_secret"),
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{ADMIN}:admin",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(passwords_file(airflow_home)),
        "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(airflow_home / "logs"),
        "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
        "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(free_port()),
        "GX_ANALYTICS_ENABLED": "False",
        # The components start `airflow ...` children (LocalExecutor workers): this environment's.
        "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]),
    }
    if plugins_folder is not None:
        env["AIRFLOW__CORE__PLUGINS_FOLDER"] = str(plugins_folder)
    if forkserver:
        env.update(scheduler_settings(ui_plugin=plugins_folder is not None))
    admin_password(airflow_home)
    return env


def airflow_command() -> str:
    return str(Path(sys.executable).with_name("airflow"))


def inherited_environment() -> dict[str, str]:
    """The caller's environment without its own Airflow and SF1630 settings and pytest's variables.

    The stack's environment is the whole of its configuration: a shell's ``AIRFLOW_HOME``, ``AIRFLOW__*``,
    ``AIRFLOW_CONN_*`` or ``SF1630_*`` must not reach a demo's components, nor a test process's settings
    (``SF1630_SETTLE_SECONDS=0``; ``PYTEST_CURRENT_TEST``, under which Airflow configures its logging
    differently) the processes a test starts.
    """
    return {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "SF1630_", "PYTEST"))}


def tail(path: Path, lines: int = 30) -> str:
    if not path.exists():
        return ""
    return "\n".join(path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])


def stop_group(process: subprocess.Popen[Any], timeout: float = 20) -> None:
    """SIGTERM the process group of ``process``, SIGKILL what is left after ``timeout``."""
    stop_groups([process], timeout)


def stop_groups(processes: Sequence[subprocess.Popen[Any]], timeout: float = 20) -> None:
    """SIGTERM the process groups of ``processes`` together, SIGKILL what is left of each after ``timeout``.

    Together: each component takes seconds to shut down gracefully, and stopping them one after another
    made a stack's stop the sum of those seconds instead of the longest of them.
    """
    running = [process for process in processes if process.poll() is None]
    for process in running:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
    give_up = time.monotonic() + timeout
    for process in running:
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(max(0.0, give_up - time.monotonic()))
    for process in processes:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)  # task processes the leader forked may outlive it
    for process in processes:
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(10)


@dataclass
class AirflowStack:
    """The running components; :meth:`stop` ends every one of them and their children.

    ``env`` is the stack's own environment (:func:`stack_environment` and the caller's additions), run on
    top of :func:`inherited_environment`; every component writes to ``logs/<name>.log``.
    """

    env: dict[str, str]
    logs: Path
    cwd: Path | None = None
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    @property
    def base_url(self) -> str:
        return self.env["AIRFLOW__API__BASE_URL"]

    @property
    def airflow_home(self) -> Path:
        return Path(self.env["AIRFLOW_HOME"])

    @property
    def environment(self) -> dict[str, str]:
        """What every component and ``airflow`` command runs with."""
        return {**inherited_environment(), **self.env}

    def log(self, name: str) -> Path:
        return self.logs / f"{name}.log"

    def airflow(self, *args: str, timeout: float = 300) -> str:
        """Run one ``airflow`` command in the stack's environment; its output, or :class:`StackFailed`."""
        result = subprocess.run(
            [airflow_command(), *args],
            env=self.environment,
            cwd=self.cwd,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if result.returncode != 0:
            raise StackFailed(
                f"airflow {' '.join(args)} (exit {result.returncode}):\n{result.stdout}{result.stderr}"
            )
        return result.stdout

    def migrate(self) -> None:
        """``airflow db migrate``, its output in ``logs/airflow-db-migrate.log``."""
        self.logs.mkdir(parents=True, exist_ok=True)
        try:
            output = self.airflow("db", "migrate")
        except StackFailed as failed:
            self.log("airflow-db-migrate").write_text(str(failed), encoding="utf-8")
            raise
        self.log("airflow-db-migrate").write_text(output, encoding="utf-8")

    def start(self, components: Iterable[str] = COMPONENTS) -> None:
        """Start each component in a process group of its own (``api-server`` with one worker)."""
        for name in components:
            self.run(name, [name, "--workers", "1"] if name == "api-server" else [name])

    def run(
        self, name: str, args: Sequence[str], env: Mapping[str, str] | None = None
    ) -> subprocess.Popen[bytes]:
        """Start ``airflow <args>`` as the long-running process ``name`` (output to its log); ``env`` is
        added to the stack's environment for this process only (e.g. one of several workers)."""
        self.logs.mkdir(parents=True, exist_ok=True)
        with self.log(name).open("ab") as out:
            process = subprocess.Popen(
                [airflow_command(), *args],
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env={**self.environment, **(env or {})},
                cwd=self.cwd,
                start_new_session=True,
            )
        self.processes[name] = process
        return process

    def check(self) -> None:
        """Raise :class:`StackFailed` when a component has exited."""
        for name, process in self.processes.items():
            if process.poll() is not None:
                log = self.log(name)
                raise StackFailed(f"airflow {name} exited (code {process.returncode}); {log}:\n{tail(log)}")

    def stop(self) -> None:
        """Stop every component, the API server and other processes (a Celery worker) last, so the tasks still
        running can report; then forget them."""
        api_server, others = COMPONENTS[0], [n for n in self.processes if n not in COMPONENTS]
        stages = ([n for n in COMPONENTS[1:] if n in self.processes], [api_server], others)
        for names in stages:  # the scheduler, DAG processor and triggerer together; then the API server
            stop_groups([self.processes[n] for n in names if n in self.processes])
        self.processes.clear()

    def client(self) -> RestClient:
        return RestClient(self.base_url, ADMIN, admin_password(self.airflow_home))

    def wait_ready(self, dag_ids: Sequence[str], timeout: float = 300) -> RestClient:
        """Until the API answers, the scheduler and triggerer report healthy and every DAG is parsed."""
        client = self.client()
        give_up = time.monotonic() + timeout
        missing: set[str] = set(dag_ids)
        while True:
            self.check()
            with contextlib.suppress(OSError, ApiError, ValueError):
                health = client.get("/api/v2/monitor/health")
                healthy = all(
                    health.get(part, {}).get("status") == "healthy"
                    for part in ("metadatabase", "scheduler", "triggerer", "dag_processor")
                )
                missing = set(dag_ids) - set(client.dag_ids(None))
                if healthy and not missing:
                    return client
            if time.monotonic() > give_up:
                raise StackFailed(
                    f"Airflow not ready within {timeout:.0f} s ({len(missing)} DAGs not parsed yet);"
                    f" logs in {self.logs}"
                )
            time.sleep(2)

    def __enter__(self) -> AirflowStack:
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()


class ApiError(RuntimeError):
    """The REST API answered with an error status."""

    def __init__(self, status: int, text: str) -> None:
        super().__init__(f"HTTP {status}: {text[:500]}")
        self.status = status


@dataclass
class RestClient:
    """Airflow's public REST API (``/api/v2``) as the simple auth manager's user."""

    base_url: str
    username: str
    password: str
    timeout: float = 30
    _token: str = ""

    def _login(self) -> str:
        body = json.dumps({"username": self.username, "password": self.password}).encode()
        request = urllib.request.Request(  # noqa: S310 -- http to the API server this module started
            f"{self.base_url}/auth/token",
            data=body,
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310 -- our own URL
            return str(json.load(response)["access_token"])

    def request(
        self, method: str, path: str, body: Any = None, params: Mapping[str, Any] | None = None
    ) -> Any:
        """One call; logs in on the first call and again when the token has expired."""
        query = f"?{urllib.parse.urlencode(params, doseq=True)}" if params else ""
        for attempt in (1, 2):
            if not self._token:
                self._token = self._login()
            request = urllib.request.Request(  # noqa: S310 -- http to the API server this module started
                f"{self.base_url}{path}{query}",
                data=None if body is None else json.dumps(body).encode(),
                headers={"Authorization": f"Bearer {self._token}", "Content-Type": "application/json"},
                method=method,
            )
            try:
                with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310
                    data = response.read()
                    return json.loads(data) if data else None
            except urllib.error.HTTPError as err:
                if err.code == 401 and attempt == 1:
                    self._token = ""
                    continue
                raise ApiError(err.code, err.read().decode(errors="replace")) from None
        raise AssertionError("unreachable")  # pragma: no cover

    def get(self, path: str, **params: Any) -> Any:
        return self.request("GET", path, params=params)

    def paged(self, path: str, key: str, **params: Any) -> list[dict[str, Any]]:
        """Every item of a list endpoint, page by page."""
        items: list[dict[str, Any]] = []
        while True:
            page = self.get(path, limit=PAGE, offset=len(items), **params)
            batch = page[key]
            items += batch
            if not batch or len(items) >= int(page.get("total_entries", 0)):
                return items

    def dag_ids(self, pattern: str | None = "sf1630") -> list[str]:
        """The ids of the parsed DAGs containing ``pattern`` (every DAG when None)."""
        params = {} if pattern is None else {"dag_id_pattern": pattern}
        return [d["dag_id"] for d in self.paged("/api/v2/dags", "dags", **params)]

    def set_paused(self, pattern: str, paused: bool) -> None:
        """Pause or unpause every DAG whose id contains ``pattern`` (SQL LIKE, ``%`` and ``_``)."""
        self.request(
            "PATCH",
            "/api/v2/dags",
            {"is_paused": paused},
            params={"dag_id_pattern": pattern, "limit": 1000},
        )

    def trigger(self, dag_id: str, logical_date: str | None, conf: Mapping[str, Any]) -> str:
        """Create a DAG run; returns its run id."""
        run = self.request(
            "POST",
            f"/api/v2/dags/{urllib.parse.quote(dag_id)}/dagRuns",
            {"logical_date": logical_date, "conf": dict(conf)},
        )
        return str(run["dag_run_id"])

    def _batch(self, path: str, key: str, body: Mapping[str, Any]) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        while True:
            page = self.request("POST", path, {**body, "page_limit": PAGE, "page_offset": len(found)})
            batch = list(page[key])
            found += batch
            if not batch or len(found) >= int(page.get("total_entries", 0)):
                return found

    def runs(self, dag_ids: Sequence[str]) -> list[dict[str, Any]]:
        """Every run of ``dag_ids``."""
        return self._batch("/api/v2/dags/~/dagRuns/list", "dag_runs", {"dag_ids": list(dag_ids)})

    def task_instances(self, dag_ids: Sequence[str]) -> list[dict[str, Any]]:
        """Every task instance of ``dag_ids`` in every run."""
        return self._batch(
            "/api/v2/dags/~/dagRuns/~/taskInstances/list", "task_instances", {"dag_ids": list(dag_ids)}
        )
