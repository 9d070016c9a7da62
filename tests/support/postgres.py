"""A real PostgreSQL for tests: the machine's server (127.0.0.1:5432, trust auth, database ``test``).

Each test gets its own schema, dropped afterwards, so tests run in parallel without seeing each other.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

POSTGRES_DSN = "host=127.0.0.1 port=5432 user=postgres dbname=test"


@contextmanager
def fresh_schema(prefix: str = "t") -> Iterator[str]:
    """A new, empty schema in database ``test``; dropped with everything in it on exit."""
    import psycopg

    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(POSTGRES_DSN, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{name}"')
    try:
        yield name
    finally:
        with psycopg.connect(POSTGRES_DSN, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')


@contextmanager
def fresh_database(prefix: str = "t") -> Iterator[str]:
    """A new, empty database on the machine's server (its libpq connection string); dropped on exit.

    For code that names its schemas itself (the demo's one per LIS system), which a shared database
    would mix up between tests running in parallel.
    """
    import psycopg

    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(POSTGRES_DSN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield POSTGRES_DSN.replace("dbname=test", f"dbname={name}")
    finally:
        with psycopg.connect(POSTGRES_DSN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
