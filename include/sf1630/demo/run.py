"""``sf1630 demo``: a whole month through Airflow itself, then the summary table.

Stages: seed (:mod:`sf1630.demo.seed`); start the metadata database (embedded PostgreSQL by default,
:mod:`sf1630.demo.metadb`), the on-call mail sink (:mod:`sf1630.demo.mailsink`) and the emulator, which
takes ``processing_delay`` before it answers a trigger, as the real platform takes minutes; migrate the
metadata database; start Airflow's scheduler, DAG processor, triggerer and API server
(:mod:`sf1630.demo.stack`) and print the UI's address and login; unpause the demo's receiver DAGs and
let the scheduler create their runs (every minute in the demo), each waiting deferred for the platform's
metadata files; then unpause the senders, whose product schedule (06:00 on the 1st) with
``catchup`` from the month's first to its last day makes the scheduler create exactly the month's run, as
production's would on the 1st of the month after. Progress is read from the REST API, the summary from
the ledgers, the warehouse and Airflow's metadata (how many waits went through the triggerer). Every
process the demo started is stopped at the end, on Ctrl-C and on SIGTERM; ``keep_running`` leaves the
stack up until Ctrl-C.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sf1630.demo import DEMO_MONTH, REPO_ROOT
from sf1630.demo.environment import airflow_environment, connections, warehouse_dsn, write_env_file
from sf1630.demo.layout import DemoHome
from sf1630.demo.mailsink import MailSink, start_mail_sink
from sf1630.demo.metadb import POSTGRES, SQLITE, MetadataDatabase, start_metadata_db
from sf1630.demo.progress import Progress, bar
from sf1630.demo.seed import SeedInfo, host_key_line, seed
from sf1630.demo.stack import AirflowStack, RestClient, Sizing, free_port, stack_environment
from sf1630.demo.summary import Summary, collect, render

#: How long the emulator takes before it answers a trigger in the demo.
PROCESSING_DELAY = timedelta(seconds=20)
#: Give up on a month that has not finished after this long (the summary then says INCOMPLETE).
MONTH_TIMEOUT = 60 * 60.0
#: How long the demo waits, after the month, for the FAILED message of each failed run.
ALERT_TIMEOUT = 120.0
_TERMINAL = {"success", "failed", "skipped", "upstream_failed", "removed"}
_ACTIVE = {"scheduled", "queued", "running", "up_for_retry", "up_for_reschedule", "restarting"}


def _port(wanted: int) -> int:
    """``wanted`` when it is free on 127.0.0.1, else any free port."""
    import socket

    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", wanted))
        except OSError:
            return free_port()
    return wanted


class MonthNotDue(ValueError):
    """The senders' scheduled run for the month has not come yet, so the scheduler would not make it."""


def month_run_due(month: str) -> datetime:
    """When the product's schedule (06:00 on the 1st, Copenhagen) runs the senders for ``month``: the
    scheduler makes that run only once this moment has passed."""
    import pendulum

    from sf1630.protocol import Period

    following = Period.parse(month).next()
    return pendulum.datetime(following.year, following.month, 1, 6, tz="Europe/Copenhagen")


@dataclass
class Services:
    """What the demo started, stopped in reverse order by :meth:`stop` (also after Ctrl-C)."""

    stops: list[tuple[str, Callable[[], None]]] = field(default_factory=list)

    def add(self, name: str, stop: Callable[[], None]) -> None:
        self.stops.append((name, stop))

    def stop(self) -> list[str]:
        stopped = []
        while self.stops:
            name, action = self.stops.pop()
            with contextlib.suppress(Exception):
                action()
            stopped.append(name)
        return stopped


@dataclass
class Started:
    """The running month: its environment, Airflow and the DAGs it is about."""

    env: dict[str, str]
    stack: AirflowStack
    client: RestClient
    database: MetadataDatabase
    mail: MailSink
    senders: list[str]
    receivers: list[str]
    port: int
    password: str


