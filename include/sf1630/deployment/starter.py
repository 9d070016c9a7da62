"""``sf1630 init``: a starter deployment of one side, for an Airflow project in the Astro layout.

A vendor (``sender``) or a LIS team (``receiver``) starts from files that already fit together: the thin
DAG file(s) in ``dags/``, the configuration folder ``include/sf1630-config/`` (not ``include/sf1630``,
which would shadow the package), and ``sf1630.env`` with the ``AIRFLOW_CONN_*`` connections and
``SF1630_CONFIG_DIR``. Every value to replace is marked ``FILL IN``; the shipped values are the demo's,
so the files load as they are and ``sf1630 preflight`` says what is still missing.

The templates are package data (``templates/<side>/``), copied byte for byte. Nothing that exists is ever
overwritten: when any target file exists, nothing at all is written.
"""

from __future__ import annotations

from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Literal

Side = Literal["sender", "receiver"]
SIDES: tuple[Side, ...] = ("sender", "receiver")

#: The configuration folder inside the Airflow project.
CONFIG_FOLDER = Path("include") / "sf1630-config"


class StarterExists(FileExistsError):
    """A file the starter would write exists already; ``path`` names it."""

    def __init__(self, path: Path) -> None:
        super().__init__(
            f"{path} exists already; nothing was written (move it away or choose another folder)"
        )
        self.path = path


def _walk(folder: Traversable, parts: tuple[str, ...] = ()) -> list[tuple[Path, Traversable]]:
    found: list[tuple[Path, Traversable]] = []
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if entry.name == "__pycache__":
            continue
        if entry.is_dir():
            found += _walk(entry, (*parts, entry.name))
        else:
            found.append((Path(*parts, entry.name), entry))
    return found


def templates(side: Side) -> list[tuple[Path, Traversable]]:
    """The starter's files for ``side``: (path relative to the project, template), in a stable order."""
    return _walk(files("sf1630.deployment") / "templates" / side)


def write_starter(side: Side, target: Path) -> list[Path]:
    """Write the starter of ``side`` into the Airflow project folder ``target``; the files written.

    Raises :class:`StarterExists` before writing anything when one of the files exists.
    """
    planned = [(target / relative, template) for relative, template in templates(side)]
    for path, _ in planned:
        if path.exists() or path.is_symlink():
            raise StarterExists(path)
    for path, template in planned:
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("xb") as out:  # "x": never overwrite, even a file created meanwhile
            out.write(template.read_bytes())
    return [path for path, _ in planned]
