"""``sf1630 demo``: the whole month on one machine, then the summary table.

Stages: seed (:mod:`sf1630.demo.seed`), start the emulator, migrate Airflow's SQLite metadata DB, run every
sender DAG for the month, then every receiver DAG, stop the emulator, print the summary. DAG runs are
``dag.test()`` calls in worker processes (:mod:`sf1630.demo.worker`): every delivery really goes from the
source database through the SFTP emulator into a LIS system's warehouse, with Airflow's task instances,
XComs and logs recorded in the same metadata DB the UI later shows.

DAGs run in ``workers`` parallel processes (two on the 2-core machine the demo is measured on): sender DAGs
only read the source and add rows to their ledger; receiver DAGs share the DuckDB warehouse file, whose
single-writer lock the warehouse module waits for. The bundle is written to the metadata DB once, before
the workers start (see :func:`sf1630.demo.worker.skip_bundle_resync`).
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sf1630.demo import DEMO_MONTH, REPO_ROOT
from sf1630.demo.emulator import RunningEmulator, start_emulator
from sf1630.demo.environment import airflow_environment, connections, write_env_file
from sf1630.demo.layout import DemoHome
from sf1630.demo.progress import Progress
from sf1630.demo.seed import SeedInfo, host_key_line, seed
from sf1630.demo.summary import Summary, collect, render
from sf1630.demo.worker import REPORT_PREFIX


@dataclass
class Outcomes:
    """What the workers reported, by DAG id."""

    runs: dict[str, dict[str, Any]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    errors: list[str] = field(default_factory=list)

    def add(self, report: dict[str, Any]) -> None:
        with self.lock:
            if "dag_id" not in report:  # the worker could not even parse its DAG file
                self.errors.append(str(report.get("error", report)))
                return
            self.runs[str(report["dag_id"])] = report

    def problems(self, logs: str) -> str:
        """What went wrong beyond single runs, for the stage's closing line."""
        return f"; WORKER FAILED (see {logs}): {'; '.join(self.errors)[:300]}" if self.errors else ""

    def count(self, state: str | None = None) -> int:
        with self.lock:
            return sum(1 for r in self.runs.values() if state is None or r.get("state") == state)

    def task_states(self, task_id: str) -> dict[str, int]:
        totals: dict[str, int] = {}
        with self.lock:
            for run in self.runs.values():
                for state, n in run.get("tasks", {}).get(task_id, {}).items():
                    totals[state] = totals.get(state, 0) + n
        return totals


def _month_dates(month: str) -> tuple[str, str]:
    """Logical dates of the runs: the senders' monthly run and a receiver run right after it."""
    import pendulum

    year, number = (int(part) for part in month.split("-"))
    first = pendulum.datetime(year, number, 1, 6, tz="Europe/Copenhagen")
    following = first.add(months=1)
    return first.isoformat(), following.add(hours=1).isoformat()


def prepare_airflow(env: Mapping[str, str], log: Path) -> None:
    """``airflow db migrate`` on the demo's SQLite file, then write every DAG of the bundle to it once
    (``airflow dags reserialize``), so the workers need not; output goes to ``log``."""
    airflow = str(Path(sys.executable).with_name("airflow"))
    with log.open("w", encoding="utf-8") as out:
        for command in (["db", "migrate"], ["dags", "reserialize"]):
            subprocess.run(
                [airflow, *command],
                check=True,
                stdout=out,
                stderr=subprocess.STDOUT,
                env={**os.environ, **env},
                cwd=REPO_ROOT,
            )


def run_worker(
    env: Mapping[str, str],
    dag_file: Path,
    dag_ids: Sequence[str],
    logical_date: str,
    period: str | None,
    log: Path,
    outcomes: Outcomes,
) -> int:
    """One worker process running ``dag_ids`` in turn; its reports go to ``outcomes``, the rest to ``log``."""
    command = [
        sys.executable,
        "-m",
        "sf1630.demo.worker",
        "--file",
        str(dag_file),
        "--synced",
        "--logical-date",
        logical_date,
    ]
    if period:
        command += ["--period", period]
    with log.open("a", encoding="utf-8") as out:
        process = subprocess.Popen(
            [*command, *dag_ids],
            stdout=subprocess.PIPE,
            stderr=out,
            text=True,
            env={**os.environ, **env},
            cwd=REPO_ROOT,
        )
        assert process.stdout is not None
        for line in process.stdout:
            if line.startswith(REPORT_PREFIX):
                import json

                outcomes.add(json.loads(line[len(REPORT_PREFIX) :]))
            else:
                out.write(line)
                out.flush()
        return process.wait()


def run_parallel(
    jobs: Sequence[Sequence[str]], start: Callable[[Sequence[str], int], int], poll: Callable[[], None]
) -> list[int]:
    """Run each job (a list of DAG ids) in its own thread-driven worker; call ``poll`` while they work."""
    codes = [0] * len(jobs)

    def target(index: int) -> None:
        codes[index] = start(jobs[index], index)

    threads = [threading.Thread(target=target, args=(i,), daemon=True) for i in range(len(jobs))]
    for thread in threads:
        thread.start()
    while any(t.is_alive() for t in threads):
        poll()
        time.sleep(0.5)
    poll()
    return codes


def _split(items: Sequence[str], parts: int) -> list[list[str]]:
    parts = max(1, min(parts, len(items)))
    return [list(items[i::parts]) for i in range(parts)]


def _ledger_counts(path: Path) -> tuple[int, int]:
    """(accepted, rejected) rows in the sender ledger so far; (0, 0) before it exists or while locked."""
    if not path.exists():
        return 0, 0
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=0.2) as conn:
            rows = conn.execute(
                "SELECT status, count(*) FROM sf1630_sender_ledger GROUP BY status"
            ).fetchall()
    except sqlite3.Error:
        return -1, -1
    counts = dict(rows)
    return int(counts.get("accepted", 0)), sum(int(v) for k, v in counts.items() if k != "accepted")


