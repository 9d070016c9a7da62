"""Deadline Alerts (Airflow 3's successor of SLAs), built one way for every DAG that has one.

The callback runs in the triggerer with a small context (the DAG run as JSON) and must recompute what is
missing from the ledgers rather than trust anything captured at parse time. Tests switch deadlines off with
``SF1630_DEADLINES=false`` because ``dag.test()`` cannot run a DAG that sets ``deadline=``
(apache/airflow#73428).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import timedelta
from typing import Any

# airflow.sdk exports these (its __all__), but its type stub (__init__.pyi) of 3.3 does not list them yet.
from airflow.sdk import AsyncCallback, DeadlineAlert, DeadlineReference  # type: ignore[attr-defined]

from sf1630.settings import deadlines_enabled


def deadline_alert(
    interval: timedelta, callback: Callable[..., Any], kwargs: Mapping[str, Any]
) -> dict[str, DeadlineAlert]:
    """``{"deadline": alert}`` for ``DAG(**...)``, ``interval`` after the run was queued; ``{}`` when off."""
    if not deadlines_enabled():
        return {}
    alert = DeadlineAlert(
        reference=DeadlineReference.DAGRUN_QUEUED_AT,
        interval=interval,
        callback=AsyncCallback(callback, kwargs=dict(kwargs)),
    )
    return {"deadline": alert}
