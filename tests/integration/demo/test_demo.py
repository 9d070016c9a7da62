"""The demo end to end for four kommuner (five LIS systems): seed, emulator, Airflow on SQLite, every
sender DAG, every receiver DAG, summary. Everything real: ``dag.test()`` in worker processes, the SFTP
emulator as a subprocess, DuckDB source and warehouse."""

from __future__ import annotations

import io
import json
import socket
import sqlite3
from pathlib import Path

import duckdb
import pytest
from sf1630.demo.layout import DemoHome
from sf1630.demo.progress import Progress
from sf1630.demo.run import run_demo
from sf1630.demo.summary import Summary

pytestmark = pytest.mark.integration

Finished = tuple[DemoHome, Summary, str]
INVALID = "KSD_LIS_10100000_M10_20261101000000.csv"


@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory) -> Finished:
    home = DemoHome.at(tmp_path_factory.mktemp("demo") / "state")
    out = io.StringIO()
    summary = run_demo(home, kommune_count=4, rows=15, progress=Progress(out, every=0))
    return home, summary, out.getvalue()


def test_every_delivery_but_the_invalid_one_is_loaded(finished: Finished) -> None:
    home, summary, text = finished
    assert summary.complete, text
    lines = {s.code: s for s in summary.senders}
    for code, line in lines.items():
        bad = 1 if code == "KSD" else 0
        assert (line.planned, line.transfers, line.receipts_ok, line.receipts_error) == (5, 5, 5, 0), line
        assert (line.loaded_files, line.quarantined, line.loaded_rows) == (5 - bad, bad, 15 * (5 - bad)), line
    assert "every delivery loaded except the deliberately invalid one" in text
    with duckdb.connect(str(home.warehouse), read_only=True) as con:
        schemas = [
            s
            for (s,) in con.execute("SELECT DISTINCT table_schema FROM information_schema.tables").fetchall()
        ]
        assert sorted(schemas) == [
            "ballerup_lis01_simpel",
            "broendby_lis01_simpel",
            "broendby_lis02_simpel",
            "frederiksberg_lis01_simpel",
            "koebenhavn_lis01_simpel",
        ]
        ledger = con.execute(
            " UNION ALL ".join(f"SELECT outcome FROM {s}.sf1630_ledger" for s in schemas)  # noqa: S608
        ).fetchall()
        assert sorted(ledger) == [("loaded",)] * 19 + [("quarantined",)]
        # Brøndby's two LIS systems both hold Brøndby's AULA extract (append load, own schema each).
        for schema in ("broendby_lis01_simpel", "broendby_lis02_simpel"):
            assert con.execute(f"SELECT count(*) FROM {schema}.lis_aula_fravaer").fetchone() == (15,)  # noqa: S608
        tables = set(con.execute("SELECT table_schema, table_name FROM information_schema.tables").fetchall())
        assert ("koebenhavn_lis01_simpel", "lis_ksd_sager") not in tables  # its only KSD file was refused


def test_the_invalid_extract_is_quarantined_with_its_reports(finished: Finished) -> None:
    _, summary, text = finished
    [quarantined] = summary.quarantined
    assert (quarantined.lis_user, quarantined.file_name) == ("KOEBENHAVN_LIS01_SIMPEL", INVALID)
    assert quarantined.reason == "invalid extract"
    kept = {p.name for p in quarantined.folder.iterdir()}
    reports = {"validation.json", "validation.html", "summary.txt", "datadocs"}  # GX result, Data Docs
    assert kept == {INVALID, f"{INVALID}.metadata", "reason.json", *reports}
    report = json.loads((quarantined.folder / "validation.json").read_text(encoding="utf-8"))
    assert "expect_column_values_to_match_regex" in json.dumps(report)
    assert f"KOEBENHAVN_LIS01_SIMPEL: {INVALID}: invalid extract" in text


def test_folders_are_clean_and_the_emulator_is_stopped(finished: Finished) -> None:
    home, _, text = finished
    users = home.platform_home / "users"
    leftovers = [p.relative_to(users) for p in users.glob("*/*/*")]
    assert leftovers == []
    port = int(text.split("listening on 127.0.0.1:")[1].split()[0])
    with pytest.raises(OSError), socket.create_connection(("127.0.0.1", port), timeout=2):
        pass
    assert "sf1630 demo ui --home" in text


def test_airflow_recorded_every_run_for_the_ui(finished: Finished) -> None:
    home, _, text = finished
    with sqlite3.connect(home.airflow_db) as conn:
        runs = dict(conn.execute("SELECT dag_id, state FROM dag_run").fetchall())
    senders = {f"sf1630_sender_{c}" for c in ("ky", "ksd", "dubu", "aula")}
    receivers = {k for k in runs if k.startswith("sf1630_receiver_")}
    assert senders <= set(runs) and len(receivers) == 5
    assert runs["sf1630_sender_ksd"] == "success"  # the platform accepted it; the LIS refused it
    refused = "sf1630_receiver_koebenhavn_lis01_simpel"
    assert all(runs[d] == "success" for d in receivers - {refused})
    assert runs[refused] == "failed"  # its all_loaded leaf needs every load
    with sqlite3.connect(home.airflow_db) as conn:
        failed = conn.execute("SELECT dag_id, task_id FROM task_instance WHERE state = 'failed'").fetchall()
    assert failed == [("sf1630_receiver_koebenhavn_lis01_simpel", "load")]
    env = (home.root / "demo.env").read_text(encoding="utf-8")
    assert "AIRFLOW_CONN_SF1630_SFTP_KOEBENHAVN_LIS01_SIMPEL" in env and "host_key" in env
    assert "PRIVATE KEY" not in env
    for stage in ("seed", "emulator", "airflow", "senders", "receivers", "stop"):
        assert f"] {stage}" in text


def test_ledger_lists_every_receipt(finished: Finished) -> None:
    home, _, _ = finished
    with sqlite3.connect(home.sender_ledger) as conn:
        assert conn.execute("SELECT status, count(*) FROM sf1630_sender_ledger GROUP BY 1").fetchall() == [
            ("accepted", 20)
        ]
    assert Path(home.logs / "emulator.log").exists()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_ui_command_serves_the_demo_state_and_stops_cleanly(finished: Finished) -> None:
    """The README's ``sf1630 demo ui``: emulator + ``airflow standalone`` on the demo state, until SIGTERM."""
    import os
    import signal
    import subprocess
    import sys
    import time
    import urllib.request

    home, _summary, _out = finished
    port = _free_port()
    command = [str(Path(sys.executable).with_name("sf1630")), "demo", "ui", "--home", str(home.root)]
    ui = subprocess.Popen(
        [*command, "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    health: dict[str, dict[str, str]] = {}
    try:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline and ui.poll() is None:
            try:
                url = f"http://127.0.0.1:{port}/api/v2/monitor/health"
                with urllib.request.urlopen(url, timeout=5) as response:
                    health = json.load(response)
                if health.get("scheduler", {}).get("status") == "healthy":
                    break
            except OSError:
                pass
            time.sleep(2)
        assert health.get("metadatabase", {}).get("status") == "healthy", health
        assert health.get("scheduler", {}).get("status") == "healthy", health
    finally:
        ui.send_signal(signal.SIGTERM)
        code = ui.wait(timeout=90)
    assert code == 0
    time.sleep(1)
    try:
        os.killpg(ui.pid, 0)
    except ProcessLookupError:
        pass  # the whole group is gone
    else:
        os.killpg(ui.pid, signal.SIGKILL)
        pytest.fail("`sf1630 demo ui` left processes behind")
