"""The month's account of one sender: delivered, failed with the platform's reasons, still waiting.

Built from the plan and the ledger (not from task states), so it says the same thing after retries, after
a re-run and when read by the deadline callback days later: the ledger is where outcomes are recorded.
The same account is what on-call reads when a run fails or a month is late (:func:`failed_run_alert`,
:func:`deadline_alert`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta

from sf1630.alert import Alert, Kind, RunRef, assemble, count
from sf1630.config import format_duration
from sf1630.protocol import TRIGGER_SUFFIX, Period
from sf1630.sender.ledger import ACCEPTED, REJECTED, WITHDRAWN, ReceiptEntry
from sf1630.sender.plan import Delivery
from sf1630.sender.receipt import describe_errors


@dataclass(frozen=True)
class MonthSummary:
    """Outcome of every planned delivery of one sender for one month."""

    sender: str
    period: Period
    delivered: tuple[str, ...]
    failed: tuple[tuple[str, str], ...]
    waiting: tuple[str, ...]
    housekeeping: tuple[str, ...] = field(default=())
    #: (kommunekode, LIS system name) of every delivery not accepted, for the re-send command.
    missing_keys: tuple[tuple[str, str], ...] = field(default=())
    #: (label, what was removed from OUT/) of every delivery taken back after its receipt wait timed out.
    withdrawn: tuple[tuple[str, str], ...] = field(default=())

    @property
    def complete(self) -> bool:
        """Every planned delivery was accepted."""
        return not self.failed and not self.waiting and not self.withdrawn

    @property
    def missing(self) -> int:
        """How many planned deliveries the platform has not accepted (failed, withdrawn or still waiting)."""
        return len(self.failed) + len(self.waiting) + len(self.withdrawn)

    def as_dict(self) -> dict[str, object]:
        """JSON-able form for XCom and mails."""
        return {
            "sender": self.sender,
            "period": str(self.period),
            "delivered": len(self.delivered),
            "failed": [{"delivery": label, "reason": reason} for label, reason in self.failed],
            "waiting": list(self.waiting),
            "withdrawn": [{"delivery": label, "removed": removed} for label, removed in self.withdrawn],
            "housekeeping_removed": list(self.housekeeping),
        }

    def render(self) -> str:
        """A human report, one line per problem."""
        total = len(self.delivered) + self.missing
        lines = [
            f"{self.sender} {self.period}: {len(self.delivered)} of {total} delivered, "
            f"{len(self.failed)} failed, {len(self.waiting)} still waiting"
            + (f", {len(self.withdrawn)} withdrawn without a receipt" if self.withdrawn else "")
        ]
        lines += [f"  FAILED  {label}: {reason}" for label, reason in self.failed]
        lines += [f"  WITHDRAWN {label}: no receipt; removed {removed}" for label, removed in self.withdrawn]
        lines += [f"  WAITING {label}" for label in self.waiting]
        lines += [f"  REMOVED from OUT/ (no trigger): {name}" for name in self.housekeeping]
        return "\n".join(lines)


def summarize(
    sender: str,
    period: Period,
    deliveries: Sequence[Delivery],
    entries: Mapping[str, ReceiptEntry],
    housekeeping: Sequence[str] = (),
) -> MonthSummary:
    """Sort the planned deliveries by what the ledger says about them."""
    delivered, failed, waiting, keys, withdrawn = [], [], [], [], []
    for delivery in deliveries:
        entry = entries.get(delivery.file_name)
        label = f"{delivery.label} ({delivery.file_name})"
        if entry is not None and entry.status == ACCEPTED:
            delivered.append(label)
            continue
        if entry is not None and entry.status == REJECTED:
            failed.append((label, describe_errors(entry.errors)))
        elif entry is not None and entry.status == WITHDRAWN:
            name = f"OUT/{delivery.file_name}"
            withdrawn.append((label, f"{name}, {name}{TRIGGER_SUFFIX}"))
        else:
            waiting.append(label)
        keys.append((delivery.kommune.kode, delivery.lis.name))
    return MonthSummary(
        sender,
        period,
        tuple(delivered),
        tuple(failed),
        tuple(waiting),
        tuple(housekeeping),
        tuple(keys),
        tuple(withdrawn),
    )


def resend_command(summary: MonthSummary, dag_id: str) -> str:
    """The ``airflow dags trigger`` line that re-sends exactly the deliveries not accepted."""
    kommuner = sorted({kode for kode, _ in summary.missing_keys})
    recipients = sorted({lis for _, lis in summary.missing_keys})
    conf = {"kommune": kommuner, "recipient": recipients, "period": str(summary.period)}
    return f"airflow dags trigger {dag_id} --conf '{json.dumps(conf)}'"


def _account_lines(summary: MonthSummary) -> list[str]:
    total = len(summary.delivered) + summary.missing
    lines = [
        f"{summary.sender} {summary.period}: {len(summary.delivered)} of {total} delivered, "
        f"{len(summary.failed)} failed, {len(summary.waiting)} without a receipt"
    ]
    if summary.failed:
        lines += ["", "Rejected by the platform (sender → kommune LIS system period (file): error codes):"]
        lines += [f"  - {label}: {reason}" for label, reason in summary.failed]
    if summary.withdrawn:
        lines += ["", "No receipt within the timeout; the sender removed them from OUT/ (re-send them):"]
        lines += [f"  - {label}: removed {removed}" for label, removed in summary.withdrawn]
    if summary.waiting:
        lines += ["", "No receipt recorded (not sent, not answered, or the platform was unreachable):"]
        lines += [f"  - {label}" for label in summary.waiting]
    return lines


def failed_run_alert(summary: MonthSummary, run: RunRef, contact: str) -> Alert:
    """The one message for a failed sender run: every delivery not accepted, why, whom to call, what to do."""
    total = count(len(summary.delivered) + summary.missing, "delivery", "deliveries")
    what = f"{summary.sender} {summary.period}: {summary.missing} of {total} not accepted ({run.dag_id})"
    if summary.complete:
        what = f"{summary.sender} {summary.period}: run {run.dag_id} failed, every delivery is accepted"
    lines = [f"The sender run {run.run_id} of {run.dag_id} failed.", "", *_account_lines(summary)]
    lines += ["", f"Contact about {summary.sender}'s deliveries: {contact}"]
    if summary.missing:
        lines += [
            "Re-send what is missing once the cause is fixed:",
            f"  {resend_command(summary, run.dag_id)}",
        ]
    return assemble(Kind.FAILED, what, lines, run)


def deadline_alert(summary: MonthSummary, run: RunRef, deadline: timedelta, contact: str) -> Alert:
    """The message for a sender run's missed deadline, or a RESOLVED note when the month is complete.

    A deadline fires for every run that has not *succeeded* by then (Airflow 3.3 prunes it only on success,
    apache/airflow#60927), so a failed run whose deliveries a later run re-sent still fires two days later.
    The ledger decides: when every planned delivery is accepted, on-call is told that nothing is left to do.
    """
    late = format_duration(deadline)
    if summary.complete:
        what = f"{summary.sender} {summary.period}: all {len(summary.delivered)} deliveries accepted"
        lines = [
            f"The deadline of run {run.run_id} ({late} after it was queued) has passed, but the ledger",
            f"lists every planned delivery of {summary.sender} for {summary.period} as accepted (re-sent by",
            "a later run). Nothing is left to do; Airflow still shows the missed deadline on the old run",
            "because it prunes a deadline only when that run succeeds (apache/airflow#60927).",
        ]
        return assemble(Kind.RESOLVED, what, lines, run)
    missing = count(summary.missing, "delivery", "deliveries")
    what = f"{summary.sender} {summary.period}: {missing} missing {late} after queueing"
    lines = [f"Run {run.run_id} of {run.dag_id} has not succeeded {late} after it was queued.", ""]
    lines += [*_account_lines(summary), "", f"Contact about {summary.sender}'s deliveries: {contact}"]
    lines += ["Re-send what is missing once the cause is fixed:", f"  {resend_command(summary, run.dag_id)}"]
    return assemble(Kind.DEADLINE_MISSED, what, lines, run)
