"""Benchmark: what Airflow itself costs here, beside what the project's month costs through it.

Measured in one run on this machine, with the stack the demo uses (:mod:`sf1630.demo.stack`: LocalExecutor,
scheduler, DAG processor, triggerer, API server, embedded PostgreSQL, the demo's sizing):

* **parse**: seconds to build every DAG of each DAG file, per DAG, and to build only the one DAG a task
  process asks for (``get_parsing_context``), each in a fresh interpreter;
* **trivial**: a mapped DAG of do-nothing tasks through the same scheduler: wall and CPU seconds per task
  instance (CPU of the Airflow processes and every task process they started, from their rusage); then the
  same tasks each deferring once to the triggerer and resuming in a second task process, as every delivery
  and every receiver's wait does (``trivial.deferred``); each waits the project's settle (20 s), as the
  month's waits do: a trigger that fires within seconds of the deferral trips Airflow's defer race (see
  :mod:`sf1630.airflow.arrival`), which failed most of them at 1 s;
* **idle**: before each of those runs, the same stack's CPU rate with every component up and nothing to do
  (scheduler loops, heartbeats, the DAG processor's checks, the api-server); the CPU figures are given
  gross (all the stack's CPU over the run's wall time, divided by its task instances) and net of that
  idle rate times the run's wall time, so a long month is not charged for the components' idle polling
  that the short trivial run hardly pays (both ratios are printed; the gross one is the issue's target);
* **month**: the default demo month (``sf1630 demo``, 20 kommuner × every sender, the emulator's 20 s
  processing delay): its wall time, the Airflow CPU per task instance (also by component: scheduler with its
  task processes, triggerer, DAG processor, api-server), each sender run's and the mean receiver run's wall
  time, and the scheduler's memory (PSS of its process tree: forkserver, workers,
  task processes) at the month's end; run twice, with the task-process settings
  (:mod:`sf1630.deployment.task_processes`: forkserver with the preloads, as the demo runs) and without
  (Airflow's default ``fork``), so their effect is a ratio of one run (the second month only at full
  scale, or with ``SF1630_BENCH_COMPARE=1``);
* **plain**: a plain sequential script doing the same month's work with the same package functions against
  an emulator with the same delay (per sender: export and upload every delivery, then settle every receipt;
  per LIS system: take every inbox item into the warehouse) — the floor for each run.

``SF1630_BENCH_SCALE`` shrinks the month, the trivial DAG, the idle watch and the platform's delay
(tests/bench runs it at 1 %); ``SF1630_BENCH_KOMMUNER`` sets the month's kommuner outright (98 = the whole
country). The last line is one JSON object.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "include"))

SCALE = float(os.environ.get("SF1630_BENCH_SCALE", "1"))
KOMMUNER = int(os.environ.get("SF1630_BENCH_KOMMUNER", str(max(1, round(20 * SCALE)))))
COMPARE = SCALE >= 1 or os.environ.get("SF1630_BENCH_COMPARE", "") == "1"
TRIVIAL_TASKS = max(4, round(100 * SCALE))
#: How long the idle stack is watched before a run (its CPU rate is subtracted for the net figures).
IDLE_SECONDS = float(os.environ.get("SF1630_BENCH_IDLE_SECONDS", "30" if SCALE >= 1 else "2"))
ROWS = 40
#: The platform's processing delay (shrunk too: the plain script waits it out once per sender).
DELAY = timedelta(seconds=20 if SCALE >= 1 else 1)

TRIVIAL_DAG = '''
"""A mapped DAG of do-nothing tasks: Airflow's own cost per task instance."""
import pendulum
from airflow.sdk import dag, task


@dag(dag_id="bench_trivial", schedule=None, start_date=pendulum.datetime(2026, 1, 1), catchup=False)
def bench_trivial():
    @task
    def items() -> list[int]:
        return list(range({n}))

    @task
    def nothing(item: int) -> int:
        return item

    nothing.expand(item=items())


bench_trivial()
'''

DEFERRED_DAG = '''
"""The same mapped tasks, each deferring once to the triggerer and resuming: what a wait costs Airflow."""
from datetime import timedelta

import pendulum
from airflow.providers.standard.triggers.temporal import TimeDeltaTrigger
from airflow.sdk import BaseOperator, dag, task


