"""Where the warehouse is: a DuckDB file or a PostgreSQL database, named by an Airflow connection or directly.

Tasks get a connection id; tests and the benchmark get a path or a DSN. Both end as a :class:`WarehouseTarget`
so the load code never touches Airflow. There is no DuckDB provider, so a DuckDB warehouse is a generic
connection with ``conn_type`` ``duckdb`` whose ``host`` (or ``schema``) is the absolute path of the file.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")

Engine = Literal["duckdb", "postgres"]


def check_identifier(name: str) -> str:
    """Return ``name`` if it is a plain SQL identifier: schema, table and column names go into SQL text."""
    if not _IDENTIFIER.match(name):
        raise ValueError(f"{name!r} is not a plain SQL identifier")
    return name


@dataclass(frozen=True)
class WarehouseTarget:
    """A warehouse location: ``engine`` plus a DuckDB file path or a PostgreSQL DSN, and the schema to use."""

    engine: Engine
    location: str
    schema: str

    def __post_init__(self) -> None:
        check_identifier(self.schema)
        if self.engine == "duckdb" and not Path(self.location).is_absolute():
            raise ValueError(f"DuckDB warehouse path must be absolute, got {self.location!r}")
        if self.engine == "duckdb" and Path(self.location).stem == self.schema:
            # DuckDB names the catalog after the file, and "x.table" would then be ambiguous.
            raise ValueError(
                f"DuckDB schema {self.schema!r} must differ from the file's name {self.location!r}"
            )

    @classmethod
    def duckdb(cls, path: Path | str, schema: str = "main") -> WarehouseTarget:
        return cls("duckdb", str(path), schema)

    @classmethod
    def postgres(cls, dsn: str, schema: str = "public") -> WarehouseTarget:
        return cls("postgres", dsn, schema)

    @classmethod
    def from_connection(cls, conn_id: str) -> WarehouseTarget:
        """Resolve an Airflow connection (conn_type ``duckdb`` or ``postgres``; extra ``schema`` optional)."""
        from airflow.sdk import BaseHook

        return cls.from_airflow_connection(BaseHook.get_connection(conn_id))

    @classmethod
    def from_airflow_connection(cls, conn: Any) -> WarehouseTarget:
        """The target described by an Airflow ``Connection`` object (already fetched, e.g. asynchronously)."""
        conn_id = conn.conn_id
        extra = conn.extra_dejson
        if conn.conn_type == "duckdb":
            path = conn.host or conn.schema
            if not path:
                raise ValueError(f"connection {conn_id!r}: a duckdb connection needs the file path in host")
            return cls.duckdb(path, schema=str(extra.get("schema", "main")))
        if conn.conn_type in {"postgres", "postgresql"}:
            return cls.postgres(
                postgres_dsn(conn.host, conn.port, conn.login, conn.password, conn.schema),
                schema=str(extra.get("schema", "public")),
            )
        raise ValueError(f"connection {conn_id!r}: conn_type {conn.conn_type!r} is not duckdb or postgres")

    def describe(self) -> str:
        """A log-safe description (no password)."""
        if self.engine == "duckdb":
            return f"duckdb:{self.location} schema {self.schema}"
        from psycopg.conninfo import conninfo_to_dict

        parts = conninfo_to_dict(self.location)
        return f"postgres:{parts.get('host')}:{parts.get('port')}/{parts.get('dbname')} schema {self.schema}"


def postgres_dsn(
    host: str | None, port: int | None, login: str | None, password: str | None, db: str | None
) -> str:
    """A libpq connection string from connection fields, quoting each value."""
    from psycopg.conninfo import make_conninfo

    fields = {"host": host, "port": port, "user": login, "password": password, "dbname": db}
    return make_conninfo("", **{k: v for k, v in fields.items() if v not in (None, "")})
