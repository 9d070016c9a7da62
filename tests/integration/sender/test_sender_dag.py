"""The sender DAG end to end: ``dag.test()`` of the real DAG file against the running emulator.

A month for three kommuner (four LIS systems) of KY: every delivery accepted and in its recipient's ``IN/``
with metadata; a delivery without a route rejected and cleaned up; a connection cut mid-upload retried
without a partial or double delivery; a re-run that sends nothing; PostgreSQL as the source.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from sf1630.database import Database
from sf1630.dataspec import load_spec
from sf1630.platform.process import RunningEmulator
from sf1630.protocol import Period
from sf1630.registry import load_registry
from sf1630.sender.ledger import ACCEPTED, REJECTED, WITHDRAWN, Ledger
from sf1630.sender.plan import plan_deliveries
from sf1630.sender.source import seed_source

from tests.support.proxy import CuttingProxy
from tests.support.sender import (
    KOMMUNER,
    OCTOBER_START,
    SENDER_USER,
    sender_dag,
    sftp_connection,
    task_states,
)

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("airflow_db")]

ROWS = 400  # ~70 KB per file: large enough to be cut mid-upload by the proxy
RUN_CONF = {"kommune": list(KOMMUNER)}
OCTOBER = Period(2026, 10)


def _deliveries() -> list[Any]:
    registry = load_registry()
    return plan_deliveries(registry.sender("KY"), registry.kommuner, OCTOBER, kommune_filter=list(KOMMUNER))


def _seed(source: Database) -> None:
    cvrs = {d.kommune.cvr for d in _deliveries()}
    seed_source(source, load_spec("ky"), cvrs, OCTOBER, rows_per_kommune=ROWS)
    seed_source(source, load_spec("ky"), cvrs, OCTOBER.previous(), rows_per_kommune=3, seed=9)


def _transfers(emulator: RunningEmulator) -> list[dict[str, Any]]:
    """The emulator's audit records of routed transfers (its output is drained in the background)."""
    time.sleep(0.2)
    records = []
    for line in list(emulator.output):
        if '"event": "transfer"' in line:
            records.append(json.loads(line[line.index("{") :]))
    return records


def _assert_delivered(emulator: RunningEmulator, ledger: Path) -> None:
    deliveries = _deliveries()
    for delivery in deliveries:
        inbox = emulator.files(delivery.lis.sftp_user, "IN")
        assert inbox == [delivery.file_name, delivery.file_name + ".metadata"], inbox
        data = emulator.folder(delivery.lis.sftp_user, "IN") / delivery.file_name
        assert data.stat().st_size > 10_000
        assert data.read_text(encoding="utf-8").count("\n") == ROWS + 1
    assert emulator.files(SENDER_USER, "OUT") == []
    assert emulator.files(SENDER_USER, "IN") == []
    entries = Ledger(Database.sqlite(ledger)).entries("KY", [d.file_name for d in deliveries])
    assert {e.status for e in entries.values()} == {ACCEPTED} and len(entries) == len(deliveries)


def test_month_delivered_and_rerun_sends_nothing(
    emulator_factory: Callable[..., RunningEmulator], sender_env: Callable[[int, str], dict[str, Path]]
) -> None:
    emulator = emulator_factory()
    paths = sender_env(emulator.port, emulator.host_key)
    _seed(Database.sqlite(paths["source"]))
    stale = emulator.folder(SENDER_USER, "OUT") / "KY_LIS_10100000_M08_20260901000000.csv"
    stale.write_text("left behind by a crashed run\n", encoding="utf-8")
    three_days_ago = time.time() - 3 * 86400
    os.utime(stale, (three_days_ago, three_days_ago))

    dag = sender_dag()
    run = dag.test(logical_date=OCTOBER_START, run_conf=RUN_CONF)
    states = task_states(run)
    assert str(run.state) == "success", states
    assert {k: v for k, v in states.items() if k[0] == "deliver"} == {
        ("deliver", i): "success" for i in range(4)
    }
    labels = {ti.rendered_map_index for ti in run.get_task_instances() if ti.task_id == "deliver"}
    assert labels == {
        "KY → København LIS01 2026-10",
        "KY → Brøndby LIS01 2026-10",
        "KY → Brøndby LIS02 2026-10",
        "KY → Aalborg LIS01 2026-10",
    }
    assert states[("all_delivered", -1)] == "success"
    _assert_delivered(emulator, paths["ledger"])
    assert not stale.exists()  # housekeeping: no trigger, older than the grace period
    assert len(_transfers(emulator)) == 4

    again = sender_dag().test(logical_date=OCTOBER_START, run_conf=RUN_CONF)
    assert str(again.state) == "success", task_states(again)
    _assert_delivered(emulator, paths["ledger"])
    assert len(_transfers(emulator)) == 4  # nothing went out twice