class WaitOnce(BaseOperator):
    def __init__(self, *, item: int, **kwargs) -> None:
        super().__init__(**kwargs)
        self.item = item

    def execute(self, context):
        self.defer(trigger=TimeDeltaTrigger(timedelta(seconds={wait})), method_name="resume")

    def resume(self, context, event=None) -> int:
        return self.item


@dag(dag_id="bench_trivial_deferred", schedule=None, start_date=pendulum.datetime(2026, 1, 1), catchup=False)
def bench_trivial_deferred():
    @task
    def items() -> list[int]:
        return list(range({n}))

    WaitOnce.partial(task_id="wait").expand(item=items())


bench_trivial_deferred()
'''
TRIVIAL_DAGS = {"bench_trivial": TRIVIAL_DAG, "bench_trivial_deferred": DEFERRED_DAG}


def tree_cpu(pids: list[int]) -> float:
    """CPU seconds of these processes and all their descendants, live or already reaped."""
    import psutil

    total = 0.0
    for pid in pids:
        with contextlib.suppress(psutil.Error):
            root = psutil.Process(pid)
            for proc in [root, *root.children(recursive=True)]:
                with contextlib.suppress(psutil.Error):
                    t = proc.cpu_times()
                    total += t.user + t.system + t.children_user + t.children_system
    return total


def component_cpu(processes: dict[str, Any]) -> dict[str, float]:
    """CPU seconds of each component's process tree so far (the scheduler's includes its task processes)."""
    return {name: tree_cpu([process.pid]) for name, process in processes.items()}


def idle_rate(processes: dict[str, Any], seconds: float = IDLE_SECONDS) -> dict[str, float]:
    """CPU seconds per second of each component (and ``total``) over ``seconds`` with nothing to run."""
    before, began = component_cpu(processes), time.monotonic()
    time.sleep(seconds)
    after, wall = component_cpu(processes), time.monotonic() - began
    rates = {name: round((after[name] - before[name]) / wall, 4) for name in after}
    return {**rates, "total": round(sum(rates.values()), 4)}


def _net(cpu: float, wall: float, idle: dict[str, float], tis: int) -> float:
    """CPU per task instance net of the stack's idle rate over ``wall`` seconds."""
    return round(max(0.0, cpu - idle["total"] * wall) / max(1, tis), 3)


def tree_pss_mb(pid: int) -> float:
    """Proportional set size of ``pid`` and its live descendants in MB (shared pages split between them,
    so a forkserver's copy-on-write preloads count once)."""
    import psutil

    total = 0
    with contextlib.suppress(psutil.Error):
        root = psutil.Process(pid)
        for proc in [root, *root.children(recursive=True)]:
            with contextlib.suppress(psutil.Error):
                total += proc.memory_full_info().pss
    return round(total / 2**20, 1)


def parse_times() -> dict[str, Any]:
    """Per DAG file: build every DAG, and only one, each in a fresh interpreter (the DAG processor's and a
    task process's view); the import of Airflow itself is outside the timed part."""
    code = (
        "import os, sys, time, runpy\n"
        "import airflow.sdk\n"
        "t = time.perf_counter(); ns = runpy.run_path(sys.argv[1]); t = time.perf_counter() - t\n"
        "from airflow.sdk import DAG\n"
        "print('SF1630-PARSE', t, len({id(v) for v in ns.values() if isinstance(v, DAG)}))\n"
    )
    out: dict[str, Any] = {}
    for name, one in (
        ("sender_dags", "sf1630_sender_ky"),
        ("receiver_dags", "sf1630_receiver_koebenhavn_lis01_simpel"),
    ):
        path = str(REPO / "dags" / f"{name}.py")
        env = {**os.environ, "PYTHONPATH": str(REPO / "include"), "AIRFLOW__CORE__LOAD_EXAMPLES": "False"}
        full = subprocess.run(
            [sys.executable, "-c", code, path], env=env, capture_output=True, text=True, check=True
        )
        seconds, dags = _parsed(full.stdout)
        env["_AIRFLOW_PARSING_CONTEXT_DAG_ID"] = one
        single = subprocess.run(
            [sys.executable, "-c", code, path], env=env, capture_output=True, text=True, check=True
        )
        one_seconds, one_dags = _parsed(single.stdout)
        out[name] = {
            "dags": int(dags),
            "all_seconds": round(float(seconds), 3),
            "ms_per_dag": round(1000 * float(seconds) / max(1, int(dags)), 1),
            "one_dag_seconds": round(float(one_seconds), 3),
            "one_dag_built": int(one_dags),
        }
    return out


def _parsed(stdout: str) -> tuple[str, str]:
    [line] = [x for x in stdout.splitlines() if x.startswith("SF1630-PARSE ")]
    _, seconds, dags = line.split()
    return seconds, dags


@contextlib.contextmanager
def trivial_stack(work: Path) -> Iterator[Any]:
    from sf1630.demo.metadb import POSTGRES, start_metadata_db
    from sf1630.demo.stack import AirflowStack, Sizing, free_port, stack_environment

    dags = work / "dags"
    dags.mkdir(parents=True)
    from sf1630.settings import SETTLE_SECONDS

    for dag_id, source in TRIVIAL_DAGS.items():
        text = source.replace("{n}", str(TRIVIAL_TASKS)).replace("{wait}", str(SETTLE_SECONDS))
        (dags / f"{dag_id}.py").write_text(text, encoding="utf-8")
    database = start_metadata_db(POSTGRES, work / "postgres")
    stack = None
    try:
        env = stack_environment(  # Airflow's own defaults: fork, nothing preloaded
            work / "airflow", database.url, dags, api_port=free_port(), sizing=Sizing(), forkserver=False
        )
        stack = AirflowStack(env, work / "logs")
        stack.migrate()
        stack.start()
        yield stack
    finally:
        if stack is not None:
            stack.stop()
        database.stop()


def run_trivial(work: Path) -> dict[str, Any]:
    """One run of each trivial mapped DAG, one after the other on one stack: wall and Airflow CPU per task
    instance, for tasks that do nothing and for tasks that also defer once (``deferred``)."""
    with trivial_stack(work) as stack:
        client = stack.wait_ready(list(TRIVIAL_DAGS))
        for dag_id in TRIVIAL_DAGS:
            client.set_paused(dag_id, paused=False)
        time.sleep(5)  # let the start-up settle
        plain = _trivial_run(stack, client, "bench_trivial")
        plain["deferred"] = _trivial_run(stack, client, "bench_trivial_deferred")
    return plain


def _trivial_run(stack: Any, client: Any, dag_id: str) -> dict[str, Any]:
    pids = [p.pid for p in stack.processes.values()]
    idle = idle_rate(stack.processes)
    cpu0, wall0 = tree_cpu(pids), time.monotonic()
    client.trigger(dag_id, None, {})
    while True:
        [run] = client.runs([dag_id])
        if run["state"] in ("success", "failed"):
            break
        time.sleep(0.5)
    wall, cpu = time.monotonic() - wall0, tree_cpu(pids) - cpu0
    tis = len(client.task_instances([dag_id]))
    return {
        "state": run["state"],
        "task_instances": tis,
        "wall_seconds": round(wall, 1),
        "wall_per_ti": round(wall / tis, 3),
        "cpu_per_ti": round(cpu / tis, 3),
        "idle_cpu_per_second": idle,
        "cpu_per_ti_net_of_idle": _net(cpu, wall, idle, tis),
    }


def _seconds(run: dict[str, Any]) -> float:
    start = datetime.fromisoformat(str(run["start_date"]).replace("Z", "+00:00"))
    end = datetime.fromisoformat(str(run["end_date"]).replace("Z", "+00:00"))
    return (end - start).total_seconds()


def run_month(work: Path, *, forkserver: bool) -> dict[str, Any]:
    """The demo's month; Airflow CPU between the senders' start and the last load."""
    from sf1630.demo.layout import DemoHome
    from sf1630.demo.progress import Progress
    from sf1630.demo.run import run_demo
    from sf1630.demo.stack import free_port

    facts: dict[str, Any] = {}

    def on_month(moment: str, started: Any) -> None:
        if moment == "ready":
            facts["idle"] = idle_rate(started.stack.processes)
            return
        pids = [p.pid for p in started.stack.processes.values()]
        facts[f"cpu_{moment}"] = tree_cpu(pids)
        facts[f"components_{moment}"] = component_cpu(started.stack.processes)
        facts[f"wall_{moment}"] = time.monotonic()
        if moment == "end":
            facts["scheduler_pss_mb"] = tree_pss_mb(started.stack.processes["scheduler"].pid)
            ids = [*started.senders, *started.receivers]
            facts["runs"] = started.client.runs(ids)
            facts["ti_list"] = started.client.task_instances(ids)
            facts["tis"] = len(facts["ti_list"])

    out = io.StringIO()
    began = time.monotonic()
    summary = run_demo(
        DemoHome.at(work / "demo"),
        kommune_count=KOMMUNER,
        rows=ROWS,
        processing_delay=DELAY,
        api_port=free_port(),
        progress=Progress(out, every=30),
        on_month=on_month,
        forkserver=forkserver,
    )
    total = time.monotonic() - began
    sys.stderr.write(out.getvalue())  # the month's transcript and summary, as `sf1630 demo` prints them
    runs = facts.get("runs", [])
    senders = {r["dag_id"]: round(_seconds(r), 1) for r in runs if r["dag_id"].startswith("sf1630_sender_")}
    receivers = _receiver_work(runs, facts.get("ti_list", []))
    month_wall = facts["wall_end"] - facts["wall_start"]
    month_cpu = facts["cpu_end"] - facts["cpu_start"]
    by_component = {
        name: round(facts["components_end"][name] - facts["components_start"].get(name, 0.0), 1)
        for name in facts["components_end"]
    }
    return {
        "forkserver": forkserver,
        "kommuner": KOMMUNER,
        "complete": summary.complete,
        "deliveries": sum(s.planned for s in summary.senders),
        "total_seconds": round(total, 1),
        "month_seconds": round(month_wall, 1),
        "task_instances": facts["tis"],
        "cpu_seconds": round(month_cpu, 1),
        "cpu_seconds_by_component": by_component,
        "cpu_per_ti": round(month_cpu / max(1, facts["tis"]), 3),
        "idle_cpu_per_second": facts["idle"],
        "cpu_per_ti_net_of_idle": _net(month_cpu, month_wall, facts["idle"], facts["tis"]),
        "scheduler_pss_mb": facts["scheduler_pss_mb"],
        "sender_run_seconds": senders,
        "receiver_runs": len(receivers),
        "receiver_run_mean_seconds": round(sum(receivers) / max(1, len(receivers)), 1),
        "task_profile": _task_profile(facts.get("ti_list", [])),
        "deferred_waits": summary.deferred_waits,
        "state_mismatches": summary.state_mismatches,
        "transcript_tail": out.getvalue().splitlines()[-1:],
    }


def _task_profile(tis: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """Per task id: how many task instances ran and their mean wall seconds (start to end of the last try;
    a deferred task's time in the triggerer included): where the month's task instances go."""
    seconds: dict[str, list[float]] = {}
    for ti in tis:
        if ti.get("start_date") and ti.get("end_date"):
            seconds.setdefault(str(ti["task_id"]), []).append(_seconds(ti))
    return {
        task: {"tis": len(values), "mean_seconds": round(sum(values) / len(values), 2)}
        for task, values in sorted(seconds.items())
    }


def _receiver_work(runs: list[dict[str, Any]], tis: list[dict[str, Any]]) -> list[float]:
    """Per finished receiver run that found something: from the end of its wait to the run's end (the
    wait itself is the senders' and the platform's time, not the receiver's work)."""
    found = {
        (t["dag_id"], t["dag_run_id"]): t["end_date"]
        for t in tis
        if t["task_id"] == "wait_for_metadata" and t["state"] == "success" and t.get("end_date")
    }
    out = []
    for run in runs:
        key = (run["dag_id"], run["dag_run_id"])
        if key in found and run["state"] in ("success", "failed") and run.get("end_date"):
            out.append(_seconds({"start_date": found[key], "end_date": run["end_date"]}))
    return out


def _sftp(port: int, host_key: str, user: str, key_file: Path) -> Any:
    import base64

    import paramiko

    key_type, key_data = host_key.split()[:2]
    client = paramiko.SSHClient()
    client.get_host_keys().add(
        f"[127.0.0.1]:{port}", key_type, paramiko.PKey.from_type_string(key_type, base64.b64decode(key_data))
    )
    client.set_missing_host_key_policy(paramiko.RejectPolicy())
    client.connect(
        "127.0.0.1", port, username=user, key_filename=str(key_file), look_for_keys=False, allow_agent=False
    )
    return client


def run_plain(work: Path) -> dict[str, Any]:
    """The month's work without Airflow: each sender's deliveries, then each LIS system's inbox."""
    from sf1630.database import Database
    from sf1630.demo.layout import DemoHome
    from sf1630.demo.seed import host_key_line, seed
    from sf1630.platform.process import start_emulator
    from sf1630.protocol import Period, to_xml
    from sf1630.registry import load_registry
    from sf1630.sender.export import export_extract
    from sf1630.sender.ledger import Ledger
    from sf1630.sender.plan import plan_deliveries
    from sf1630.sender.receipt import receipt_waiting, settle_receipt
    from sf1630.sender.upload import build_trigger, upload_delivery
    from sqlalchemy import create_engine

    home = DemoHome.at(work / "plain")
    home.reset()
    info = seed(home, kommune_count=KOMMUNER, rows=ROWS, scheduled=True)
    os.environ["SF1630_CONFIG_DIR"] = str(home.config_dir)
    registry = load_registry(home.config_dir)
    delay = ["--processing-delay", f"{int(DELAY.total_seconds())}s"]
    emulator = start_emulator(home.platform_config, home.platform_home, extra_args=delay)
    host_key = host_key_line(home)
    senders: dict[str, float] = {}
    receivers: list[float] = []
    try:
        source = create_engine(f"sqlite:///{home.source_db}")
        ledger = Ledger(Database.sqlite(home.sender_ledger))
        for sender in registry.senders:
            began = time.perf_counter()
            deliveries = plan_deliveries(sender, registry.kommuner, Period.parse(info.month))
            client = _sftp(emulator.port, host_key, sender.sftp_user, home.keys / sender.sftp_user)
            sftp = client.open_sftp()
            folder = Path(tempfile.mkdtemp(dir=work))
            for delivery in deliveries:
                data = export_extract(
                    source, sender, delivery.kommune, delivery.period, folder / delivery.file_name
                )
                trigger = build_trigger(sender, delivery, data.stat().st_size, datetime.now(UTC))
                upload_delivery(sftp, data, to_xml(trigger), delivery)
            for delivery in deliveries:
                while not receipt_waiting(sftp, delivery):
                    time.sleep(0.05)
                settle_receipt(sftp, delivery, ledger)
            client.close()
            senders[f"sf1630_sender_{sender.code.lower()}"] = round(time.perf_counter() - began, 1)
        receivers = _plain_receivers(home, emulator.port, host_key, info.sftp_users)
    finally:
        emulator.stop()
        _drop_plain_schemas()
    return {
        "sender_seconds": senders,
        "receiver_mean_seconds": round(sum(receivers) / max(1, len(receivers)), 2),
    }


#: The plain receivers' warehouse: the machine's PostgreSQL, one schema per LIS system under a run prefix.
PLAIN_WAREHOUSE = "host=127.0.0.1 port=5432 user=postgres dbname=test"
PLAIN_PREFIX = f"b{os.getpid()}_"


def _drop_plain_schemas() -> None:
    import psycopg

    with psycopg.connect(PLAIN_WAREHOUSE, autocommit=True) as conn:
        found = conn.execute(
            "SELECT nspname FROM pg_namespace WHERE starts_with(nspname, %s)", [PLAIN_PREFIX]
        ).fetchall()
        for (name,) in found:
            conn.execute(f'DROP SCHEMA "{name}" CASCADE')


def _plain_receivers(home: Any, port: int, host_key: str, users: list[str]) -> list[float]:
    """Per LIS system, the receiver's own steps in one process, one after the other: fetch every inbox
    item, validate them (one GX context), load each, delete what is done."""
    from sf1630.database import Database
    from sf1630.dataspec.validation import Validator
    from sf1630.demo.environment import warehouse_schema
    from sf1630.receiver.config import load_receiver
    from sf1630.receiver.delivery import delete_items, fetch_item, load_item, validate_items
    from sf1630.receiver.extract import spec_for
    from sf1630.receiver.fetch import list_inbox
    from sf1630.receiver.intake import Intake
    from sf1630.receiver.record import Quarantined
    from sf1630.receiver.storage import Storage
    from upath import UPath

    validator = Validator()
    seconds = []
    for user in users:
        began = time.perf_counter()
        receiver = load_receiver(user)
        client = _sftp(port, host_key, user, home.keys / user)

        @contextlib.contextmanager
        def open_sftp(client: Any = client) -> Iterator[Any]:
            sftp = client.open_sftp()
            try:
                yield sftp
            finally:
                sftp.close()

        intake = Intake(
            receiver=receiver,
            database=Database.postgres(
                PLAIN_WAREHOUSE, schema=f"{PLAIN_PREFIX}{warehouse_schema(user)}"[:63]
            ),
            open_sftp=open_sftp,
            spec_for=spec_for,
            storage=Storage(UPath(f"file://{home.root / 'store'}"), user),
        )
        with open_sftp() as sftp:
            items = list_inbox(sftp, receiver.settings.inbox, who=user).items
        fetched = [fetch_item(intake, item, item.label(receiver.kommune, receiver.lis)) for item in items]
        done = []
        for record in validate_items(intake, fetched, validator):
            try:
                done.append(load_item(intake, record))
            except Quarantined as refused:  # the demo's invalid KSD file, as the DAG's load does
                done.append(refused.record)
        delete_items(intake, done)
        client.close()
        seconds.append(time.perf_counter() - began)
    return seconds


def _ratio(top: dict[str, Any] | None, bottom: dict[str, Any] | None, key: str) -> float | None:
    """``top[key] / bottom[key]``, or None when one of the two was not measured."""
    if top is None or bottom is None:
        return None
    return round(float(top[key]) / max(1e-9, float(bottom[key])), 2)


def main() -> int:
    import logging
    import warnings

    logging.disable(logging.INFO)
    warnings.simplefilter("ignore")
    work = Path(tempfile.mkdtemp(prefix="sf1630-bench-airflow-"))
    try:
        parse = parse_times()
        trivial = run_trivial(work / "trivial")
        month = run_month(work / "forkserver", forkserver=True)
        fork = run_month(work / "fork", forkserver=False) if COMPARE else None
        plain = run_plain(work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    sender_ratios = {
        dag: round(seconds / plain["sender_seconds"][dag], 2)
        for dag, seconds in month["sender_run_seconds"].items()
        if plain["sender_seconds"].get(dag)
    }
    result = {
        "benchmark": "airflow_stack",
        "cores": os.cpu_count(),
        "load_average_1m": round(os.getloadavg()[0], 1),
        "parse": parse,
        "trivial": trivial,
        "month": month,
        "month_without_forkserver": fork,
        "plain": plain,
        "ratio_project_cpu_per_ti_to_trivial": round(
            month["cpu_per_ti"] / max(1e-9, trivial["cpu_per_ti"]), 2
        ),
        "ratio_project_cpu_per_ti_to_trivial_without_forkserver": _ratio(fork, trivial, "cpu_per_ti"),
        # What one deferral and resumption adds to a do-nothing task (a delivery and a wait each make one).
        "ratio_deferred_trivial_to_trivial": _ratio(trivial["deferred"], trivial, "cpu_per_ti"),
        # The same ratios with each run's CPU net of its stack's idle rate over its wall time.
        "ratio_project_cpu_per_ti_to_trivial_net_of_idle": _ratio(month, trivial, "cpu_per_ti_net_of_idle"),
        "ratio_project_cpu_per_ti_to_trivial_net_of_idle_without_forkserver": _ratio(
            fork, trivial, "cpu_per_ti_net_of_idle"
        ),
        "ratio_month_seconds_forkserver_to_fork": _ratio(month, fork, "month_seconds"),
        "ratio_month_cpu_forkserver_to_fork": _ratio(month, fork, "cpu_seconds"),
        "ratio_scheduler_pss_forkserver_to_fork": _ratio(month, fork, "scheduler_pss_mb"),
        "ratio_sender_run_to_plain": sender_ratios,
        "ratio_receiver_run_to_plain": round(
            month["receiver_run_mean_seconds"] / max(1e-9, plain["receiver_mean_seconds"]), 2
        ),
        "goals": {
            "cpu_per_ti_ratio": 1.5,
            "sender_ratio": 3,
            "receiver_ratio": 3,
            "ms_per_dag": 100,
            "month_seconds": 300,
        },
    }
    print(json.dumps(result))
    complete = month["complete"] and (fork is None or fork["complete"])
    trivial_done = trivial["state"] == trivial["deferred"]["state"] == "success"
    return 0 if complete and trivial_done else 1


if __name__ == "__main__":
    sys.exit(main())
