"""Fixtures for the sender's unit tests: a real folder standing in for an SFTP user's home, and config."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import IO, Any

import pytest
from sf1630.registry import Kommune, LisSystem, SenderSystem, load_registry


class FolderFiles:
    """The ``RemoteFiles`` calls on a local folder (``IN/`` and ``OUT/`` inside it), like an SFTP chroot."""

    def __init__(self, root: Path) -> None:
        self.root = root
        (root / "IN").mkdir(parents=True, exist_ok=True)
        (root / "OUT").mkdir(parents=True, exist_ok=True)

    def _path(self, path: str) -> Path:
        resolved = (self.root / path).resolve()
        assert resolved.is_relative_to(self.root.resolve()), path
        return resolved

    def open(self, filename: str, mode: str = "r", bufsize: int = -1) -> IO[bytes]:
        return self._path(filename).open(mode if "b" in mode else mode + "b")  # type: ignore[return-value]

    def posix_rename(self, oldpath: str, newpath: str) -> None:
        os.replace(self._path(oldpath), self._path(newpath))

    def remove(self, path: str) -> None:
        self._path(path).unlink()

    def stat(self, path: str) -> os.stat_result:
        return self._path(path).stat()

    def listdir_attr(self, path: str = ".") -> list[Any]:
        entries = []
        for child in sorted(self._path(path).iterdir()):
            st = child.stat()
            entries.append(
                SimpleNamespace(
                    filename=child.name, st_mode=st.st_mode, st_mtime=st.st_mtime, st_size=st.st_size
                )
            )
        return entries


@pytest.fixture
def folder(tmp_path: Path) -> Iterator[FolderFiles]:
    yield FolderFiles(tmp_path / "home")


@pytest.fixture
def ky() -> SenderSystem:
    return load_registry().sender("KY")


@pytest.fixture
def kommuner() -> tuple[Kommune, ...]:
    def lis(name: str, user: str) -> LisSystem:
        return LisSystem(name=name, sftp_user=user, it_system=uuid.uuid5(uuid.NAMESPACE_DNS, user))

    def kommune(name: str, kode: str, *systems: LisSystem) -> Kommune:
        return Kommune(name=name, kode=kode, cvr=f"{kode}00000", cvr_placeholder=True, lis_systems=systems)

    return (
        kommune("København", "101", lis("LIS01", "KBH_LIS01")),
        kommune("Brøndby", "153", lis("LIS01", "BRO_LIS01"), lis("LIS02", "BRO_LIS02")),
        kommune("Aalborg", "851", lis("LIS01", "AAL_LIS01")),
    )


@pytest.fixture
def pg_schema() -> Iterator[str]:
    """A fresh PostgreSQL schema in database ``test``, dropped afterwards."""
    import psycopg

    name = f"sf1630_sender_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(host="127.0.0.1", user="postgres", dbname="test", autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{name}"')
    yield name
    with psycopg.connect(host="127.0.0.1", user="postgres", dbname="test", autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA "{name}" CASCADE')
