"""The receiver DAG of each LIS system: wait for ``*.metadata`` in IN/, load every item, sweep IN/.

``sf1630_receiver_<user>`` takes whatever the platform has delivered into IN/: a deferrable wait, one mapped
task instance per inbox item (its label names sender, kommune, LIS system and month), and the sweep of
orphans. The monthly completeness check is a DAG of its own (:mod:`sf1630.airflow.completeness`) because a
run that waits for the month to be complete must not block the runs that load it (``max_active_runs=1``).
Tasks are module-level and keyed by the LIS system's SFTP user; they resolve the configuration (read once
per process) and their connections when they run, and import polars and the data specs only then, so
parsing 244 DAGs costs the YAML read and nothing else.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from airflow.providers.standard.operators.empty import EmptyOperator
from airflow.sdk import (
    DAG,
    Asset,
    AssetAlias,
    BaseSensorOperator,
    PokeReturnValue,
    TriggerRule,
    get_current_context,
    task,
)
from airflow.sdk.exceptions import AirflowException, AirflowFailException, AirflowSkipException

from sf1630.airflow import connections
from sf1630.airflow.arrival import FOUND, TIMED_OUT, FileArrival, matching
from sf1630.airflow.completeness import build_completeness_dag
from sf1630.airflow.deadline import deadline_alert
from sf1630.airflow.notify import RECEIVER_DEADLINE, RECEIVER_FAILED, failure_callback
from sf1630.airflow.runs import monthly_timetable, retry_args, start
from sf1630.receiver.config import Receiver, load_receiver, load_receivers
from sf1630.receiver.delivery import (
    ExtractSpec,
    Intake,
    Quarantined,
    Status,
    process_delivery,
    quarantine_dir,
    staging_dir,
)
from sf1630.receiver.fetch import list_inbox
from sf1630.receiver.housekeeping import sweep_inbox
from sf1630.receiver.inbox import InboxItem

LOADS_ALIAS = "sf1630_lis_loads"


def spec_asset(spec: str) -> Asset:
    """The Asset a load of data spec ``spec`` updates; downstream DAGs schedule on it."""
    return Asset(name=f"sf1630_lis_{spec}", uri=f"sf1630://lis-warehouse/{spec}")


class MetadataSensor(BaseSensorOperator):  # type: ignore[misc]
    """Wait until ``pattern`` matches in ``path``; skip (not fail) when nothing arrives within ``wait``.

    Deferred by default: :class:`~sf1630.airflow.arrival.FileArrival` polls in the triggerer and no worker
    slot is held. With ``deferrable=False`` the ordinary sensor loop calls :meth:`poke` (one listing over
    the SFTP connection) and skips once ``wait`` has passed. A server that cannot be trusted or refuses the
    login fails the wait in both modes.
    """

    def __init__(
        self,
        *,
        sftp_conn_id: str,
        path: str,
        pattern: str = "*.metadata",
        wait: timedelta = timedelta(hours=1),
        deferrable: bool = True,
        **kwargs: Any,
    ) -> None:
        if not deferrable:
            kwargs.setdefault("timeout", wait.total_seconds())
            kwargs.setdefault("soft_fail", True)
        super().__init__(**kwargs)
        self.sftp_conn_id = sftp_conn_id
        self.path = path
        self.pattern = pattern
        self.wait = wait
        self.deferrable = deferrable

    def execute(self, context: Any) -> Any:
        """Defer to the trigger (or, when not deferrable, run the ordinary poke loop)."""
        if not self.deferrable:
            return super().execute(context)
        # A quick look first: what is already there needs no trip through the triggerer, and a trigger
        # that fires seconds after the deferral is what trips apache/airflow#71580 (see arrival.py).
        now = self.poke(context)
        if now.is_done:
            return now.xcom_value
        deadline = time.time() + self.wait.total_seconds()
        trigger = FileArrival(self.sftp_conn_id, self.path, self.pattern, float(self.poke_interval), deadline)
        self.defer(trigger=trigger, method_name="execute_complete")
        return None

    def poke(self, context: Any) -> PokeReturnValue:
        """One synchronous look into ``path``; done when a name matches, with the count as XCom."""
        with connections.sftp(self.sftp_conn_id) as sftp:
            found = matching([str(name) for name in sftp.listdir(self.path)], self.pattern)
        return PokeReturnValue(is_done=bool(found), xcom_value=len(found))

    def execute_complete(self, context: Any, event: dict[str, Any]) -> int:
        """Turn the trigger's event into the sensor's outcome: found, skipped, or failed."""
        status = event.get("status")
        if status == FOUND:
            return len(event["names"])
        if status == TIMED_OUT:
            raise AirflowSkipException(f"no {self.pattern} in {self.path} within {self.wait}")
        raise AirflowException(f"waiting for {self.pattern} in {self.path} failed: {event.get('message')}")


def _airflow_home() -> Path:
    from airflow.configuration import AIRFLOW_HOME

    return Path(AIRFLOW_HOME)


def _spec_for(name: str) -> ExtractSpec:
    from sf1630.receiver.extract import spec_for  # polars and the data specs load only in tasks

    return spec_for(name)


def _intake(receiver: Receiver) -> Intake:
    """The processing context of ``receiver`` with its connections and folders resolved."""
    home = _airflow_home()
    return Intake(
        receiver=receiver,
        database=connections.database(receiver.warehouse_conn_id),
        open_sftp=lambda: connections.sftp(receiver.sftp_conn_id),
        spec_for=_spec_for,
        staging=staging_dir(receiver, home),
        quarantine_root=quarantine_dir(receiver, home),
    )


@task
def list_deliveries(sftp_user: str) -> list[dict[str, Any]]:
    """List IN/ again (the deferred sensor does not say what it saw) and return the complete items."""
    receiver = load_receiver(sftp_user)
    with connections.sftp(receiver.sftp_conn_id) as sftp:
        listing = list_inbox(sftp, receiver.settings.inbox, who=sftp_user)
    return [{**asdict(item), "label": item.label(receiver.kommune, receiver.lis)} for item in listing.items]


@task(map_index_template="{{ delivery_label }}", outlets=[AssetAlias(LOADS_ALIAS)], multiple_outputs=False)
def load_one(sftp_user: str, item: dict[str, Any]) -> dict[str, Any]:
    """Process one inbox item; a refused one fails without retries, with the summary naming the contact."""
    receiver = load_receiver(sftp_user)
    context = get_current_context()
    context["delivery_label"] = item["label"]  # type: ignore[typeddict-unknown-key]
    inbox_item = InboxItem(item["data_name"], item["metadata_name"], int(item["data_size"]))
    try:
        result = process_delivery(_intake(receiver), inbox_item)
    except Quarantined as refused:
        raise AirflowFailException(refused.result.summary) from None
    if result.status is Status.LOADED:
        context["outlet_events"][AssetAlias(LOADS_ALIAS)].add(
            spec_asset(result.spec),
            extra={"lis": sftp_user, "kommune": result.kommune, "period": result.period, "rows": result.rows},
        )
    return asdict(result)


@task(trigger_rule=TriggerRule.ALL_DONE, multiple_outputs=False)
def housekeeping(sftp_user: str) -> dict[str, list[str]]:
    """Sweep IN/: quarantine data files without metadata beyond the grace period, report the rest."""
    receiver = load_receiver(sftp_user)
    with connections.sftp(receiver.sftp_conn_id) as sftp:
        swept = sweep_inbox(sftp, receiver, quarantine_dir(receiver, _airflow_home()), now=datetime.now(UTC))
    return asdict(swept)


def _receiver_doc(receiver: Receiver) -> str:
    senders = ", ".join(f"{s.code} ({s.dataspec})" for s in receiver.accepted)
    settings = receiver.settings
    return f"""\
