"""On-call is paged by Airflow: one notifier for failed DAG runs and missed deadlines, sent by Airflow's own.

:class:`OnCall` is a :class:`~airflow.sdk.BaseNotifier`, so it is used the way Airflow documents notifiers:

- as a DAG's ``on_failure_callback`` (:func:`failure_callback`): Airflow calls it once per failed DAG run
  in the DAG processor (synchronously), never per task instance, so a platform outage that fails 122
  deliveries sends one message listing all of them;
- as a Deadline Alert's ``AsyncCallback(OnCall, kwargs=...)``
  (:func:`sf1630.airflow.deadline.deadline_alert`): the triggerer builds it with the run's small JSON
  context and awaits it (``async_notify``).

The content comes from the alert's side (:mod:`sf1630.airflow.alerts`: the sender's or the LIS system's
facts, read from its ledger); this module sends it through the providers' notifiers: ``SmtpNotifier``
(apache-airflow-providers-smtp) to the configured on-call address over the ``smtp_conn_id`` connection, and
``SlackWebhookNotifier`` (apache-airflow-providers-slack) over ``slack_conn_id``, each only when its
connection exists. The message is always logged as well (ERROR; WARNING for a RESOLVED note), so a
deployment without any channel still has it in the log.

The providers' notifiers are called through ``notify``/``async_notify`` with text already built: the
text holds file names and validation details that came from outside, and rendering it as a Jinja
template would let such a detail run as template code.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from airflow.sdk import BaseNotifier, Connection
from airflow.sdk.exceptions import AirflowNotFoundException

from sf1630.airflow.alerts import About, Channels, Side, side_of
from sf1630.airflow.runs import run_ref
from sf1630.alert import Alert, Kind, fallback_alert
from sf1630.database import Database

log = logging.getLogger(__name__)

DEFAULT_FROM = "sf1630-airflow@localhost"


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


class OnCall(BaseNotifier):  # type: ignore[misc]
    """Page on-call about a failed run or a missed deadline of one sender or LIS system (see module doc).

    ``about`` is an :class:`~sf1630.airflow.alerts.About` (or its value, as a Deadline Alert's JSON kwargs
    carry it); ``key`` the sender code (``KY``) or the LIS system's SFTP user.
    """

    template_fields = ()

    def __init__(self, *, about: About | str, key: str, context: Any = None) -> None:
        if about not in set(About):
            raise ValueError(f"about={about!r} is not one of {', '.join(About)}")
        super().__init__(context=context)
        self.about = About(about)
        self.key = key

    def build(
        self, context: Mapping[str, Any], db: Database | None, problem: str = "", side: Side | None = None
    ) -> Alert:
        """The message for ``context`` from ``side`` (looked up when not given); a plain fallback when its
        facts cannot be read."""
        run = run_ref(context)
        if db is not None:
            try:
                side = side or side_of(self.about, self.key)
                return side.alert(self.about, context, db, run)
            except Exception as exc:  # a broken ledger must not swallow the page
                log.exception("building the %s message for %s failed", self.about, self.key)
                problem = f"{type(exc).__name__}: {exc}"
        return fallback_alert(self.about.kind, self.key, run, problem)

    def notify(self, context: Any) -> None:
        """DAG-level failure callback (DAG processor, synchronous): build, log, send."""
        from sf1630.airflow.connections import database

        side = side_of(self.about, self.key)
        db, problem = _open(side.conn_id, database)
        alert = self.build(context, db, problem, side)
        _log(alert)
        found = {c: conn for c in _conn_ids(side.channels) if (conn := _get(c)) is not None}
        sending = _Sending(alert)
        for name, notifier in _notifiers(alert, side.channels, found):
            with sending.to(name):
                notifier.notify(context)
        sending.done()

    async def async_notify(self, context: Any) -> str:  # type: ignore[override]
        """Deadline Alert callback (triggerer, its event loop): build in a thread, log, send; the subject."""
        from sf1630.airflow.connections import adatabase

        side = await asyncio.to_thread(side_of, self.about, self.key)
        try:
            db, problem = await adatabase(side.conn_id), ""
        except Exception as exc:
            db, problem = None, _unreadable(side.conn_id, exc)
        alert = await asyncio.to_thread(self.build, context or {}, db, problem, side)
        _log(alert)
        found = {c: conn for c in _conn_ids(side.channels) if (conn := await _aget(c)) is not None}
        sending = _Sending(alert)
        for name, notifier in _notifiers(alert, side.channels, found):
            with sending.to(name):
                await notifier.async_notify(context)
        sending.done()
        return alert.subject


def _unreadable(conn_id: str, exc: Exception) -> str:
    return f"connection {conn_id}: {type(exc).__name__}: {exc}"


def _open(conn_id: str, connect: Callable[[str], Database]) -> tuple[Database | None, str]:
    """The database behind ``conn_id``, or None and why not: the page goes out either way."""
    try:
        return connect(conn_id), ""
    except Exception as exc:
        return None, _unreadable(conn_id, exc)


def _conn_ids(channels: Channels) -> list[str]:
    return [c for c in (channels.smtp_conn_id, channels.slack_conn_id) if c]


class _Sending:
    """One alert's sends: each channel's outcome logged; a channel's failure does not stop the next."""

    def __init__(self, alert: Alert) -> None:
        self.alert = alert
        self.failures: list[str] = []

    @contextmanager
    def to(self, name: str) -> Iterator[None]:
        """Around one channel's send: log it sent, or log and remember its failure."""
        try:
            yield
            log.info("%s sent: %s", name, self.alert.subject)
        except Exception as exc:
            log.exception("%s failed", name)
            self.failures.append(f"{name}: {exc}")

    def done(self) -> None:
        """Raise when a channel failed, so Airflow records the callback as failed."""
        if self.failures:
            raise RuntimeError("on-call notification failed: " + "; ".join(self.failures))


def _get(conn_id: str) -> Any:
    try:
        return Connection.get(conn_id)
    except AirflowNotFoundException:
        return None


async def _aget(conn_id: str) -> Any:
    try:
        return await Connection.async_get(conn_id)
    except AirflowNotFoundException:
        return None


def failure_callback(about: About, key: str) -> dict[str, Any]:
    """``{"on_failure_callback": OnCall(...)}`` for ``DAG(**...)``: one message per failed DAG run."""
    return {"on_failure_callback": OnCall(about=about, key=key)}