def start_everything(
    home: DemoHome,
    info: SeedInfo,
    services: Services,
    progress: Progress,
    *,
    metadata_db: str,
    processing_delay: timedelta,
    api_port: int,
    sizing: Sizing,
    forkserver: bool = True,
) -> Started:
    """Metadata DB, mail sink, emulator, migrated DB, the four Airflow components; ready for runs."""
    from sf1630.platform.process import start_emulator
    from sf1630.receiver.config import load_receivers
    from sf1630.registry import load_registry

    stage = progress.stage("services")
    database = start_metadata_db(
        metadata_db,
        home.postgres if metadata_db == POSTGRES else home.airflow_home,
        warehouse=home.postgres,
    )
    services.add("metadata database", database.stop)
    mail = start_mail_sink(home.mail)
    services.add("mail sink", mail.stop)
    delay = ["--processing-delay", f"{int(processing_delay.total_seconds())}s"]
    emulator = start_emulator(
        home.platform_config, home.platform_home, log=home.logs / "emulator.log", extra_args=delay
    )
    services.add("emulator", emulator.stop)
    stage.done(
        f"metadata DB {database.kind}, mail sink on 127.0.0.1:{mail.port} ({home.mail}),"
        f" emulator listening on 127.0.0.1:{emulator.port} (processing delay {processing_delay})"
    )

    registry = load_registry(home.config_dir)
    senders = {s.code: s.sftp_user for s in registry.senders}
    conns = connections(
        home, emulator.port, host_key_line(home), senders, info.sftp_users, database.warehouse_server()
    )
    port = _port(api_port)
    stack_env = _stack_environment(home, database.url, port, sizing, forkserver)
    env = airflow_environment(home, conns, stack_env, smtp=mail.connection_json())
    write_env_file(home, env)
    saved = {
        "metadata_db": database.kind,
        "api_port": port,
        "sizing": sizing.__dict__,
        "forkserver": forkserver,
    }
    home.settings.write_text(json.dumps(saved) + "\n", encoding="utf-8")

    stage = progress.stage("airflow")
    stack = AirflowStack(env, home.logs, cwd=REPO_ROOT)
    stack.migrate()
    services.add("airflow", stack.stop)
    stack.start()
    sender_dags = [s.dag_id for s in registry.senders]
    receiver_dags = [r.dag_id for r in load_receivers(home.config_dir)]
    client = stack.wait_ready([*sender_dags, *receiver_dags])
    from sf1630.demo.stack import admin_password

    password = admin_password(home.airflow_home)
    stage.done(
        f"scheduler, dag-processor, triggerer, api-server up; {len(sender_dags) + len(receiver_dags)}"
        f" DAGs parsed (LocalExecutor, parallelism {sizing.parallelism}, metadata DB {database.kind})"
    )
    return Started(env, stack, client, database, mail, sender_dags, receiver_dags, port, password)


def ui_banner(port: int, password: str) -> str:
    return (
        f"Airflow UI: http://127.0.0.1:{port}  user admin  password {password}\n"
        "  (the grid shows each sender's deliveries and each LIS system's loads as they happen)"
    )


@dataclass
class Tally:
    """Where the month stands, from the REST API."""

    planned: int
    sent: int = 0
    sent_failed: int = 0
    handled: int = 0
    refused: int = 0
    deferred_now: int = 0
    receiver_runs: int = 0
    senders_finished: bool = False
    receivers_busy: int = 0

    @property
    def done(self) -> bool:
        return self.senders_finished and self.handled >= self.planned and self.receivers_busy == 0


