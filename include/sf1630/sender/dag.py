"""The Airflow face of the sender: one DAG per fagsystem, built from ``senders.yaml`` and ``kommuner.yaml``.

All logic lives in the plain modules beside this one (plan, export, upload, receipt, ledger, housekeeping,
summary); this module only wires them into tasks, reads Airflow connections and turns outcomes into task
states. Granularity is chosen for ~120 deliveries per month: ONE mapped task instance per delivery, labelled
with kommune and LIS system, that exports, uploads and then waits for the receipt as a deferral (no worker
slot held) before acting on it. Four tasks per delivery would show the same in the UI at four times
Airflow's per-task cost and four SSH logins instead of one.
"""

from __future__ import annotations

import glob
import logging
import tempfile
import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pendulum
from airflow.sdk import DAG, BaseHook, BaseOperator, Param, task
from airflow.sdk.exceptions import AirflowFailException
from airflow.timetables.interval import CronDataIntervalTimetable

from sf1630.arrival import FOUND, REFUSED, FileArrival
from sf1630.protocol import RECEIPT_SUFFIX
from sf1630.sender.config import Kommune, SenderSystem, load_kommuner, load_sender, load_senders
from sf1630.sender.database import DatabaseLocation
from sf1630.sender.plan import Delivery, period_of_run, plan_deliveries
from sf1630.sender.upload import IN
from sf1630.settings import deadlines_enabled

log = logging.getLogger(__name__)

ACCEPTED_BEFORE = "accepted"  # the ledger already lists the delivery: nothing to send or wait for

_DOC = """
### SF1630 sender: {name}

Each month (the month of the run's logical date, or the `period` param) this DAG delivers **{code}**'s
extract to every kommune's LIS systems over Serviceplatformen's SFTP (`{sftp_user}`):

1. **plan** one delivery per kommune × LIS system ({count} in all); the params `kommune`, `recipient` and
   `period` narrow a manual run, e.g. to re-send one delivery.
2. **deliver** (one mapped instance per delivery, labelled kommune → LIS):
   - export the spec's SQL for the kommune and month from `{source}` into a CSV in the spec's dialect;
   - upload it to `OUT/` under a temporary name and rename it, then the dynamic-routing trigger the same way
     (skipped for what the ledger lists as accepted, or what an earlier attempt already put up);
   - wait for `IN/<file>.sftpreceipt`: a first look of {quick}, then **deferred** (no worker slot held)
     for up to {timeout};
   - SUCCESS: recorded in the ledger, receipt deleted. Error: the data file is removed from `OUT/`, the
     receipt deleted, and this delivery fails with the platform's codes and texts; the others go on.
3. **housekeeping**: data files in `OUT/` without a trigger for longer than {grace} are deleted.
4. **summary** (always runs): delivered, failed with reasons, still waiting; fails the run if incomplete.

Re-runs reuse the same file names and skip accepted deliveries. Connections: SFTP `{sftp_conn}`,
source `{source}`, ledger `{ledger}`.
"""


def database(conn_id: str) -> DatabaseLocation:
    """The database behind Airflow connection ``conn_id``."""
    conn = BaseHook.get_connection(conn_id)
    return DatabaseLocation.from_connection(
        conn_id,
        conn.conn_type,
        host=conn.host,
        port=conn.port,
        login=conn.login,
        password=conn.password,
        schema=conn.schema,
        extra=conn.extra_dejson,
    )


def sftp_hook(conn_id: str) -> Any:
    """The provider's SFTP hook; it verifies the connection's ``host_key`` (also on non-22 ports)."""
    from airflow.providers.sftp.hooks.sftp import SFTPHook

    return SFTPHook(ssh_conn_id=conn_id)


def _ledger(sender: SenderSystem) -> Any:
    from sf1630.sender.ledger import Ledger

    return Ledger(database(sender.ledger_conn_id))


def _as_list(value: object) -> list[str]:
    if value is None or value == "":
        return []
    if isinstance(value, str):
        return [part for part in value.split(",") if part.strip()]
    if isinstance(value, Sequence):
        return [str(v) for v in value]
    raise AirflowFailException(f"param value {value!r} must be a list of strings")


def plan_for_run(
    sender: SenderSystem, kommuner: Sequence[Kommune], context: Mapping[str, Any]
) -> list[Delivery]:
    """The deliveries of the run in ``context``, narrowed by its params."""
    params = context.get("params") or {}
    logical = context.get("logical_date")
    local = pendulum.instance(logical).in_timezone(sender.timezone) if logical is not None else None
    run_after = pendulum.instance(context["dag_run"].run_after).in_timezone(sender.timezone)
    try:
        period = period_of_run(local, run_after, str(params.get("period") or "") or None)
    except ValueError as exc:
        raise AirflowFailException(str(exc)) from None
    return plan_deliveries(
        sender,
        kommuner,
        period,
        kommune_filter=_as_list(params.get("kommune")),
        recipient_filter=_as_list(params.get("recipient")),
    )


