"""Where a receiver's staged files, reports and quarantine live: its share of the object store.

``storage`` in receivers.yaml (an fsspec URL, with ``storage_conn_id`` for its Airflow connection), or
``file://$AIRFLOW_HOME/sf1630`` by default, so every worker sees the same files. :func:`intake_for` adds the
receiver's connections: the one way the tasks (receiver and reload DAGs) get the steps' ``Intake``.
"""

from __future__ import annotations

from pathlib import Path

from airflow.sdk import ObjectStoragePath

from sf1630.airflow import connections
from sf1630.receiver.config import Receiver
from sf1630.receiver.intake import ExtractSpec, Intake
from sf1630.receiver.storage import Storage, StorePath


def _airflow_home() -> Path:
    from airflow.configuration import AIRFLOW_HOME

    return Path(AIRFLOW_HOME)


def storage(receiver: Receiver) -> Storage:
    """The receiver's share of the object store: ``storage`` of receivers.yaml (with ``storage_conn_id``), or
    ``file://$AIRFLOW_HOME/sf1630``."""
    settings = receiver.settings
    url = settings.storage or f"file://{_airflow_home() / 'sf1630'}"
    base = ObjectStoragePath(url, conn_id=settings.storage_conn_id or None)
    return Storage(base, receiver.sftp_user)


def intake_for(receiver: Receiver) -> Intake:
    """The steps' context for ``receiver``: its warehouse and SFTP connections and its store resolved."""
    return Intake(
        receiver=receiver,
        database=connections.database(receiver.warehouse_conn_id),
        open_sftp=lambda: connections.sftp(receiver.sftp_conn_id),
        spec_for=_spec_for,
        storage=storage(receiver),
    )


def _spec_for(name: str) -> ExtractSpec:
    from sf1630.receiver.extract import spec_for  # polars and the data specs load only when a step needs one

    return spec_for(name)


def local_quarantine(receiver: Receiver) -> Path:
    """The quarantine as a local folder, for readers of its ``reason.json`` files (alerts, the UI).

    With a remote store there is no local folder (the path returned does not exist); those readers then go by
    the warehouse ledger and its ``report`` URI alone.
    """
    return _local(storage(receiver).quarantine, "no-local-quarantine", receiver)


def local_held(receiver: Receiver) -> Path:
    """The notes of deliveries held in IN/ as a local folder (one that does not exist for a remote store)."""
    return _local(storage(receiver).held, "no-local-held", receiver)


def _local(path: StorePath, missing: str, receiver: Receiver) -> Path:
    from sf1630.receiver.storage import is_local, os_path

    if is_local(path):
        return Path(os_path(path))
    return _airflow_home() / "sf1630" / missing / receiver.sftp_user