def _runs_between_steps(tis: Sequence[Mapping[str, Any]]) -> int:
    """Runs that have begun their steps and have steps left, whatever the states show this moment.

    Between one step's end and the next step's scheduling, a run has no task instance in an active state
    (the next one has no state at all); a run still waiting for metadata has no settled step yet.
    """
    begun: set[tuple[str, str]] = set()
    left: set[tuple[str, str]] = set()
    for ti in tis:
        run, state = (str(ti["dag_id"]), str(ti["dag_run_id"])), ti.get("state")
        if state in {"success", "failed", "upstream_failed"}:
            begun.add(run)
        elif state not in _TERMINAL and state != "deferred":
            left.add(run)
    return len(begun & left)


def _mapped_outcomes(tis: Sequence[Mapping[str, Any]]) -> dict[tuple[str, str, int], set[str]]:
    """The states of each mapped item (DAG, run, map index) over every mapped task of the DAG."""
    items: dict[tuple[str, str, int], set[str]] = {}
    for ti in tis:
        if int(ti.get("map_index", -1)) >= 0:
            key = (str(ti["dag_id"]), str(ti["dag_run_id"]), int(ti["map_index"]))
            items.setdefault(key, set()).add(str(ti.get("state")))
    return items


def tally(client: RestClient, planned: int, senders: Sequence[str], receivers: Sequence[str]) -> Tally:
    """Read the month's state: deliveries settled on the sender side, items settled on the LIS side."""
    out = Tally(planned)
    sender_tis = client.task_instances(senders)
    for states in _mapped_outcomes(sender_tis).values():
        if states <= _TERMINAL:
            out.sent += 1
            out.sent_failed += int(bool(states & {"failed", "upstream_failed"}))
    runs = client.runs(senders)
    out.senders_finished = len(runs) >= len(senders) and all(
        r["state"] in {"success", "failed"} for r in runs
    )
    receiver_tis = client.task_instances(receivers)
    for states in _mapped_outcomes(receiver_tis).values():
        if states <= _TERMINAL:
            out.handled += 1
            out.refused += int(bool(states & {"failed", "upstream_failed"}))
    every = [*sender_tis, *receiver_tis]
    out.deferred_now = sum(1 for ti in every if ti.get("state") == "deferred")
    out.receivers_busy = sum(1 for ti in receiver_tis if ti.get("state") in _ACTIVE)
    out.receivers_busy += _runs_between_steps(receiver_tis)
    out.receiver_runs = len({(ti["dag_id"], ti["dag_run_id"]) for ti in receiver_tis})
    return out


def watch(
    client: RestClient,
    stack: AirflowStack,
    planned: int,
    senders: Sequence[str],
    receivers: Sequence[str],
    progress: Progress,
    *,
    timeout: float = MONTH_TIMEOUT,
    every: float = 5.0,
) -> Tally:
    """Bars for the senders' deliveries and the LIS systems' loads until the month is through.

    Each look lists every task instance of the month through the api-server, which serves the task
    processes' own calls too: a look every ``every`` seconds, not more, leaves the CPU to the month (with a
    look every 3 s the api-server used 0.09 CPU-s/s during a 5-kommune month, the task processes' calls
    included, against 0.002 idle).
    """
    stage = progress.stage("month")
    give_up = time.monotonic() + timeout
    state = Tally(planned)
    while time.monotonic() < give_up:
        stack.check()
        with contextlib.suppress(OSError, RuntimeError, ValueError, KeyError):
            state = tally(client, planned, senders, receivers)
        stage.update(_line(state))
        if state.done:
            break
        time.sleep(every)
    stage.done(_line(state) + ("" if state.done else f"  GAVE UP after {timeout:.0f} s"))
    return state


_FAILED_TASK_STATES = frozenset({"failed", "upstream_failed"})


def _failing_runs(client: RestClient, dag_ids: Sequence[str]) -> int:
    """Runs that failed or are about to: the scheduler marks a run failed a loop after its last task
    instance settled, and the month can be over in between (its leaf already ``upstream_failed``)."""
    runs = {(r["dag_id"], r["dag_run_id"]) for r in client.runs(dag_ids) if r.get("state") == "failed"}
    tis = client.task_instances(dag_ids)
    runs |= {(t["dag_id"], t["dag_run_id"]) for t in tis if t.get("state") in _FAILED_TASK_STATES}
    return len(runs)


