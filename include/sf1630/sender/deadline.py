"""What happens when a month's delivery is late: the Deadline Alert callback (Airflow 3's successor of SLAs).

Kommuner plan their LIS reporting on the month's data arriving in the first days of the next month. When a
sender's run has not finished by its configured deadline, on-call must learn which kommuner are still
missing their file, not just that "a DAG is late". The callback runs in the triggerer: it plans the run's
deliveries again, asks the ledger which are not accepted, logs them and mails the on-call address when an
SMTP connection is configured. Blocking work (database, SMTP) runs in a thread, off the triggerer's loop.
"""

from __future__ import annotations

import asyncio
import logging
import smtplib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from typing import Any

from sf1630.sender.config import SenderSystem, load_kommuner, load_sender
from sf1630.sender.plan import Delivery, Period, period_of_run, plan_deliveries
from sf1630.sender.summary import MonthSummary, summarize

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SmtpServer:
    """Where deadline mails go out."""

    host: str
    port: int
    login: str | None = None
    password: str | None = None
    sender: str = "sf1630-airflow@localhost"
    starttls: bool = False


def _parse_time(value: object) -> datetime | None:
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value
    return datetime.fromisoformat(str(value).replace("Z", "+00:00"))


def period_from_context(
    sender: SenderSystem, context: Mapping[str, Any] | None
) -> tuple[Period, Mapping[str, Any]]:
    """The period and params of the late run described by the callback's context."""
    import pendulum

    dag_run = (context or {}).get("dag_run") or {}
    conf = dag_run.get("conf") or {}
    logical = _parse_time(dag_run.get("logical_date"))
    run_after = _parse_time(dag_run.get("run_after") or dag_run.get("queued_at")) or pendulum.now("UTC")
    tz = sender.timezone
    local = pendulum.instance(logical).in_timezone(tz) if logical is not None else None
    period = period_of_run(
        local, pendulum.instance(run_after).in_timezone(tz), str(conf.get("period") or "") or None
    )
    return period, conf


def _as_list(value: object) -> list[str]:
    if isinstance(value, str):
        return [v for v in value.split(",") if v.strip()]
    return [str(v) for v in value] if isinstance(value, list) else []


def missing_deliveries(sender: SenderSystem, context: Mapping[str, Any] | None, ledger: Any) -> MonthSummary:
    """The late run's summary: which planned deliveries the ledger does not list as accepted."""
    period, conf = period_from_context(sender, context)
    deliveries: Sequence[Delivery] = plan_deliveries(
        sender,
        load_kommuner(),
        period,
        kommune_filter=_as_list(conf.get("kommune")),
        recipient_filter=_as_list(conf.get("recipient")),
    )
    entries = ledger.entries(sender.code, [d.file_name for d in deliveries])
    return summarize(sender.code, str(period), deliveries, entries)


def send_mail(server: SmtpServer, to: str, subject: str, body: str) -> None:
    """One plain-text mail (no secrets in it: only file names, kommuner and receipt codes)."""
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = server.sender, to, subject
    message.set_content(body)
    with smtplib.SMTP(server.host, server.port, timeout=30) as smtp:
        if server.starttls:
            smtp.starttls()
        if server.login:
            smtp.login(server.login, server.password or "")
        smtp.send_message(message)


def smtp_server(conn_id: str | None) -> SmtpServer | None:
    """The SMTP server of Airflow connection ``conn_id``, or None when there is no such connection."""
    if not conn_id:
        return None
    from airflow.sdk import Connection
    from airflow.sdk.exceptions import AirflowNotFoundException

    try:
        conn = Connection.get(conn_id)
    except AirflowNotFoundException:
        return None
    extra = conn.extra_dejson
    return SmtpServer(
        host=conn.host or "localhost",
        port=int(conn.port or 25),
        login=conn.login or None,
        password=conn.password or None,
        sender=str(extra.get("from_email") or SmtpServer.sender),
        starttls=str(extra.get("starttls", "false")).lower() == "true",
    )


def report_missed_deadline(sender_code: str, context: Mapping[str, Any] | None) -> str:
    """Log the late run's missing deliveries and mail on-call if possible; returns the report."""
    from sf1630.sender.dag import database
    from sf1630.sender.ledger import Ledger

    sender = load_sender(sender_code)
    summary = missing_deliveries(sender, context, Ledger(database(sender.ledger_conn_id)))
    report = f"Deadline missed ({sender.deadline} after the run was queued).\n{summary.render()}"
    log.error("%s", report)
    server = smtp_server(sender.smtp_conn_id)
    if server is not None and sender.on_call_email:
        missing = len(summary.waiting) + len(summary.failed)
        subject = f"SF1630 {sender.code} {summary.period}: {missing} deliveries missing"
        send_mail(server, sender.on_call_email, subject, report)
        log.info("deadline mail sent to %s", sender.on_call_email)
    return report


async def on_missed_deadline(sender: str, context: Mapping[str, Any] | None = None) -> str:
    """Deadline Alert callback (``AsyncCallback``): see :func:`report_missed_deadline`."""
    return await asyncio.to_thread(report_missed_deadline, sender, context)
