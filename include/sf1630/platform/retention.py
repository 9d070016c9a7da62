"""Retention: the platform deletes files left unchanged too long, after mailing their owner a warning.

Both the warning and the deletion key on the file's modification time, so a file that changes starts over.
Each version of a file is warned about once (remembered in the journal database). Files that belong to a
transfer in progress are left alone.
"""

from __future__ import annotations

import logging
import os
import smtplib
import stat
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sf1630.platform.config import PlatformConfig, User
from sf1630.platform.folders import FOLDERS, OUT, PlatformHome
from sf1630.platform.journal import Journal
from sf1630.platform.mail import Postman, warning_message
from sf1630.platform.router import Router

LOGGER = logging.getLogger("sf1630.platform.retention")


@dataclass
class SweepResult:
    """What one sweep did, as ``user/FOLDER/name`` strings; ``failed`` are retried at the next sweep."""

    warned: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)


def sweep(
    config: PlatformConfig,
    home: PlatformHome,
    journal: Journal,
    router: Router | None = None,
    *,
    now: float | None = None,
) -> SweepResult:
    """One retention pass over every user's ``IN/`` and ``OUT/``.

    A file that cannot be handled (a refused or failed warning mail, a deletion the file system refuses)
    is logged in one line and listed in ``failed``; the sweep goes on with every other file and user, and
    because nothing was recorded for it, the next sweep tries it again.
    """
    now = time.time() if now is None else now
    postman = Postman(config.mail, home.outbox)
    result = SweepResult()
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
                label = f"{user.name}/{folder}/{name}"
                try:
                    _one_file(config, journal, postman, user, folder, directory / name, now, result)
                except (OSError, smtplib.SMTPException) as exc:
                    LOGGER.warning("retention failed on %s (retried next sweep): %s", label, _reason(exc))
                    result.failed.append(label)
    return result


def _reason(exc: BaseException) -> str:
    """A short reason without the SMTP conversation's details (which may echo addresses) or a traceback."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return "recipient refused by the mail server"
    if isinstance(exc, smtplib.SMTPResponseException):
        return f"mail server answered {exc.smtp_code}"
    if isinstance(exc, OSError):
        return exc.strerror or type(exc).__name__
    return type(exc).__name__


def _one_file(
    config: PlatformConfig,
    journal: Journal,
    postman: Postman,
    user: User,
    folder: str,
    path: Path,
    now: float,
    result: SweepResult,
) -> None:
    """Delete ``path`` if it expired, else warn its owner once when it is about to."""
    retention = config.retention
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return
    if not stat.S_ISREG(info.st_mode):
        return
    age = timedelta(seconds=now - info.st_mtime)
    label = f"{user.name}/{folder}/{path.name}"
    if age >= retention.delete_after:
        path.unlink(missing_ok=True)
        journal.forget_warning(user.name, folder, path.name)
        result.deleted.append(label)
        LOGGER.info("retention deleted %s", label)
    elif age >= retention.delete_after - retention.warn_before:
        if journal.warned(user.name, folder, path.name, info.st_mtime_ns):
            return
        deleted_at = datetime.fromtimestamp(info.st_mtime, UTC) + retention.delete_after
        message = warning_message(
            sender=postman.sender,
            to=user.email,
            user=user.name,
            folder=folder,
            name=path.name,
            deleted_at=deleted_at,
        )
        postman.send(message)
        journal.record_warning(user.name, folder, path.name, info.st_mtime_ns)
        result.warned.append(label)