def wait_for_alerts(
    client: RestClient,
    mail: MailSink,
    dag_ids: Sequence[str],
    progress: Progress,
    timeout: float = ALERT_TIMEOUT,
) -> None:
    """Until the sink holds one FAILED message per failed run of ``dag_ids`` (or ``timeout``).

    The DAG processor sends a run's failure message when it next takes up the DAG file, seconds after the
    run failed: a summary printed at once would say "0 messages" for a month with a quarantined file.
    """
    stage = progress.stage("alerts")
    give_up = time.monotonic() + timeout
    failed = received = 0
    while True:
        with contextlib.suppress(OSError, RuntimeError, ValueError, KeyError):
            failed = _failing_runs(client, dag_ids)
        received = mail.kinds().count("FAILED")
        if received >= failed or time.monotonic() > give_up:
            break
        stage.update(f"{received} of {failed} FAILED message(s) so far")
        time.sleep(2)
    late = "" if received >= failed else f"; {failed - received} not here after {timeout:.0f} s"
    stage.done(f"{failed} failed run(s), {received} FAILED message(s) in the mail sink{late}")


def wait_deferred(
    client: RestClient, stack: AirflowStack, dag_ids: Sequence[str], timeout: float = 600
) -> int:
    """Until every DAG of ``dag_ids`` has a task waiting in the triggerer (the receivers' first runs wait
    for metadata before any sender delivers, so the month starts with the LIS side listening); returns how
    many do when it stops waiting."""
    give_up = time.monotonic() + timeout
    waiting: set[str] = set()
    while time.monotonic() < give_up:
        stack.check()
        with contextlib.suppress(OSError, RuntimeError, ValueError, KeyError):
            waiting = {
                str(t["dag_id"]) for t in client.task_instances(dag_ids) if t.get("state") == "deferred"
            }
        if waiting >= set(dag_ids):
            break
        time.sleep(3)
    return len(waiting & set(dag_ids))


def _line(state: Tally) -> str:
    return (
        f"senders {bar(state.sent, state.planned)}  receivers {bar(state.handled, state.planned)}"
        f"  waiting in the triggerer {state.deferred_now}, receiver runs {state.receiver_runs}"
    )


@dataclass(frozen=True)
class Waits:
    """Deferrals recorded in Airflow's event log (the UI's Audit Log), by task id."""

    deferred: dict[str, int]
    still_waiting: int
    state_mismatches: int

    @property
    def total(self) -> int:
        return sum(self.deferred.values())


def deferred_waits(client: RestClient, dag_ids: Sequence[str]) -> Waits:
    """How many waits went through the triggerer, from Airflow's metadata rather than log text.

    Every state change a task reports through the Execution API is also an event-log row; a deferral is
    one with event ``deferred`` (task id, run, map index, try). Trigger rows are deleted once their task
    has resumed, and ``next_method`` is cleared when it ends, so this is the record that lasts. Also
    counted: the scheduler's ``state mismatch`` events, the mark of the upstream defer race
    (apache/airflow#71580).
    """
    wanted = set(dag_ids)
    seen: dict[str, set[tuple[str, str, int, int]]] = {}
    for event in client.paged("/api/v2/eventLogs", "event_logs", event="deferred"):
        if event.get("dag_id") in wanted:
            key = (
                str(event["dag_id"]),
                str(event["run_id"]),
                -1 if event["map_index"] is None else int(event["map_index"]),
                int(event["try_number"] or 0),
            )
            seen.setdefault(str(event["task_id"]), set()).add(key)
    waiting = sum(1 for ti in client.task_instances(list(dag_ids)) if ti.get("state") == "deferred")
    mismatches = [
        e
        for e in client.paged("/api/v2/eventLogs", "event_logs", event="state mismatch")
        if e.get("dag_id") in wanted
    ]
    return Waits({task: len(keys) for task, keys in seen.items()}, waiting, len(mismatches))


