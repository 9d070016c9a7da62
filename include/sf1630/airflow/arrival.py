"""Deferred waits for a file on Serviceplatformen: an Airflow trigger polling a folder over asyncssh.

Both sides wait on the platform: the sender for ``IN/<file>.sftpreceipt`` after each upload, the LIS for
``IN/*.metadata``. Holding a worker slot per wait would block the pool, so the wait runs in the triggerer.
The provider's deferrable SFTP sensor is not used because its async hook pins the host key only for port 22
(the emulator and test servers use other ports) and it does not say what it found. This trigger connects with
asyncssh itself, trusting exactly the connection's ``host_key``, keeps one connection across polls, reconnects
after a network error, and ends the wait at once on a host-key or authentication failure: retrying those would
only hide a misconfiguration or an attack.

The defer race (apache/airflow#71580, #72716, open in 3.3.2): when a trigger fires within seconds of the
deferral, the scheduler can re-queue the task before it has processed the executor's report that the deferring
process exited, and then fail or retry it ("finished with state success, but the task instance's state
attribute is queued"; the event log records it as ``state mismatch``). The project avoids what it can: both
waits look before they defer (the sender for ``receipt_quick_look``, the receiver once), so a file that is
already there never goes through the triggerer, and the trigger never fires (found, timed out or refused)
sooner than ``SF1630_SETTLE_SECONDS`` (20 s) after the deferral, which gives the scheduler time to take in
that report. What it cannot avoid is a scheduler so busy that it takes longer than that (seen on a 2-core
machine at a load average of 20-30, where a task process that had deferred took over 30 s to report its exit):
a retry then looks again (the receiver finds its files, the sender settles the receipt from the remote state,
nothing is sent twice), so waits need ``retries`` of at least 1, and the demo's summary counts the ``state
mismatch`` events. Tests that run DAGs with ``dag.test()`` (no scheduler, so no race) set
``SF1630_SETTLE_SECONDS=0``.
"""

from __future__ import annotations

import asyncio
import fnmatch
import time
from collections.abc import AsyncIterator, Callable, Mapping
from datetime import timedelta
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from sf1630.settings import settle_seconds

FOUND = "found"
TIMED_OUT = "timeout"
REFUSED = "error"
SSH_PORT = 22


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
        "port": int(port or SSH_PORT),
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


def quick_look(present: Callable[[], bool], patience: timedelta, interval: float = 0.05) -> bool:
    """Whether ``present()`` becomes true within ``patience``, looking at least once.

    A short synchronous look before deferring: when the answer is already there (the emulator answers in
    milliseconds), the task needs no trip through the triggerer.
    """
    give_up = time.monotonic() + patience.total_seconds()
    while True:
        if present():
            return True
        if time.monotonic() >= give_up:
            return False
        time.sleep(interval)


def matching(names: list[str], pattern: str) -> list[str]:
    """The names matching the shell ``pattern`` (case-sensitive, as the platform's file names are), sorted."""
    return sorted(name for name in names if fnmatch.fnmatchcase(name, pattern))


class FileArrival(BaseTrigger):  # type: ignore[misc]
    """Fires when ``folder`` on the connection's server holds a name matching ``pattern``, or at the deadline.

    Events: ``{"status": "found", "names": [...]}``, ``{"status": "timeout", "message": last_error}`` at the
    deadline (epoch seconds), ``{"status": "error", "message": ...}`` when the server cannot be trusted or
    refuses the login.
    """

    def __init__(
        self,
        sftp_conn_id: str,
        folder: str,
        pattern: str,
        poll_interval: float,
        deadline: float,
        not_before: float | None = None,
    ) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self.sftp_conn_id = sftp_conn_id
        self.folder = folder
        self.pattern = pattern
        self.poll_interval = poll_interval
        self.deadline = deadline
        #: Epoch seconds before which a find is held back: fixed when the task defers (then serialized).
        self.not_before = time.time() + settle_seconds() if not_before is None else not_before

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "sftp_conn_id": self.sftp_conn_id,
                "folder": self.folder,
                "pattern": self.pattern,
                "poll_interval": self.poll_interval,
                "deadline": self.deadline,
                "not_before": self.not_before,
            },
        )

    async def _options(self) -> dict[str, Any]:
        from airflow.sdk import Connection

        conn = await Connection.async_get(self.sftp_conn_id)
        return ssh_options(conn.host, conn.port, conn.login, conn.password, conn.extra_dejson)

    async def run(self) -> AsyncIterator[TriggerEvent]:
        """Wait for the outcome, then hold it back until ``not_before``: a timeout or a refusal that came
        seconds after the deferral trips the defer race just as a find does."""
        outcome = await self._outcome()
        await asyncio.sleep(max(0.0, self.not_before - time.time()))
        yield TriggerEvent(outcome)  # type: ignore[no-untyped-call]

    async def _outcome(self) -> dict[str, Any]:
        """Poll until a name matches; the deadline is checked only after a listing, never before the first.

        A busy triggerer may pick the trigger up after its deadline: without a first look it would report
        "nothing arrived" for a file that has been waiting all along.
        """
        import asyncssh

        last_error = ""
        try:
            options = await self._options()
        except ValueError as err:
            return {"status": REFUSED, "message": str(err)}
        # A find is held back until ``not_before`` anyway, so the first look waits for it (or for the
        # deadline, if that comes first): the same outcome for a file that stays once it is there, without
        # a listing every poll through the settle (20 s at the demo's 1 s poll: 20 listings per wait).
        await asyncio.sleep(max(0.0, min(self.not_before, self.deadline) - time.time()))
        looked = False
        while not looked or time.time() < self.deadline:
            try:
                async with asyncssh.connect(**options) as ssh, ssh.start_sftp_client() as sftp:
                    while True:
                        found = matching(
                            [str(name) for name in await sftp.listdir(self.folder)], self.pattern
                        )
                        looked = True
                        if found:
                            return {"status": FOUND, "names": found}
                        if time.time() >= self.deadline:
                            break
                        await asyncio.sleep(self.poll_interval)
            except (asyncssh.HostKeyNotVerifiable, asyncssh.PermissionDenied) as err:
                return {"status": REFUSED, "message": f"{type(err).__name__}: {err}"}
            except (OSError, asyncssh.Error) as err:
                last_error = f"{type(err).__name__}: {err}"
                self.log.warning("listing %s failed (%s); reconnecting", self.folder, last_error)
                if time.time() >= self.deadline:
                    break  # an unreachable server at the deadline: give up with its error
                await asyncio.sleep(self.poll_interval)
        return {"status": TIMED_OUT, "message": last_error}
