"""Benchmark: one month of one sender (KY) to all 98 kommuner × their LIS systems through the emulator
(below full scale, `SF1630_BENCH_SCALE`, to the first kommuner only).

Measures, in the same run and on the same data:

* the floor: a plain script without Airflow that does the same work with the same package functions over
  one SFTP connection — export every delivery, upload it with its trigger, then read every receipt;
* the same script one delivery at a time (export, upload, wait for the receipt, read it), for reference;
* the sender DAG run with ``dag.test()`` (in-process, the way the tests run it).

Each run gets its own emulator (same registry) and its own ledger, so all three deliver the full month.
Prints one JSON object on its last line: wall times, per-delivery overhead and the ratio DAG / floor.
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
WORK = Path(tempfile.mkdtemp(prefix="sf1630-bench-sender-"))
os.environ.update(
    {
        "AIRFLOW_HOME": str(WORK / "airflow"),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{WORK / 'airflow' / 'airflow.db'}",
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO / "plugins"),
        "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
        "AIRFLOW__LOGGING__LOGGING_LEVEL": "WARNING",
        "SF1630_DEADLINES": "false",
        "GX_ANALYTICS_ENABLED": "False",
    }
)
sys.path.insert(0, str(REPO))  # the shared test harness: tests.support

#: SF1630_BENCH_SCALE shrinks the workload (tests/bench runs every benchmark at 1 % to keep it working).
SCALE = float(os.environ.get("SF1630_BENCH_SCALE", "1"))
ROWS_PER_KOMMUNE = int(os.environ.get("SF1630_BENCH_ROWS", str(max(5, int(500 * SCALE)))))
#: The kommuner of the month: all 98, or (below full scale) the first ones, at least one.
KOMMUNE_COUNT = 98 if SCALE >= 1 else max(1, round(98 * SCALE))
PERIOD = "2026-10"


def _connect(port: int, host_key: str, user: str, password: str):  # type: ignore[no-untyped-def]
    """A paramiko SFTP client pinned to the emulator's host key (what a plain script would do)."""
    import base64

    import paramiko

    key_type, key_data = host_key.split()[:2]
    client = paramiko.SSHClient()
    pinned = paramiko.PKey.from_type_string(key_type, base64.b64decode(key_data))
    client.get_host_keys().add(f"[127.0.0.1]:{port}", key_type, pinned)
    client.set_missing_host_key_policy(paramiko.RejectPolicy())
    client.connect(
        "127.0.0.1", port, username=user, password=password, look_for_keys=False, allow_agent=False
    )
    return client, client.open_sftp()


@functools.cache
def _kommuner():  # type: ignore[no-untyped-def]
    """The month's kommuner (see ``KOMMUNE_COUNT``), read once."""
    from sf1630.registry import load_registry

    return load_registry().kommuner[:KOMMUNE_COUNT]


def floor_script(port: int, host_key: str, source: Path, ledger: Path, *, batched: bool) -> tuple[float, int]:
    """The DAG's exports, uploads and receipt reads without Airflow; returns (seconds, accepted)."""
    from datetime import UTC, datetime

    from sf1630.database import Database
    from sf1630.protocol import Period, to_xml
    from sf1630.registry import load_registry
    from sf1630.sender.export import export_extract
    from sf1630.sender.ledger import Ledger
    from sf1630.sender.plan import plan_deliveries
    from sf1630.sender.receipt import receipt_waiting, settle_receipt
    from sf1630.sender.upload import build_trigger, upload_delivery
    from sqlalchemy import create_engine

    from tests.support.sender import SENDER_PASSWORD, SENDER_USER

    started = time.perf_counter()
    registry = load_registry()
    sender = registry.sender("KY")
    deliveries = plan_deliveries(sender, _kommuner(), Period.parse(PERIOD))
    database = create_engine(f"sqlite:///{source}")
    book = Ledger(Database.sqlite(ledger))
    folder = Path(tempfile.mkdtemp(dir=WORK))
    client, sftp = _connect(port, host_key, SENDER_USER, SENDER_PASSWORD)
    accepted = 0

    def send(delivery):  # type: ignore[no-untyped-def]
        data = export_extract(
            database, sender, delivery.kommune, delivery.period, folder / delivery.file_name
        )
        trigger = build_trigger(sender, delivery, data.stat().st_size, datetime.now(UTC))
        upload_delivery(sftp, data, to_xml(trigger), delivery)

    def collect(delivery) -> bool:  # type: ignore[no-untyped-def]
        while not receipt_waiting(sftp, delivery):
            time.sleep(0.02)
        return settle_receipt(sftp, delivery, book).accepted

    try:
        if batched:
            for delivery in deliveries:
                send(delivery)
            accepted = sum(collect(d) for d in deliveries)
        else:
            for delivery in deliveries:
                send(delivery)
                accepted += collect(delivery)
    finally:
        sftp.close()
        client.close()
    return time.perf_counter() - started, accepted


