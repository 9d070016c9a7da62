"""Where the platform keeps its state inside ``--home DIR``, and the one way it writes files atomically.

Layout: ``users/<name>/{IN,OUT}`` (each user's SFTP root), ``spool/`` (temporary files, same file system so a
rename publishes them atomically), ``journal.sqlite``, ``host_key``/``host_key.pub``, ``client_keys/``
(generated demo keys) and ``outbox/`` (warning mails when no SMTP server is configured).
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

from sf1630.platform.config import PlatformConfig

IN, OUT = "IN", "OUT"
FOLDERS = (IN, OUT)


class PlatformHome:
    """Paths inside the platform's home folder."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root).resolve()
        self.users = self.root / "users"
        self.spool = self.root / "spool"
        self.outbox = self.root / "outbox"
        self.client_keys = self.root / "client_keys"
        self.journal = self.root / "journal.sqlite"
        self.host_key = self.root / "host_key"
        self.host_key_pub = self.root / "host_key.pub"
        self.audit_log = self.root / "audit.log"

    def user_root(self, user: str) -> Path:
        """The SFTP root (chroot) of ``user``; the name was checked when the configuration was read."""
        return self.users / user

    def folder(self, user: str, folder: str) -> Path:
        """``IN`` or ``OUT`` of ``user``."""
        if folder not in FOLDERS:
            raise ValueError(f"unknown folder {folder!r}")
        return self.users / user / folder

    def prepare(self, config: PlatformConfig) -> None:
        """Create the home layout and every configured user's folders."""
        for path in (self.root, self.users, self.spool):
            path.mkdir(mode=0o700, parents=True, exist_ok=True)
        for user in config.users:
            for folder in FOLDERS:
                self.folder(user.name, folder).mkdir(mode=0o750, parents=True, exist_ok=True)

    def write_atomic(self, target: Path, data: bytes) -> None:
        """Write ``data`` to ``target`` so readers see either nothing or all of it (tmp, fsync, rename)."""
        tmp = self.spool / f"{uuid.uuid4().hex}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o640)
        try:
            os.write(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        try:
            os.replace(tmp, target)
        except OSError:
            tmp.unlink(missing_ok=True)
            raise
