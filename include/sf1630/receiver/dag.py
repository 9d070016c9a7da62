"""The Airflow face of the receiver: two small DAGs per LIS system, built from the static configuration.

``sf1630_receiver_<user>`` takes whatever the platform has delivered into IN/ (deferrable wait, one mapped
task instance per delivery, housekeeping). ``sf1630_completeness_<user>`` is the monthly check that every
expected extract of the month has been loaded by the deadline day; it carries the Deadline Alert. They are
separate because a run that waits for the month to be complete must not block the runs that load it
(``max_active_runs=1`` on the receiver). Everything heavy is imported inside the tasks, so parsing 244 DAGs
costs only the YAML read done once per process.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pendulum
from airflow.providers.standard.operators.empty import EmptyOperator
from airflow.sdk import DAG, Asset, AssetAlias, Param, get_current_context, task

from sf1630.receiver.config import LisSystem, lis_system, lis_systems
from sf1630.receiver.sensor import MetadataSensor
from sf1630.settings import deadlines_enabled

START_DATE = pendulum.datetime(2026, 1, 1, tz="Europe/Copenhagen")
LOADS_ALIAS = "sf1630_lis_loads"


def spec_asset(spec: str) -> Asset:
    """The Asset a load of data spec ``spec`` updates; downstream DAGs schedule on it."""
    return Asset(name=f"sf1630_lis_{spec}", uri=f"sf1630://lis-warehouse/{spec}")


def _default_args(system: LisSystem) -> dict[str, Any]:
    return {
        "owner": system.owner,
        "retries": system.retries,
        "retry_delay": system.retry_delay,
        "retry_exponential_backoff": 2.0,
        "max_retry_delay": system.max_retry_delay,
    }


def _timetable(cron: str, timezone: str) -> Any:
    from airflow.timetables.interval import CronDataIntervalTimetable

    return CronDataIntervalTimetable(cron, timezone=timezone)


def _receiver_doc(system: LisSystem) -> str:
    senders = ", ".join(f"{s.code} ({s.spec})" for s in system.senders)
    return f"""\
### SF1630 receiver for {system.sftp_user} ({system.kommune}, {system.name})

Waits (deferred) for `*.metadata` in `{system.inbox}/` over connection `{system.sftp_conn_id}`, then for
each delivery: reads the metadata (hardened reader), downloads the data file and checks its size, validates
it with the sender's data spec, and loads it into `{system.warehouse_conn_id}` together with a ledger row
keyed by FileTransferUUID; only after the commit are both files deleted from the server. Invalid deliveries
go to the quarantine with their validation reports and fail the task instance, naming the sender's contact.
Housekeeping quarantines data files left without metadata for more than {system.grace}.

