"""The Airflow face of the sender: one DAG per fagsystem, built from ``senders.yaml`` and ``kommuner.yaml``.

All logic lives in the plain :mod:`sf1630.sender` modules (plan, export, upload, receipt, ledger,
housekeeping, summary); this module only wires them into tasks, reads Airflow connections and turns
outcomes into task states. Granularity is chosen for ~120 deliveries per month: ONE mapped task instance
per delivery, labelled with the delivery's label, that exports, uploads and then waits for the receipt as a
deferral (no worker slot held) before acting on it. Four tasks per delivery would show the same in the UI
at four times Airflow's per-task cost and four SSH logins instead of one.

Tasks are module-level functions taking the sender code, so a task process rebuilds nothing but the
registry; the run fails through the ``all_delivered`` leaf when a delivery failed, while ``summary``
(all done) only reports the month's account.
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

from airflow.providers.standard.operators.empty import EmptyOperator
from airflow.sdk import DAG, BaseOperator, Param, TriggerRule, task
from airflow.sdk.exceptions import AirflowFailException

from sf1630.airflow import connections, runs
from sf1630.airflow.arrival import FOUND, REFUSED, FileArrival, quick_look
from sf1630.airflow.deadline import deadline_alert
from sf1630.airflow.notify import SENDER_DEADLINE, SENDER_FAILED, failure_callback
from sf1630.airflow.plans import ledger as _ledger
from sf1630.airflow.plans import period as _period
from sf1630.airflow.plans import plan_for_run
from sf1630.airflow.plans import sender as _sender
from sf1630.protocol import IN, RECEIPT_SUFFIX
from sf1630.registry import Kommune, SenderSystem, load_registry
from sf1630.sender.plan import Delivery
from sf1630.sender.summary import summarize

log = logging.getLogger(__name__)

ACCEPTED_BEFORE = "accepted"  # the ledger already lists the delivery: nothing to send or wait for

_DOC = """
### SF1630 sender: {name}

