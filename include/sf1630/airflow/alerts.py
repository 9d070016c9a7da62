"""What on-call is told about a run, side by side: the kind of alert, where it goes, and the facts behind it.

An alert is :class:`About` a run of one side's DAG: a sender's (keyed by its code, ``KY``) or a LIS system's
receiver or completeness DAG (keyed by its SFTP user). Each side (:class:`SenderSide`, :class:`ReceiverSide`)
knows its channels and the database its messages read, and gathers its own facts from the run's context and
its ledgers; the texts are built by the plain modules (:mod:`sf1630.sender.summary`,
:mod:`sf1630.receiver.completeness`). Sending is :mod:`sf1630.airflow.notify`'s.

The facts are read with plain blocking calls, so the triggerer runs ``Side.alert`` in a thread.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol

from sf1630.airflow.plans import plan_for_run
from sf1630.airflow.runs import run_due, run_period, run_started
from sf1630.airflow.store import local_held, local_quarantine
from sf1630.alert import Alert, Kind, RunRef
from sf1630.database import Database
from sf1630.receiver import completeness
from sf1630.receiver.config import load_receiver
from sf1630.registry import load_registry
from sf1630.sender.ledger import Ledger
from sf1630.sender.summary import MonthSummary, deadline_alert, failed_run_alert, summarize


class About(StrEnum):
    """What an alert is about: the DAG kind and the event (the value is what a DAG's callback records)."""

    SENDER_FAILED = "sender-failed"
    SENDER_DEADLINE = "sender-deadline"
    RECEIVER_FAILED = "receiver-failed"
    RECEIVER_DEADLINE = "receiver-deadline"
    COMPLETENESS_DEADLINE = "completeness-deadline"

    @property
    def kind(self) -> Kind:
        """The kind a fallback message has when the facts cannot be read."""
        failed = {About.SENDER_FAILED, About.RECEIVER_FAILED}
        return Kind.FAILED if self in failed else Kind.DEADLINE_MISSED

    @property
    def sender_side(self) -> bool:
        """Whether a sender system's configuration (else a LIS system's) says where the alert goes and which
        ledger it reads."""
        return self in {About.SENDER_FAILED, About.SENDER_DEADLINE}


@dataclass(frozen=True)
class Channels:
    """Where one DAG's messages go: the on-call address and the two connections (either may not exist)."""

    to: str | None
    smtp_conn_id: str | None
    slack_conn_id: str | None


class Side(Protocol):
    """One sender or LIS system as on-call sees it."""

    #: The Airflow connection to the database the side's messages read (its ledger or warehouse).
    conn_id: str
    channels: Channels

    def alert(self, about: About, context: Mapping[str, Any], db: Database, run: RunRef) -> Alert:
        """The message ``about`` the run in ``context``, from the side's ledger in ``db``."""
        ...


class SenderSide:
    """A sender system: its month's account from the plan and the sender ledger."""

    def __init__(self, code: str) -> None:
        self.registry = load_registry()
        self.sender = self.registry.sender(code)
        self.conn_id = self.sender.ledger_conn_id
        self.channels = Channels(
            self.sender.on_call_email, self.sender.smtp_conn_id, self.sender.slack_conn_id
        )

    def _summary(self, context: Mapping[str, Any], db: Database) -> MonthSummary:
        deliveries = plan_for_run(self.sender, self.registry.kommuner, context)
        entries = Ledger(db).entries(self.sender.code, [d.file_name for d in deliveries])
        period = deliveries[0].period if deliveries else run_period(context, self.sender.timezone)
        return summarize(self.sender.code, period, deliveries, entries)

    def alert(self, about: About, context: Mapping[str, Any], db: Database, run: RunRef) -> Alert:
        """A failed sender run's message, or its missed (or resolved) deadline's."""
        summary = self._summary(context, db)
        if about is About.SENDER_FAILED:
            return failed_run_alert(summary, run, self.sender.contact_text)
        return deadline_alert(summary, run, self.sender.deadline, self.sender.contact_text)


class ReceiverSide:
    """A LIS system: refusals from the warehouse ledger and its quarantine, missing extracts per month."""

    def __init__(self, user: str) -> None:
        self.receiver = load_receiver(user)
        settings = self.receiver.settings
        self.conn_id = self.receiver.warehouse_conn_id
        self.channels = Channels(settings.on_call_email, settings.smtp_conn_id, settings.slack_conn_id)

    def alert(self, about: About, context: Mapping[str, Any], db: Database, run: RunRef) -> Alert:
        """A failed receiver run's message, a receiver run's or a month's missed (or resolved) deadline's."""
        receiver, timezone = self.receiver, self.receiver.settings.timezone
        if about is About.RECEIVER_FAILED:
            since = run_started(context)
            return completeness.refusals_alert(
                receiver, db, since, local_quarantine(receiver), local_held(receiver), run
            )
        if about is About.COMPLETENESS_DEADLINE:
            period = run_period(context, timezone)
            return completeness.completeness_alert(
                receiver, period, completeness.not_loaded(receiver, db, period), run
            )
        period = completeness.receiver_period(run_due(context), timezone)
        missing = completeness.not_loaded(receiver, db, period)
        return completeness.run_deadline_alert(receiver, period, missing, run, receiver.settings.run_deadline)


def side_of(about: About, key: str) -> Side:
    """The side an alert ``about`` is on: sender ``key``'s, or LIS system ``key``'s."""
    return SenderSide(key) if about.sender_side else ReceiverSide(key)