Accepted: {senders}. See docs/receiver.md.
"""


def build_receiver_dag(system: LisSystem) -> DAG:
    """The receiver DAG of one LIS system."""
    with DAG(
        dag_id=system.dag_id,
        schedule=_timetable(system.schedule, system.timezone),
        start_date=START_DATE,
        catchup=False,
        max_active_runs=1,
        default_args=_default_args(system),
        tags=["sf1630", "receiver", "lis", system.sftp_user],
        doc_md=_receiver_doc(system),
    ) as dag:
        wait = MetadataSensor(
            task_id="wait_for_metadata",
            sftp_conn_id=system.sftp_conn_id,
            path=system.inbox,
            wait=system.wait_timeout,
            poke_interval=system.poke_interval.total_seconds(),
        )
        deliveries = list_deliveries(system.sftp_user)
        loads = load_one.partial(lis_user=system.sftp_user).expand(delivery=deliveries)
        cleanup = housekeeping(system.sftp_user)
        # A leaf that needs every load: housekeeping runs whatever happened (trigger rule all_done), so
        # without it a failed load would leave the run green in the UI.
        all_loaded = EmptyOperator(task_id="all_loaded")
        wait >> deliveries
        loads >> [cleanup, all_loaded]
    return dag


@task
def list_deliveries(lis_user: str) -> list[dict[str, Any]]:
    """List IN/ again (the deferred sensor does not say what it saw) and return the complete deliveries."""
    from sf1630.receiver.runtime import list_inbox

    listing = list_inbox(lis_system(lis_user))
    return [
        {
            "data_name": d.data_name,
            "metadata_name": d.metadata_name,
            "data_size": d.data_size,
            "label": d.label,
        }
        for d in listing.deliveries
    ]


@task(map_index_template="{{ delivery_label }}", outlets=[AssetAlias(LOADS_ALIAS)])
def load_one(lis_user: str, delivery: dict[str, Any]) -> dict[str, Any]:
    """Process one delivery; a refused one fails without retries, with the summary naming the contact."""
    from dataclasses import asdict

    from airflow.sdk.exceptions import AirflowFailException

    from sf1630.receiver.delivery import DeliveryRejected, Status, process_delivery
    from sf1630.receiver.inbox import Delivery
    from sf1630.receiver.runtime import receiver_for

    system = lis_system(lis_user)
    context = get_current_context()
    context["delivery_label"] = delivery["label"]  # type: ignore[typeddict-unknown-key]
    item = Delivery(delivery["data_name"], delivery["metadata_name"], int(delivery["data_size"]))
    try:
        result = process_delivery(receiver_for(system), item)
    except DeliveryRejected as rejected:
        raise AirflowFailException(rejected.result.summary) from None
    if result.status is Status.LOADED:
        context["outlet_events"][AssetAlias(LOADS_ALIAS)].add(
            spec_asset(result.spec),
            extra={
                "lis": system.sftp_user,
                "kommune": result.kommune,
                "period": result.period,
                "rows": result.rows,
            },
        )
    return asdict(result)


@task(trigger_rule="all_done")
def housekeeping(lis_user: str) -> dict[str, list[str]]:
    """Quarantine data files without metadata beyond the grace period; report metadata without data."""
    from sf1630.receiver.runtime import clean_inbox

    return clean_inbox(lis_system(lis_user), now=datetime.now(UTC))


def _completeness_doc(system: LisSystem) -> str:
    return f"""\
### SF1630 completeness for {system.sftp_user} ({system.kommune})

Monthly: waits (reschedule mode) until the warehouse ledger has a loaded extract from every accepted sender
({", ".join(s.code for s in system.senders)}) for kommune {system.kommune} and the month of the run's data
interval start. Past day {system.deadline_day} of the following month it fails, listing what is missing and
whom to contact; the Deadline Alert fires at the same time when deadlines are enabled.
"""


def deadline_interval(system: LisSystem) -> timedelta:
    """From the start of the month after the period (when the monthly run is due) to the deadline day."""
    return timedelta(days=system.deadline_day - 1)


def build_completeness_dag(system: LisSystem, *, with_deadline: bool) -> DAG:
    """The monthly completeness DAG of one LIS system (its Deadline Alert only when ``with_deadline``)."""
    extra: dict[str, Any] = {}
    if with_deadline:
        from sf1630.receiver.deadline import deadline_alert

        extra["deadline"] = deadline_alert(system, deadline_interval(system))
    with DAG(
        dag_id=f"sf1630_completeness_{system.sftp_user.lower()}",
        schedule=_timetable("0 6 1 * *", system.timezone),
        start_date=START_DATE,
        catchup=False,
        max_active_runs=1,
        default_args=_default_args(system),
        tags=["sf1630", "receiver", "completeness", system.sftp_user],
        doc_md=_completeness_doc(system),
        params={"period": Param("", type="string", description="YYYY-MM; empty: the data interval's month")},
        **extra,
    ) as dag:
        check_complete(system.sftp_user)
    return dag


@task.sensor(poke_interval=3600, timeout=40 * 24 * 3600, mode="reschedule")
def check_complete(lis_user: str) -> Any:
    """Done when every expected extract is loaded; fails past the deadline day with the missing list."""
    from airflow.sdk import PokeReturnValue

    from sf1630.receiver.runtime import completeness_verdict

    system = lis_system(lis_user)
    context = get_current_context()
    period = str(context["params"].get("period") or "")
    start = context["data_interval_start"]
    end = context["data_interval_end"]
    if start is None or end is None:
        raise ValueError("the completeness check needs a run with a data interval")
    done, text = completeness_verdict(system, period, start, end + deadline_interval(system))
    return PokeReturnValue(is_done=done, xcom_value=text)


def receiver_dags(folder: Path | None = None) -> Iterator[DAG]:
    """Every receiver and completeness DAG of the configuration."""
    with_deadline = deadlines_enabled()
    for system in lis_systems(folder):
        yield build_receiver_dag(system)
        yield build_completeness_dag(system, with_deadline=with_deadline)
