"""Reading IN/ over SFTP: listings, size-capped metadata reads, and downloads checked against SizeInBytes.

A dropped connection leaves a short local file, and a platform that delivers a short file leaves one too;
the size check against the metadata catches both, and a download is retried on a fresh connection before
the delivery is given up on. Every remote name becomes a path only after ``check_safe_name``, and only inside
the staging area of the receiver's store; files land under a temporary name and are renamed when complete.
"""

from __future__ import annotations

import logging
import os
import shutil
import stat
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from sf1630.protocol import MAX_DOCUMENT_BYTES, DocumentTooLarge, check_safe_name
from sf1630.receiver.inbox import InboxListing, RemoteFile, pair_inbox
from sf1630.receiver.storage import StorePath, is_local, make_private_dir

if TYPE_CHECKING:
    from paramiko import SFTPClient

log = logging.getLogger(__name__)

OpenSFTP = Callable[[], AbstractContextManager["SFTPClient"]]


class SharedSession:
    """An :data:`OpenSFTP` that hands out one session for a whole step, opened on first use and dropped
    after any error inside it (the next use, e.g. a download's retry, connects afresh).

    Each session is an SSH handshake (key exchange, host key check, login: tens of milliseconds of CPU in
    the task and in the server); a step fetching N deliveries opened 2N of them.
    """

    def __init__(self, open_sftp: OpenSFTP) -> None:
        self._open = open_sftp
        self._session: AbstractContextManager[SFTPClient] | None = None
        self._client: SFTPClient | None = None

    @contextmanager
    def __call__(self) -> Iterator[SFTPClient]:
        if self._session is None or self._client is None:
            session = self._open()
            self._client = session.__enter__()
            self._session = session
        try:
            yield self._client
        except BaseException as err:
            self.close(err)
            raise

    def close(self, error: BaseException | None = None) -> None:
        """Close the session, if one is open (with the error that ended it, as a ``with`` would)."""
        session, self._session, self._client = self._session, None, None
        if session is not None:
            session.__exit__(type(error) if error else None, error, error.__traceback__ if error else None)


@contextmanager
def shared_session(open_sftp: OpenSFTP) -> Iterator[OpenSFTP]:
    """A :class:`SharedSession` over ``open_sftp``, closed when the ``with`` ends."""
    shared = SharedSession(open_sftp)
    try:
        yield shared
    finally:
        shared.close()


class SizeMismatch(Exception):
    """The downloaded file's size differs from the metadata's SizeInBytes."""

    def __init__(self, name: str, expected: int, actual: int) -> None:
        super().__init__(f"{name}: downloaded {actual} bytes, metadata says SizeInBytes {expected}")
        self.expected = expected
        self.actual = actual


def remote_path(folder: str, name: str) -> str:
    """``folder/name`` on the server, for a name that passed ``check_safe_name``."""
    return f"{folder.rstrip('/')}/{check_safe_name(name)}"


def list_folder(sftp: SFTPClient, folder: str) -> list[RemoteFile]:
    """Regular files in ``folder`` with size and modification time; folders and links are ignored."""
    entries = []
    for attr in sftp.listdir_attr(folder):
        if attr.st_mode is None or not stat.S_ISREG(attr.st_mode):
            continue
        modified = datetime.fromtimestamp(attr.st_mtime or 0, tz=UTC)
        entries.append(RemoteFile(attr.filename, attr.st_size or 0, modified))
    return entries


def list_inbox(sftp: SFTPClient, folder: str, *, who: str) -> InboxListing:
    """``folder`` listed and paired (:func:`~sf1630.receiver.inbox.pair_inbox`); unsafe names are logged,
    because they are left on the server untouched and a person has to look (``who`` names the SFTP user)."""
    listing = pair_inbox(list_folder(sftp, folder))
    for name in listing.unsafe_names:
        log.error("unsafe file name in %s/%s left untouched: %r", who, folder, name)
    log.info("%d item(s) waiting in %s/%s", len(listing.items), who, folder)
    return listing


def read_small(sftp: SFTPClient, path: str, *, max_bytes: int = MAX_DOCUMENT_BYTES) -> bytes:
    """Read a remote document of at most ``max_bytes`` without ever holding more than that in memory."""
    size = sftp.stat(path).st_size or 0
    if size > max_bytes:
        raise DocumentTooLarge(f"{path} has {size} bytes, more than the {max_bytes} allowed")
    with sftp.open(path, "rb") as handle:
        data = handle.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise DocumentTooLarge(f"{path} grew beyond {max_bytes} bytes while being read")
    return bytes(data)


def download(
    sftp: SFTPClient, folder: str, name: str, destination: StorePath, expected_size: int
) -> StorePath:
    """Fetch ``folder/name`` to ``destination``; raise :class:`SizeMismatch` when the size is wrong.

    The bytes land in a temporary file first (owner-only; beside the destination when the store is local, so
    the final rename is atomic) and reach ``destination`` only when complete and of the right size.
    """
    check_safe_name(name)
    local_store = is_local(destination)
    if local_store:
        make_private_dir(destination.parent)
    handle, part = tempfile.mkstemp(
        dir=str(destination.parent.path) if local_store else None, prefix=".part-"
    )
    try:
        with os.fdopen(handle, "wb") as out:
            sftp.getfo(remote_path(folder, name), out, prefetch=True)
        actual = Path(part).stat().st_size
        if actual != expected_size:
            raise SizeMismatch(name, expected_size, actual)
        if local_store:
            Path(part).replace(str(destination.path))
        else:
            with Path(part).open("rb") as source, destination.open("wb") as target:
                shutil.copyfileobj(source, target, 1 << 20)
    finally:
        Path(part).unlink(missing_ok=True)
    return destination


def download_with_retries(
    open_sftp: OpenSFTP,
    folder: str,
    name: str,
    destination: StorePath,
    expected_size: int,
    *,
    attempts: int = 3,
    backoff_seconds: float = 1.0,
) -> StorePath:
    """:func:`download` on a fresh connection per attempt, backing off exponentially between attempts.

    Connection errors and size mismatches are retried; after the last attempt the error propagates (a
    size mismatch then leads to quarantine, a connection error to Airflow's own task retries).
    """
    for attempt in range(1, attempts + 1):
        try:
            with open_sftp() as sftp:
                return download(sftp, folder, name, destination, expected_size)
        except (OSError, EOFError, SizeMismatch, _ssh_errors()) as err:
            if attempt == attempts:
                raise
            log.warning("download of %s failed (attempt %d of %d): %s", name, attempt, attempts, err)
            time.sleep(backoff_seconds * 2 ** (attempt - 1))
    raise AssertionError("unreachable")


def _ssh_errors() -> type[Exception]:
    from paramiko import SSHException

    return SSHException


def delete_remote(sftp: SFTPClient, folder: str, *names: str) -> None:
    """Remove ``names`` from ``folder``; a name already gone counts as removed (a retry after a crash)."""
    for name in names:
        try:
            sftp.remove(remote_path(folder, name))
        except FileNotFoundError:
            log.info("%s was already gone from %s", name, folder)
