"""What is waiting in a LIS system's IN/ folder: deliveries (data + metadata), and the two kinds of orphan.

The platform writes a data file and then ``<data file>.metadata`` beside it. The recipient owns a delivery
once its metadata exists; a data file alone is either still arriving or abandoned (quarantined after a grace
period), and a metadata file alone points at a data file that is gone (reported, never guessed at). Names in
a listing come from the server, so they pass ``check_safe_name`` before anything else uses them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sf1630.protocol import METADATA_SUFFIX, ProtocolError, check_safe_name


@dataclass(frozen=True)
class RemoteFile:
    """One entry of a listing: name, size in bytes and modification time (timezone-aware)."""

    name: str
    size: int
    modified: datetime


@dataclass(frozen=True)
class Delivery:
    """A data file with its metadata file, both present in IN/."""

    data_name: str
    metadata_name: str
    data_size: int

    @property
    def label(self) -> str:
        """A short UI label: sender, kommune and period from the file name when it follows the convention."""
        parts = self.data_name.removesuffix(".csv").split("_")
        return " ".join((parts[0], parts[2], parts[3])) if len(parts) == 5 else self.data_name


@dataclass(frozen=True)
class InboxListing:
    deliveries: tuple[Delivery, ...] = ()
    data_without_metadata: tuple[RemoteFile, ...] = ()
    metadata_without_data: tuple[RemoteFile, ...] = ()
    unsafe_names: tuple[str, ...] = field(default=())


def is_safe(name: str) -> bool:
    try:
        check_safe_name(name)
    except ProtocolError:
        return False
    return True


def pair_inbox(entries: Iterable[RemoteFile]) -> InboxListing:
    """Sort a listing of IN/ into deliveries and orphans; unsafe names are set aside, never paired."""
    files: dict[str, RemoteFile] = {}
    unsafe: list[str] = []
    for entry in entries:
        if is_safe(entry.name):
            files[entry.name] = entry
        else:
            unsafe.append(entry.name)
    metadata = {name for name in files if name.endswith(METADATA_SUFFIX)}
    data = {name for name in files if name not in metadata}
    deliveries = tuple(
        Delivery(name.removesuffix(METADATA_SUFFIX), name, files[name.removesuffix(METADATA_SUFFIX)].size)
        for name in sorted(metadata)
        if name.removesuffix(METADATA_SUFFIX) in data
    )
    paired = {d.data_name for d in deliveries}
    return InboxListing(
        deliveries=deliveries,
        data_without_metadata=tuple(files[n] for n in sorted(data - paired)),
        metadata_without_data=tuple(
            files[n] for n in sorted(metadata) if n.removesuffix(METADATA_SUFFIX) not in data
        ),
        unsafe_names=tuple(sorted(unsafe)),
    )


def overdue(orphans: Iterable[RemoteFile], *, now: datetime, grace: timedelta) -> tuple[RemoteFile, ...]:
    """The orphaned data files unchanged for longer than ``grace`` at ``now``."""
    return tuple(entry for entry in orphans if now - entry.modified > grace)
