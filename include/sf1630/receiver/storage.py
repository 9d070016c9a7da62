"""Where the receiver keeps a delivery between its steps: staging, reports and quarantine in object storage.

Each step of a receiver run (fetch, validate, load, delete) may run in another process on another worker, so
what one step leaves for the next lives under one object-storage base that every worker sees: an Airflow
``ObjectStoragePath`` (``file://`` under ``$AIRFLOW_HOME`` by default, any fsspec URL with a connection, e.g.
``s3://``, in a multi-host deployment). This module only needs the path protocol those objects share with
``upath.UPath`` (``/``, ``open``, ``mkdir``, ``iterdir``, ``exists``, ``unlink``, ``fs``), so it never imports
Airflow. Layout, per LIS system (its SFTP user):

- ``<base>/staging/<user>/<data file>`` and ``<data file>.metadata``: fetched, not yet loaded (removed by the
  delete step once the ledger has the delivery);
- ``<base>/reports/<user>/<data file>/``: ``validation.json`` (GX's ValidationResult), ``validation.html``
  (the short report as a page), ``summary.txt``, ``datadocs/index.html`` (GX Data Docs for this delivery);
- ``<base>/quarantine/<user>/<data file>[.n]/``: a refused delivery's files, its reports (as above) and
  ``reason.json``; kept for ``quarantine_keep``, then deleted by housekeeping;
- ``<base>/held/<user>/<data file>.json``: why a delivery is held in IN/ (its sender's data spec cannot be
  used, :mod:`sf1630.receiver.held`); read by the run's failure message.

Raw extracts may hold personal data: on a local file system every folder is created ``0700`` and every file
``0600``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sf1630.protocol import check_safe_name

#: An ``airflow.sdk.ObjectStoragePath`` or a ``upath.UPath`` (the plain code sees only their shared protocol).
StorePath = Any

LOCAL_PROTOCOLS = frozenset({"", "file", "local"})


def is_local(path: StorePath) -> bool:
    """Whether ``path`` is on this machine's file system (then permissions are set by the project)."""
    return str(getattr(path, "protocol", "") or "") in LOCAL_PROTOCOLS


def os_path(path: StorePath) -> str:
    return str(getattr(path, "path", path))


def make_private_dir(path: StorePath) -> StorePath:
    """``mkdir -p`` with owner-only folders on a local file system; returns ``path``."""
    if is_local(path):
        Path(os_path(path)).mkdir(parents=True, exist_ok=True, mode=0o700)
        os.chmod(os_path(path), 0o700)
    else:
        path.mkdir(parents=True, exist_ok=True)
    return path


def write_private(path: StorePath, data: bytes) -> StorePath:
    """Write ``data`` to ``path`` (owner-only when local), its folder made by :func:`make_private_dir`."""
    make_private_dir(path.parent)
    if is_local(path):
        fd = os.open(os_path(path), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        os.chmod(os_path(path), 0o600)
    else:
        with path.open("wb") as out:
            out.write(data)
    return path


def walk_files(root: StorePath) -> Iterator[tuple[tuple[str, ...], StorePath]]:
    """Every file below ``root`` with its parts relative to ``root``."""
    if not root.exists():
        return
    for entry in sorted(root.iterdir(), key=str):
        if entry.is_dir():
            for parts, path in walk_files(entry):
                yield (entry.name, *parts), path
        else:
            yield (entry.name,), entry


def copy_tree(source: StorePath | Path, destination: StorePath) -> None:
    """Copy every file below ``source`` (local or in the store) to ``destination``, owner-only when local."""
    if isinstance(source, Path):
        for file in sorted(p for p in source.rglob("*") if p.is_file()):
            target = destination
            for part in file.relative_to(source).parts:
                target = target / part
            write_private(target, file.read_bytes())
        return
    for parts, file in walk_files(source):
        target = destination
        for part in parts:
            target = target / part
        write_private(target, file.read_bytes())


def remove_tree(path: StorePath) -> None:
    """Remove ``path`` and everything below it; nothing there is fine (a retry)."""
    if not path.exists():
        return
    if path.is_dir():
        for entry in list(path.iterdir()):
            remove_tree(entry)
        path.rmdir()
    else:
        path.unlink()


@dataclass(frozen=True)
class Storage:
    """One LIS system's share of the store (see the module docstring for the layout)."""

    base: StorePath
    user: str

    @property
    def staging(self) -> StorePath:
        return self.base / "staging" / check_safe_name(self.user)

    @property
    def reports(self) -> StorePath:
        return self.base / "reports" / check_safe_name(self.user)

    @property
    def quarantine(self) -> StorePath:
        return self.base / "quarantine" / check_safe_name(self.user)

    @property
    def held(self) -> StorePath:
        return self.base / "held" / check_safe_name(self.user)

    def staged(self, data_name: str) -> StorePath:
        """Where a fetched data file waits for validation and loading."""
        return self.staging / check_safe_name(data_name)

    def report_folder(self, data_name: str) -> StorePath:
        """The delivery's report folder (its URI goes into the ledger's ``report`` column)."""
        return self.reports / check_safe_name(data_name)
