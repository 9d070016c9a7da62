"""Deadline Alerts (Airflow 3's successor of SLAs), built one way for every DAG that has one.

The callback is :class:`~sf1630.airflow.notify.OnCall`, a notifier the triggerer builds from the alert's
kwargs and the run's small JSON context and awaits: it recomputes what is missing from the ledgers (nothing
captured at parse time is trusted) and sends through Airflow's SMTP and Slack notifiers. Tests switch
deadlines off with ``SF1630_DEADLINES=false`` where they use ``dag.test()``, which cannot run a DAG that
sets ``deadline=`` (apache/airflow#73428); the scheduler-driven tests keep them on.
"""

from __future__ import annotations

from datetime import timedelta

# airflow.sdk exports these (its __all__), but its type stub (__init__.pyi) of 3.3 does not list them yet.
from airflow.sdk import AsyncCallback, DeadlineAlert, DeadlineReference  # type: ignore[attr-defined]

from sf1630.airflow.alerts import About
from sf1630.airflow.notify import OnCall
from sf1630.settings import deadlines_enabled


def deadline_alert(interval: timedelta, about: About, key: str) -> dict[str, DeadlineAlert]:
    """``{"deadline": alert}`` for ``DAG(**...)``, ``interval`` after the run was queued; ``{}`` when off.

    ``about`` and ``key`` say what :class:`~sf1630.airflow.notify.OnCall` reports (e.g.
    ``About.SENDER_DEADLINE``, ``"KY"``); the callback's kwargs carry ``about``'s value (JSON).
    """
    if not deadlines_enabled():
        return {}
    alert = DeadlineAlert(
        reference=DeadlineReference.DAGRUN_QUEUED_AT,
        interval=interval,
        callback=AsyncCallback(OnCall, kwargs={"about": about.value, "key": key}),
    )
    return {"deadline": alert}
