"""Deliveries held in IN/ because the receiver's own configuration cannot handle them.

A sender the receiver accepts whose data spec is missing or broken is a configuration error of the LIS
system, not the sender's fault: its files are neither quarantined (the sender would be told to deliver
again, and the ledger would record a refusal that never was) nor deleted. They stay in IN/ until the spec
is fixed, and the next run takes them. The files of other senders go on.

Each hold leaves a note in the store (``held/<LIS user>/<data file>.json``, replaced at every hold), so the
run's one failure message can list what was held, why and which spec to fix, as it lists the quarantine's
``reason.json`` files. A note is only a message: what is held is what is still in IN/.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path

from sf1630.protocol import check_safe_name
from sf1630.receiver.storage import StorePath, write_private

NOTE_SUFFIX = ".json"


@dataclass(frozen=True)
class Hold:
    """One delivery held in IN/: whose file, which spec could not be used, and why."""

    data_file: str
    sender: str
    spec: str
    problem: str
    held_at: str

    def summary(self, inbox: str, lis_system: str) -> str:
        """The reason as on-call and the task's XCom show it."""
        return (
            f"{self.data_file} held in {inbox}/ of {lis_system}: data spec {self.spec!r} of sender "
            f"{self.sender} cannot be used ({self.problem}). A configuration error of this receiver, not "
            "the sender's: "
            "nothing quarantined, nothing deleted; fix the spec and the next run takes the file."
        )


def write_note(root: StorePath, hold: Hold) -> StorePath:
    """Leave ``hold``'s note under ``root`` (the receiver's ``held`` folder), replacing an earlier one."""
    path = root / (check_safe_name(hold.data_file) + NOTE_SUFFIX)
    return write_private(path, json.dumps(asdict(hold), indent=2).encode("utf-8"))


def held_since(root: Path, since: datetime) -> list[Hold]:
    """The holds whose notes in the local folder ``root`` were written at or after ``since``, oldest first.

    A note that cannot be read is skipped: IN/ still holds the file, and the next run writes it again.
    """
    found: list[Hold] = []
    for path in sorted(root.glob(f"*{NOTE_SUFFIX}")) if root.is_dir() else []:
        try:
            hold = Hold(**json.loads(path.read_text(encoding="utf-8")))
            when = datetime.fromisoformat(hold.held_at)
        except (OSError, ValueError, TypeError):
            continue
        if when.tzinfo is not None and when >= since:
            found.append(hold)
    return sorted(found, key=lambda hold: hold.held_at)


def held_lines(holds: Sequence[Hold]) -> list[str]:
    """The holds as lines of the run's failure message."""
    if not holds:
        return []
    lines = ["Held in IN/ (a configuration error of this receiver, not the sender's; nothing quarantined):"]
    for hold in holds:
        lines.append(f"  - {hold.sender} ({hold.data_file}): data spec {hold.spec!r} cannot be used:")
        lines.append(f"      {hold.problem}")
    lines += ["", "Fix or restore the data spec(s); the next run takes the held files."]
    return lines
