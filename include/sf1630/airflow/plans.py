"""The sender run's plan, shared by the sender DAG and the on-call notifier: which deliveries a run (or a
late or failed run, from a callback's context) is about, narrowed by its params, with ``force`` re-sends.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from airflow.sdk.exceptions import AirflowFailException

from sf1630.airflow import connections, runs
from sf1630.protocol import Period
from sf1630.registry import Kommune, SenderSystem, load_registry
from sf1630.sender.ledger import Ledger
from sf1630.sender.plan import Delivery, plan_deliveries


def sender(code: str) -> SenderSystem:
    return load_registry().sender(code)


def ledger(sender: SenderSystem) -> Ledger:
    return Ledger(connections.database(sender.ledger_conn_id))


def period(sender: SenderSystem, context: Mapping[str, Any]) -> Period:
    try:
        return runs.run_period(context, sender.timezone)
    except ValueError as exc:
        raise AirflowFailException(str(exc)) from None


def plan_for_run(
    sender: SenderSystem, kommuner: Sequence[Kommune], context: Mapping[str, Any]
) -> list[Delivery]:
    """The deliveries of the run in ``context`` (a task's or a callback's), narrowed by its params."""
    params = runs.run_params(context)
    try:
        kommune_filter = runs.as_list(params.get("kommune"))
        recipient_filter = runs.as_list(params.get("recipient"))
    except ValueError as exc:
        raise AirflowFailException(str(exc)) from None
    deliveries = plan_deliveries(
        sender,
        kommuner,
        period(sender, context),
        kommune_filter=kommune_filter,
        recipient_filter=recipient_filter,
    )
    if not _forced(params):
        return deliveries
    if not kommune_filter:
        raise AirflowFailException("force re-sends accepted deliveries: name the kommune (param kommune)")
    return _force(sender, deliveries, context)


def _forced(params: Mapping[str, Any]) -> bool:
    value = params.get("force", False)
    return value is True or str(value).strip().lower() in {"true", "1", "yes"}


def _force(sender: SenderSystem, deliveries: list[Delivery], context: Mapping[str, Any]) -> list[Delivery]:
    """Deliveries the ledger lists as accepted get a superseding name stamped with the run's own moment
    (``run_after``, which a retry or a cleared run keeps), so the re-send happens once per forcing run."""
    from sf1630.sender.plan import force_deliveries

    if not deliveries:
        return deliveries
    account = ledger(sender)
    current = account.current_accepted(sender.code, deliveries[0].period)
    try:
        moment = runs.run_moment(context).in_timezone(sender.timezone)
        return force_deliveries(deliveries, current, moment)
    except ValueError as exc:
        raise AirflowFailException(str(exc)) from None
