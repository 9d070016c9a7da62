"""Putting one delivery on the platform: data file atomically, then its trigger, never twice.

The platform acts on the trigger, and only on a complete one, so both files go up under a temporary name
and are renamed into place when complete (``posix_rename``): a connection lost mid-upload leaves at most a
``.part`` file, never a truncated file under the final name, and the retry simply overwrites the
``.part``. Before anything is sent, the remote state decides: a trigger still in ``OUT/`` or a receipt in
``IN/`` means an earlier attempt got through and only the receipt is left to read.
"""

from __future__ import annotations

import enum
import io
import stat as stat_mode
from datetime import datetime
from pathlib import Path
from typing import IO, Any, Protocol

from sf1630.protocol import IN, OUT, RECEIPT_SUFFIX, TRIGGER_SUFFIX, Trigger, check_safe_name, cvr_urn
from sf1630.registry import SenderSystem
from sf1630.sender.plan import Delivery

PART_SUFFIX = ".part"


class RemoteFile(Protocol):
    """An open remote file: paramiko's ``SFTPFile``, or a local file in tests."""

    def read(self, size: int | None = ..., /) -> bytes: ...

    def write(self, data: bytes, /) -> Any: ...

    def __enter__(self) -> Any: ...

    def __exit__(self, *args: Any) -> Any: ...


class RemoteFiles(Protocol):
    """The part of paramiko's ``SFTPClient`` the sender uses (tests use the same with a real server)."""

    def open(self, filename: str, mode: str = "r", bufsize: int = -1) -> RemoteFile: ...

    def posix_rename(self, oldpath: str, newpath: str) -> None: ...

    def remove(self, path: str) -> None: ...

    def stat(self, path: str) -> Any: ...

    def listdir_attr(self, path: str = ".") -> list[Any]: ...


class RemoteState(enum.Enum):
    """How far an earlier attempt of a delivery got, as seen on the SFTP server."""

    ABSENT = "absent"  # nothing of it there (or only a data file without trigger): upload
    TRIGGERED = "triggered"  # trigger still in OUT/: the platform has not answered yet
    ANSWERED = "answered"  # receipt in IN/: the platform has answered


def out_path(name: str) -> str:
    """``OUT/<name>`` after checking ``name`` is one safe path component."""
    return f"{OUT}/{check_safe_name(name)}"


def in_path(name: str) -> str:
    """``IN/<name>`` after checking ``name`` is one safe path component."""
    return f"{IN}/{check_safe_name(name)}"


def trigger_path(file_name: str) -> str:
    """Where the trigger of data file ``file_name`` goes (``check_safe_name`` refuses ``.trigger`` names)."""
    return out_path(file_name) + TRIGGER_SUFFIX


def exists(sftp: RemoteFiles, path: str) -> bool:
    """Whether ``path`` exists as a regular file."""
    try:
        attrs = sftp.stat(path)
    except FileNotFoundError:
        return False
    return attrs.st_mode is None or stat_mode.S_ISREG(attrs.st_mode)


def remote_state(sftp: RemoteFiles, file_name: str) -> RemoteState:
    """Where an earlier attempt of ``file_name`` stands."""
    if exists(sftp, in_path(file_name + RECEIPT_SUFFIX)):
        return RemoteState.ANSWERED
    if exists(sftp, trigger_path(file_name)):
        return RemoteState.TRIGGERED
    return RemoteState.ABSENT


def build_trigger(sender: SenderSystem, delivery: Delivery, size: int, timestamp: datetime) -> Trigger:
    """The trigger of ``delivery`` in the sender's pattern (``routing`` in ``senders.yaml``).

    Simple: ``Recipients`` is the LIS system's SFTP user (one file per LIS system, so one recipient), and
    ``FileContentDescriptor`` carries FilType/SF in the sender's ``file_content`` form.
    Dynamic: ``ROUTING_V1_0_0`` with routing info; the kommune is both sender and recipient authority.
    ``timestamp`` (SenderTimestamp) is written only by the dynamic pattern.
    """
    if sender.routing == "simple":
        return Trigger.simple(
            delivery.file_name,
            size,
            sender=sender.sftp_user,
            recipient=delivery.lis.user,
            senders_file_id=delivery.file_name,
            content=sender.file_content,
        )
    return Trigger.routed(
        delivery.file_name,
        size,
        sender=sender.sftp_user,
        sender_it_system=sender.it_system,
        authority=cvr_urn(delivery.kommune.cvr),
        recipient_it_system=delivery.lis.it_system,
        transaction_id=delivery.transaction_id,
        timestamp=timestamp,
        senders_file_id=delivery.file_name,
    )


def put_atomically(sftp: RemoteFiles, data: IO[bytes], final: str, chunk_size: int = 256 * 1024) -> int:
    """Write ``data`` to ``final + .part``, check its size, rename it over ``final``; returns bytes sent."""
    temporary = final + PART_SUFFIX
    sent = 0
    with sftp.open(temporary, "wb") as remote:
        pipelined = getattr(remote, "set_pipelined", None)
        if pipelined is not None:  # paramiko: do not wait for each write's acknowledgement
            pipelined(True)
        while chunk := data.read(chunk_size):
            remote.write(chunk)
            sent += len(chunk)
    size = sftp.stat(temporary).st_size
    if size != sent:
        raise OSError(f"{temporary} has {size} bytes on the server, {sent} were sent")
    sftp.posix_rename(temporary, final)
    return sent


def upload_delivery(sftp: RemoteFiles, data_file: Path, trigger_xml: bytes, delivery: Delivery) -> None:
    """Put the data file and then its trigger into ``OUT/``, each atomically."""
    with data_file.open("rb") as data:
        put_atomically(sftp, data, out_path(delivery.file_name))
    put_atomically(sftp, io.BytesIO(trigger_xml), trigger_path(delivery.file_name))