Each month (the month of the run's logical date in {timezone}, or the `period` param) this DAG delivers
**{code}**'s extract to every kommune's LIS systems over Serviceplatformen's SFTP (`{sftp_user}`):

1. **plan** one delivery per kommune × LIS system ({count} in all); the params `kommune`, `recipient` and
   `period` narrow a manual run, e.g. to re-send one delivery.
2. **deliver** (one mapped instance per delivery, labelled "sender → kommune LIS period"):
   - export the kommune's month from `{source}` (the vendor's SQL file or the spec's query) into a CSV in
     the spec's dialect; a result that does not fit the spec fails the delivery before any upload;
   - upload it to `OUT/` under a temporary name and rename it, then the dynamic-routing trigger the same way
     (skipped for what the ledger lists as accepted, or what an earlier attempt already put up);
   - wait for `IN/<file>.sftpreceipt`: a first look of {quick}, then **deferred** (no worker slot held)
     for up to {timeout};
   - SUCCESS: recorded in the ledger, receipt deleted. Error: the data file is removed from `OUT/`, the
     receipt deleted, and this delivery fails with the platform's codes and texts; the others go on.
   - no receipt within {timeout}: trigger and data file are taken back from `OUT/` (withdrawn, in the
     ledger and the summary) and the delivery fails; what the platform has already taken stays, and a
     retry waits for its receipt.
3. **housekeeping**: data files in `OUT/` without a trigger for longer than {grace} are deleted.
4. **summary** (always runs): delivered, failed with reasons, withdrawn, still waiting, from the ledger.
5. **all_delivered**: succeeds only when every delivery did, so a failed delivery fails the run.

Re-runs reuse the same file names and skip accepted deliveries. Connections: SFTP `{sftp_conn}`,
source `{source}`, ledger `{ledger}`. A failed run sends on-call one message listing every delivery not
accepted; a run not done {deadline} after it was queued sends a missed-deadline message (docs/sender.md).
"""


def _export_and_upload(sftp: Any, sender: SenderSystem, delivery: Delivery) -> int:
    """Export first, upload after: an extract that does not fit the spec fails before anything is sent
    (and without retries: the same rows would fail again)."""
    from sf1630.airflow.extract import export_for
    from sf1630.protocol import to_xml
    from sf1630.sender.export import ExportError
    from sf1630.sender.upload import build_trigger, upload_delivery

    with tempfile.TemporaryDirectory(prefix="sf1630-export-") as folder:
        try:
            data_file = export_for(
                sender, delivery.kommune, delivery.period, Path(folder), file_name=delivery.file_name
            )
        except ExportError as exc:
            raise AirflowFailException(f"{delivery.label}: {exc}") from None
        size: int = data_file.stat().st_size
        trigger = build_trigger(sender, delivery, size, datetime.now(UTC))
        upload_delivery(sftp, data_file, to_xml(trigger), delivery)
    return size


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
    the task hands the wait to :class:`~sf1630.airflow.arrival.FileArrival` in the triggerer. A retry
    starts again from the remote state, so it never uploads what already went through.
    """

    template_fields = ()

    def __init__(self, *, sender_code: str, delivery: Mapping[str, Any], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.sender_code = sender_code
        self.delivery = delivery

    def _target(self) -> tuple[SenderSystem, Delivery]:
        return _sender(self.sender_code), Delivery.from_dict(self.delivery)

    def execute(self, context: Mapping[str, Any]) -> str:
        from sf1630.sender.receipt import receipt_waiting
        from sf1630.sender.upload import RemoteState, remote_state

        sender, delivery = self._target()
        if delivery.file_name in _ledger(sender).accepted(sender.code, [delivery.file_name]):
            log.info("%s: %s was accepted before; nothing to send", delivery.label, delivery.file_name)
            return ACCEPTED_BEFORE
        with connections.sftp(sender.sftp_conn_id) as sftp:
            state = remote_state(sftp, delivery.file_name)
            if state is RemoteState.ABSENT:
                size = _export_and_upload(sftp, sender, delivery)
                log.info("%s: sent %s (%d bytes) and its trigger", delivery.label, delivery.file_name, size)
            else:
                log.info("%s: %s already %s on the platform", delivery.label, delivery.file_name, state.value)
            if quick_look(lambda: receipt_waiting(sftp, delivery), sender.receipt_quick_look):
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
        """Back from the triggerer: settle the receipt, or fail with why there is none."""
        sender, delivery = self._target()
        event = event or {}
        if event.get("status") == REFUSED:
            reason = event.get("message")
            raise AirflowFailException(
                f"{delivery.label}: the platform cannot be trusted or reached: {reason}"
            )
        with connections.sftp(sender.sftp_conn_id) as sftp:
            if event.get("status") == FOUND:
                return settle(sftp, sender, delivery)
            return overdue(sftp, sender, delivery)


class ReceiptOverdue(Exception):
    """The platform took a delivery just as its receipt wait ended: a retry waits for the receipt again."""


def overdue(sftp: Any, sender: SenderSystem, delivery: Delivery) -> str:
    """No receipt within ``receipt_timeout``: settle one that came just now, else take the delivery back.

    The cleanup is the sender's (SF1630): the data file and trigger would otherwise lie in ``OUT/`` until
    the platform's retention deletes them, and housekeeping skips files that have a trigger. What the
    platform has already taken stays: its receipt will follow, and a retry of this task waits for it.
    """
    from sf1630.config import format_duration
    from sf1630.sender.receipt import receipt_waiting, withdraw_delivery

    if receipt_waiting(sftp, delivery):
        return settle(sftp, sender, delivery)
    timeout = format_duration(sender.receipt_timeout)
    withdrawal = withdraw_delivery(sftp, delivery, _ledger(sender))
    what = f"{delivery.label}: no receipt for {delivery.file_name} within {timeout}"
    if withdrawal.withdrawn:
        log.error("%s; withdrawn from OUT/: %s", what, withdrawal.describe())
        raise AirflowFailException(f"{what}; withdrawn from OUT/: {withdrawal.describe()}")
    if quick_look(lambda: receipt_waiting(sftp, delivery), sender.receipt_quick_look):
        return settle(sftp, sender, delivery)  # the platform took it as the wait ended, and has answered
    log.warning("%s; the platform has taken it: %s", what, withdrawal.describe())
    raise ReceiptOverdue(f"{what}; the platform has taken it, so it stays: {withdrawal.describe()}")


@task
def plan(sender_code: str, **context: Any) -> list[dict[str, Any]]:
    """The run's deliveries as XCom, one mapped ``deliver`` instance each; fails when none matches."""
    sender = _sender(sender_code)
    deliveries = plan_for_run(sender, load_registry().kommuner, context)
    if not deliveries:
        raise AirflowFailException("no delivery matches the params kommune/recipient")
    log.info("%d deliveries planned for %s", len(deliveries), deliveries[0].period)
    return [d.to_dict() for d in deliveries]


@task
def housekeeping(sender_code: str) -> list[str]:
    """Delete ``OUT/`` files of the sender without a trigger, older than its grace period."""
    from sf1630.sender.housekeeping import sweep_out

    sender = _sender(sender_code)
    with connections.sftp(sender.sftp_conn_id) as sftp:
        removed = sweep_out(sftp, datetime.now(UTC), sender.housekeeping_grace)
    for name in removed:
        log.warning("removed OUT/%s: no trigger for more than %s", name, sender.housekeeping_grace)
    return removed


@task(trigger_rule=TriggerRule.ALL_DONE, retries=0, multiple_outputs=False)
def summary(
    sender_code: str, planned: list[dict[str, Any]], removed: list[str] | None, **context: Any
) -> dict[str, object]:
    """The month's account from plan and ledger, logged and returned; failing is ``all_delivered``'s job."""
    sender = _sender(sender_code)
    deliveries = [Delivery.from_dict(item) for item in planned]
    entries = _ledger(sender).entries(sender.code, [d.file_name for d in deliveries])
    account = summarize(sender.code, _period(sender, context), deliveries, entries, removed or ())
    log.log(logging.INFO if account.complete else logging.ERROR, "%s", account.render())
    return account.as_dict()


def _params() -> dict[str, Param]:
    return {
        "kommune": Param(
            [], type="array", items={"type": "string"}, description="kommunekoder, CVRs or names; empty = all"
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
        "force": Param(
            False,
            type="boolean",
            description="send accepted deliveries again under a new file name that supersedes the earlier one"
            " (needs kommune)",
        ),
    }


def _doc(sender: SenderSystem, kommuner: Sequence[Kommune]) -> str:
    return _DOC.format(
        name=sender.name,
        code=sender.code,
        timezone=sender.timezone,
        sftp_user=sender.sftp_user,
        count=sum(len(k.lis_systems) for k in kommuner),
        source=sender.source_conn_id,
        grace=sender.housekeeping_grace,
        quick=sender.receipt_quick_look,
        timeout=sender.receipt_timeout,
        sftp_conn=sender.sftp_conn_id,
        ledger=sender.ledger_conn_id,
        deadline=sender.deadline,
    )


def build_sender_dag(sender: SenderSystem, kommuner: Sequence[Kommune]) -> DAG:
    """The DAG of one sender system."""
    with DAG(
        dag_id=sender.dag_id,
        description=f"SF1630: monthly delivery of {sender.code} to every kommune's LIS systems",
        schedule=runs.monthly_timetable(sender.schedule, sender.timezone),
        start_date=runs.start(sender.start_date, sender.timezone),
        end_date=runs.start(sender.end_date, sender.timezone) if sender.end_date else None,
        catchup=sender.catchup,
        max_active_runs=1,
        max_active_tasks=sender.max_active_deliveries,
        tags=["sf1630", "sender", sender.code],
        doc_md=_doc(sender, kommuner),
        default_args=runs.retry_args(
            sender.owner, sender.retries, sender.retry_delay, sender.max_retry_delay
        ),
        params=_params(),
        **failure_callback(SENDER_FAILED, sender.code),
        **deadline_alert(sender.deadline, SENDER_DEADLINE, sender.code),
    ) as dag:
        planned = plan(sender.code)
        delivered = DeliveryOperator.partial(
            task_id="deliver",
            sender_code=sender.code,
            map_index_template="{{ task.delivery['label'] }}",
        ).expand(delivery=planned)
        final = summary(sender.code, planned, housekeeping(sender.code))  # type: ignore[arg-type]
        delivered >> final
        delivered >> EmptyOperator(task_id="all_delivered")
    return dag


def sender_dags(only: str | None = None) -> list[DAG]:
    """One DAG per configured sender, or only the one whose id is ``only`` (a task process needs one)."""
    registry = load_registry()
    chosen = [s for s in registry.senders if only is None or s.dag_id == only]
    return [build_sender_dag(sender, registry.kommuner) for sender in chosen]
