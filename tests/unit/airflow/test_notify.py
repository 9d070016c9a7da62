"""The OnCall notifier through Airflow's own notifiers, against a real SMTP server and a real webhook.

The failure path is called as the DAG processor calls a DAG's ``on_failure_callback`` (``notifier(context)``);
the deadline path runs through Airflow's ``CallbackTrigger``, the code the triggerer runs for an
``AsyncCallback``. Only the processes are missing here; ``tests/integration/oncall`` has them.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sf1630.airflow.notify import OnCall
from sf1630.database import Database
from sf1630.protocol import Period, ReceiptError
from sf1630.registry import load_registry
from sf1630.sender.ledger import ACCEPTED, REJECTED, Ledger
from sf1630.sender.plan import plan_deliveries
from sf1630.warehouse import LoadEntry, Outcome, record_outcome

from tests.support.mail import MailBox, body_text, smtp_connection, smtp_sink
from tests.support.postgres import POSTGRES_DSN
from tests.support.webhook import WebhookBox, slack_connection, webhook_sink

BASE_URL = "http://airflow.example:8080"
RUN_ID = "manual__2026-11-01T05:00:00+00:00"
SENDER_RUN = {
    "dag_id": "sf1630_sender_ky",
    "run_id": RUN_ID,
    "state": "failed",
    "logical_date": "2026-10-01T04:00:00Z",
    "queued_at": "2026-11-01T05:00:00Z",
    "start_date": "2026-11-01T05:00:01Z",
    "conf": {"kommune": ["101", "153"]},
}


@pytest.fixture
def sinks(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[MailBox, WebhookBox]]:
    with smtp_sink() as (port, box), webhook_sink() as (hook_port, hook):
        monkeypatch.setenv("AIRFLOW_CONN_SF1630_SMTP", smtp_connection(port))
        monkeypatch.setenv("AIRFLOW_CONN_SF1630_SLACK", slack_connection(hook_port))
        monkeypatch.setenv("AIRFLOW__API__BASE_URL", BASE_URL)
        yield box, hook


@pytest.fixture
def ledger(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Ledger:
    path = tmp_path / "ledger.sqlite"
    monkeypatch.setenv(
        "AIRFLOW_CONN_SF1630_SENDER_LEDGER", json.dumps({"conn_type": "sqlite", "host": str(path)})
    )
    return Ledger(Database.sqlite(path))


@pytest.fixture
def errors(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[logging.LogRecord]]:
    """ERROR records of the notifier's logger (Airflow's logging set-up may stop propagation to root)."""
    logger = logging.getLogger("sf1630.airflow.notify")
    monkeypatch.setattr(logger, "disabled", False)
    monkeypatch.setattr(logger, "level", logging.INFO)
    found: list[logging.LogRecord] = []
    listener = logging.Handler(logging.ERROR)
    listener.emit = found.append  # type: ignore[method-assign]
    logger.addHandler(listener)
    yield found
    logger.removeHandler(listener)


def _reject_one(ledger: Ledger, *, accept_all: bool = False) -> None:
    registry = load_registry()
    kbh, bro1, bro2 = plan_deliveries(
        registry.sender("KY"), registry.kommuner, Period(2026, 10), kommune_filter=["101", "153"]
    )
    ledger.record(kbh, ACCEPTED, "t1")
    if accept_all:
        ledger.record(bro1, ACCEPTED, "t2")
        ledger.record(bro2, ACCEPTED, "t3")
        return
    ledger.record(
        bro1, REJECTED, "t2", [ReceiptError(401, "No route matches", "no route to BROENDBY_LIS01_SIMPEL")]
    )


def _through_triggerer(about: str, key: str, dag_run: dict[str, Any]) -> list[dict[str, Any]]:
    """Run the Deadline Alert callback as the triggerer does: Airflow's CallbackTrigger, its events."""
    from airflow.triggers.callback import CallbackTrigger

    # The scheduler sends the REST API's DAGRunResponse, which names the run id ``dag_run_id``.
    response = {("dag_run_id" if k == "run_id" else k): v for k, v in dag_run.items()}
    context = {"dag_run": response, "deadline": {"id": "d-1", "deadline_time": "2026-11-03T05:00:00Z"}}
    trigger = CallbackTrigger(
        "sf1630.airflow.notify.OnCall", {"about": about, "key": key, "context": context}
    )

    async def events() -> list[dict[str, Any]]:
        return [event.payload async for event in trigger.run()]

    return asyncio.run(events())


