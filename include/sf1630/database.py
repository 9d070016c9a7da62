"""Where a database is: a SQLite file or a PostgreSQL server, with the schema to work in.

One type for the three databases the project touches (the sender's source and its ledger, the LIS
warehouse), built from the fields of an Airflow connection by the Airflow face and directly from a path or a
DSN by tests, benchmarks and the demo, so that the code using it never touches Airflow. PostgreSQL follows
Airflow's own convention (the connection's ``schema`` field is the database name); the SQL schema to work in
is the ``schema`` extra (``public`` by default). DuckDB is not one of them: it was dropped as a warehouse
(one writer per file, no GX dialect; :mod:`sf1630.warehouse.load`), a ledger needs concurrent writers, and a
sender's source is read through any common.sql hook instead (:mod:`sf1630.airflow.extract`).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from sf1630.protocol import Period

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")
_POSTGRES_TYPES = ("postgres", "postgresql")

Kind = Literal["sqlite", "postgres"]


class DatabaseConfigError(ValueError):
    """A connection does not describe a database the project can use; the message names it."""


def check_identifier(name: str) -> str:
    """``name`` if it is a plain SQL identifier (schema, table and column names go into SQL text)."""
    if not isinstance(name, str) or not _IDENTIFIER.fullmatch(name):
        raise ValueError(f"{name!r} is not a plain SQL identifier")
    return name


def quoted(name: str) -> str:
    """``name`` checked and double-quoted for SQL text."""
    return f'"{check_identifier(name)}"'


@dataclass(frozen=True)
class Database:
    """A SQLite file or a PostgreSQL server, and the SQL schema to use."""

    kind: Kind
    schema: str
    path: Path | None = None
    dsn: str = field(default="", repr=False)
    options: str = field(default="", repr=False)

    def __post_init__(self) -> None:
        check_identifier(self.schema)
        if self.kind == "sqlite" and (self.path is None or not self.path.is_absolute()):
            raise DatabaseConfigError(f"a {self.kind} database needs an absolute file path, got {self.path}")

    @classmethod
    def sqlite(cls, path: Path | str) -> Database:
        """A SQLite file."""
        return cls("sqlite", "main", path=Path(path))

    @classmethod
    def postgres(cls, dsn: str, schema: str = "public") -> Database:
        """A PostgreSQL database given by a libpq connection string."""
        return cls("postgres", schema, dsn=dsn)

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
    ) -> Database:
        """The database an Airflow connection's fields describe; DatabaseConfigError names ``conn_id``."""
        kind = (conn_type or "").lower()
        extra = extra or {}
        sql_schema = str(extra.get("schema") or ("main" if kind == "sqlite" else "public"))
        if not _IDENTIFIER.fullmatch(sql_schema):
            raise DatabaseConfigError(
                f"connection {conn_id}: extra.schema {sql_schema!r} is not a plain identifier"
            )
        if kind == "sqlite":
            raw = host or schema or ""
            if not raw or not Path(raw).is_absolute():
                raise DatabaseConfigError(
                    f"connection {conn_id}: a {kind} connection needs the absolute file path in host"
                )
            return cls("sqlite", "main", path=Path(raw))
        if kind in _POSTGRES_TYPES:
            from psycopg.conninfo import make_conninfo

            fields: dict[str, str | int | None] = {
                "host": host or "127.0.0.1",
                "port": port or 5432,
                "user": login,
                "password": password,
                "dbname": schema or "postgres",
            }
            dsn = make_conninfo("", **{k: v for k, v in fields.items() if v not in (None, "")})
            return cls("postgres", sql_schema, dsn=dsn, options=str(extra.get("options") or ""))
        raise DatabaseConfigError(
            f"connection {conn_id}: conn_type {conn_type!r} is not one of sqlite, postgres"
        )

    def connect(self, *, read_only: bool = False, autocommit: bool = False) -> Any:
        """A DB-API connection; the caller closes it. PostgreSQL's search path is the schema."""
        if self.kind == "sqlite":
            import sqlite3

            return sqlite3.connect(str(self.path), timeout=60)
        import psycopg

        options = self.options or f"-c search_path={self.schema}"
        return psycopg.connect(self.dsn, options=options, autocommit=autocommit)

    @property
    def placeholder(self) -> str:
        """The DB-API parameter marker of this kind of database."""
        return "%s" if self.kind == "postgres" else "?"

    def describe(self) -> str:
        """A log-safe description (never the password)."""
        if self.kind != "postgres":
            return f"{self.kind}:{self.path} schema {self.schema}"
        from psycopg.conninfo import conninfo_to_dict

        parts = conninfo_to_dict(self.dsn)
        return f"postgres:{parts.get('host')}:{parts.get('port')}/{parts.get('dbname')} schema {self.schema}"


# --- reading one table over many databases (the views read 122 ledgers, most in few databases) ----------


def group_key(db: Database) -> tuple[str, str, str]:
    """Databases with equal keys are one database: their tables are read over one connection."""
    return (db.kind, str(db.path or ""), db.dsn)


def exists(db: Database) -> bool:
    """Whether there is a database to read: a SQLite file that does not exist yet (the first minute of a
    deployment) holds no rows, and opening it would create it."""
    return db.path is None or db.path.exists()


@contextmanager
def reading(db: Database) -> Iterator[Any]:
    """A read connection, closed afterwards."""
    con = db.connect()
    try:
        yield con
    finally:
        con.close()


def table_columns(con: Any, db: Database, table: str, schemas: Sequence[str]) -> dict[str, set[str]]:
    """schema → columns of ``table`` for the schemas that have it (one catalogue query; SQLite: ``main``)."""
    p = db.placeholder
    if db.kind == "sqlite":
        rows = con.execute(f"SELECT name FROM pragma_table_info('{check_identifier(table)}')").fetchall()  # noqa: S608
        return {"main": {str(r[0]) for r in rows}} if rows else {}
    markers = ", ".join([p] * len(schemas))
    sql = (  # markers only; the values are bound
        "SELECT table_schema, column_name FROM information_schema.columns "  # noqa: S608
        f"WHERE table_name = {p} AND table_schema IN ({markers})"
    )
    found: dict[str, set[str]] = {}
    for schema, column in con.execute(sql, [table, *schemas]).fetchall():
        found.setdefault(str(schema), set()).add(str(column))
    return found


def months_between(months: Sequence[Period]) -> tuple[str, str]:
    """The first and the last of ``months``, as text for ``BETWEEN``."""
    ordered = sorted(months)
    return str(ordered[0]), str(ordered[-1])
