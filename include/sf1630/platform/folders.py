"""Where the platform keeps its state inside ``--home DIR``, and the one way it writes files atomically.

Layout: ``users/<name>/{IN,OUT}`` (each user's SFTP root), ``spool/`` (temporary files, same file system so a
rename publishes them atomically), ``journal.sqlite``, ``host_key``/``host_key.pub``, ``client_keys/``
(generated demo keys), ``outbox/`` (warning mails when no SMTP server is configured) and ``platform.lock``
(held by the one process that serves this home, so a second ``serve`` refuses to start).

Files the platform writes for users (receipts, metadata) are published with :meth:`PlatformHome.write_new`,
which never replaces an existing file: an answer once written is never overwritten by a later one.
"""

from __future__ import annotations

import errno
import fcntl
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
        self.lock_file = self.root / "platform.lock"

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

    def check_root(self) -> None:
        """Raise :class:`HomeError` (one clear sentence) when ``--home`` cannot hold the platform's state."""
        for path in (self.root, self.users, self.spool):
            if path.exists() and not path.is_dir():
                raise HomeError(f"{path} exists and is not a folder")

    def acquire_lock(self) -> int:
        """Take the home's exclusive lock (held until the process ends); :class:`HomeInUse` if another has it.

        Two platforms on one home would route the same triggers twice and answer each other's transfers
        with failures, so only one process may serve (or sweep) a home at a time. ``flock`` is released by
        the kernel when the holder dies, so a ``kill -9`` never leaves a stale lock behind.
        """
        fd = os.open(self.lock_file, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            os.close(fd)
            if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                holder = self.lock_file.read_text(encoding="ascii", errors="replace").strip() or "?"
                raise HomeInUse(f"{self.root} is in use by another platform process (pid {holder})") from None
            raise
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode("ascii"))
        return fd

    def clean_spool(self) -> list[str]:
        """Remove temporary files a killed process left in ``spool/`` (call only while holding the lock)."""
        removed = []
        for name in sorted(os.listdir(self.spool)):
            path = self.spool / name
            if name.endswith(".tmp") and path.is_file() and not path.is_symlink():
                path.unlink(missing_ok=True)
                removed.append(name)
        return removed

    def _spooled(self, data: bytes) -> Path:
        tmp = self.spool / f"{uuid.uuid4().hex}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o640)
        try:
            os.write(fd, data)
            os.fsync(fd)
        except BaseException:
            os.close(fd)
            tmp.unlink(missing_ok=True)
            raise
        os.close(fd)
        return tmp

    def write_atomic(self, target: Path, data: bytes) -> None:
        """Write ``data`` to ``target`` so readers see either nothing or all of it (tmp, fsync, rename)."""
        tmp = self._spooled(data)
        try:
            os.replace(tmp, target)
        except OSError:
            tmp.unlink(missing_ok=True)
            raise

    def write_new(self, target: Path, data: bytes) -> bool:
        """Publish ``data`` as ``target`` atomically unless it exists; True if ``target`` now holds ``data``.

        A link from the spool never replaces an existing name, so a receipt or metadata file already written
        stays as it was. A ``target`` that already holds exactly ``data`` counts as written: replaying a
        journalled step after a crash is then a no-op.
        """
        tmp = self._spooled(data)
        try:
            os.link(tmp, target, follow_symlinks=False)
        except FileExistsError:
            return _holds(target, data)
        finally:
            tmp.unlink(missing_ok=True)
        return True


def _holds(path: Path, data: bytes) -> bool:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return False
    with os.fdopen(fd, "rb") as file:
        return file.read(len(data) + 1) == data


class HomeError(Exception):
    """``--home`` cannot be used (e.g. it is a file); the message is one sentence for the operator."""


class HomeInUse(HomeError):
    """Another platform process holds the home's lock."""
