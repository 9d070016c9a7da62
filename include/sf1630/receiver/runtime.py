"""The receiver's tasks resolved against Airflow: connections, folders and the data specs.

``dag`` keeps task bodies to one call each; this module turns a :class:`LisSystem` into a working
:class:`~sf1630.receiver.delivery.Receiver` (SFTP hook with the pinned host key, warehouse from its
connection, staging and quarantine folders) and runs the listing, housekeeping and completeness steps.
Imported only inside tasks, so Airflow's hooks and the data libraries stay out of DAG parsing.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from sf1630.receiver.completeness import describe_missing, missing_extracts, period_of
from sf1630.receiver.config import LisSystem
from sf1630.receiver.delivery import ExtractSpec, Receiver
from sf1630.receiver.fetch import delete_remote, list_folder, remote_path
from sf1630.receiver.inbox import InboxListing, overdue, pair_inbox
from sf1630.receiver.quarantine import quarantine
from sf1630.warehouse import WarehouseTarget, loaded_extracts

if TYPE_CHECKING:
    from paramiko import SFTPClient

log = logging.getLogger(__name__)


def _airflow_home() -> Path:
    from airflow.configuration import AIRFLOW_HOME

    return Path(AIRFLOW_HOME)


def staging_dir(system: LisSystem) -> Path:
    """Where downloads land before validation: configured, or ``$AIRFLOW_HOME/sf1630/staging/<user>``."""
    base = Path(system.staging_dir) if system.staging_dir else _airflow_home() / "sf1630" / "staging"
    return base / system.sftp_user


def quarantine_dir(system: LisSystem) -> Path:
    """Where refused deliveries are kept: configured, or ``$AIRFLOW_HOME/sf1630/quarantine/<user>``."""
    base = Path(system.quarantine_dir) if system.quarantine_dir else _airflow_home() / "sf1630" / "quarantine"
    return base / system.sftp_user


@contextmanager
def open_sftp(system: LisSystem) -> Iterator[SFTPClient]:
    """A fresh paramiko SFTP session as the LIS system's SFTP user (host key pinned by the connection)."""
    from airflow.providers.sftp.hooks.sftp import SFTPHook

    hook = SFTPHook(ssh_conn_id=system.sftp_conn_id)
    with hook.get_managed_conn() as sftp:
        yield sftp


def receiver_for(system: LisSystem) -> Receiver:
    """The :class:`Receiver` for ``system`` with its connections resolved."""
    return Receiver(
        system=system,
        target=WarehouseTarget.from_connection(system.warehouse_conn_id),
        open_sftp=lambda: open_sftp(system),
        spec_for=_spec_for,
        staging=staging_dir(system),
        quarantine_root=quarantine_dir(system),
    )


def _spec_for(name: str) -> ExtractSpec:
    from sf1630.receiver.extract import spec_for  # polars and Great Expectations load only when needed

    return spec_for(name)


def list_inbox(system: LisSystem) -> InboxListing:
    """Pair what is in IN/ and log what cannot be paired."""
    with open_sftp(system) as sftp:
        listing = pair_inbox(list_folder(sftp, system.inbox))
    for name in listing.unsafe_names:
        log.error("unsafe file name in %s/%s left untouched: %r", system.sftp_user, system.inbox, name)
    log.info("%d deliveries waiting in %s/%s", len(listing.deliveries), system.sftp_user, system.inbox)
    return listing


def clean_inbox(system: LisSystem, *, now: datetime) -> dict[str, list[str]]:
    """Quarantine data files without metadata for longer than the grace period; report the other orphans."""
    with open_sftp(system) as sftp:
        listing = pair_inbox(list_folder(sftp, system.inbox))
        stale = overdue(listing.data_without_metadata, now=now, grace=system.grace)
        for entry in stale:
            _quarantine_orphan(sftp, system, entry.name, now)
    for entry in listing.metadata_without_data:
        log.warning("%s in %s/%s has no data file", entry.name, system.sftp_user, system.inbox)
    return {
        "quarantined_orphans": [e.name for e in stale],
        "metadata_without_data": [e.name for e in listing.metadata_without_data],
        "unsafe_names": list(listing.unsafe_names),
    }


def _quarantine_orphan(sftp: SFTPClient, system: LisSystem, name: str, now: datetime) -> None:
    reason = {
        "lis_system": system.sftp_user,
        "data_file": name,
        "reason": "data file without metadata",
        "detail": f"no {name}.metadata for more than {system.grace}",
        "quarantined_at": now.isoformat(),
    }
    folder = quarantine(quarantine_dir(system), name, reason)
    with (folder / name).open("wb") as out:
        sftp.getfo(remote_path(system.inbox, name), out)
    delete_remote(sftp, system.inbox, name)
    log.warning("quarantined orphaned data file %s to %s", name, folder)


def completeness_verdict(
    system: LisSystem,
    period: str,
    interval_start: datetime,
    deadline: datetime,
    *,
    now: datetime | None = None,
) -> tuple[bool, str]:
    """(done, text) for ``period`` (or the interval start's month); raises once ``deadline`` has passed."""
    from airflow.sdk.exceptions import AirflowFailException

    month = period or period_of(interval_start)
    target = WarehouseTarget.from_connection(system.warehouse_conn_id)
    missing = missing_extracts(system, loaded_extracts(target, month))
    text = describe_missing(system, month, missing)
    if not missing:
        log.info(text)
        return True, text
    if (now or datetime.now(UTC)) >= deadline:
        raise AirflowFailException(f"deadline {deadline:%Y-%m-%d %H:%M %Z} passed. {text}")
    log.info("still waiting: %s", text)
    return False, text
