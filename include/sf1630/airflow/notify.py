"""On-call is paged by Airflow: one notifier for failed DAG runs and missed deadlines, sent by Airflow's own.

:class:`OnCall` is a :class:`~airflow.sdk.BaseNotifier`, so it is used the way Airflow documents notifiers:

- as a DAG's ``on_failure_callback`` (:func:`failure_callback`): Airflow calls it once per failed DAG run
  in the DAG processor (synchronously), never per task instance, so a platform outage that fails 122
  deliveries sends one message listing all of them;
- as a Deadline Alert's ``AsyncCallback(OnCall, kwargs=...)``
  (:func:`sf1630.airflow.deadline.deadline_alert`): the triggerer builds it with the run's small JSON
  context and awaits it (``async_notify``).

It decides the content from the ledgers (the plain builders in :mod:`sf1630.alert`,
:mod:`sf1630.sender.summary` and :mod:`sf1630.receiver.completeness`) and hands it to the providers'
notifiers: ``SmtpNotifier`` (apache-airflow-providers-smtp) to the configured on-call address over the
``smtp_conn_id`` connection, and ``SlackWebhookNotifier`` (apache-airflow-providers-slack) over
``slack_conn_id``, each only when its connection exists. The message is always logged as well (ERROR;
WARNING for a RESOLVED note), so a deployment without any channel still has it in the log.

The providers' notifiers are called through ``notify``/``async_notify`` with text already built: the
text holds file names and validation details that came from outside, and rendering it as a Jinja
template would let such a detail run as template code.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from airflow.sdk import BaseNotifier, Connection, conf
from airflow.sdk.exceptions import AirflowNotFoundException

from sf1630.alert import Alert, Kind, RunRef, fallback_alert, run_url
from sf1630.database import Database

log = logging.getLogger(__name__)

#: What a notifier is about: the DAG kind and the event.
SENDER_FAILED = "sender-failed"
SENDER_DEADLINE = "sender-deadline"
RECEIVER_FAILED = "receiver-failed"
RECEIVER_DEADLINE = "receiver-deadline"
COMPLETENESS_DEADLINE = "completeness-deadline"
ABOUT = (SENDER_FAILED, SENDER_DEADLINE, RECEIVER_FAILED, RECEIVER_DEADLINE, COMPLETENESS_DEADLINE)

DEFAULT_FROM = "sf1630-airflow@localhost"


@dataclass(frozen=True)
class Channels:
    """Where one DAG's messages go: the on-call address and the two connections (either may not exist)."""

    to: str | None
    smtp_conn_id: str | None
    slack_conn_id: str | None


def _field(run: object, name: str) -> Any:
    return run.get(name) if isinstance(run, Mapping) else getattr(run, name, None)


def _text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat(timespec="seconds")
    return str(getattr(value, "value", value))


def _moment(value: object) -> datetime | None:
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def run_ref(context: Mapping[str, Any]) -> RunRef:
    """The run a callback is about, from a failure callback's full context or a deadline's JSON one."""
    run = context.get("dag_run")
    dag = context.get("dag")
    dag_id = _text(_field(run, "dag_id") or getattr(dag, "dag_id", ""))
    # A deadline's context is the REST API's DAGRunResponse (``dag_run_id``); a failure callback's a DagRun.
    run_id = _text(_field(run, "run_id") or _field(run, "dag_run_id") or context.get("run_id"))
    base_url = conf.get("api", "base_url", fallback="http://localhost:8080")
    return RunRef(
        dag_id=dag_id,
        run_id=run_id,
        url=run_url(base_url, dag_id, run_id),
        state=_text(_field(run, "state")),
        queued_at=_text(_field(run, "queued_at")),
        reason=_text(context.get("reason")),
    )


def run_started(context: Mapping[str, Any]) -> datetime:
    """When the run began (its start, else when it was queued): refusals from then on are the run's."""
    run = context.get("dag_run")
    for name in ("start_date", "queued_at", "run_after"):
        moment = _moment(_field(run, name))
        if moment is not None:
            return moment
    return datetime.now(UTC)


def _airflow_home() -> Path:
    from airflow.configuration import AIRFLOW_HOME

    return Path(AIRFLOW_HOME)


# --- the facts behind each kind of message (plain calls; blocking, so the triggerer runs them in a thread)


def _sender_summary(code: str, context: Mapping[str, Any], ledger_db: Database) -> Any:
    from sf1630.airflow.plans import plan_for_run
    from sf1630.registry import load_registry
    from sf1630.sender.ledger import Ledger
    from sf1630.sender.summary import summarize

    registry = load_registry()
    sender = registry.sender(code)
    deliveries = plan_for_run(sender, registry.kommuner, context)
    entries = Ledger(ledger_db).entries(sender.code, [d.file_name for d in deliveries])
    period = deliveries[0].period if deliveries else None
    if period is None:
        from sf1630.airflow.runs import run_period

        period = run_period(context, sender.timezone)
    return summarize(sender.code, period, deliveries, entries)


