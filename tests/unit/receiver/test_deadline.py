"""The deadline callback recomputes what is missing from the real ledger and names whom to contact."""

from __future__ import annotations

import asyncio
import json
import logging
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sf1630.receiver.config import LisSystem
from sf1630.receiver.deadline import alert_missing_extracts, missing_report, period_from_context
from sf1630.warehouse import LedgerEntry, Outcome, WarehouseTarget, record_outcome

WHEN = datetime(2026, 11, 3, tzinfo=UTC)


def ledger_row(target: WarehouseTarget, uuid: str, sender: str, outcome: Outcome) -> None:
    name = f"{sender}_LIS_65700000_M10_20261101060000.csv"
    record_outcome(
        target, LedgerEntry(uuid, name, sender, "65700000", "2026-10", 5, "0" * 64, outcome, WHEN, WHEN)
    )


@pytest.fixture
def target(tmp_path: Path) -> WarehouseTarget:
    target = WarehouseTarget.duckdb(tmp_path / "warehouse.duckdb", schema="lis")
    ledger_row(target, "u-ky", "KY", Outcome.LOADED)
    ledger_row(target, "u-ksd", "KSD", Outcome.LOADED)
    ledger_row(target, "u-dubu", "DUBU", Outcome.QUARANTINED)  # quarantined is not loaded
    return target


def test_report_lists_missing_senders_and_contacts(herning: LisSystem, target: WarehouseTarget) -> None:
    text = missing_report(herning, "2026-10", target)
    assert text.startswith("SF1630 deadline missed.")
    assert "DUBU for Herning" in text and "support@dubu.example" in text
    assert "AULA for Herning" in text and "KY for" not in text and "KSD for" not in text


def test_period_comes_from_conf_or_the_data_interval() -> None:
    run = {"data_interval_start": "2026-10-01T04:00:00+00:00", "conf": {}}
    assert period_from_context({"dag_run": run}) == "2026-10"
    assert period_from_context({"dag_run": {**run, "conf": {"period": "2026-09"}}}) == "2026-09"
    with pytest.raises(ValueError, match="no data interval"):
        period_from_context({})


def test_callback_reads_the_warehouse_connection_and_logs_the_text(
    herning: LisSystem,
    target: WarehouseTarget,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    connection = {"conn_type": "duckdb", "host": target.location, "extra": {"schema": "lis"}}
    monkeypatch.setenv(f"AIRFLOW_CONN_{herning.warehouse_conn_id.upper()}", json.dumps(connection))
    context = {"dag_run": {"data_interval_start": "2026-10-01T04:00:00+00:00"}}
    with caplog.at_level(logging.ERROR, logger="sf1630.receiver.deadline"):
        text = asyncio.run(alert_missing_extracts(lis_user=herning.sftp_user, context=context))
    assert "2 extract(s) for 2026-10 not loaded" in text
    assert "Aula drift <drift@aula.example>" in caplog.text
