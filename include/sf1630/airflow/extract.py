"""The sender's extract through an Airflow SQL connection: one export for the DAG, the CLI and preflight.

The source is whatever Airflow connection ``source_conn_id`` names, as long as its hook is a common.sql
``DbApiHook`` (PostgreSQL, MS SQL Server, Oracle, MySQL, SQLite, ... wherever their provider is
installed). The hook's SQLAlchemy engine is used for its dialect (named parameters, server-side cursors),
with the hook's own ``get_conn`` as the connection factory so that every extra the provider honours
(libpq ``options``, SSL, IAM tokens) applies exactly as in any other task on that connection.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from airflow.sdk import BaseHook

from sf1630.protocol import Period
from sf1630.registry import Kommune, SenderSystem
from sf1630.sender.export import ExportError

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine


def source_engine(conn_id: str) -> Engine:
    """A SQLAlchemy engine over the connection's hook; ExportError when it is no SQL connection."""
    from airflow.providers.common.sql.hooks.sql import DbApiHook

    connection = BaseHook.get_connection(conn_id)
    hook = connection.get_hook()  # type: ignore[no-untyped-call]
    if not isinstance(hook, DbApiHook):
        raise ExportError(
            f"connection {conn_id}: conn_type {connection.conn_type!r} has no SQL hook (common.sql DbApiHook)"
        )
    engine: Engine = hook.get_sqlalchemy_engine(engine_kwargs={"creator": hook.get_conn})
    return engine


def export_for(
    sender: SenderSystem, kommune: Kommune, period: Period, folder: Path, *, file_name: str | None = None
) -> Path:
    """Write ``kommune``'s extract of ``sender`` for ``period`` into ``folder``; returns the file's path.

    ``file_name`` defaults to the name the DAG gives the kommune's (first) delivery of the month. Raises
    :class:`~sf1630.sender.export.ExportError` when the result does not fit the data spec (then no file is
    left), :class:`~sf1630.sender.export.SourceError` for SQL the source refuses, and Airflow's not-found
    error for a missing connection.
    """
    from sf1630.sender.export import export_extract
    from sf1630.sender.plan import plan_deliveries

    name = file_name or plan_deliveries(sender, [kommune], period)[0].file_name
    engine = source_engine(sender.source_conn_id)
    try:
        return export_extract(engine, sender, kommune, period, folder / name)
    finally:
        engine.dispose()
