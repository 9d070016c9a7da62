"""The sender's Deadline Alert callback: logs the missing deliveries and mails on-call through real SMTP."""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path
from typing import Any

import pytest
from sf1630.airflow.sender import on_missed_deadline, plan_for_run
from sf1630.database import Database
from sf1630.protocol import Period, ReceiptError
from sf1630.registry import load_registry
from sf1630.sender.ledger import ACCEPTED, REJECTED, Ledger
from sf1630.sender.plan import plan_deliveries

CONTEXT = {
    "dag_run": {
        "dag_id": "sf1630_sender_ky",
        "logical_date": "2026-10-01T04:00:00Z",
        "run_after": "2026-11-01T05:00:00Z",
        "conf": {"kommune": ["101", "153"]},
    },
    "deadline": {"id": "d-1", "deadline_time": "2026-11-03T05:00:00Z"},
}


@pytest.fixture
def ledger(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Ledger:
    path = tmp_path / "ledger.sqlite"
    monkeypatch.setenv(
        "AIRFLOW_CONN_SF1630_SENDER_LEDGER", json.dumps({"conn_type": "sqlite", "host": str(path)})
    )
    return Ledger(Database.sqlite(path))


def _record_some(ledger: Ledger) -> None:
    kbh, bro1, _bro2 = plan_deliveries(
        load_registry().sender("KY"),
        load_registry().kommuner,
        Period(2026, 10),
        kommune_filter=["101", "153"],
    )
    ledger.record(kbh, ACCEPTED, "t1")
    ledger.record(bro1, REJECTED, "t2", [ReceiptError(401, "No route", "no route to BROENDBY_LIS01_SIMPEL")])


def test_callback_logs_and_mails_missing_deliveries(
    ledger: Ledger,
    smtp_server: tuple[int, Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    port, box = smtp_server
    # Airflow's logging set-up may stop propagation to the root logger, so listen on the module's own.
    logger = logging.getLogger("sf1630.airflow.sender")
    monkeypatch.setattr(logger, "disabled", False)
    monkeypatch.setattr(logger, "level", logging.INFO)
    errors: list[logging.LogRecord] = []
    listener = logging.Handler(logging.ERROR)
    listener.emit = errors.append  # type: ignore[method-assign]
    logger.addHandler(listener)
    monkeypatch.setenv(
        "AIRFLOW_CONN_SF1630_SMTP",
        json.dumps(
            {
                "conn_type": "smtp",
                "host": "127.0.0.1",
                "port": port,
                "extra": {"from_email": "airflow@example.dk"},
            }
        ),
    )
    _record_some(ledger)
    report = asyncio.run(on_missed_deadline(sender_code="KY", context=CONTEXT))
    assert "KY 2026-10: 1 of 3 delivered, 1 failed, 1 still waiting" in report
    assert "FAILED  KY → Brøndby LIS01 2026-10" in report and "code 401 (No route)" in report
    assert "WAITING KY → Brøndby LIS02 2026-10 (KY_LIS_15300000_M10_20261101000001.csv)" in report
    logger.removeHandler(listener)
    [missed] = errors
    assert "Deadline missed" in missed.getMessage()
    assert "WAITING KY → Brøndby LIS02 2026-10" in missed.getMessage()
    [(recipients, message)] = box.messages
    assert recipients == ["lis-drift@example.dk"]
    assert message["Subject"] == "SF1630 KY 2026-10: 2 deliveries missing"
    assert message["From"] == "airflow@example.dk"
    assert "WAITING KY → Brøndby LIS02 2026-10" in message.get_content()


def test_callback_without_smtp_only_logs(
    ledger: Ledger, smtp_server: tuple[int, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    _port, box = smtp_server
    monkeypatch.delenv("AIRFLOW_CONN_SF1630_SMTP", raising=False)
    report = asyncio.run(on_missed_deadline(sender_code="KY", context=CONTEXT))
    assert "0 of 3 delivered" in report
    assert box.messages == []


def test_callback_context_to_plan() -> None:
    """The callback plans the late run again from its JSON ``dag_run``: period and narrowing from conf."""
    registry = load_registry()
    ky = registry.sender("KY")
    planned = plan_for_run(ky, registry.kommuner, CONTEXT)
    assert [(d.kommune.kode, d.lis.name, str(d.period)) for d in planned] == [
        ("101", "LIS01", "2026-10"),
        ("153", "LIS01", "2026-10"),
        ("153", "LIS02", "2026-10"),
    ]
    no_logical = {"dag_run": {"logical_date": None, "run_after": "2026-11-01T05:00:00Z", "conf": {}}}
    assert {d.period for d in plan_for_run(ky, registry.kommuner, no_logical)} == {Period(2026, 10)}
    overridden = {"dag_run": {**CONTEXT["dag_run"], "conf": {"period": "2026-07"}}}  # type: ignore[dict-item]
    assert {d.period for d in plan_for_run(ky, registry.kommuner, overridden)} == {Period(2026, 7)}