def _sender_failed(code: str, context: Mapping[str, Any], db: Database, run: RunRef) -> Alert:
    from sf1630.registry import load_registry
    from sf1630.sender.summary import failed_run_alert

    contact = load_registry().sender(code).contact_text
    return failed_run_alert(_sender_summary(code, context, db), run, contact)


def _sender_deadline(code: str, context: Mapping[str, Any], db: Database, run: RunRef) -> Alert:
    from sf1630.registry import load_registry
    from sf1630.sender.summary import deadline_alert

    sender = load_registry().sender(code)
    return deadline_alert(_sender_summary(code, context, db), run, sender.deadline, sender.contact_text)


def _receiver_failed(user: str, context: Mapping[str, Any], db: Database, run: RunRef) -> Alert:
    from sf1630.airflow.store import local_held, local_quarantine
    from sf1630.receiver.completeness import (
        failed_run_alert,
        merge_refusals,
        quarantined_since,
        refusals_from_ledger,
    )
    from sf1630.receiver.config import load_receiver
    from sf1630.receiver.held import held_since
    from sf1630.warehouse import refused_since

    receiver = load_receiver(user)
    since = run_started(context)
    problems = []
    try:
        from_ledger = refusals_from_ledger(receiver, refused_since(db, since))
    except Exception as exc:  # the message must still go out, saying what it could not read
        from_ledger = []
        problems.append(f"the warehouse ledger could not be read ({type(exc).__name__}: {exc})")
    from_quarantine = quarantined_since(receiver, local_quarantine(receiver), since)
    held = held_since(local_held(receiver), since)
    return failed_run_alert(receiver, merge_refusals(from_ledger, from_quarantine), run, problems, held)


def _missing(user: str, period: Any, db: Database) -> Any:
    from sf1630.receiver.completeness import missing_extracts
    from sf1630.receiver.config import load_receiver
    from sf1630.warehouse import loaded_extracts

    receiver = load_receiver(user)
    return receiver, missing_extracts(receiver, loaded_extracts(db, str(period)))


def _completeness_deadline(user: str, context: Mapping[str, Any], db: Database, run: RunRef) -> Alert:
    from sf1630.airflow.runs import run_period
    from sf1630.receiver.completeness import completeness_alert
    from sf1630.receiver.config import load_receiver

    period = run_period(context, load_receiver(user).settings.timezone)
    receiver, missing = _missing(user, period, db)
    return completeness_alert(receiver, period, missing, run)


def _receiver_deadline(user: str, context: Mapping[str, Any], db: Database, run: RunRef) -> Alert:
    from sf1630.receiver.completeness import receiver_period, run_deadline_alert
    from sf1630.receiver.config import load_receiver

    settings = load_receiver(user).settings
    run_ = context.get("dag_run")
    after = _moment(_field(run_, "run_after")) or _moment(_field(run_, "queued_at")) or datetime.now(UTC)
    period = receiver_period(after, settings.timezone)
    receiver, missing = _missing(user, period, db)
    return run_deadline_alert(receiver, period, missing, run, settings.run_deadline)


_BUILDERS: dict[str, Callable[[str, Mapping[str, Any], Database, RunRef], Alert]] = {
    SENDER_FAILED: _sender_failed,
    SENDER_DEADLINE: _sender_deadline,
    RECEIVER_FAILED: _receiver_failed,
    RECEIVER_DEADLINE: _receiver_deadline,
    COMPLETENESS_DEADLINE: _completeness_deadline,
}


def _setup(about: str, key: str) -> tuple[str, Channels]:
    """(the database connection the message reads, where it goes) for ``about``/``key``."""
    if about.startswith("sender-"):
        from sf1630.registry import load_registry

        sender = load_registry().sender(key)
        channels = Channels(sender.on_call_email, sender.smtp_conn_id, sender.slack_conn_id)
        return sender.ledger_conn_id, channels
    from sf1630.receiver.config import load_receiver

    receiver = load_receiver(key)
    settings = receiver.settings
    channels = Channels(settings.on_call_email, settings.smtp_conn_id, settings.slack_conn_id)
    return receiver.warehouse_conn_id, channels


def _kind_of(about: str) -> Kind:
    return Kind.FAILED if about.endswith("-failed") else Kind.DEADLINE_MISSED


def _log(alert: Alert) -> None:
    log.log(logging.WARNING if alert.kind is Kind.RESOLVED else logging.ERROR, "%s", alert.text())


def _smtp(alert: Alert, conn_id: str, to: str, extra: Mapping[str, Any]) -> BaseNotifier:
    from airflow.providers.smtp.notifications.smtp import SmtpNotifier

    return SmtpNotifier(
        to=to,
        from_email=str(extra.get("from_email") or DEFAULT_FROM),
        subject=alert.subject,
        html_content=alert.html(),
        smtp_conn_id=conn_id,
        custom_headers={"X-SF1630-Kind": alert.kind.value},
    )


