"""A deferrable wait for ``*.metadata`` in IN/ that pins the platform's host key on any port.

The SFTP provider's async hook writes its known_hosts line as ``<host> <key>``, which asyncssh matches only
for port 22; on the platform's (and the emulator's) other ports the pinned key would never match. Rather than
weaken host verification, this module's hook writes ``[host]:port <key>`` as OpenSSH does. The trigger
polls the folder from the triggerer (no worker slot held while waiting), reports found/timeout/error, and a
host-key or authentication failure ends the wait at once as an error instead of being retried silently.
"""

from __future__ import annotations

import asyncio
import fnmatch
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

from airflow.providers.sftp.hooks.sftp import SFTPHookAsync
from airflow.sdk import BaseSensorOperator
from airflow.sdk.exceptions import AirflowException, AirflowSkipException
from airflow.triggers.base import BaseTrigger, TriggerEvent

SSH_PORT = 22


def known_hosts_line(host: str, port: int, host_key: str) -> str:
    """The OpenSSH known_hosts line pinning ``host_key`` (``"<type> <base64> [comment]"``) for host:port."""
    parts = host_key.strip().split()
    key = " ".join(parts[:2]) if len(parts) >= 2 else f"ssh-rsa {parts[0]}"
    pattern = host if port == SSH_PORT else f"[{host}]:{port}"
    return f"{pattern} {key}"


class PinnedSFTPHookAsync(SFTPHookAsync):  # type: ignore[misc]
    """The provider's async SFTP hook with the host key pinned for the connection's actual port."""

    def _parse_extras(self, conn: Any) -> None:
        super()._parse_extras(conn)
        host_key = conn.extra_dejson.get("host_key")
        if host_key:
            port = int(self.port or conn.port or SSH_PORT)
            self.known_hosts = known_hosts_line(self.host or conn.host, port, str(host_key)).encode()


class MetadataTrigger(BaseTrigger):  # type: ignore[misc]
    """Fires when a file matching ``pattern`` is in ``path``, or at ``until`` (ISO time) with "timeout"."""

    def __init__(self, sftp_conn_id: str, path: str, pattern: str, poke_interval: float, until: str) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self.sftp_conn_id = sftp_conn_id
        self.path = path
        self.pattern = pattern
        self.poke_interval = poke_interval
        self.until = until

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "sftp_conn_id": self.sftp_conn_id,
                "path": self.path,
                "pattern": self.pattern,
                "poke_interval": self.poke_interval,
                "until": self.until,
            },
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        import asyncssh

        until = datetime.fromisoformat(self.until)
        last_error = ""
        while True:
            try:
                found = await self._matches()
                if found:
                    yield TriggerEvent({"status": "found", "count": found})  # type: ignore[no-untyped-call]
                    return
            except (asyncssh.HostKeyNotVerifiable, asyncssh.PermissionDenied) as err:
                yield TriggerEvent({"status": "error", "message": f"{type(err).__name__}: {err}"})  # type: ignore[no-untyped-call]
                return
            except (OSError, asyncssh.Error) as err:
                last_error = f"{type(err).__name__}: {err}"
                self.log.warning("listing %s failed, will retry: %s", self.path, last_error)
            if datetime.now(UTC) >= until:
                yield TriggerEvent({"status": "timeout", "message": last_error})  # type: ignore[no-untyped-call]
                return
            await asyncio.sleep(self.poke_interval)

    async def _matches(self) -> int:
        hook = PinnedSFTPHookAsync(sftp_conn_id=self.sftp_conn_id)
        async with hook.get_managed_conn() as sftp:
            names = await sftp.listdir(self.path)
        return sum(1 for name in names if fnmatch.fnmatchcase(str(name), self.pattern))


class MetadataSensor(BaseSensorOperator):  # type: ignore[misc]
    """Defer until ``pattern`` matches in ``path``; skip (not fail) when nothing arrives within ``wait``."""

    def __init__(
        self,
        *,
        sftp_conn_id: str,
        path: str,
        pattern: str = "*.metadata",
        wait: timedelta = timedelta(hours=1),
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.sftp_conn_id = sftp_conn_id
        self.path = path
        self.pattern = pattern
        self.wait = wait

    def execute(self, context: Any) -> None:
        until = datetime.now(UTC) + self.wait
        trigger = MetadataTrigger(
            self.sftp_conn_id, self.path, self.pattern, float(self.poke_interval), until.isoformat()
        )
        self.defer(trigger=trigger, method_name="execute_complete")

    def poke(self, context: Any) -> bool:
        raise NotImplementedError("MetadataSensor only runs deferred")

    def execute_complete(self, context: Any, event: dict[str, Any]) -> int:
        status = event.get("status")
        if status == "found":
            return int(event["count"])
        if status == "timeout":
            raise AirflowSkipException(f"no {self.pattern} in {self.path} within {self.wait}")
        raise AirflowException(f"waiting for {self.pattern} in {self.path} failed: {event.get('message')}")
