"""The deferred wait for a technical receipt: an Airflow trigger polling the sender's ``IN/`` over asyncssh.

The platform may take minutes to answer (or hours, on a bad day), and a month has ~120 deliveries per
sender: holding a worker slot per waiting delivery would block the pool. The provider's deferrable
SFTP sensor cannot pin a host key on a non-standard port and does not say what it found, so this trigger
connects with asyncssh itself, trusting exactly the connection's ``host_key`` and nothing else.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Mapping
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

FOUND = "found"
TIMED_OUT = "timeout"


def ssh_options(
    host: str | None, port: int | None, login: str | None, password: str | None, extra: Mapping[str, Any]
) -> dict[str, Any]:
    """asyncssh ``connect`` options from an SFTP connection's fields, with the host key pinned."""
    import asyncssh

    host_key = str(extra.get("host_key") or "").strip()
    if len(host_key.split()) < 2:
        raise ValueError(
            "the SFTP connection needs extra.host_key as '<type> <base64>' (no unverified hosts)"
        )
    options: dict[str, Any] = {
        "host": host or "127.0.0.1",
        "port": int(port or 22),
        "username": login,
        "known_hosts": ([asyncssh.import_public_key(host_key)], [], []),
        "agent_path": None,
    }
    if extra.get("private_key"):
        options["client_keys"] = [asyncssh.import_private_key(str(extra["private_key"]))]
    elif extra.get("key_file"):
        options["client_keys"] = [str(extra["key_file"])]
    else:
        options["client_keys"] = ()
    if password:
        options["password"] = password
    return options


class ReceiptArrival(BaseTrigger):  # type: ignore[misc]
    """Fires when ``path`` exists on the server of ``sftp_conn_id`` or when ``deadline`` (epoch) passes."""

    def __init__(self, sftp_conn_id: str, path: str, poll_interval: float, deadline: float) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self.sftp_conn_id = sftp_conn_id
        self.path = path
        self.poll_interval = poll_interval
        self.deadline = deadline

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "sftp_conn_id": self.sftp_conn_id,
                "path": self.path,
                "poll_interval": self.poll_interval,
                "deadline": self.deadline,
            },
        )

    async def _options(self) -> dict[str, Any]:
        from airflow.sdk import Connection

        conn = await Connection.async_get(self.sftp_conn_id)
        return ssh_options(conn.host, conn.port, conn.login, conn.password, conn.extra_dejson)

    async def run(self) -> AsyncIterator[TriggerEvent]:
        import asyncssh

        options = await self._options()
        while time.time() < self.deadline:
            try:
                async with asyncssh.connect(**options) as ssh, ssh.start_sftp_client() as sftp:
                    while time.time() < self.deadline:
                        if await sftp.isfile(self.path):
                            yield TriggerEvent({"status": FOUND, "path": self.path})  # type: ignore[no-untyped-call]
                            return
                        await asyncio.sleep(self.poll_interval)
            except (OSError, asyncssh.Error) as exc:
                self.log.warning("SFTP connection for %s lost (%s); reconnecting", self.path, exc)
                await asyncio.sleep(self.poll_interval)
        yield TriggerEvent({"status": TIMED_OUT, "path": self.path})  # type: ignore[no-untyped-call]
