"""The Deliveries table for the senders: each sender × kommune × LIS system × month and its receipt.

From the sender ledger (the platform's receipt: SUCCESS, or errors with codes and texts) and, for files
without a ledger row, from Airflow's deliver task instances (deferred or running: waiting for the
receipt). A file the ledger records as superseded by a forced re-send is shown under the newer one.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from sf1630.lis_view.model import Filters, Receipt, TaskIndex, TaskRef
from sf1630.protocol import Period, ReceiptError
from sf1630.registry import DELIVER_TASK, Kommune, LisSystem, Registry, delivery_label, sender_dag_id
from sf1630.sender.ledger import ACCEPTED, WITHDRAWN, ReceiptEntry

_WAITING_STATES = {"deferred", "running", "queued", "scheduled", "up_for_retry", "up_for_reschedule"}


@dataclass(frozen=True)
class DeliveryRow:
    """One delivery as its sender sees it."""

    sender: str
    kommune: Kommune
    lis: LisSystem
    period: Period
    receipt: Receipt
    file_name: str = ""
    recorded_at: str = ""
    errors: tuple[ReceiptError, ...] = ()
    superseded: tuple[str, ...] = ()
    task: TaskRef | None = None


def build_deliveries(
    registry: Registry, filters: Filters, sent_rows: Sequence[ReceiptEntry], tasks: TaskIndex
) -> list[DeliveryRow]:
    """Every delivery the filters choose, newest file per delivery, with what the receipt said."""
    senders = [s for s in registry.senders if not filters.sender or s.code == filters.sender]
    index = tasks.lookup(DELIVER_TASK, sorted(s.dag_id for s in senders), filters.earliest_start())
    by_delivery: dict[tuple[str, str, Period | None], list[ReceiptEntry]] = {}
    for row in sent_rows:
        by_delivery.setdefault((row.sender, row.recipient, row.period), []).append(row)
    out: list[DeliveryRow] = []
    for sender in senders:
        for kommune in registry.kommuner:
            if filters.kommune and not kommune.matches(filters.kommune):
                continue
            for lis in kommune.lis_systems:
                if filters.lis and filters.lis.casefold() not in {
                    lis.key.casefold(),
                    lis.name.casefold(),
                }:
                    continue
                for period in filters.months:
                    out.append(_row(sender.code, kommune, lis, period, by_delivery, index))
    return out


#: The sender ledger's statuses as the Deliveries view shows them (anything else is a rejection).
_RECEIPTS = {ACCEPTED: Receipt.ACCEPTED, WITHDRAWN: Receipt.WITHDRAWN}


def _row(
    sender: str,
    kommune: Kommune,
    lis: LisSystem,
    period: Period,
    by_delivery: dict[tuple[str, str, Period | None], list[ReceiptEntry]],
    index: Mapping[tuple[str, str], TaskRef],
) -> DeliveryRow:
    label = delivery_label(sender, kommune, lis, period)
    task = index.get((sender_dag_id(sender), label))
    rows = by_delivery.get((sender, lis.key, period), [])
    if not rows:
        waiting = task is not None and task.state in _WAITING_STATES
        return DeliveryRow(
            sender, kommune, lis, period, Receipt.WAITING if waiting else Receipt.NOT_SENT, task=task
        )
    superseded = {r.supersedes for r in rows if r.supersedes}
    newest = max(rows, key=lambda r: r.file_name)
    receipt = _RECEIPTS.get(newest.status, Receipt.REJECTED)
    return DeliveryRow(
        sender,
        kommune,
        lis,
        period,
        receipt,
        file_name=newest.file_name,
        recorded_at=newest.recorded_at,
        errors=newest.errors,
        superseded=tuple(sorted(superseded)),
        task=task,
    )
