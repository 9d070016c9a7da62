"""The completeness Deadline Alert's callback recomputes what is missing from the real ledger, for the run's
month in local time, and logs whom to contact."""

from __future__ import annotations

import asyncio
import json
import logging
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sf1630.airflow.completeness import alert_missing_extracts
from sf1630.database import Database
from sf1630.receiver.config import Receiver
from sf1630.warehouse import LoadEntry, Outcome, record_outcome

WHEN = datetime(2026, 11, 3, tzinfo=UTC)


def ledger_row(db: Database, uuid: str, sender: str, outcome: Outcome) -> None:
    name = f"{sender}_LIS_65700000_M10_20261101060000.csv"
    record_outcome(db, LoadEntry(uuid, name, sender, "65700000", "2026-10", 5, "0" * 64, outcome, WHEN, WHEN))


@pytest.fixture
def db(tmp_path: Path) -> Database:
    db = Database.duckdb(tmp_path / "warehouse.duckdb", schema="lis")
    ledger_row(db, "u-ky", "KY", Outcome.LOADED)
    ledger_row(db, "u-ksd", "KSD", Outcome.LOADED)
    ledger_row(db, "u-dubu", "DUBU", Outcome.QUARANTINED)  # quarantined is not loaded
    return db


@pytest.fixture
def connected(herning: Receiver, db: Database, monkeypatch: pytest.MonkeyPatch) -> Receiver:
    connection = {"conn_type": "duckdb", "host": str(db.path), "extra": {"schema": "lis"}}
    monkeypatch.setenv(f"AIRFLOW_CONN_{herning.warehouse_conn_id.upper()}", json.dumps(connection))
    return herning


def alert(receiver: Receiver, dag_run: dict[str, object]) -> str:
    return asyncio.run(alert_missing_extracts(sftp_user=receiver.sftp_user, context={"dag_run": dag_run}))


def test_callback_reads_the_warehouse_connection_and_logs_the_text(
    connected: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    # 00:30 on 1 October in Copenhagen is still September in UTC: the month is the local one.
    with caplog.at_level(logging.ERROR, logger="sf1630.airflow.completeness"):
        text = alert(connected, {"logical_date": "2026-09-30T22:30:00+00:00", "conf": {}})
    assert text.startswith("SF1630 deadline missed.")
    assert "3 extract(s) for 2026-10 not loaded" in text
    assert "DUBU for Herning" in text and "support@dubu.example" in text and "KY for" not in text
    assert "Aula drift <drift@aula.example>" in caplog.text


def test_period_from_conf_wins(connected: Receiver) -> None:
    text = alert(connected, {"logical_date": "2026-10-01T04:00:00+00:00", "conf": {"period": "2026-09"}})
    assert "5 extract(s) for 2026-09 not loaded" in text
