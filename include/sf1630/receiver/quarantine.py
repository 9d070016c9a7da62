"""The quarantine: where a refused delivery's files and validation reports are kept for a person to read.

The recipient must clear IN/ (the platform would otherwise warn and eventually delete), yet a refused
extract has to stay inspectable and re-loadable by hand; so everything that belonged to the delivery goes
into one folder per delivery under the quarantine of the receiver's store
(:class:`~sf1630.receiver.storage.Storage`), with a ``reason.json`` on top, and is deleted from IN/ only once
stored. Raw extracts may hold personal data, so quarantine is kept only for the configured
``quarantine_keep`` (:func:`expire`). Names come from the server and pass ``check_safe_name`` before they
become paths.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from sf1630.protocol import check_safe_name
from sf1630.receiver.storage import StorePath, copy_tree, make_private_dir, remove_tree, write_private

log = logging.getLogger(__name__)
REASON_FILE = "reason.json"


def quarantine_folder(root: StorePath, name: str) -> StorePath:
    """A new, empty folder ``root/name`` (``name.2``, ``name.3``... when earlier ones exist)."""
    base = check_safe_name(name)
    make_private_dir(root)
    candidate, n = root / base, 1
    while candidate.exists():
        n += 1
        candidate = root / f"{base}.{n}"
    return make_private_dir(candidate)


def quarantine(
    root: StorePath,
    name: str,
    reason: Mapping[str, Any],
    *,
    files: Mapping[str, bytes | StorePath] | None = None,
    trees: Mapping[str, StorePath] | None = None,
) -> StorePath:
    """Keep ``files`` (bytes written, store paths copied), ``trees`` (folders copied; the one named ""
    into the folder itself) and ``reason`` in a new folder for delivery ``name``; ``reason.json`` is
    written last, so a folder with it is complete."""
    folder = quarantine_folder(root, name)
    for file_name, content in (files or {}).items():
        data = content if isinstance(content, bytes) else content.read_bytes()
        write_private(folder / check_safe_name(file_name), data)
    for tree_name, source in (trees or {}).items():
        copy_tree(source, folder / check_safe_name(tree_name) if tree_name else folder)
    text = json.dumps(dict(reason), indent=2, default=str).encode("utf-8")
    write_private(folder / REASON_FILE, text)
    return folder


def expire(root: StorePath, *, keep: timedelta, now: datetime) -> list[str]:
    """Delete quarantine folders whose ``quarantined_at`` is older than ``keep``; returns their names."""
    expired = []
    for folder in past_keep(root, keep=keep, now=now):
        remove_tree(folder)
        expired.append(folder.name)
    return expired


def past_keep(root: StorePath, *, keep: timedelta, now: datetime) -> list[StorePath]:
    """The quarantine folders whose ``quarantined_at`` is older than ``keep`` (what :func:`expire` deletes).

    The time comes from ``reason.json`` (object stores keep no reliable folder times); a folder without a
    readable reason is left alone and logged, since guessing its age could delete what a person needs.
    """
    if not root.exists():
        return []
    old = []
    for folder in sorted(root.iterdir(), key=str):
        try:
            reason = json.loads((folder / REASON_FILE).read_bytes())
            at = datetime.fromisoformat(str(reason["quarantined_at"]))
        except (OSError, ValueError, KeyError, TypeError):
            log.warning("quarantine folder %s has no readable %s: left alone", folder, REASON_FILE)
            continue
        if now - at > keep:
            old.append(folder)
    return old
