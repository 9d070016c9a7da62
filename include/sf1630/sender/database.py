"""Where a sender's source data and its delivery ledger live: a DuckDB or SQLite file, or PostgreSQL.

Tasks receive a :class:`DatabaseLocation` built from an Airflow connection's fields, so the export and
ledger code can be tested against real databases without Airflow. PostgreSQL follows Airflow's own
convention (``schema`` is the database name); the PostgreSQL schema to work in is the ``schema`` extra, as
for the warehouse connection (or, for full control, an ``options`` extra passed to libpq unchanged).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

_FILE_KINDS = frozenset({"duckdb", "sqlite"})
_POSTGRES_KINDS = frozenset({"postgres", "postgresql"})


class DatabaseConfigError(ValueError):
    """A connection does not describe a database the sender can use."""


def _postgres_options(conn_id: str, extra: Mapping[str, Any]) -> str:
    """libpq ``options`` from the ``options`` extra, or a ``search_path`` from the ``schema`` extra."""
    if extra.get("options"):
        return str(extra["options"])
    schema = str(extra.get("schema") or "")
    if schema and not schema.replace("_", "").isalnum():
        raise DatabaseConfigError(f"connection {conn_id}: extra.schema {schema!r} is not a plain identifier")
    return f"-c search_path={schema}" if schema else ""


@dataclass(frozen=True)
class DatabaseLocation:
    """A database file (``duckdb``, ``sqlite``) or a PostgreSQL server."""

    kind: str
    path: Path | None = None
    conninfo: Mapping[str, str] = field(default_factory=dict, repr=False)

    @classmethod
    def from_connection(
        cls,
        conn_id: str,
        conn_type: str | None,
        *,
        host: str | None = None,
        port: int | None = None,
        login: str | None = None,
        password: str | None = None,
        schema: str | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> DatabaseLocation:
        """Read the fields of an Airflow connection; raises DatabaseConfigError naming ``conn_id``."""
        kind = (conn_type or "").lower()
        if kind in _FILE_KINDS:
            raw = host or schema or ""
            if not raw or not Path(raw).is_absolute():
                raise DatabaseConfigError(
                    f"connection {conn_id}: a {kind} connection needs the absolute file path in host"
                )
            return cls(kind=kind, path=Path(raw))
        if kind in _POSTGRES_KINDS:
            info = {
                "host": host or "127.0.0.1",
                "port": str(port or 5432),
                "user": login or "",
                "password": password or "",
                "dbname": schema or "postgres",
                "options": _postgres_options(conn_id, extra or {}),
            }
            return cls(kind="postgres", conninfo={k: v for k, v in info.items() if v})
        raise DatabaseConfigError(
            f"connection {conn_id}: conn_type {conn_type!r} is not one of duckdb, sqlite, postgres"
        )

    def connect(self, *, read_only: bool = False) -> Any:
        """A DB-API connection; the caller closes it."""
        if self.kind == "duckdb":
            import duckdb

            return duckdb.connect(str(self.path), read_only=read_only)
        if self.kind == "sqlite":
            import sqlite3

            return sqlite3.connect(str(self.path), timeout=60)
        import psycopg

        return psycopg.connect(conninfo=psycopg.conninfo.make_conninfo(**dict(self.conninfo)))

    @property
    def placeholder(self) -> str:
        """The DB-API parameter marker of this kind of database."""
        return "%s" if self.kind == "postgres" else "?"
