"""Cleaning the sender's ``OUT/`` of data files that never got a trigger.

The platform only takes files whose trigger it has seen; a data file whose trigger never came (the task
died between the two uploads and was not retried, or a ``.part`` file of a broken upload) stays in ``OUT/``
until the platform's 30-day retention deletes it, with a warning mail to the sender on day 20. Cleaning
those up is the sender's duty (design.md §1). A grace period protects an upload in progress.
"""

from __future__ import annotations

import stat as stat_mode
from datetime import datetime, timedelta

from sf1630.protocol import OUT, TRIGGER_SUFFIX, ProtocolError, check_safe_name
from sf1630.sender.upload import PART_SUFFIX, RemoteFiles


def _stale(name: str, names: set[str]) -> bool:
    if name.endswith(TRIGGER_SUFFIX):
        return False
    base = name.removesuffix(PART_SUFFIX)
    if base.endswith(TRIGGER_SUFFIX):  # a broken trigger upload
        return True
    return base + TRIGGER_SUFFIX not in names


def sweep_out(sftp: RemoteFiles, now: datetime, grace: timedelta) -> list[str]:
    """Delete files in ``OUT/`` without a trigger, older than ``grace``; return their names, sorted."""
    entries = sftp.listdir_attr(OUT)
    names = {entry.filename for entry in entries}
    removed = []
    for entry in entries:
        name = entry.filename
        if entry.st_mode is not None and not stat_mode.S_ISREG(entry.st_mode):
            continue
        if not _stale(name, names) or entry.st_mtime is None:
            continue
        if now.timestamp() - entry.st_mtime <= grace.total_seconds():
            continue
        try:
            safe = check_safe_name(name.removesuffix(PART_SUFFIX).removesuffix(TRIGGER_SUFFIX))
        except ProtocolError:
            continue  # never build a path from a name that is not one safe component
        if not name.startswith(safe):
            continue
        try:
            sftp.remove(f"{OUT}/{name}")
        except FileNotFoundError:
            continue
        removed.append(name)
    return sorted(removed)