def test_rejected_delivery_is_cleaned_up_and_reported(
    emulator_factory: Callable[..., RunningEmulator], sender_env: Callable[[int, str], dict[str, Path]]
) -> None:
    emulator = emulator_factory(omit_routes={("KY", "BROENDBY_LIS02_SIMPEL")})
    paths = sender_env(emulator.port, emulator.host_key)
    _seed(Database.sqlite(paths["source"]))

    run = sender_dag().test(logical_date=OCTOBER_START, run_conf=RUN_CONF)
    states = task_states(run)
    assert str(run.state) == "failed"
    assert states[("deliver", 2)] == "failed"  # Brøndby LIS02: no route
    assert [states[("deliver", i)] for i in (0, 1, 3)] == ["success"] * 3  # the others went on
    assert states[("all_delivered", -1)] == "upstream_failed"  # the month is not complete: run fails
    assert states[("summary", -1)] == "success"  # the account is given all the same
    rejected = _deliveries()[2]
    assert emulator.files(SENDER_USER, "OUT") == []  # the sender removed its data file
    assert emulator.files(SENDER_USER, "IN") == []  # and the receipt
    assert emulator.files("BROENDBY_LIS02_SIMPEL", "IN") == []
    entry = Ledger(Database.sqlite(paths["ledger"])).entries("KY", [rejected.file_name])[rejected.file_name]
    assert entry.status == REJECTED
    assert [e.code for e in entry.errors] == [404]  # KY names the LIS user: no simple route to it
    assert entry.errors[0].description


