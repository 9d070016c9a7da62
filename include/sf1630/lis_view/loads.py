"""The Loads matrix: for each LIS system, kommune and sender, what each month holds.

One cell per (LIS system, sender, month). Its state comes from the warehouse ledger's CURRENT row of that
kommune, sender and month (the newest delivery not superseded by a later one), then from the sender
ledger (the platform accepted a file that the warehouse has not loaded yet: received), then from the
calendar (nothing and the receiver's deadline day has passed: late; else missing). A month is late only
once the LIS system has started: not before its ``start_date`` month, and not before the month of its
first delivery (its first warehouse ledger row, or a file the platform accepted for it), so a LIS system
that starts this month does not open on a year of late cells. Each cell links to the receiver's task
instance that handled the file, when Airflow still knows it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sf1630.lis_view.model import Filters, State, TaskIndex, TaskRef
from sf1630.protocol import Period
from sf1630.receiver.config import LOAD_TASK, Receiver
from sf1630.registry import delivery_label
from sf1630.sender.ledger import ReceiptEntry
from sf1630.warehouse.ledger import LoadRow


@dataclass(frozen=True)
class Cell:
    """One month of one sender's extract in one LIS system."""

    state: State
    period: Period
    rows: int = 0
    when: str = ""  # when it was loaded, as the warehouse prints it
    reason: str = ""
    file_name: str = ""
    file_transfer_uuid: str = ""
    earlier: int = 0  # deliveries of the month this one superseded
    task: TaskRef | None = None


@dataclass(frozen=True)
class MatrixRow:
    """One LIS system × sender: its cells, month by month."""

    receiver: Receiver
    sender: str
    cells: tuple[Cell, ...]


@dataclass(frozen=True)
class Matrix:
    """The Loads page's content."""

    filters: Filters
    months: tuple[Period, ...]
    rows: tuple[MatrixRow, ...]
    counts: dict[State, int] = field(default_factory=dict)


def chosen_receivers(receivers: Sequence[Receiver], filters: Filters) -> list[Receiver]:
    """The LIS systems the filters select (LIS SFTP user or name, kommune code, CVR or name)."""
    chosen = []
    for receiver in receivers:
        if filters.lis and filters.lis.casefold() not in {
            receiver.sftp_user.casefold(),
            receiver.lis.name.casefold(),
        }:
            continue
        if filters.kommune and not receiver.kommune.matches(filters.kommune):
            continue
        chosen.append(receiver)
    return chosen


def deadline(receiver: Receiver, period: Period) -> datetime:
    """The end of the receiver's deadline day in the month after ``period``, as an aware moment."""
    zone = ZoneInfo(receiver.settings.timezone)
    day = period.next().first_day.replace(day=receiver.settings.deadline_day)
    return (day + timedelta(days=1)).replace(tzinfo=zone)


def is_late(receiver: Receiver, period: Period, first: Period | None, now: datetime) -> bool:
    """Whether a month with nothing in it is late at ``now``: the LIS system had started by then (its
    ``start_date`` month, and ``first``: the period of its first delivery, None while it has had none) and
    the month's deadline day has passed.

    A month not yet over has its deadline in a month to come, so the deadline is only computed for the
    months before ``now``'s (which also keeps the calendar's last month, 9999-12, out of the arithmetic).
    """
    start = receiver.settings.start_date
    if period >= Period.of(now) or period < Period(start.year, start.month):
        return False
    if first is None or period < first:
        return False
    return now >= deadline(receiver, period)


def first_periods(load_rows: Sequence[LoadRow], sent_rows: Sequence[ReceiptEntry]) -> dict[str, Period]:
    """LIS SFTP user → the first period among these rows (warehouse rows, files the platform accepted)."""
    first: dict[str, Period] = {}
    seen = [(r.sftp_user, r.period) for r in load_rows]
    seen += [(r.recipient, r.period) for r in sent_rows if r.status == "accepted" and r.period is not None]
    for user, period in seen:
        if user not in first or period < first[user]:
            first[user] = period
    return first