def test_failed_sender_run_sends_one_mail_and_one_slack_message(
    sinks: tuple[MailBox, WebhookBox], ledger: Ledger, errors: list[logging.LogRecord]
) -> None:
    box, hook = sinks
    _reject_one(ledger)
    OnCall(about="sender-failed", key="KY")({"dag_run": SENDER_RUN, "reason": "task_failure"})
    [(recipients, message)] = box.messages
    assert recipients == ["lis-drift@example.dk"]
    assert (
        message["Subject"] == "SF1630 FAILED: KY 2026-10: 2 of 3 deliveries not accepted (sf1630_sender_ky)"
    )
    assert message["From"] == "sf1630-airflow@example.dk" and message["X-SF1630-Kind"] == "FAILED"
    text = body_text(message)
    assert (
        "KY → Brøndby LIS01 2026-10 (KY_LIS_15300000_M10_20261101000000.csv): code 401 (No route matches)"
        in text
    )
    assert "KY → Brøndby LIS02 2026-10 (KY_LIS_15300000_M10_20261101000001.csv)" in text  # no receipt
    assert "Contact about KY's deliveries: KY drift <drift@ky.example>" in text
    assert "Airflow's reason: task_failure" in text
    assert (
        f"Open in Airflow: {BASE_URL}/dags/sf1630_sender_ky/runs/manual__2026-11-01T05%3A00%3A00%2B00%3A00"
        in text
    )
    [(path, post)] = hook.posts
    assert path == "/T0/B0/test" and post["text"].startswith(message["Subject"])
    assert [r.getMessage().splitlines()[0] for r in errors] == [message["Subject"]]


def test_missed_sender_deadline_through_the_callback_trigger(
    sinks: tuple[MailBox, WebhookBox], ledger: Ledger
) -> None:
    box, _hook = sinks
    _reject_one(ledger)
    events = _through_triggerer("sender-deadline", "KY", {**SENDER_RUN, "state": "running"})
    subject = "SF1630 DEADLINE MISSED: KY 2026-10: 2 deliveries missing 2d after queueing"
    assert [e["state"] for e in events] == ["running", "success"] and events[-1]["body"] == subject
    [(_to, message)] = box.messages
    assert message["Subject"] == subject
    assert "has not succeeded 2d after it was queued" in body_text(message)
    link = f"{BASE_URL}/dags/sf1630_sender_ky/runs/manual__2026-11-01T05%3A00%3A00%2B00%3A00"
    assert f"Open in Airflow: {link}" in body_text(message)


def test_deadline_of_a_month_re_sent_meanwhile_is_a_resolved_note(
    sinks: tuple[MailBox, WebhookBox], ledger: Ledger
) -> None:
    box, hook = sinks
    _reject_one(ledger, accept_all=True)
    events = _through_triggerer("sender-deadline", "KY", SENDER_RUN)
    assert events[-1] == {
        "state": "success",
        "body": "SF1630 RESOLVED: KY 2026-10: all 3 deliveries accepted",
    }
    [(_to, message)] = box.messages
    assert message["X-SF1630-Kind"] == "RESOLVED" and "Nothing is left to do" in body_text(message)
    assert len(hook.posts) == 1


@pytest.fixture
def warehouse(pg_schema: str, monkeypatch: pytest.MonkeyPatch) -> Database:
    db = Database.postgres(POSTGRES_DSN, schema=pg_schema)
    when = datetime(2026, 11, 3, 10, 5, tzinfo=UTC)
    for sender, outcome, detail in (
        ("KY", Outcome.LOADED, ""),
        ("KSD", Outcome.QUARANTINED, "invalid extract: 1 of 17 failed"),
    ):
        name = f"{sender}_LIS_65700000_M10_20261101060000.csv"
        record_outcome(
            db,
            LoadEntry(
                f"u-{sender}",
                name,
                sender,
                "65700000",
                Period(2026, 10),
                0,
                "0" * 64,
                outcome,
                when,
                when,
                detail,
            ),
        )
    connection = {
        "conn_type": "postgres",
        "host": "127.0.0.1",
        "port": 5432,
        "login": "postgres",
        "schema": "test",
        "extra": {"schema": pg_schema},
    }
    monkeypatch.setenv("AIRFLOW_CONN_SF1630_WAREHOUSE", json.dumps(connection))
    return db


