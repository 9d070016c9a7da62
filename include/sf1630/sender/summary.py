"""The month's account of one sender: delivered, failed with the platform's reasons, still waiting.

Built from the plan and the ledger (not from task states), so it says the same thing after retries, after
a re-run and when read by the deadline callback days later: the ledger is where outcomes are recorded.
The same account, headed by the deadline, is what on-call reads when a month is late.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta

from sf1630.protocol import Period
from sf1630.sender.ledger import ACCEPTED, REJECTED, ReceiptEntry
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

    @property
    def complete(self) -> bool:
        """Every planned delivery was accepted."""
        return not self.failed and not self.waiting

    @property
    def missing(self) -> int:
        """How many planned deliveries the platform has not accepted (failed or still waiting)."""
        return len(self.failed) + len(self.waiting)

    def as_dict(self) -> dict[str, object]:
        """JSON-able form for XCom and mails."""
        return {
            "sender": self.sender,
            "period": str(self.period),
            "delivered": len(self.delivered),
            "failed": [{"delivery": label, "reason": reason} for label, reason in self.failed],
            "waiting": list(self.waiting),
            "housekeeping_removed": list(self.housekeeping),
        }

    def render(self) -> str:
        """A human report, one line per problem."""
        total = len(self.delivered) + self.missing
        lines = [
            f"{self.sender} {self.period}: {len(self.delivered)} of {total} delivered, "
            f"{len(self.failed)} failed, {len(self.waiting)} still waiting"
        ]
        lines += [f"  FAILED  {label}: {reason}" for label, reason in self.failed]
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
    delivered, failed, waiting = [], [], []
    for delivery in deliveries:
        entry = entries.get(delivery.file_name)
        label = f"{delivery.label} ({delivery.file_name})"
        if entry is not None and entry.status == ACCEPTED:
            delivered.append(label)
        elif entry is not None and entry.status == REJECTED:
            failed.append((label, describe_errors(entry.errors)))
        else:
            waiting.append(label)
    return MonthSummary(sender, period, tuple(delivered), tuple(failed), tuple(waiting), tuple(housekeeping))


def deadline_report(summary: MonthSummary, deadline: timedelta) -> str:
    """What on-call reads when a run is late: the deadline, then the month's account."""
    return f"Deadline missed ({deadline} after the run was queued).\n{summary.render()}"


def deadline_subject(summary: MonthSummary) -> str:
    """The mail subject: which sender and month, and how many deliveries are missing."""
    return f"SF1630 {summary.sender} {summary.period}: {summary.missing} deliveries missing"