def test_connection_cut_mid_upload_is_retried_once(
    emulator_factory: Callable[..., RunningEmulator],
    sender_env: Callable[[int, str], dict[str, Path]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    emulator = emulator_factory()
    paths = sender_env(emulator.port, emulator.host_key)
    _seed(Database.sqlite(paths["source"]))
    # Past the SSH handshake (~4 KB), inside the first (compressed) data file.
    proxy = CuttingProxy(emulator.port, after=12_000, direction="up")
    try:
        monkeypatch.setenv("AIRFLOW_CONN_SF1630_SFTP_KY", sftp_connection(proxy.port, emulator.host_key))
        run = sender_dag().test(logical_date=OCTOBER_START, run_conf=RUN_CONF)
    finally:
        proxy.close()
    assert proxy.connections >= 5 and proxy.cuts_done == 1
    assert str(run.state) == "success", task_states(run)
    tries = {ti.map_index: ti.try_number for ti in run.get_task_instances() if ti.task_id == "deliver"}
    assert sorted(tries.values()) == [1, 1, 1, 2]  # exactly one delivery needed a second try
    _assert_delivered(emulator, paths["ledger"])
    assert len(_transfers(emulator)) == 4


def test_postgres_source_and_deferred_receipt_wait(
    emulator_factory: Callable[..., RunningEmulator],
    sender_env: Callable[[int, str], dict[str, Path]],
    pg_schema: str,
    fast_config_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    senders = yaml.safe_load((fast_config_dir / "senders.yaml").read_text(encoding="utf-8"))
    senders["defaults"]["receipt_quick_look"] = "0s"  # always hand the wait to the deferred trigger
    (fast_config_dir / "senders.yaml").write_text(
        yaml.safe_dump(senders, allow_unicode=True), encoding="utf-8"
    )
    emulator = emulator_factory()
    paths = sender_env(emulator.port, emulator.host_key)
    source = {
        "conn_type": "postgres",
        "host": "127.0.0.1",
        "port": 5432,
        "login": "postgres",
        "schema": "test",
        "extra": {"options": f"-c search_path={pg_schema}"},
    }
    monkeypatch.setenv("AIRFLOW_CONN_SF1630_SOURCE_KY", json.dumps(source))
    _seed(
        Database.from_connection(
            "s", "postgres", host="127.0.0.1", login="postgres", schema="test", extra=source["extra"]
        )
    )  # type: ignore[arg-type]

    run = sender_dag().test(logical_date=OCTOBER_START, run_conf=RUN_CONF)
    assert str(run.state) == "success", task_states(run)
    _assert_delivered(emulator, paths["ledger"])


def test_extract_that_does_not_fit_the_spec_fails_before_upload(
    emulator_factory: Callable[..., RunningEmulator],
    sender_env: Callable[[int, str], dict[str, Path]],
) -> None:
    """Brøndby's rows hold an amount the spec's decimal refuses: both its deliveries fail at once (no
    retry: the same rows would fail again), nothing of them reaches the platform; the others go on."""
    import contextlib
    import sqlite3

    emulator = emulator_factory()
    paths = sender_env(emulator.port, emulator.host_key)
    _seed(Database.sqlite(paths["source"]))
    brondby = load_registry().kommune("153").cvr
    with contextlib.closing(sqlite3.connect(paths["source"])) as conn, conn:
        conn.execute("UPDATE ky_ydelser SET beloeb = '12.345' WHERE myndighed_cvr = ?", (brondby,))

    run = sender_dag().test(logical_date=OCTOBER_START, run_conf=RUN_CONF)
    delivers = {ti.map_index: ti for ti in run.get_task_instances() if ti.task_id == "deliver"}
    assert str(run.state) == "failed"
    assert [str(delivers[i].state) for i in range(4)] == ["success", "failed", "failed", "success"]
    assert [delivers[i].try_number for i in (1, 2)] == [1, 1]  # AirflowFailException: no retries
    # (the message, e.g. "… Brøndby: column beloeb: 45 value(s) the spec's type decimal refuses", is
    # tests/unit/sender/test_export.py's; dag.test() keeps no task log to read it from)
    for delivery in _deliveries()[1:3]:
        assert emulator.files(delivery.lis.user, "IN") == []
    assert emulator.files(SENDER_USER, "OUT") == []
    assert len(_transfers(emulator)) == 2


def _timeout_config(fast_config_dir: Path, **settings: str) -> None:
    """A receipt wait of one second, handed straight to the deferred trigger."""
    senders = yaml.safe_load((fast_config_dir / "senders.yaml").read_text(encoding="utf-8"))
    senders["defaults"].update({"receipt_timeout": "1s", "receipt_quick_look": "0s", **settings})
    (fast_config_dir / "senders.yaml").write_text(
        yaml.safe_dump(senders, allow_unicode=True), encoding="utf-8"
    )


def test_receipt_timeout_withdraws_the_delivery_from_out(
    tmp_path: Path, sender_env: Callable[[int, str], dict[str, Path]], fast_config_dir: Path
) -> None:
    """No receipt in time and the platform never took the trigger: the sender removes both files itself."""
    from tests.support import emulator as emulators
    from tests.support.sender import ky_platform

    _timeout_config(fast_config_dir)
    config = ky_platform()
    config["router"] = {"rescan_interval": "1h"}  # a platform that is behind: triggers lie unclaimed
    running = emulators.start(config, tmp_path / "behind")
    try:
        paths = sender_env(running.port, running.host_key)
        _seed(Database.sqlite(paths["source"]))
        time.sleep(1)  # past the start's first rescan
        delivery = _deliveries()[0]
        out = running.folder(SENDER_USER, "OUT")
        # An earlier attempt put both up (no SFTP event, so the platform has not seen the trigger).
        (out / delivery.file_name).write_bytes(b"sag_id;status\r\n")
        (out / f"{delivery.file_name}.trigger").write_bytes(b"<earlier attempt's trigger/>")

        run = sender_dag().test(logical_date=OCTOBER_START, run_conf={"kommune": ["101"]})
        states = task_states(run)
        assert str(run.state) == "failed" and states[("deliver", 0)] == "failed", states
        assert running.files(SENDER_USER, "OUT") == [], "the sender took its data file and trigger back"
        assert running.files(delivery.lis.user, "IN") == []
        entry = Ledger(Database.sqlite(paths["ledger"])).entries("KY", [delivery.file_name])
        assert entry[delivery.file_name].status == WITHDRAWN
        [summary] = [ti for ti in run.get_task_instances() if ti.task_id == "summary"]
        account = summary.xcom_pull(task_ids="summary")
        removed = f"OUT/{delivery.file_name}, OUT/{delivery.file_name}.trigger"
        assert account["withdrawn"] == [
            {"delivery": f"{delivery.label} ({delivery.file_name})", "removed": removed}
        ]
    finally:
        running.stop()


def test_receipt_timeout_leaves_what_the_platform_has_taken(
    tmp_path: Path, sender_env: Callable[[int, str], dict[str, Path]], fast_config_dir: Path
) -> None:
    """The platform locked the trigger as the wait ended (it takes 4 s per trigger): nothing is removed, and
    a retry waits for the receipt, which says SUCCESS."""
    from tests.support import emulator as emulators
    from tests.support.sender import ky_platform

    _timeout_config(fast_config_dir)
    running = emulators.start(ky_platform(), tmp_path / "slow", extra_args=["--processing-delay", "4s"])
    try:
        paths = sender_env(running.port, running.host_key)
        _seed(Database.sqlite(paths["source"]))
        run = sender_dag().test(logical_date=OCTOBER_START, run_conf={"kommune": ["101"]})
        assert str(run.state) == "success", task_states(run)
        [deliver] = [ti for ti in run.get_task_instances() if ti.task_id == "deliver"]
        assert deliver.try_number >= 2, "the first wait timed out"
        delivery = _deliveries()[0]
        assert running.files(delivery.lis.user, "IN") == [
            delivery.file_name,
            delivery.file_name + ".metadata",
        ]
        assert running.files(SENDER_USER, "OUT") == [] and running.files(SENDER_USER, "IN") == []
        entry = Ledger(Database.sqlite(paths["ledger"])).entries("KY", [delivery.file_name])
        assert entry[delivery.file_name].status == ACCEPTED
    finally:
        running.stop()
