"""The receiver DAG of each LIS system: wait for ``*.metadata`` in IN/, then fetch, validate, load, delete.

``sf1630_receiver_<user>`` takes whatever the platform has delivered into IN/, in the steps the design names:
``wait_for_metadata`` (one quick synchronous look, then deferred to the triggerer; it returns the inbox items
it found) → ``fetch`` (metadata checked, data staged in the receiver's object store) → ``validate`` (every
staged file of the run through GX in one process, so GX is imported once per run) → ``load`` (mapped, one
instance per delivery labelled like every delivery, ``KY → Herning LIS01 2026-10``; one transaction each,
or the quarantine) → ``delete`` (IN/ cleared of what the ledger or the quarantine holds) → ``housekeeping``
(orphans, expired quarantine), and the leaf ``all_loaded`` that fails the run when anything was quarantined
or failed. The monthly completeness check is a DAG of its own (:mod:`sf1630.airflow.completeness`) because a
run that waits for the month to be complete must not block the runs that load it (``max_active_runs=1``).
Tasks are module-level and keyed by the LIS system's SFTP user; they resolve the configuration (read once
per process) and their connections when they run, and import polars, GX and the data specs only then, so
parsing 244 DAGs costs the YAML read and nothing else.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from typing import Any

from airflow.providers.standard.operators.empty import EmptyOperator
from airflow.providers.standard.utils.skipmixin import SkipMixin
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
from airflow.sdk.exceptions import AirflowException, AirflowFailException

from sf1630.airflow import connections
from sf1630.airflow.alerts import About
from sf1630.airflow.arrival import FOUND, TIMED_OUT, FileArrival
from sf1630.airflow.completeness import build_completeness_dag
from sf1630.airflow.deadline import deadline_alert
from sf1630.airflow.notify import failure_callback
from sf1630.airflow.runs import dag_arguments, monthly_timetable
from sf1630.airflow.store import intake_for, storage
from sf1630.receiver.config import LOAD_TASK, Receiver, load_receiver, load_receivers
from sf1630.receiver.delivery import delete_items, fetch_items, load_item, validate_items
from sf1630.receiver.fetch import list_inbox
from sf1630.receiver.housekeeping import housekeeping_due, sweep_inbox
from sf1630.receiver.inbox import InboxItem, InboxListing
from sf1630.receiver.quarantine import expire
from sf1630.receiver.record import Held, ItemRecord, Quarantined, Status

LOADS_ALIAS = "sf1630_lis_loads"
HOUSEKEEPING = "housekeeping"
log = logging.getLogger(__name__)


def spec_asset(spec: str) -> Asset:
    """The Asset a load of data spec ``spec`` updates; downstream DAGs schedule on it."""
    return Asset(name=f"sf1630_lis_{spec}", uri=f"sf1630://lis-warehouse/{spec}")


class MetadataSensor(BaseSensorOperator, SkipMixin):  # type: ignore[misc]
    """Wait until IN/ holds an inbox item (``*.metadata`` beside its data file); return the items found.

    One quick synchronous look first (a listing over the SFTP connection): when something is waiting, as
    it usually is on a schedule, the task needs no trip through the triggerer. Otherwise it defers to
    :class:`~sf1630.airflow.arrival.FileArrival` (no worker slot held) and lists once more when that fires
    (the trigger reports names, the steps need the paired items). A run that ends up with no item (nothing
    within ``wait``) is short-circuited here: this task succeeds and skips every later step, so an empty
    hourly run costs one short task and still ends green; only when housekeeping has work (an orphan past
    the grace period, quarantine past its keep) does that step still run. With ``deferrable=False`` the
    ordinary sensor loop calls :meth:`poke` (nothing within ``wait`` → skipped, the always-run steps run).
    A server that cannot be trusted or refuses the login fails the wait in both modes. The XCom is a list
    of inbox items as dicts with their ``label``.
    """

    def __init__(
        self,
        *,
        sftp_user: str,
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
        self.sftp_user = sftp_user
        self.sftp_conn_id = sftp_conn_id
        self.path = path
        self.pattern = pattern
        self.wait = wait
        self.deferrable = deferrable

    def execute(self, context: Any) -> Any:
        """Look once; return what is waiting, or defer to the trigger (or run the ordinary poke loop)."""
        if not self.deferrable:
            return super().execute(context)
        # A quick look first: what is already there needs no trip through the triggerer, and a trigger
        # that fires seconds after the deferral is what trips apache/airflow#71580 (see arrival.py).
        found = self._items(self._listing())
        if found:
            return found
        deadline = time.time() + self.wait.total_seconds()
        trigger = FileArrival(self.sftp_conn_id, self.path, self.pattern, float(self.poke_interval), deadline)
        self.defer(trigger=trigger, method_name="execute_complete")
        return None

    def _listing(self) -> InboxListing:
        """``path`` listed and paired (one listing over the connection)."""
        with connections.sftp(self.sftp_conn_id) as sftp:
            return list_inbox(sftp, self.path, who=self.sftp_user)

    def _items(self, listing: InboxListing) -> list[dict[str, Any]]:
        """The complete inbox items of ``listing``, labelled."""
        receiver = load_receiver(self.sftp_user)
        labelled = [(item, item.label(receiver.kommune, receiver.lis)) for item in listing.items]
        return [{**asdict(item), "label": label} for item, label in labelled]

    def poke(self, context: Any) -> PokeReturnValue:
        """One synchronous look into ``path``; done when an item is waiting, with the items as XCom."""
        found = self._items(self._listing())
        return PokeReturnValue(is_done=bool(found), xcom_value=found)

    def execute_complete(self, context: Any, event: dict[str, Any]) -> list[dict[str, Any]]:
        """Turn the trigger's event into the sensor's outcome: the items found, the run short-circuited,
        or failed."""
        status = event.get("status")
        if status not in (FOUND, TIMED_OUT):
            reason = event.get("message")
            raise AirflowException(f"waiting for {self.pattern} in {self.path} failed: {reason}")
        listing = self._listing()
        found = self._items(listing)
        if found:
            return found
        self._short_circuit(context, listing, "no complete item" if status == FOUND else "nothing")
        return []

    def _short_circuit(self, context: Any, listing: InboxListing, what: str) -> None:
        """Skip the run's later steps (housekeeping too, unless it has work): nothing to fetch."""
        receiver = load_receiver(self.sftp_user)
        sweep = housekeeping_due(listing, receiver, storage(receiver).quarantine, now=datetime.now(UTC))
        later = [
            t for t in self.get_flat_relatives(upstream=False) if not (sweep and t.task_id == HOUSEKEEPING)
        ]
        skipped = ", ".join(sorted(t.task_id for t in later))
        log.info("%s in %s/%s within %s: skipping %s", what, self.sftp_user, self.path, self.wait, skipped)
        self.skip(ti=context["ti"], tasks=later)