def dag_run(port: int, host_key: str, source: Path, ledger: Path) -> tuple[float, str, int]:
    """The sender DAG for the month with dag.test(); returns (seconds, run state, deliver instances)."""
    from tests.support.sender import OCTOBER_START, sender_dag, sftp_connection

    os.environ["AIRFLOW_CONN_SF1630_SFTP_KY"] = sftp_connection(port, host_key)
    os.environ["AIRFLOW_CONN_SF1630_SOURCE_KY"] = json.dumps({"conn_type": "sqlite", "host": str(source)})
    os.environ["AIRFLOW_CONN_SF1630_SENDER_LEDGER"] = json.dumps({"conn_type": "sqlite", "host": str(ledger)})
    started = time.perf_counter()
    conf = {"kommune": [k.kode for k in _kommuner()]} if KOMMUNE_COUNT < 98 else None
    run = sender_dag().test(logical_date=OCTOBER_START, run_conf=conf)
    seconds = time.perf_counter() - started
    delivered = [
        ti for ti in run.get_task_instances() if ti.task_id == "deliver" and str(ti.state) == "success"
    ]
    return seconds, str(run.state), len(delivered)


def main() -> int:
    import logging

    from sf1630.database import Database
    from sf1630.dataspec import load_spec
    from sf1630.protocol import Period
    from sf1630.registry import platform_config
    from sf1630.sender.source import seed_source

    from tests.support import emulator as platform
    from tests.support.sender import SENDER_PASSWORD, SENDER_USER

    logging.disable(logging.INFO)
    subprocess.run(
        [str(Path(sys.executable).with_name("airflow")), "db", "migrate"], check=True, capture_output=True
    )
    source = WORK / "source-ky.sqlite"
    kommuner = _kommuner()
    seed_source(
        Database.sqlite(source),
        load_spec("ky"),
        [k.cvr for k in kommuner],
        Period.parse(PERIOD),
        rows_per_kommune=ROWS_PER_KOMMUNE,
    )
    config = platform_config(
        sender_codes={"KY"},
        passwords={SENDER_USER: SENDER_PASSWORD},
        extra={"router": {"rescan_interval": "1s"}},
    )
    emulators = [platform.start(config, WORK / f"emulator-{name}") for name in ("floor", "sequential", "dag")]
    try:
        floor_s, floor_ok = floor_script(
            emulators[0].port, emulators[0].host_key, source, WORK / "ledger-floor.sqlite", batched=True
        )
        seq_s, seq_ok = floor_script(
            emulators[1].port, emulators[1].host_key, source, WORK / "ledger-seq.sqlite", batched=False
        )
        dag_s, state, dag_ok = dag_run(
            emulators[2].port, emulators[2].host_key, source, WORK / "ledger-dag.sqlite"
        )
    finally:
        for running in emulators:
            running.stop()
    deliveries = sum(len(k.lis_systems) for k in kommuner)
    result = {
        "benchmark": "sender_month_ky",
        "deliveries": deliveries,
        "rows_per_kommune": ROWS_PER_KOMMUNE,
        "floor_seconds": round(floor_s, 2),
        "floor_accepted": floor_ok,
        "sequential_script_seconds": round(seq_s, 2),
        "sequential_accepted": seq_ok,
        "dag_seconds": round(dag_s, 2),
        "dag_state": state,
        "dag_accepted": dag_ok,
        "per_delivery_overhead_seconds": round((dag_s - floor_s) / deliveries, 3),
        "ratio_dag_to_floor": round(dag_s / floor_s, 2),
        "ratio_dag_to_sequential_script": round(dag_s / seq_s, 2),
        "target_ratio": 10,
    }
    shutil.rmtree(WORK, ignore_errors=True)
    print(json.dumps(result))
    return 0 if state == "success" and floor_ok == seq_ok == dag_ok == deliveries else 1


if __name__ == "__main__":
    sys.exit(main())
