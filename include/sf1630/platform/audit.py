"""One structured (JSON) audit line per finished transfer, for operators and for tests to assert on.

The line carries identifiers, sizes, outcome and error codes only: never trigger contents beyond those,
never passwords or keys, so the audit log can be shared when a transfer is investigated.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from pathlib import Path
from typing import IO

LOGGER = logging.getLogger("sf1630.platform.audit")


def _end_torn_line(path: Path) -> None:
    """A process killed mid-write may leave a last line without newline; end it so the next one is whole."""
    try:
        with path.open("rb") as file:
            file.seek(0, 2)
            if file.tell() == 0:
                return
            file.seek(-1, 2)
            torn = file.read(1) != b"\n"
    except FileNotFoundError:
        return
    if torn:
        with path.open("ab") as file:
            file.write(b"\n")


class AuditLog:
    """Appends audit lines to a file and to the ``sf1630.platform.audit`` logger."""

    def __init__(self, path: Path | None) -> None:
        self._lock = threading.Lock()
        self._path = path
        if path is not None:
            _end_torn_line(path)
        self._file: IO[str] | None = open(path, "a", encoding="utf-8") if path else None  # noqa: SIM115

    def transfer_ids(self) -> set[str]:
        """Transfer ids that already have their line, so a replay after a crash writes no second one."""
        if self._path is None or not self._path.exists():
            return set()
        ids = set()
        with self._path.open(encoding="utf-8", errors="replace") as file:
            for line in file:
                try:
                    entry = json.loads(line)
                except ValueError:
                    continue
                if isinstance(entry, dict) and isinstance(entry.get("file_transfer_uuid"), str):
                    ids.add(entry["file_transfer_uuid"])
        return ids

    def transfer(
        self,
        *,
        file_transfer_uuid: str,
        sender: str,
        recipients: list[str],
        size: int | None,
        outcome: str,
        error_codes: list[int],
        trigger: str,
    ) -> str:
        """Record one finished transfer; returns the line."""
        line = json.dumps(
            {
                "event": "transfer",
                "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "file_transfer_uuid": file_transfer_uuid,
                "sender": sender,
                "trigger": trigger,
                "recipients": recipients,
                "size": size,
                "outcome": outcome,
                "error_codes": error_codes,
            },
            ensure_ascii=False,
        )
        LOGGER.info(line)
        with self._lock:
            if self._file is not None:
                self._file.write(line + "\n")
                self._file.flush()
        return line

    def close(self) -> None:
        """Close the audit file."""
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None