def _export_and_upload(sftp: Any, sender: SenderSystem, delivery: Delivery) -> int:
    from sf1630.protocol import to_xml
    from sf1630.sender.export import export_delivery
    from sf1630.sender.upload import build_trigger, upload_delivery

    with tempfile.TemporaryDirectory(prefix="sf1630-export-") as folder:
        data_file = export_delivery(sender, delivery, database(sender.source_conn_id), Path(folder))
        size: int = data_file.stat().st_size
        trigger = build_trigger(sender, delivery, size, datetime.now(UTC))
        upload_delivery(sftp, data_file, to_xml(trigger), delivery)
    return size


def _quick_look(sftp: Any, delivery: Delivery, patience: timedelta) -> bool:
    """Whether the receipt arrives within ``patience`` (the emulator answers in milliseconds)."""
    from sf1630.sender.receipt import receipt_waiting

    give_up = time.monotonic() + patience.total_seconds()
    while True:
        if receipt_waiting(sftp, delivery):
            return True
        if time.monotonic() >= give_up:
            return False
        time.sleep(0.05)


def settle(sftp: Any, sender: SenderSystem, delivery: Delivery) -> str:
    """Act on the receipt of ``delivery``; raises AirflowFailException with the platform's errors."""
    from sf1630.sender.receipt import DeliveryRejected, settle_receipt

    outcome = settle_receipt(sftp, delivery, _ledger(sender))
    if outcome.accepted:
        log.info("%s: %s accepted, transfer %s", delivery.label, delivery.file_name, outcome.transfer_uuid)
        return "accepted"
    for error in outcome.errors:
        log.error(
            "%s: error %d %s: %s", delivery.label, error.code, error.code_description, error.description
        )
    log.error("%s: removed from OUT/: %s", delivery.label, ", ".join(outcome.removed) or "nothing")
    raise AirflowFailException(str(DeliveryRejected(delivery, outcome)))


