"""The quarantine: where a refused delivery's files and validation reports are kept for a person to read.

The recipient must clear IN/ (the platform would otherwise warn and eventually delete), yet a refused
extract has to stay inspectable and re-loadable by hand; so everything that belonged to the delivery goes
into one folder per delivery under the configured quarantine location, with a ``reason.json`` on top.
Names come from the server and pass ``check_safe_name`` before they become paths.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from sf1630.protocol import check_safe_name


def quarantine_folder(root: Path, name: str) -> Path:
    """A new, empty folder ``root/name`` (``name.2``, ``name.3``... when earlier ones exist)."""
    base = check_safe_name(name)
    root.mkdir(parents=True, exist_ok=True)
    candidate, n = root / base, 1
    while True:
        try:
            candidate.mkdir()
            return candidate
        except FileExistsError:
            n += 1
            candidate = root / f"{base}.{n}"


def quarantine(
    root: Path, name: str, reason: Mapping[str, Any], *, files: Mapping[str, bytes | Path] | None = None
) -> Path:
    """Keep ``files`` (bytes written, paths moved) and ``reason`` in a new folder for delivery ``name``."""
    folder = quarantine_folder(root, name)
    for file_name, content in (files or {}).items():
        destination = folder / check_safe_name(file_name)
        if isinstance(content, Path):
            shutil.move(content, destination)
        else:
            destination.write_bytes(content)
    (folder / "reason.json").write_text(json.dumps(dict(reason), indent=2, default=str), encoding="utf-8")
    return folder