### SF1630 receiver for {receiver.sftp_user} ({receiver.kommune.name}, {receiver.lis.name})

Waits (deferred) for `*.metadata` in `{settings.inbox}/` over connection `{receiver.sftp_conn_id}`, then for
each delivery: reads the metadata (hardened reader), downloads the data file and checks its size, validates
it with the sender's data spec, and loads it into `{receiver.warehouse_conn_id}` together with a ledger row
keyed by FileTransferUUID; only after the commit are both files deleted from the server. Invalid deliveries
go to the quarantine with their validation reports and fail the task instance, naming the sender's contact.
Housekeeping sweeps IN/: data files left without metadata for more than {settings.grace} are quarantined.

Accepted: {senders}. See docs/receiver.md.
"""


def build_receiver_dag(receiver: Receiver) -> DAG:
    """The receiver DAG of one LIS system."""
    settings = receiver.settings
    with DAG(
        dag_id=receiver.dag_id,
        schedule=monthly_timetable(settings.schedule, settings.timezone),
        start_date=start(settings.start_date, settings.timezone),
        catchup=False,
        max_active_runs=1,
        default_args=retry_args(
            settings.owner, settings.retries, settings.retry_delay, settings.max_retry_delay
        ),
        tags=["sf1630", "receiver", "lis", receiver.sftp_user],
        doc_md=_receiver_doc(receiver),
        **failure_callback(RECEIVER_FAILED, receiver.sftp_user),
        **deadline_alert(settings.run_deadline, RECEIVER_DEADLINE, receiver.sftp_user),
    ) as dag:
        wait = MetadataSensor(
            task_id="wait_for_metadata",
            sftp_conn_id=receiver.sftp_conn_id,
            path=settings.inbox,
            wait=settings.wait_timeout,
            poke_interval=settings.poke_interval.total_seconds(),
        )
        items = list_deliveries(receiver.sftp_user)
        loads = load_one.partial(sftp_user=receiver.sftp_user).expand(item=items)
        sweep = housekeeping(receiver.sftp_user)
        # A leaf that needs every load: housekeeping runs whatever happened (trigger rule all_done), so
        # without it a failed load would leave the run green in the UI.
        all_loaded = EmptyOperator(task_id="all_loaded")
        wait >> items
        loads >> [sweep, all_loaded]
    return dag


def receiver_dags(only: str | None = None) -> Iterator[DAG]:
    """Every receiver and completeness DAG of the configuration, or only the one with id ``only``.

    A task process parses the DAG file for one DAG (``get_parsing_context().dag_id``); building the other
    243 would only cost time.
    """
    for receiver in load_receivers():
        if only in (None, receiver.dag_id):
            yield build_receiver_dag(receiver)
        if only in (None, receiver.completeness_dag_id):
            yield build_completeness_dag(receiver)