def ui_hint(home: DemoHome) -> str:
    """How to look at the runs in Airflow's UI."""
    default = home.root == DemoHome.at(REPO_ROOT / "var" / "demo").root
    where = "" if default else f" --home {home.root}"
    return (
        f"Airflow UI on the same state: .venv/bin/sf1630 demo ui{where}  (Ctrl-C stops it)\n"
        f"  starts the emulator and `airflow standalone` with the run's environment"
        f" ({home.root / 'demo.env'});"
        f" open http://127.0.0.1:8080 as admin, password in"
        f" {home.airflow_home / 'simple_auth_manager_passwords.json.generated'}"
    )


def run_demo(
    home: DemoHome,
    *,
    month: str = DEMO_MONTH,
    kommune_count: int | None = None,
    rows: int = 40,
    workers: int = 2,
    progress: Progress | None = None,
) -> Summary:
    """The whole demo; returns the summary (also printed)."""
    progress = progress or Progress()
    began = time.monotonic()
    home.reset()
    home.logs.mkdir()

    stage = progress.stage("seed")
    info = seed(home, month=month, kommune_count=kommune_count, rows=rows)
    stage.done(
        f"{len(info.kommuner)} kommuner, {len(info.lis_users)} LIS systems,"
        f" {sum(info.source_rows.values())} source rows for {info.month};"
        f" invalid on purpose: {', '.join(info.invalid_files)}"
    )

    stage = progress.stage("emulator")
    emulator = start_emulator(home.platform_config, home.platform_home, home.logs / "emulator.log")
    try:
        stage.done(f"listening on 127.0.0.1:{emulator.port} (home {home.platform_home})")
        env = _environment(home, info, emulator)
        stage = progress.stage("airflow")
        prepare_airflow(env, home.logs / "airflow-prepare.log")
        stage.done(f"metadata DB migrated and DAGs written to it: {home.airflow_db}")
        _run_senders(home, info, env, progress, workers)
        _run_receivers(home, info, env, progress, workers)
    finally:
        stage = progress.stage("stop")
        emulator.stop()
        stage.done("emulator stopped")
    summary = collect(home)
    print("\n" + render(summary, home, time.monotonic() - began), file=progress.stream)
    print("\n" + ui_hint(home), file=progress.stream)
    return summary


def _environment(home: DemoHome, info: SeedInfo, emulator: RunningEmulator) -> dict[str, str]:
    from sf1630.registry import load_registry

    senders = {s.code: s.sftp_user for s in load_registry(home.config_dir).senders}
    conns = connections(home, emulator.port, host_key_line(home), senders, info.lis_users)
    env = airflow_environment(home, conns)
    write_env_file(home, env)
    return env


def _run_senders(
    home: DemoHome, info: SeedInfo, env: Mapping[str, str], progress: Progress, workers: int
) -> None:
    from sf1630.registry import load_registry

    dag_ids = [s.dag_id for s in load_registry(home.config_dir).senders]
    planned = len(info.lis_users) * len(dag_ids)
    sender_date, _ = _month_dates(info.month)
    outcomes = Outcomes()
    stage = progress.stage("senders")

    def start(ids: Sequence[str], index: int) -> int:
        log = home.logs / f"senders-{index + 1}.log"
        return run_worker(
            env, REPO_ROOT / "dags" / "sender_dags.py", ids, sender_date, info.month, log, outcomes
        )

    def poll() -> None:
        accepted, rejected = _ledger_counts(home.sender_ledger)
        if accepted >= 0:
            stage.update(
                f"{outcomes.count()}/{len(dag_ids)} DAG runs done, receipts {accepted + rejected}/{planned}"
                f" ({accepted} SUCCESS, {rejected} error)"
            )

    run_parallel(_split(dag_ids, workers), start, poll)
    accepted, rejected = _ledger_counts(home.sender_ledger)
    states = ", ".join(
        f"{d.removeprefix('sf1630_sender_')} {r['state']}" for d, r in sorted(outcomes.runs.items())
    )
    stage.done(
        f"{len(dag_ids)} DAG runs ({states}); receipts {accepted} SUCCESS, {rejected} error of {planned}"
        + outcomes.problems(str(home.logs / "senders-N.log"))
    )


def _run_receivers(
    home: DemoHome, info: SeedInfo, env: Mapping[str, str], progress: Progress, workers: int
) -> None:
    from sf1630.receiver.config import load_receivers

    dag_ids = [r.dag_id for r in load_receivers(home.config_dir)]
    _, receiver_date = _month_dates(info.month)
    outcomes = Outcomes()
    stage = progress.stage("receivers")

    def start(ids: Sequence[str], index: int) -> int:
        log = home.logs / f"receivers-{index + 1}.log"
        return run_worker(
            env, REPO_ROOT / "dags" / "receiver_dags.py", ids, receiver_date, None, log, outcomes
        )

    def poll() -> None:
        loads = outcomes.task_states("load")
        stage.update(
            f"{outcomes.count()}/{len(dag_ids)} DAG runs done, deliveries loaded {loads.get('success', 0)},"
            f" refused {loads.get('failed', 0)}"
        )

    run_parallel(_split(dag_ids, workers), start, poll)
    loads = outcomes.task_states("load")
    stage.done(
        f"{len(dag_ids)} DAG runs ({outcomes.count('success')} success, {outcomes.count('failed')} failed);"
        f" deliveries loaded {loads.get('success', 0)}, refused {loads.get('failed', 0)}"
        + outcomes.problems(str(home.logs / "receivers-N.log"))
    )
