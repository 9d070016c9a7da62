"""From an Airflow connection to what the plain code needs: a :class:`~sf1630.database.Database`, an SFTP
session with the host key pinned.

The one way from a connection id to a database, for the sender's source and ledger and for the warehouse,
synchronous in tasks and asynchronous in callbacks that run in the triggerer's event loop.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseHook

from sf1630.database import Database

if TYPE_CHECKING:
    from paramiko import SFTPClient


def _database(conn: Any) -> Database:
    return Database.from_connection(
        conn.conn_id,
        conn.conn_type,
        host=conn.host,
        port=conn.port,
        login=conn.login,
        password=conn.password,
        schema=conn.schema,
        extra=conn.extra_dejson,
    )


def database(conn_id: str) -> Database:
    """The database behind Airflow connection ``conn_id``."""
    return _database(BaseHook.get_connection(conn_id))


async def adatabase(conn_id: str) -> Database:
    """:func:`database` for code running in the triggerer's event loop (deadline callbacks)."""
    return _database(await BaseHook.aget_connection(conn_id))


@contextmanager
def sftp(conn_id: str) -> Iterator[SFTPClient]:
    """A paramiko SFTP session over the provider's hook, which verifies the connection's ``host_key``."""
    from airflow.providers.sftp.hooks.sftp import SFTPHook

    with SFTPHook(ssh_conn_id=conn_id).get_managed_conn() as client:
        yield client