RECEIVER_RUN = {
    "dag_id": "sf1630_receiver_herning_lis01_simpel",
    "run_id": "scheduled__2026-11-03T09:00:00+00:00",
    "state": "failed",
    "logical_date": "2026-11-03T09:00:00Z",
    "run_after": "2026-11-03T10:00:00Z",
    "queued_at": "2026-11-03T10:00:00Z",
    "start_date": "2026-11-03T10:00:01Z",
    "conf": {},
}


def test_failed_receiver_run_lists_the_refused_load(
    sinks: tuple[MailBox, WebhookBox], warehouse: Database, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    box, _hook = sinks
    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path / "home"))  # no quarantine there: the ledger speaks
    OnCall(about="receiver-failed", key="HERNING_LIS01_SIMPEL")(
        {"dag_run": RECEIVER_RUN, "reason": "task_failure"}
    )
    [(_to, message)] = box.messages
    assert message["Subject"] == (
        "SF1630 FAILED: HERNING_LIS01_SIMPEL (Herning LIS01): 1 delivery refused "
        "(sf1630_receiver_herning_lis01_simpel)"
    )
    text = body_text(message)
    assert "  - KSD → Herning LIS01 2026-10 (KSD_LIS_65700000_M10_20261101060000.csv):" in text
    assert "invalid extract: 1 of 17 failed" in text and "Contact: KSD drift <drift@ksd.example>" in text


def test_missed_completeness_and_receiver_run_deadlines(
    sinks: tuple[MailBox, WebhookBox], warehouse: Database
) -> None:
    box, _hook = sinks
    completeness = {
        **RECEIVER_RUN,
        "dag_id": "sf1630_completeness_herning_lis01_simpel",
        "state": "running",
        "logical_date": "2026-10-01T04:00:00Z",
    }
    _through_triggerer("completeness-deadline", "HERNING_LIS01_SIMPEL", completeness)
    _through_triggerer("receiver-deadline", "HERNING_LIS01_SIMPEL", {**RECEIVER_RUN, "state": "running"})
    first, second = (message for _to, message in box.messages)
    assert first["Subject"] == (
        "SF1630 DEADLINE MISSED: HERNING_LIS01_SIMPEL (Herning LIS01): 4 extract(s) for 2026-10 not loaded"
    )
    assert "KSD for Herning (CVR 65700000): contact KSD drift <drift@ksd.example>" in body_text(first)
    assert second["Subject"].endswith("receiver run not done 12h after queueing (running)")
    assert "Not loaded for 2026-10 (4 of 5):" in body_text(second)


def test_without_channels_the_message_is_only_logged(
    ledger: Ledger, errors: list[logging.LogRecord], monkeypatch: pytest.MonkeyPatch
) -> None:
    with smtp_sink() as (_port, box):
        monkeypatch.delenv("AIRFLOW_CONN_SF1630_SMTP", raising=False)
        monkeypatch.delenv("AIRFLOW_CONN_SF1630_SLACK", raising=False)
        OnCall(about="sender-failed", key="KY")({"dag_run": SENDER_RUN})
    assert box.messages == []
    [record] = errors
    assert record.getMessage().startswith("SF1630 FAILED: KY 2026-10: 3 of 3 deliveries not accepted")


def test_a_failing_channel_fails_the_callback_but_not_the_others(
    sinks: tuple[MailBox, WebhookBox], ledger: Ledger
) -> None:
    box, hook = sinks
    hook.fail = True
    with pytest.raises(RuntimeError, match=r"on-call notification failed: Slack \(sf1630_slack\)"):
        OnCall(about="sender-failed", key="KY")({"dag_run": SENDER_RUN})
    assert len(box.messages) == 1 and len(hook.posts) == 1


def test_an_unreadable_ledger_still_pages(
    sinks: tuple[MailBox, WebhookBox], monkeypatch: pytest.MonkeyPatch
) -> None:
    box, _hook = sinks
    monkeypatch.delenv("AIRFLOW_CONN_SF1630_SENDER_LEDGER", raising=False)
    events = _through_triggerer("sender-deadline", "KY", SENDER_RUN)
    assert events[-1]["state"] == "success"
    [(_to, message)] = box.messages
    assert message["Subject"] == "SF1630 DEADLINE MISSED: KY (sf1630_sender_ky), details unavailable"
    assert "connection sf1630_sender_ledger" in body_text(message)


def test_unknown_kind_is_refused_when_the_dag_is_built() -> None:
    with pytest.raises(ValueError, match="about='sender-late' is not one of"):
        OnCall(about="sender-late", key="KY")
