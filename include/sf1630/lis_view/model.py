"""The words of the views: a cell's state, the task instance it links to, the filters of a page."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Protocol

from sf1630.protocol import Period


class State(StrEnum):
    """What a LIS system has of one sender's extract for one kommune and month."""

    LOADED = "loaded"  # the ledger's current file for the month is loaded
    QUARANTINED = "quarantined"  # the newest delivery was refused; nothing of it loaded
    RECEIVED = "received"  # the platform accepted the sender's file, the warehouse has no row of it yet
    LATE = "late"  # nothing loaded and the deadline day has passed
    MISSING = "missing"  # nothing yet, before the deadline


class Receipt(StrEnum):
    """Where one delivery stands on the sender's side."""

    ACCEPTED = "accepted"  # receipt SUCCESS
    REJECTED = "rejected"  # receipt with error codes
    WITHDRAWN = "withdrawn"  # no receipt in time: the sender took its files back out of OUT/
    WAITING = "waiting"  # sent, the receipt has not come (the deliver task instance is deferred or running)
    NOT_SENT = "not sent"


@dataclass(frozen=True)
class TaskRef:
    """One task instance in Airflow's metadata: enough to link to it."""

    dag_id: str
    run_id: str
    task_id: str
    map_index: int
    state: str
    start_date: datetime | None = None


class TaskIndex(Protocol):
    """Finds the newest task instance of mapped tasks by their rendered labels (Airflow's metadata)."""

    def lookup(
        self, task_id: str, dag_ids: Sequence[str], since: datetime | None = None
    ) -> Mapping[tuple[str, str], TaskRef]:
        """(dag id, rendered map index) → newest task instance of ``task_id`` in those DAGs, of those that
        started at or after ``since`` (None: all)."""
        ...


class NoTasks:
    """An index without task instances (tests of the ledgers alone, the benchmark's ledger-only part)."""

    def lookup(
        self, task_id: str, dag_ids: Sequence[str], since: datetime | None = None
    ) -> Mapping[tuple[str, str], TaskRef]:
        """Nothing is known."""
        return {}


@dataclass(frozen=True)
class Filters:
    """What a page shows: LIS systems (SFTP user), kommune (code, CVR or name), sender, months."""

    lis: str = ""
    kommune: str = ""
    sender: str = ""
    months: tuple[Period, ...] = field(default=())

    @classmethod
    def parse(
        cls,
        *,
        lis: str = "",
        kommune: str = "",
        sender: str = "",
        month: str = "",
        year: str = "",
        now: datetime,
    ) -> Filters:
        """Filters from query parameters; ValueError names a bad month or year.

        ``month`` (``YYYY-MM``) shows one month, ``year`` its twelve; neither shows the twelve months up to
        the month before ``now``.
        """
        if month.strip():
            months: tuple[Period, ...] = (Period.parse(month),)
        elif year.strip():
            if not year.strip().isdigit():
                raise ValueError(f"year {year!r} must be YYYY")
            months = tuple(Period(int(year), m) for m in range(1, 13))
        else:
            last = Period.of(now).previous()
            series = [last]
            for _ in range(11):
                series.append(series[-1].previous())
            months = tuple(reversed(series))
        return cls(lis.strip(), kommune.strip(), sender.strip().upper(), months)

    def earliest_start(self) -> datetime | None:
        """The earliest a task instance about one of these months can have started: a month's delivery is
        made (and loaded) in that month or later, so the day before its first day in UTC (midnight in any
        time zone included). None without months."""
        if not self.months:
            return None
        first = min(self.months, key=lambda p: (p.year, p.month))
        return first.first_day.replace(tzinfo=UTC) - timedelta(days=1)

    def query(self, **changes: str) -> dict[str, str]:
        """These filters as query parameters, with ``changes`` applied (for links between pages)."""
        values = {"lis": self.lis, "kommune": self.kommune, "sender": self.sender}
        if len(self.months) == 1:
            values["month"] = str(self.months[0])
        elif self.months and self.months[0].month == 1 and len(self.months) == 12:
            values["year"] = str(self.months[0].year)
        values.update(changes)
        return {k: v for k, v in values.items() if v}
