"""The SFTP side of the emulator (asyncssh): authentication, one chroot per user, and the router's triggers.

Each user sees only ``/IN`` and ``/OUT`` of its own root. Paths are normalised and limited to those two
folders and the files directly in them, every name passes the protocol's name check, and links of any kind
are refused, so no sequence of requests reaches another user's folder or anything outside the root. Users
may write only into ``OUT/``; a trigger is handed to the router the moment its upload closes or it is
renamed into ``OUT/``, and a periodic rescan recovers anything missed. Files of a transfer in progress are
locked: the server refuses writes, renames and deletes of them with "permission denied".

Every request that changes ``OUT/`` holds the router's gate from its checks to its action, so the router
never locks a data file between a request's check and its effect; a plain SFTP rename is a rename that
refuses an existing target, never link + unlink, so no file ever has two names in ``OUT/``. Names the
platform writes itself (``.metadata``, ``.sftpreceipt``) cannot be created in ``OUT/``.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import os
import posixpath
import socket
import stat
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import asyncssh
from asyncssh import SFTPAttrs, SFTPFailure, SFTPNoSuchFile, SFTPPermissionDenied

from sf1630.platform.audit import AuditLog
from sf1630.platform.config import PlatformConfig
from sf1630.platform.folders import FOLDERS, OUT, HomeError, PlatformHome
from sf1630.platform.journal import Journal
from sf1630.platform.router import Router, is_trigger_name
from sf1630.protocol import ProtocolError, check_safe_name
from sf1630.protocol.names import reserved_suffix

LOGGER = logging.getLogger("sf1630.platform.server")

_FXF_WRITE, _FXF_APPEND, _FXF_CREAT, _FXF_TRUNC, _FXF_EXCL = 0x02, 0x04, 0x08, 0x10, 0x20
_WRITE_FLAGS = _FXF_WRITE | _FXF_APPEND | _FXF_CREAT | _FXF_TRUNC
#: How far ahead of the platform's clock a client's time may be (clock skew) before it counts as the future.
_CLOCK_SKEW = 300.0


class StartupError(Exception):
    """The platform cannot start; the message is one sentence for the operator (the CLI exits 2)."""


def load_host_key(home: PlatformHome) -> asyncssh.SSHKey:
    """The persistent host key, created on first start; its public half is kept in ``host_key.pub``."""
    if home.host_key.exists():
        try:
            key = asyncssh.read_private_key(str(home.host_key))
        except (asyncssh.KeyImportError, OSError, ValueError) as exc:
            raise StartupError(f"host key {home.host_key} cannot be read: {exc}") from None
    else:
        key = asyncssh.generate_private_key("ssh-ed25519")
        fd = os.open(home.host_key, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as file:
            file.write(key.export_private_key())
    home.host_key_pub.write_bytes(key.export_public_key())
    return key


def demo_client_key(home: PlatformHome, user: str) -> str:
    """Create (once) a client key pair for a demo user in ``client_keys/``; returns the public key line."""
    home.client_keys.mkdir(mode=0o700, exist_ok=True)
    private = home.client_keys / user
    if not private.exists():
        key = asyncssh.generate_private_key("ssh-ed25519", comment=f"{user}@sf1630-demo")
        fd = os.open(private, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as file:
            file.write(key.export_private_key())
        private.with_suffix(".pub").write_bytes(key.export_public_key())
    return private.with_suffix(".pub").read_text(encoding="ascii").strip()


class _Handle:
    """An open file and what the server needs to know about it when it closes."""

    def __init__(self, fd: int, folder: str, name: str, writable: bool) -> None:
        self.fd, self.folder, self.name, self.writable = fd, folder, name, writable


class PlatformSFTPServer(asyncssh.SFTPServer):
    """One user's SFTP session."""

    def __init__(self, chan: asyncssh.SSHServerChannel[bytes], platform: Platform) -> None:
        self.user = str(chan.get_extra_info("username"))
        self.platform = platform
        super().__init__(chan, chroot=str(platform.home.user_root(self.user)).encode())

    # ------------------------------------------------------------------ paths

    def _parts(self, path: bytes) -> tuple[str, ...]:
        try:
            text = path.decode("utf-8")
        except UnicodeDecodeError:
            raise SFTPNoSuchFile("path is not UTF-8") from None
        parts = tuple(p for p in posixpath.normpath(posixpath.join("/", text)).split("/") if p)
        if len(parts) > 2 or (parts and parts[0] not in FOLDERS):
            raise SFTPPermissionDenied("only IN/ and OUT/ and the files in them are accessible")
        if len(parts) == 2:
            name = parts[1]
            try:
                check_safe_name(name[: -len(".trigger")] if is_trigger_name(name) else name)
            except ProtocolError as exc:
                raise SFTPPermissionDenied(f"name refused: {exc.detail}") from None
        return parts

    def map_path(self, path: bytes) -> bytes:
        parts = self._parts(path)
        local = self.platform.home.user_root(self.user).joinpath(*parts)
        if os.path.islink(local):
            raise SFTPPermissionDenied("links are not served")
        return os.fsencode(local)

    def _file(self, path: bytes, *, write: bool, changes: bool = True) -> tuple[str, str]:
        parts = self._parts(path)
        if len(parts) != 2:
            raise SFTPPermissionDenied("not a file in IN/ or OUT/")
        folder, name = parts
        if write and folder != OUT:
            raise SFTPPermissionDenied("only OUT/ is writable")
        if write and (suffix := reserved_suffix(name, include_trigger=False)) is not None:
            raise SFTPPermissionDenied(f"names ending in {suffix} are the platform's own")
        if changes and folder == OUT and self.platform.router.is_locked(self.user, name):
            raise SFTPPermissionDenied(f"{name} belongs to a transfer in progress")
        return folder, name

    # ------------------------------------------------------------------ files

    def open(self, path: bytes, pflags: int, attrs: SFTPAttrs) -> object:
        writable = bool(pflags & _WRITE_FLAGS)
        if not writable:
            return self._open(path, pflags, writable)
        with self.platform.router.gate:
            return self._open(path, pflags, writable)

    def _open(self, path: bytes, pflags: int, writable: bool) -> object:
        folder, name = self._file(path, write=writable, changes=writable)
        flags = os.O_NOFOLLOW | (os.O_RDWR if writable and pflags & 0x01 else os.O_WRONLY if writable else 0)
        flags |= os.O_APPEND if pflags & _FXF_APPEND else 0
        flags |= os.O_CREAT if pflags & _FXF_CREAT else 0
        flags |= os.O_TRUNC if pflags & _FXF_TRUNC else 0
        flags |= os.O_EXCL if pflags & _FXF_EXCL else 0
        fd = os.open(self.map_path(path), flags, 0o640)
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            os.close(fd)
            raise SFTPPermissionDenied("not a regular file")
        if writable:
            self.platform.router.writing(self.user, name, +1)
        return _Handle(fd, folder, name, writable)

    def close(self, file_obj: object) -> None:
        if not isinstance(file_obj, _Handle):
            super().close(file_obj)
            return
        os.close(file_obj.fd)
        if file_obj.writable:
            self.platform.router.writing(self.user, file_obj.name, -1)
            if file_obj.folder == OUT and is_trigger_name(file_obj.name):
                self.platform.trigger_event(self.user, file_obj.name)

    def read(self, file_obj: object, offset: int, size: int) -> bytes:
        assert isinstance(file_obj, _Handle)
        return os.pread(file_obj.fd, size, offset)

    def write(self, file_obj: object, offset: int, data: bytes) -> int:
        assert isinstance(file_obj, _Handle)
        if not file_obj.writable:
            raise SFTPPermissionDenied("file not open for writing")
        with self.platform.router.gate:
            self._check_writable(file_obj)
            return os.pwrite(file_obj.fd, data, offset)

    def _check_writable(self, handle: _Handle) -> None:
        """Refuse writes to a file being routed, or through a handle whose file was already delivered."""
        if self.platform.router.is_locked(self.user, handle.name):
            raise SFTPPermissionDenied(f"{handle.name} belongs to a transfer in progress")
        # Delivery hard-links the data file into recipients' IN/ and unlinks it from OUT/: a handle kept
        # open since must not reach the delivered file, so it may write only while it is OUT/<name>.
        opened = os.fstat(handle.fd)
        try:
            current = os.lstat(self.platform.home.folder(self.user, handle.folder) / handle.name)
        except FileNotFoundError:
            current = None
        if current is None or (current.st_dev, current.st_ino) != (opened.st_dev, opened.st_ino):
            raise SFTPPermissionDenied(f"{handle.name} is no longer in {handle.folder}/")
        if opened.st_nlink != 1:
            raise SFTPPermissionDenied(f"{handle.name} is being delivered")

    def fstat(self, file_obj: object) -> os.stat_result:
        assert isinstance(file_obj, _Handle)
        return os.fstat(file_obj.fd)

    def fsetstat(self, file_obj: object, attrs: SFTPAttrs) -> None:
        assert isinstance(file_obj, _Handle)
        if not file_obj.writable:
            raise SFTPPermissionDenied("file not open for writing")
        with self.platform.router.gate:
            self._check_writable(file_obj)
            self._set_times(file_obj.fd, attrs)

    def setstat(self, path: bytes, attrs: SFTPAttrs) -> None:
        with self.platform.router.gate:
            self._file(path, write=True)
            self._set_times(self.map_path(path), attrs)

    def lsetstat(self, path: bytes, attrs: SFTPAttrs) -> None:
        self.setstat(path, attrs)

    @staticmethod
    def _set_times(target: bytes | int, attrs: SFTPAttrs) -> None:
        """Only access and modification times may change; owners, modes and sizes are the platform's.

        Times in the future are refused: retention counts from the modification time, so a file dated
        years ahead would never expire. (Past times only age the sender's own file; delivery resets them.)
        """
        if any(v is not None for v in (attrs.uid, attrs.gid, attrs.size, attrs.permissions)):
            raise SFTPPermissionDenied("only times can be changed")
        if attrs.atime is not None and attrs.mtime is not None:
            if max(attrs.atime, attrs.mtime) > time.time() + _CLOCK_SKEW:
                raise SFTPPermissionDenied("times in the future are refused")
            os.utime(target, (attrs.atime, attrs.mtime))

    def remove(self, path: bytes) -> None:
        with self.platform.router.gate:
            self._file(path, write=False)
            local = self.map_path(path)
            if not stat.S_ISREG(os.lstat(local).st_mode):
                raise SFTPPermissionDenied("not a regular file")
            os.unlink(local)

    def rename(self, oldpath: bytes, newpath: bytes) -> None:
        self._rename(oldpath, newpath, replace=False)

    def posix_rename(self, oldpath: bytes, newpath: bytes) -> None:
        self._rename(oldpath, newpath, replace=True)

    def _rename(self, oldpath: bytes, newpath: bytes, *, replace: bool) -> None:
        with self.platform.router.gate:
            new_name = self._rename_locked(oldpath, newpath, replace=replace)
        if is_trigger_name(new_name):
            self.platform.trigger_event(self.user, new_name)

    def _rename_locked(self, oldpath: bytes, newpath: bytes, *, replace: bool) -> str:
        """One rename, never two names: a plain SFTP rename refuses an existing target instead of linking.

        Every request that creates a name in ``OUT/`` holds the gate, so "target absent" still holds when
        ``os.rename`` runs; the router never creates names in ``OUT/``.
        """
        self._file(oldpath, write=True)
        _, new_name = self._file(newpath, write=True)
        old, new = self.map_path(oldpath), self.map_path(newpath)
        if not stat.S_ISREG(os.lstat(old).st_mode):
            raise SFTPPermissionDenied("not a regular file")
        if not replace and os.path.lexists(new):
            raise SFTPFailure("target exists")
        os.rename(old, new)
        return new_name

    # ------------------------------------------------------------------ refused outright

    def mkdir(self, path: bytes, attrs: SFTPAttrs) -> None:
        raise SFTPPermissionDenied("folders cannot be created")

    def rmdir(self, path: bytes) -> None:
        raise SFTPPermissionDenied("folders cannot be removed")

    def symlink(self, oldpath: bytes, newpath: bytes) -> None:
        raise SFTPPermissionDenied("links are refused")

    def link(self, oldpath: bytes, newpath: bytes) -> None:
        raise SFTPPermissionDenied("links are refused")

    def readlink(self, path: bytes) -> bytes:
        raise SFTPPermissionDenied("links are refused")