class DeliveryOperator(BaseOperator):  # type: ignore[misc]
    """One delivery: export, upload, then wait for the receipt (deferred) and act on it.

    The wait is a deferral (no worker slot held): after a short first look on the upload's own connection,
    the task hands the wait to :class:`~sf1630.arrival.FileArrival` in the triggerer. A
    retry starts again from the remote state, so it never uploads what already went through.
    """

    template_fields = ()

    def __init__(self, *, sender_code: str, delivery: Mapping[str, Any], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.sender_code = sender_code
        self.delivery = delivery

    def _target(self) -> tuple[SenderSystem, Delivery]:
        return load_sender(self.sender_code), Delivery.from_dict(self.delivery)

    def execute(self, context: Mapping[str, Any]) -> str:
        from sf1630.sender.upload import RemoteState, remote_state

        sender, delivery = self._target()
        if delivery.file_name in _ledger(sender).accepted(sender.code, [delivery.file_name]):
            log.info("%s: %s was accepted before; nothing to send", delivery.label, delivery.file_name)
            return ACCEPTED_BEFORE
        with sftp_hook(sender.sftp_conn_id).get_managed_conn() as sftp:
            state = remote_state(sftp, delivery.file_name)
            if state is RemoteState.ABSENT:
                size = _export_and_upload(sftp, sender, delivery)
                log.info("%s: sent %s (%d bytes) and its trigger", delivery.label, delivery.file_name, size)
            else:
                log.info("%s: %s already %s on the platform", delivery.label, delivery.file_name, state.value)
            if _quick_look(sftp, delivery, sender.receipt_quick_look):
                return settle(sftp, sender, delivery)
        self.defer(
            trigger=FileArrival(
                sftp_conn_id=sender.sftp_conn_id,
                folder=IN,
                pattern=glob.escape(delivery.file_name + RECEIPT_SUFFIX),
                poll_interval=sender.receipt_poll.total_seconds(),
                deadline=time.time() + sender.receipt_timeout.total_seconds(),
            ),
            method_name="execute_complete",
            timeout=sender.receipt_timeout + timedelta(minutes=1),
        )
        raise AssertionError("defer() returns only by raising")  # pragma: no cover

    def execute_complete(self, context: Mapping[str, Any], event: Mapping[str, Any] | None = None) -> str:
        sender, delivery = self._target()
        event = event or {}
        if event.get("status") == REFUSED:
            reason = event.get("message")
            raise AirflowFailException(
                f"{delivery.label}: the platform cannot be trusted or reached: {reason}"
            )
        if event.get("status") != FOUND:
            raise AirflowFailException(
                f"{delivery.label}: no receipt for {delivery.file_name} within {sender.receipt_timeout}"
            )
        with sftp_hook(sender.sftp_conn_id).get_managed_conn() as sftp:
            return settle(sftp, sender, delivery)


def housekeep(sender: SenderSystem) -> list[str]:
    """Delete ``OUT/`` files of ``sender`` without a trigger, older than its grace period."""
    from sf1630.sender.housekeeping import sweep_out

    with sftp_hook(sender.sftp_conn_id).get_managed_conn() as sftp:
        removed = sweep_out(sftp, datetime.now(UTC), sender.housekeeping_grace)
    for name in removed:
        log.warning("removed OUT/%s: no trigger for more than %s", name, sender.housekeeping_grace)
    return removed


def summarize_run(
    sender: SenderSystem, planned: Sequence[Mapping[str, Any]], removed: Sequence[str]
) -> dict[str, object]:
    """The month's summary from plan and ledger; raises AirflowFailException unless all got through."""
    from sf1630.sender.summary import summarize

    deliveries = [Delivery.from_dict(item) for item in planned]
    period = deliveries[0].period if deliveries else ""
    entries = _ledger(sender).entries(sender.code, [d.file_name for d in deliveries])
    summary = summarize(sender.code, period, deliveries, entries, removed)
    log.info("%s", summary.render())
    if not summary.complete:
        raise AirflowFailException(summary.render())
    return summary.as_dict()


def _deadline(sender: SenderSystem) -> Any:
    if not deadlines_enabled():
        return None
    from airflow.sdk.definitions.callback import AsyncCallback
    from airflow.sdk.definitions.deadline import DeadlineAlert, DeadlineReference

    from sf1630.sender.deadline import on_missed_deadline

    return DeadlineAlert(
        reference=DeadlineReference.DAGRUN_QUEUED_AT,
        interval=sender.deadline,
        callback=AsyncCallback(on_missed_deadline, kwargs={"sender": sender.code}),
    )


def build_sender_dag(sender: SenderSystem, kommuner: Sequence[Kommune]) -> DAG:
    """The DAG of one sender system."""
    count = sum(len(k.lis_systems) for k in kommuner)
    doc = _DOC.format(
        name=sender.name,
        code=sender.code,
        sftp_user=sender.sftp_user,
        count=count,
        source=sender.source_conn_id,
        grace=sender.housekeeping_grace,
        quick=sender.receipt_quick_look,
        timeout=sender.receipt_timeout,
        sftp_conn=sender.sftp_conn_id,
        ledger=sender.ledger_conn_id,
    )
    start = pendulum.datetime(
        sender.start_date.year, sender.start_date.month, sender.start_date.day, tz=sender.timezone
    )
    deadline = _deadline(sender)
    with DAG(
        dag_id=sender.dag_id,
        description=f"SF1630: monthly delivery of {sender.code} to every kommune's LIS systems",
        schedule=CronDataIntervalTimetable(sender.schedule, timezone=sender.timezone),
        start_date=start,
        catchup=False,
        max_active_runs=1,
        max_active_tasks=sender.max_active_deliveries,
        tags=["sf1630", "sender", sender.code],
        doc_md=doc,
        default_args={
            "owner": sender.owner,
            "retries": sender.retries,
            "retry_delay": sender.retry_delay,
            "retry_exponential_backoff": 2.0,
            "max_retry_delay": sender.max_retry_delay,
        },
        params={
            "kommune": Param(
                [],
                type="array",
                items={"type": "string"},
                description="kommunekoder, CVRs or names; empty = all",
            ),
            "recipient": Param(
                [],
                type="array",
                items={"type": "string"},
                description="LIS system names or SFTP users; empty = all",
            ),
            "period": Param(
                "",
                type="string",
                pattern=r"^([0-9]{4}-(0[1-9]|1[0-2]))?$",
                description="YYYY-MM; empty = the run's month",
            ),
        },
        **({"deadline": deadline} if deadline is not None else {}),
    ) as dag:

        @task
        def plan(**context: Any) -> list[dict[str, str]]:
            deliveries = plan_for_run(sender, load_kommuner(), context)
            if not deliveries:
                raise AirflowFailException("no delivery matches the params kommune/recipient")
            log.info("%d deliveries planned for %s", len(deliveries), deliveries[0].period)
            return [d.to_dict() for d in deliveries]

        @task
        def housekeeping() -> list[str]:
            return housekeep(sender)

        @task(trigger_rule="all_done", retries=0)
        def summary(planned: list[dict[str, str]], removed: list[str]) -> dict[str, object]:
            return summarize_run(sender, planned, removed)

        planned = plan()
        delivered = DeliveryOperator.partial(
            task_id="deliver",
            sender_code=sender.code,
            map_index_template="{{ task.delivery['label'] }}",
        ).expand(delivery=planned)
        removed = housekeeping()
        final = summary(planned, removed)  # type: ignore[arg-type]
        delivered >> final
    return dag


def build_sender_dags() -> list[DAG]:
    """One DAG per configured sender (read from ``config_dir()``)."""
    kommuner = load_kommuner()
    return [build_sender_dag(sender, kommuner) for sender in load_senders()]
