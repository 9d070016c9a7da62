"""The completeness Deadline Alert: when a LIS system's month is not complete in time, say what and whom.

Deadline Alerts (Airflow 3's successor of SLAs) run their callback in the triggerer with a small context
(the DAG run as JSON); the callback recomputes the missing extracts from the warehouse ledger rather than
trusting anything captured at parse time, and logs one readable block per LIS system with each missing
sender's contact. The text is built by :func:`missing_report`, a plain function the tests call directly.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from sf1630.receiver.completeness import describe_missing, missing_extracts, period_of
from sf1630.receiver.config import LisSystem, lis_system
from sf1630.warehouse import WarehouseTarget, loaded_extracts

log = logging.getLogger(__name__)


def missing_report(system: LisSystem, period: str, target: WarehouseTarget) -> str:
    """The alert text for ``system`` and ``period`` from the ledger in ``target``."""
    missing = missing_extracts(system, loaded_extracts(target, period))
    return f"SF1630 deadline missed. {describe_missing(system, period, missing)}"


def period_from_context(context: Mapping[str, Any] | None) -> str:
    """The run's period from the callback context: conf ``period``, else its data interval start's month."""
    run = dict((context or {}).get("dag_run") or {})
    conf = dict(run.get("conf") or {})
    if conf.get("period"):
        return str(conf["period"])
    start = run.get("data_interval_start") or run.get("logical_date")
    if not start:
        raise ValueError("the deadline callback's context has no data interval")
    return period_of(datetime.fromisoformat(str(start)))


async def alert_missing_extracts(*, lis_user: str, context: Mapping[str, Any] | None = None) -> str:
    """Deadline callback: log (at ERROR) what is missing for the run's month and whom to contact."""
    system = lis_system(lis_user)
    period = period_from_context(context)
    from airflow.sdk import BaseHook

    connection = await BaseHook.aget_connection(system.warehouse_conn_id)
    target = WarehouseTarget.from_airflow_connection(connection)
    text = await asyncio.to_thread(missing_report, system, period, target)
    log.error("%s", text)
    return text


def deadline_alert(system: LisSystem, interval: timedelta) -> Any:
    """A DeadlineAlert ``interval`` after the monthly run is queued, calling ``alert_missing_extracts``."""
    from airflow.sdk.definitions.callback import AsyncCallback
    from airflow.sdk.definitions.deadline import DeadlineAlert, DeadlineReference

    return DeadlineAlert(
        reference=DeadlineReference.DAGRUN_QUEUED_AT,
        interval=interval,
        callback=AsyncCallback(alert_missing_extracts, kwargs={"lis_user": system.sftp_user}),
    )