class PlatformSSHServer(asyncssh.SSHServer):
    """Authentication against the configured users: public key or password."""

    def __init__(self, platform: Platform) -> None:
        self.platform = platform
        self._conn: asyncssh.SSHServerConnection | None = None

    def connection_made(self, conn: asyncssh.SSHServerConnection) -> None:
        self._conn = conn

    def begin_auth(self, username: str) -> bool:
        keys = self.platform.authorized_keys.get(username)
        if keys is not None and self._conn is not None:
            self._conn.set_authorized_keys(keys)
        return True

    def public_key_auth_supported(self) -> bool:
        return True

    def password_auth_supported(self) -> bool:
        return True

    def validate_password(self, username: str, password: str) -> bool:
        user = self.platform.config.user(username)
        expected = user.password if user is not None else None
        if expected is None:
            return False
        return hmac.compare_digest(expected.encode(), password.encode())


class Platform:
    """The running emulator: SFTP server, router with journal, rescans and retention sweeps."""

    def __init__(
        self, config: PlatformConfig, home: Path, *, workers: int = 4, processing_delay: float = 0.0
    ) -> None:
        self.config = config
        #: Seconds between seeing a trigger and routing it (the real platform takes minutes); the trigger
        #: stays claimed meanwhile, so a rescan does not pick it up twice.
        self.processing_delay = max(0.0, processing_delay)
        self.home = PlatformHome(home)
        try:
            self.home.check_root()
            self.home.prepare(config)
            self._home_lock = self.home.acquire_lock()
        except HomeError as exc:
            raise StartupError(str(exc)) from None
        except OSError as exc:
            raise StartupError(f"home {self.home.root} cannot be used: {exc.strerror or exc}") from None
        for name in self.home.clean_spool():
            LOGGER.info("removed spool leftover %s", name)
        self.journal = Journal(self.home.journal)
        self.audit = AuditLog(self.home.audit_log)
        self.router = Router(config, self.home, self.journal, self.audit)
        self.authorized_keys: dict[str, asyncssh.SSHAuthorizedKeys] = {}
        self._executor = ThreadPoolExecutor(
            max_workers=workers, thread_name_prefix="sf1630-router", initializer=Router.warm_up
        )
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: asyncssh.SSHAcceptor | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._delayed: set[asyncio.TimerHandle] = set()
        self.port = 0

    def _load_keys(self) -> None:
        for user in self.config.users:
            lines = list(user.authorized_keys)
            if user.demo_client_key:
                lines.append(demo_client_key(self.home, user.name))
            if lines:
                self.authorized_keys[user.name] = asyncssh.import_authorized_keys("\n".join(lines))

    async def start(self, host: str = "127.0.0.1", port: int = 2222) -> int:
        """Resume the journal, then listen; returns the port."""
        self._loop = asyncio.get_running_loop()
        try:
            host_key = load_host_key(self.home)
        except OSError as exc:
            reason = exc.strerror or str(exc)
            raise StartupError(f"host key in {self.home.root} cannot be written: {reason}") from None
        self._load_keys()
        resumed = await self._loop.run_in_executor(self._executor, self.router.resume)
        if resumed:
            LOGGER.info("resumed %d unfinished transfer(s) from the journal", resumed)
        try:
            self._server = await asyncssh.create_server(
                lambda: PlatformSSHServer(self),
                host,
                port,
                server_host_keys=[host_key],
                sftp_factory=self._sftp_factory,
                allow_scp=False,
                agent_forwarding=False,
                x11_forwarding=False,
            )
        except socket.gaierror as exc:
            raise StartupError(f"cannot listen on {host!r}: unknown host ({exc.strerror})") from None
        except OSError as exc:
            raise StartupError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
        self.port = int(self._server.sockets[0].getsockname()[1])
        self._tasks.append(
            asyncio.create_task(self._every(self.config.rescan_interval.total_seconds(), self.rescan))
        )
        return self.port

    def _sftp_factory(self, chan: asyncssh.SSHServerChannel[bytes]) -> asyncssh.SFTPServer:
        return PlatformSFTPServer(chan, self)

    def start_sweeps(self) -> None:
        """Run a retention sweep every ``sweep_interval`` (``serve`` does; in-process tests call sweep())."""
        from sf1630.platform.retention import sweep

        def one_pass() -> None:
            sweep(self.config, self.home, self.journal, self.router)

        async def run() -> None:
            assert self._loop is not None
            await self._loop.run_in_executor(self._executor, one_pass)

        self._tasks.append(
            asyncio.create_task(self._every(self.config.retention.sweep_interval.total_seconds(), run))
        )

    async def _every(self, seconds: float, action: Callable[[], Any]) -> None:
        while True:
            try:
                await action()
            except Exception:
                LOGGER.exception("periodic task failed")
            await asyncio.sleep(seconds)

    async def rescan(self) -> None:
        """Pick up every trigger in any ``OUT/`` that no event delivered (e.g. written while stopped)."""
        assert self._loop is not None
        for user, name in await self._loop.run_in_executor(self._executor, self.router.pending_triggers):
            self._submit(user, name)

    def trigger_event(self, user: str, name: str) -> None:
        """A trigger upload closed or a trigger was renamed into ``OUT/``: route it (in the thread pool)."""
        if self.router.claim(user, name):
            self._submit(user, name)

    def _submit(self, user: str, name: str) -> None:
        """Route the claimed trigger in the thread pool, after the processing delay when there is one."""
        assert self._loop is not None
        if self.processing_delay > 0:
            handle: asyncio.TimerHandle | None = None

            def later() -> None:
                self._delayed.discard(handle)  # type: ignore[arg-type]
                self._route(user, name)

            handle = self._loop.call_later(self.processing_delay, later)
            self._delayed.add(handle)
            return
        self._route(user, name)

    def _route(self, user: str, name: str) -> None:
        assert self._loop is not None
        future = self._loop.run_in_executor(self._executor, self.router.process, user, name)
        future.add_done_callback(self._report)

    @staticmethod
    def _report(future: asyncio.Future[Any]) -> None:
        if not future.cancelled() and future.exception() is not None:
            LOGGER.error("routing failed", exc_info=future.exception())

    async def stop(self) -> None:
        """Stop listening, finish routing in progress, close the journal."""
        for task in self._tasks:
            task.cancel()
        for handle in self._delayed:  # a trigger still waiting stays in OUT/; a restart's rescan routes it
            handle.cancel()
        self._delayed.clear()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        self._executor.shutdown(wait=True)
        self.journal.close()
        self.audit.close()
        self.release()

    def release(self) -> None:
        """Give up the home's lock (``stop`` does; for a platform that never started, call it directly)."""
        if self._home_lock >= 0:
            os.close(self._home_lock)
            self._home_lock = -1