def run_demo(
    home: DemoHome,
    *,
    month: str = DEMO_MONTH,
    kommune_count: int | None = None,
    rows: int = 40,
    metadata_db: str = POSTGRES,
    processing_delay: timedelta = PROCESSING_DELAY,
    api_port: int = 8080,
    sizing: Sizing | None = None,
    keep_running: bool = False,
    sender_codes: Sequence[str] | None = None,
    progress: Progress | None = None,
    wait_forever: Callable[[], None] | None = None,
    on_month: Callable[[str, Started], None] | None = None,
    forkserver: bool = True,
) -> Summary:
    """The whole demo; returns the summary (also printed).

    ``on_month("ready" | "start" | "end", started)`` is called once every component is up and before any
    DAG is unpaused (the stack idle: a benchmark measures what it costs doing nothing), right after the
    senders are unpaused and right after the month is through (benchmarks measure between them);
    ``wait_forever`` replaces the wait for Ctrl-C under ``keep_running`` (tests look at the running stack
    there); ``forkserver=False`` runs the task processes as Airflow does by default (the benchmark's
    comparison).
    """
    progress = progress or Progress()
    sizing = sizing or Sizing()
    if month_run_due(month) > datetime.now(UTC):
        raise MonthNotDue(
            f"the senders' run for {month} is due {month_run_due(month):%Y-%m-%d %H:%M} (06:00 on the 1st of"
            " the month after): choose a month whose run time has passed"
        )
    began = time.monotonic()
    home.reset()
    home.logs.mkdir()
    stage = progress.stage("seed")
    info = seed(
        home,
        month=month,
        kommune_count=kommune_count,
        rows=rows,
        scheduled=True,
        max_active_deliveries=sizing.max_active_tasks_per_dag,
        sender_codes=sender_codes,
    )
    stage.done(
        f"{len(info.kommuner)} kommuner, {len(info.sftp_users)} LIS systems, {len(info.senders)} senders,"
        f" {sum(info.source_rows.values())} source rows for {info.month};"
        f" invalid on purpose: {', '.join(info.invalid_files)}"
    )
    services = Services()
    try:
        started = start_everything(
            home,
            info,
            services,
            progress,
            metadata_db=metadata_db,
            processing_delay=processing_delay,
            api_port=api_port,
            sizing=sizing,
            forkserver=forkserver,
        )
        print(ui_banner(started.port, started.password), file=progress.stream, flush=True)
        client = started.client
        if on_month is not None:
            on_month("ready", started)
        stage = progress.stage("runs")
        client.set_paused("sf1630_receiver_%", paused=False)
        waiting = wait_deferred(client, started.stack, started.receivers)
        client.set_paused("sf1630_sender_%", paused=False)  # the scheduler makes the month's run (catchup)
        stage.done(
            f"{len(started.receivers)} receiver DAGs unpaused, the scheduler's runs of {waiting} of them"
            f" waiting in the triggerer; {len(started.senders)} sender DAGs unpaused: the scheduler runs"
            f" {info.month} as on {month_run_due(info.month):%Y-%m-%d %H:%M} (schedule 0 6 1 * *, catchup)"
        )
        if on_month is not None:
            on_month("start", started)
        planned = len(info.sftp_users) * len(info.senders)
        watch(client, started.stack, planned, started.senders, started.receivers, progress)
        if on_month is not None:
            on_month("end", started)
        client.set_paused("sf1630_receiver_%", paused=True)  # the month is in: no new waiting runs
        wait_for_alerts(client, started.mail, [*started.senders, *started.receivers], progress)
        waits = deferred_waits(client, [*started.senders, *started.receivers])
        summary = collect(home, warehouse_dsn(*started.database.warehouse_server()))
        summary.deferred_waits = waits.deferred
        summary.still_waiting = waits.still_waiting
        summary.state_mismatches = waits.state_mismatches
        summary.mails = [p.name for p in started.mail.messages]
        print(
            "\n"
            + render(summary, home, time.monotonic() - began, ui=ui_banner(started.port, started.password)),
            file=progress.stream,
            flush=True,
        )
        if keep_running:
            print(
                f"\n--keep-running: Airflow stays up at http://127.0.0.1:{started.port};"
                " Ctrl-C stops everything",
                file=progress.stream,
                flush=True,
            )
            (wait_forever or _sleep_forever)()
    finally:
        stage = progress.stage("stop")
        stopped = services.stop()
        stage.done(f"stopped {', '.join(stopped) or 'nothing'}")
    return summary