def _records(value: Any) -> list[ItemRecord]:
    return [ItemRecord.from_xcom(v) for v in (value or [])]


@task
def fetch(sftp_user: str, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Check every waiting item's metadata and stage its data file; refused ones go to the quarantine."""
    intake = intake_for(load_receiver(sftp_user))
    waiting = [
        (InboxItem(item["data_name"], item["metadata_name"], int(item["data_size"])), str(item["label"]))
        for item in items
    ]
    records = fetch_items(intake, waiting)
    for record in records:
        log.info("%s: %s", record.label, record.status)
    return [record.to_xcom() for record in records]


@task
def validate(sftp_user: str, fetched: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Validate every staged file of the run with GX in this one process; reports go to the store."""
    from sf1630.dataspec.validation import Validator

    intake = intake_for(load_receiver(sftp_user))
    records = _records(fetched)
    validator = Validator() if any(r.status is Status.STAGED for r in records) else None
    checked = validate_items(intake, records, validator) if validator else records
    return [r.to_xcom() for r in checked]


@task(
    task_id=LOAD_TASK,
    map_index_template="{{ delivery_label }}",
    outlets=[AssetAlias(LOADS_ALIAS)],
    multiple_outputs=False,
)
def load(sftp_user: str, record: dict[str, Any]) -> dict[str, Any]:
    """Load one delivery with its ledger row; a refused one fails (no retries), naming the contact, and so
    does a held one (its sender's data spec cannot be used: the file stays in IN/)."""
    receiver = load_receiver(sftp_user)
    context = get_current_context()
    context["delivery_label"] = record["label"]  # type: ignore[typeddict-unknown-key]
    try:
        done = load_item(intake_for(receiver), ItemRecord.from_xcom(record))
    except (Quarantined, Held) as refused:
        raise AirflowFailException(refused.record.summary) from None
    if done.status is Status.LOADED:
        context["outlet_events"][AssetAlias(LOADS_ALIAS)].add(
            spec_asset(done.spec),
            extra={"lis": sftp_user, "kommune": done.cvr, "period": str(done.period), "rows": done.rows},
        )
    return done.to_xcom()


@task(trigger_rule=TriggerRule.ALL_DONE, multiple_outputs=False)
def delete(sftp_user: str) -> list[str]:
    """Clear IN/ of every fetched item the ledger or the quarantine holds, and its staged files.

    Runs whatever the loads did (a quarantined delivery is deleted too, once stored); reads the fetch step's
    XCom itself, because a failed fetch leaves none and then there is nothing to delete.
    """
    fetched = get_current_context()["ti"].xcom_pull(task_ids="fetch")
    records = _records(fetched)
    if not records:
        return []
    return delete_items(intake_for(load_receiver(sftp_user)), records)


@task(task_id=HOUSEKEEPING, trigger_rule=TriggerRule.ALL_DONE, multiple_outputs=False)
def housekeeping(sftp_user: str) -> dict[str, list[str]]:
    """Sweep IN/ (orphans beyond the grace period quarantined) and delete quarantine past its keep."""
    receiver = load_receiver(sftp_user)
    store = storage(receiver)
    now = datetime.now(UTC)
    with connections.sftp(receiver.sftp_conn_id) as sftp:
        swept = sweep_inbox(sftp, receiver, store.quarantine, now=now)
    expired = expire(store.quarantine, keep=receiver.settings.quarantine_keep, now=now)
    return {**asdict(swept), "expired_quarantine": expired}


def _receiver_doc(receiver: Receiver) -> str:
    senders = ", ".join(f"{s.code} ({s.dataspec})" for s in receiver.accepted)
    settings = receiver.settings
    return f"""\
### SF1630 receiver for {receiver.sftp_user} ({receiver.kommune.name}, {receiver.lis.name})

Waits for `*.metadata` in `{settings.inbox}/` over connection `{receiver.sftp_conn_id}` (a quick look, then
deferred), then: **fetch** reads each metadata file (hardened reader), checks its claims and stages the data
file with its size checked; **validate** runs the sender's data spec as a Great Expectations suite over every
staged file (GX ValidationResult, Data Docs and a summary per delivery in the store); **load** (one instance
per delivery) loads a valid file into `{receiver.warehouse_conn_id}` with a ledger row keyed by
FileTransferUUID in one transaction, or quarantines an invalid one with its reports and fails, naming the
sender's contact; **delete** removes from the server only what the ledger or the quarantine holds.
Housekeeping sweeps IN/ (data files left without metadata for more than {settings.grace} are quarantined) and
deletes quarantine older than {settings.quarantine_keep}.

Accepted: {senders}. See docs/receiver.md.
"""


def build_receiver_dag(receiver: Receiver) -> DAG:
    """The receiver DAG of one LIS system."""
    settings = receiver.settings
    with DAG(
        dag_id=receiver.dag_id,
        schedule=monthly_timetable(settings.schedule, settings.timezone),
        max_active_runs=1,
        tags=["sf1630", "receiver", "lis", receiver.sftp_user],
        doc_md=_receiver_doc(receiver),
        **failure_callback(About.RECEIVER_FAILED, receiver.sftp_user),
        **deadline_alert(settings.run_deadline, About.RECEIVER_DEADLINE, receiver.sftp_user),
        **dag_arguments(settings),
    ) as dag:
        wait = MetadataSensor(
            task_id="wait_for_metadata",
            sftp_user=receiver.sftp_user,
            sftp_conn_id=receiver.sftp_conn_id,
            path=settings.inbox,
            wait=settings.wait_timeout,
            poke_interval=settings.poke_interval.total_seconds(),
        )
        user = receiver.sftp_user
        fetched = fetch(user, wait.output)  # type: ignore[arg-type]  # an XComArg resolves to the items
        # The spec assets as inlets too, so the DAG processor registers them when it parses the DAG: an
        # asset first made by a load's event is created by the api-server on the fly, and two loads of one
        # spec finishing together raced to insert it (a unique-key violation set one of them failed).
        specs = sorted({a.dataspec for a in receiver.accepted})
        registered = load.override(inlets=[spec_asset(spec) for spec in specs])
        loads = registered.partial(sftp_user=user).expand(record=validate(user, fetched))  # type: ignore[arg-type]
        deleted = delete(user)
        sweep = housekeeping(user)
        # The leaf needs every load and the delete: delete and housekeeping run whatever happened (trigger
        # rule all_done), so without it a quarantined delivery would leave the run green in the UI.
        all_loaded = EmptyOperator(task_id="all_loaded")
        loads >> deleted >> sweep
        [loads, deleted] >> all_loaded
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
