"""Retention: the platform deletes files left unchanged too long, after mailing their owner a warning.

Both the warning and the deletion key on the file's modification time, so a file that changes starts over.
Each version of a file is warned about once (remembered in the journal database). Files that belong to a
transfer in progress are left alone.
"""

from __future__ import annotations

import logging
import os
import stat
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sf1630.platform.config import PlatformConfig
from sf1630.platform.folders import FOLDERS, OUT, PlatformHome
from sf1630.platform.journal import Journal
from sf1630.platform.mail import Postman, warning_message
from sf1630.platform.router import Router

LOGGER = logging.getLogger("sf1630.platform.retention")


@dataclass
class SweepResult:
    """What one sweep did, as ``user/FOLDER/name`` strings."""

    warned: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)


def sweep(
    config: PlatformConfig,
    home: PlatformHome,
    journal: Journal,
    router: Router | None = None,
    *,
    now: float | None = None,
) -> SweepResult:
    """One retention pass over every user's ``IN/`` and ``OUT/``."""
    now = time.time() if now is None else now
    postman = Postman(config.mail, home.outbox)
    result = SweepResult()
    retention = config.retention
    for user in config.users:
        for folder in FOLDERS:
            directory = home.folder(user.name, folder)
            try:
                names = sorted(os.listdir(directory))
            except FileNotFoundError:
                continue
            for name in names:
                if folder == OUT and router is not None and router.is_locked(user.name, name):
                    continue
                path = directory / name
                try:
                    info = os.lstat(path)
                except FileNotFoundError:
                    continue
                if not stat.S_ISREG(info.st_mode):
                    continue
                age = timedelta(seconds=now - info.st_mtime)
                label = f"{user.name}/{folder}/{name}"
                if age >= retention.delete_after:
                    path.unlink(missing_ok=True)
                    journal.forget_warning(user.name, folder, name)
                    result.deleted.append(label)
                    LOGGER.info("retention deleted %s", label)
                elif age >= retention.delete_after - retention.warn_before:
                    if journal.warned(user.name, folder, name, info.st_mtime_ns):
                        continue
                    deleted_at = datetime.fromtimestamp(info.st_mtime, UTC) + retention.delete_after
                    message = warning_message(
                        sender=postman.sender,
                        to=user.email,
                        user=user.name,
                        folder=folder,
                        name=name,
                        deleted_at=deleted_at,
                    )
                    postman.send(message)
                    journal.record_warning(user.name, folder, name, info.st_mtime_ns)
                    result.warned.append(label)
    return result