def _slack(alert: Alert, conn_id: str) -> BaseNotifier:
    from airflow.providers.slack.notifications.slack_webhook import SlackWebhookNotifier

    return SlackWebhookNotifier(slack_webhook_conn_id=conn_id, text=alert.text())


def _notifiers(alert: Alert, channels: Channels, found: Mapping[str, Any]) -> list[tuple[str, BaseNotifier]]:
    """The providers' notifiers for the channels whose connection exists (``found``: id → connection)."""
    notifiers: list[tuple[str, BaseNotifier]] = []
    smtp = channels.smtp_conn_id
    if smtp and smtp in found and channels.to:
        notifiers.append(
            (f"mail to {channels.to}", _smtp(alert, smtp, channels.to, found[smtp].extra_dejson))
        )
    if channels.slack_conn_id and channels.slack_conn_id in found:
        notifiers.append((f"Slack ({channels.slack_conn_id})", _slack(alert, channels.slack_conn_id)))
    if not notifiers:
        log.warning("no on-call channel configured (connections %s, %s)", smtp, channels.slack_conn_id)
    return notifiers


def _raise_if_failed(failures: Sequence[str]) -> None:
    if failures:
        raise RuntimeError("on-call notification failed: " + "; ".join(failures))


class OnCall(BaseNotifier):  # type: ignore[misc]
    """Page on-call about a failed run or a missed deadline of one sender or LIS system (see module doc).

    ``about`` is one of :data:`ABOUT`; ``key`` the sender code (``KY``) or the LIS system's SFTP user.
    """

    template_fields = ()

    def __init__(self, *, about: str, key: str, context: Any = None) -> None:
        if about not in ABOUT:
            raise ValueError(f"about={about!r} is not one of {', '.join(ABOUT)}")
        super().__init__(context=context)
        self.about = about
        self.key = key

    def build(self, context: Mapping[str, Any], db: Database | None, problem: str = "") -> Alert:
        """The message for ``context``; a plain fallback when its facts cannot be read."""
        run = run_ref(context)
        if db is not None:
            try:
                return _BUILDERS[self.about](self.key, context, db, run)
            except Exception as exc:  # a broken ledger must not swallow the page
                log.exception("building the %s message for %s failed", self.about, self.key)
                problem = f"{type(exc).__name__}: {exc}"
        return fallback_alert(_kind_of(self.about), self.key, run, problem)

    def notify(self, context: Any) -> None:
        """DAG-level failure callback (DAG processor, synchronous): build, log, send."""
        from sf1630.airflow.connections import database

        conn_id, channels = _setup(self.about, self.key)
        try:
            db: Database | None = database(conn_id)
            problem = ""
        except Exception as exc:
            db, problem = None, f"connection {conn_id}: {type(exc).__name__}: {exc}"
        alert = self.build(context, db, problem)
        _log(alert)
        found = {c: conn for c in (channels.smtp_conn_id, channels.slack_conn_id) if c and (conn := _get(c))}
        failures = []
        for name, notifier in _notifiers(alert, channels, found):
            try:
                notifier.notify(context)
                log.info("%s sent: %s", name, alert.subject)
            except Exception as exc:
                log.exception("%s failed", name)
                failures.append(f"{name}: {exc}")
        _raise_if_failed(failures)

    async def async_notify(self, context: Any) -> str:  # type: ignore[override]
        """Deadline Alert callback (triggerer, its event loop): build in a thread, log, send; the subject."""
        from sf1630.airflow.connections import adatabase

        conn_id, channels = _setup(self.about, self.key)
        try:
            db: Database | None = await adatabase(conn_id)
            problem = ""
        except Exception as exc:
            db, problem = None, f"connection {conn_id}: {type(exc).__name__}: {exc}"
        alert = await asyncio.to_thread(self.build, context or {}, db, problem)
        _log(alert)
        found = {}
        for conn_id_ in (channels.smtp_conn_id, channels.slack_conn_id):
            if conn_id_ and (conn := await _aget(conn_id_)) is not None:
                found[conn_id_] = conn
        failures = []
        for name, notifier in _notifiers(alert, channels, found):
            try:
                await notifier.async_notify(context)
                log.info("%s sent: %s", name, alert.subject)
            except Exception as exc:
                log.exception("%s failed", name)
                failures.append(f"{name}: {exc}")
        _raise_if_failed(failures)
        return alert.subject


def _get(conn_id: str | None) -> Any:
    if not conn_id:
        return None
    try:
        return Connection.get(conn_id)
    except AirflowNotFoundException:
        return None


async def _aget(conn_id: str) -> Any:
    try:
        return await Connection.async_get(conn_id)
    except AirflowNotFoundException:
        return None


def failure_callback(about: str, key: str) -> dict[str, Any]:
    """``{"on_failure_callback": OnCall(...)}`` for ``DAG(**...)``: one message per failed DAG run."""
    return {"on_failure_callback": OnCall(about=about, key=key)}
