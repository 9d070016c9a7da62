"""Sweeping a LIS system's IN/: the recipient's share of cleaning up what a delivery left behind.

The platform hands over a transfer once the metadata file exists; a data file that never got one is the
recipient's to clean (SF1630: "it cleans a data file left without a metadata file"). After the grace period
such a file is quarantined (kept for a person, removed from IN/); a metadata file without its data file is
only reported, because guessing what it pointed at would be worse than leaving it. One verb, "sweep", on
both sides: the sender sweeps its OUT/, the receiver its IN/.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from sf1630.receiver.config import Receiver
from sf1630.receiver.fetch import delete_remote, list_inbox, remote_path
from sf1630.receiver.inbox import InboxListing, overdue
from sf1630.receiver.quarantine import past_keep, quarantine
from sf1630.receiver.storage import StorePath

if TYPE_CHECKING:
    from paramiko import SFTPClient

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class InboxSweep:
    """What one sweep did and saw, by file name (the housekeeping task's XCom)."""

    quarantined_orphans: list[str] = field(default_factory=list)
    metadata_without_data: list[str] = field(default_factory=list)
    unsafe_names: list[str] = field(default_factory=list)


def housekeeping_due(
    listing: InboxListing, receiver: Receiver, quarantine_root: StorePath, *, now: datetime
) -> bool:
    """Whether a sweep would change anything: an orphaned data file past the grace period in ``listing``,
    or a quarantine folder past its keep. A receiver run that found no delivery runs housekeeping only then,
    so an empty hourly run costs one short task (what is merely reported waits for the next sweep)."""
    settings = receiver.settings
    if overdue(listing.data_without_metadata, now=now, grace=settings.grace):
        return True
    return bool(past_keep(quarantine_root, keep=settings.quarantine_keep, now=now))


def sweep_inbox(sftp: SFTPClient, receiver: Receiver, quarantine_root: Path, *, now: datetime) -> InboxSweep:
    """Quarantine data files without metadata for longer than the grace period; report the other orphans."""
    inbox = receiver.settings.inbox
    listing = list_inbox(sftp, inbox, who=receiver.sftp_user)
    stale = overdue(listing.data_without_metadata, now=now, grace=receiver.settings.grace)
    for entry in stale:
        _quarantine_orphan(sftp, receiver, quarantine_root, entry.name, now)
    for entry in listing.metadata_without_data:
        log.warning("%s in %s/%s has no data file", entry.name, receiver.sftp_user, inbox)
    return InboxSweep(
        quarantined_orphans=[e.name for e in stale],
        metadata_without_data=[e.name for e in listing.metadata_without_data],
        unsafe_names=list(listing.unsafe_names),
    )


def _quarantine_orphan(
    sftp: SFTPClient, receiver: Receiver, quarantine_root: Path, name: str, now: datetime
) -> None:
    """Copy the orphan into its own quarantine folder with the reason, then remove it from IN/."""
    inbox = receiver.settings.inbox
    reason = {
        "lis_system": receiver.sftp_user,
        "data_file": name,
        "reason": "data file without metadata",
        "detail": f"no {name}.metadata for more than {receiver.settings.grace}",
        "quarantined_at": now.isoformat(),
    }
    folder = quarantine(quarantine_root, name, reason)
    with (folder / name).open("wb") as out:
        sftp.getfo(remote_path(inbox, name), out)
    delete_remote(sftp, inbox, name)
    log.warning("quarantined orphaned data file %s to %s", name, folder)
