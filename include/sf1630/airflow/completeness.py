"""The monthly completeness DAG of each LIS system, its sensor task and its Deadline Alert callback.

``sf1630_completeness_<user>`` runs at 06:00 on the 1st and waits (reschedule mode, no slot held) until the
warehouse ledger has a loaded extract from every accepted sender for the run's month; past ``deadline_day``
of the following month it fails, listing what is missing and whom to contact. The Deadline Alert fires at
the same time and sends the same list to on-call from the triggerer (:class:`~sf1630.airflow.notify.OnCall`:
mail, and Slack when configured), or a RESOLVED note when the month is complete by then. The run's month is
:func:`~sf1630.airflow.runs.run_period`'s, in the configured time zone, in the task and in the callback.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

from airflow.sdk import DAG, Param, PokeReturnValue, get_current_context, task
from airflow.sdk.exceptions import AirflowFailException

from sf1630.airflow.alerts import About
from sf1630.airflow.connections import database
from sf1630.airflow.deadline import deadline_alert
from sf1630.airflow.runs import dag_arguments, monthly_timetable, run_period
from sf1630.receiver.completeness import CHECK_HOUR, check_month, deadline_of
from sf1630.receiver.config import Receiver, load_receiver

log = logging.getLogger(__name__)


def deadline_interval(receiver: Receiver) -> timedelta:
    """From the start of the month after the period (when the monthly run is due) to the deadline day."""
    return timedelta(days=receiver.settings.deadline_day - 1)


@task.sensor(poke_interval=3600, timeout=40 * 24 * 3600, mode="reschedule")
def check_complete(sftp_user: str) -> PokeReturnValue:
    """Done when every expected extract is loaded; fails past the deadline day with the missing list."""
    receiver = load_receiver(sftp_user)
    period = run_period(get_current_context(), receiver.settings.timezone)
    verdict = check_month(receiver, period, database(receiver.warehouse_conn_id), now=datetime.now(UTC))
    if verdict.complete:
        log.info(verdict.text)
    elif verdict.overdue:
        deadline = deadline_of(receiver, period)
        raise AirflowFailException(f"deadline {deadline:%Y-%m-%d %H:%M %Z} passed. {verdict.text}")
    else:
        log.info("still waiting: %s", verdict.text)
    return PokeReturnValue(is_done=verdict.complete, xcom_value=verdict.text)


def _completeness_doc(receiver: Receiver) -> str:
    kommune = receiver.kommune.name
    return f"""\
### SF1630 completeness for {receiver.sftp_user} ({kommune})

Monthly: waits (reschedule mode) until the warehouse ledger has a loaded extract from every accepted sender
({", ".join(s.code for s in receiver.accepted)}) for kommune {kommune} and the run's month (the `period`
param, else the month of the logical date in {receiver.settings.timezone}). Past day
{receiver.settings.deadline_day} of the following month it fails, listing what is missing and whom to
contact; the Deadline Alert sends the same list to on-call at the same time when deadlines are enabled.
"""


def build_completeness_dag(receiver: Receiver) -> DAG:
    """The monthly completeness DAG of one LIS system (with its Deadline Alert when deadlines are on)."""
    alert = deadline_alert(deadline_interval(receiver), About.COMPLETENESS_DEADLINE, receiver.sftp_user)
    with DAG(
        dag_id=receiver.completeness_dag_id,
        schedule=monthly_timetable(f"0 {CHECK_HOUR} 1 * *", receiver.settings.timezone),
        max_active_runs=1,
        tags=["sf1630", "receiver", "completeness", receiver.sftp_user],
        doc_md=_completeness_doc(receiver),
        params={"period": Param("", type="string", description="YYYY-MM; empty: the logical date's month")},
        **alert,
        **dag_arguments(receiver.settings),
    ) as dag:
        check_complete(receiver.sftp_user)
    return dag
