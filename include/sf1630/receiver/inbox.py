"""What is waiting in a LIS system's IN/ folder: inbox items (data + metadata), and the two kinds of orphan.

The platform writes a data file and then ``<data file>.metadata`` beside it. The recipient owns an item
once its metadata exists; a data file alone is either still arriving or abandoned (quarantined after a grace
period), and a metadata file alone points at a data file that is gone (reported, never guessed at). Names in
a listing come from the server, so they pass ``check_safe_name`` before anything else uses them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sf1630.protocol import METADATA_SUFFIX, DataFileName, ProtocolError, check_safe_name
from sf1630.registry import Kommune, LisSystem, delivery_label


@dataclass(frozen=True)
class RemoteFile:
    """One entry of a listing: name, size in bytes and modification time (timezone-aware)."""

    name: str
    size: int
    modified: datetime


@dataclass(frozen=True)
class InboxItem:
    """A data file with its metadata file, both present in IN/: what one receiver task takes on.

    Named apart from the sender's delivery (a planned file for one LIS system) and from the platform's
    transfer: this is only what the listing shows, nothing of it trusted yet.
    """

    data_name: str
    metadata_name: str
    data_size: int

    def label(self, kommune: Kommune, lis: LisSystem) -> str:
        """The delivery's label (:func:`~sf1630.registry.delivery_label`) when the name follows the
        convention and is for this LIS system's kommune; else the file name, which says it all."""
        try:
            name = DataFileName.parse(self.data_name)
        except ProtocolError:
            return self.data_name
        if name.authority != kommune.cvr:
            return self.data_name
        return delivery_label(name.sender, kommune, lis, name.month)


@dataclass(frozen=True)
class InboxListing:
    """IN/ sorted: complete items, the two kinds of orphan, and names too unsafe to touch."""

    items: tuple[InboxItem, ...] = ()
    data_without_metadata: tuple[RemoteFile, ...] = ()
    metadata_without_data: tuple[RemoteFile, ...] = ()
    unsafe_names: tuple[str, ...] = field(default=())


def is_safe(name: str) -> bool:
    """Whether a listed name may be used at all (see ``check_safe_name``)."""
    try:
        check_safe_name(name)
    except ProtocolError:
        return False
    return True


def pair_inbox(entries: Iterable[RemoteFile]) -> InboxListing:
    """Sort a listing of IN/ into items and orphans; unsafe names are set aside, never paired."""
    files: dict[str, RemoteFile] = {}
    unsafe: list[str] = []
    for entry in entries:
        if is_safe(entry.name):
            files[entry.name] = entry
        else:
            unsafe.append(entry.name)
    metadata = {name for name in files if name.endswith(METADATA_SUFFIX)}
    data = {name for name in files if name not in metadata}
    items = tuple(
        InboxItem(name.removesuffix(METADATA_SUFFIX), name, files[name.removesuffix(METADATA_SUFFIX)].size)
        for name in sorted(metadata)
        if name.removesuffix(METADATA_SUFFIX) in data
    )
    paired = {item.data_name for item in items}
    return InboxListing(
        items=items,
        data_without_metadata=tuple(files[n] for n in sorted(data - paired)),
        metadata_without_data=tuple(
            files[n] for n in sorted(metadata) if n.removesuffix(METADATA_SUFFIX) not in data
        ),
        unsafe_names=tuple(sorted(unsafe)),
    )


def overdue(orphans: Iterable[RemoteFile], *, now: datetime, grace: timedelta) -> tuple[RemoteFile, ...]:
    """The orphaned data files unchanged for longer than ``grace`` at ``now``."""
    return tuple(entry for entry in orphans if now - entry.modified > grace)