def current_rows(rows: Sequence[LoadRow]) -> dict[tuple[str, str, str, Period], tuple[LoadRow, int]]:
    """(LIS user, sender, kommune CVR, period) → the current ledger row and how many it superseded.

    Current: not superseded, and among those the newest file (``datoTid`` ends the name, so the names of
    one extract sort by time); a loaded row wins over a later refused one, because a refused delivery loads
    nothing and the earlier rows are still what the warehouse holds.
    """
    grouped: dict[tuple[str, str, str, Period], list[LoadRow]] = {}
    for row in rows:
        grouped.setdefault((row.sftp_user, row.sender, row.cvr, row.period), []).append(row)
    current: dict[tuple[str, str, str, Period], tuple[LoadRow, int]] = {}
    for key, group in grouped.items():
        live = [r for r in group if not r.superseded_by] or group
        newest = max(live, key=lambda r: r.file_name)
        loaded = [r for r in live if r.outcome == "loaded"]
        if (
            newest.outcome != "loaded"
            and loaded
            and max(loaded, key=lambda r: r.file_name).file_name > newest.file_name
        ):
            newest = max(loaded, key=lambda r: r.file_name)
        current[key] = (newest, len(group) - 1)
    return current


def build_matrix(
    receivers: Sequence[Receiver],
    filters: Filters,
    load_rows: Sequence[LoadRow],
    sent_rows: Sequence[ReceiptEntry],
    tasks: TaskIndex,
    now: datetime,
    starts: Mapping[str, Period] | None = None,
) -> Matrix:
    """The matrix of the receivers the filters choose, for the filters' months.

    ``starts``: LIS SFTP user → the period of its first delivery over all time (see
    :func:`~sf1630.warehouse.ledger.read_first_periods`); the rows given are merged in, and without it they
    alone say when each LIS system started.
    """
    chosen = chosen_receivers(receivers, filters)
    months = filters.months
    current = current_rows(load_rows)
    first = first_periods(load_rows, sent_rows)
    for user, started in (starts or {}).items():
        first[user] = min(started, first.get(user, started))
    accepted = {(r.recipient, r.sender, r.period) for r in sent_rows if r.status == "accepted"}
    index = tasks.lookup(LOAD_TASK, sorted({r.dag_id for r in chosen}), filters.earliest_start())
    rows: list[MatrixRow] = []
    counts: dict[State, int] = dict.fromkeys(State, 0)
    for receiver in chosen:
        for sender in receiver.accepted:
            if filters.sender and sender.code != filters.sender:
                continue
            cells = []
            for period in months:
                cell = _cell(receiver, sender.code, period, current, accepted, index, now, first)
                counts[cell.state] += 1
                cells.append(cell)
            rows.append(MatrixRow(receiver, sender.code, tuple(cells)))
    return Matrix(filters, months, tuple(rows), counts)


def _cell(
    receiver: Receiver,
    sender: str,
    period: Period,
    current: dict[tuple[str, str, str, Period], tuple[LoadRow, int]],
    accepted: set[tuple[str, str, Period | None]],
    index: Mapping[tuple[str, str], TaskRef],
    now: datetime,
    first: Mapping[str, Period],
) -> Cell:
    label = delivery_label(sender, receiver.kommune, receiver.lis, str(period))
    task = index.get((receiver.dag_id, label))
    found = current.get((receiver.sftp_user, sender, receiver.kommune.cvr, period))
    if found is not None:
        row, earlier = found
        state = State.LOADED if row.outcome == "loaded" else State.QUARANTINED
        return Cell(
            state,
            period,
            rows=row.rows,
            when=row.finished_at,
            reason=row.detail.splitlines()[0] if row.detail and state is State.QUARANTINED else "",
            file_name=row.file_name,
            file_transfer_uuid=row.file_transfer_uuid,
            earlier=earlier,
            task=task,
        )
    if (receiver.sftp_user, sender, period) in accepted:
        return Cell(State.RECEIVED, period, task=task)
    late = is_late(receiver, period, first.get(receiver.sftp_user), now)
    state = State.LATE if late else State.MISSING
    return Cell(state, period, task=task)