def _sleep_forever() -> None:
    with contextlib.suppress(KeyboardInterrupt):
        while True:
            time.sleep(3600)


@contextlib.contextmanager
def reopened(home: DemoHome, progress: Progress, api_port: int | None = None) -> Iterator[Started]:
    """``sf1630 demo ui``: the finished month's database, mail sink, emulator and Airflow, started again."""
    from sf1630.demo.environment import read_env_file
    from sf1630.demo.stack import admin_password
    from sf1630.platform.process import start_emulator

    saved = json.loads(home.settings.read_text(encoding="utf-8"))
    services = Services()
    try:
        kind = str(saved["metadata_db"])
        database = start_metadata_db(
            kind, home.postgres if kind == POSTGRES else home.airflow_home, warehouse=home.postgres
        )
        services.add("metadata database", database.stop)
        mail = start_mail_sink(home.mail)
        services.add("mail sink", mail.stop)
        emulator = start_emulator(home.platform_config, home.platform_home, log=home.logs / "emulator-ui.log")
        services.add("emulator", emulator.stop)
        env = read_env_file(home)
        port = _port(api_port or int(saved["api_port"]))
        sizing = Sizing(**saved.get("sizing", {}))
        env.update(_stack_environment(home, database.url, port, sizing, bool(saved.get("forkserver", True))))
        env["AIRFLOW_CONN_SF1630_SMTP"] = mail.connection_json()
        env = _repoint(env, emulator.port, database.warehouse_server())
        write_env_file(home, env)
        stack = AirflowStack(env, home.logs, cwd=REPO_ROOT)
        services.add("airflow", stack.stop)
        stack.start()
        client = stack.wait_ready([])
        yield Started(env, stack, client, database, mail, [], [], port, admin_password(home.airflow_home))
    finally:
        stopped = services.stop()
        progress.stage("stop").done(f"stopped {', '.join(stopped) or 'nothing'}")


def _stack_environment(
    home: DemoHome, url: str, port: int, sizing: Sizing, forkserver: bool
) -> dict[str, str]:
    """The Airflow processes' environment for the demo's home, alike for the month and a later ``demo ui``
    (which restarts the stack with the settings the month saved)."""
    return stack_environment(
        home.airflow_home,
        url,
        REPO_ROOT / "dags",
        plugins_folder=REPO_ROOT / "plugins",
        api_port=port,
        sizing=sizing,
        forkserver=forkserver,
    )


def _repoint(env: Mapping[str, str], port: int, warehouse: tuple[str, int]) -> dict[str, str]:
    """The SFTP connections of ``env`` with the emulator's new port (the host key stays the same), the
    warehouse connections with the embedded server's socket folder and port (a scratch folder may move)."""
    out = dict(env)
    for name, value in env.items():
        if not name.startswith("AIRFLOW_CONN_"):
            continue
        conn = json.loads(value)
        if conn.get("conn_type") == "sftp":
            conn["port"] = port
        elif conn.get("conn_type") == "postgres":
            conn["host"], conn["port"] = warehouse
        else:
            continue
        out[name] = json.dumps(conn, separators=(",", ":"))
    return out


__all__ = ["POSTGRES", "SQLITE", "Path", "reopened", "run_demo"]
