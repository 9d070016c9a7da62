"""The router's write-ahead journal (SQLite, WAL): lets a platform killed mid-transfer finish it on restart.

A transfer is recorded as *accepted* with everything needed to finish it (the receipt and each recipient's
metadata, already rendered) before any file is touched; each recipient is marked *delivered*, then the
transfer *cleaned* (trigger and data file gone from ``OUT/``) and *done* (receipt written). On start the
router replays every unfinished transfer; each step is idempotent, so a replay never delivers twice.
The same database remembers which files already got a retention warning.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path

ACCEPTED, CLEANED, DONE = "accepted", "cleaned", "done"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS transfers (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT UNIQUE NOT NULL,
    sender TEXT NOT NULL,
    trigger_name TEXT NOT NULL,
    data_name TEXT,
    receipt_name TEXT NOT NULL,
    receipt_xml BLOB NOT NULL,
    outcome TEXT NOT NULL,
    size INTEGER,
    error_codes TEXT NOT NULL,
    state TEXT NOT NULL,
    created REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS deliveries (
    transfer_id TEXT NOT NULL REFERENCES transfers(id),
    recipient TEXT NOT NULL,
    metadata_xml BLOB NOT NULL,
    delivered INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (transfer_id, recipient)
);
CREATE TABLE IF NOT EXISTS warnings (
    user TEXT NOT NULL,
    folder TEXT NOT NULL,
    name TEXT NOT NULL,
    mtime_ns INTEGER NOT NULL,
    sent REAL NOT NULL,
    PRIMARY KEY (user, folder, name)
);
"""


@dataclass
class Delivery:
    """One recipient of a transfer."""

    recipient: str
    metadata_xml: bytes
    delivered: bool = False


@dataclass
class TransferRecord:
    """A transfer as the journal knows it."""

    id: str
    sender: str
    trigger_name: str
    data_name: str | None
    receipt_name: str
    receipt_xml: bytes
    outcome: str
    size: int | None
    error_codes: list[int]
    deliveries: list[Delivery]
    state: str = ACCEPTED


class Journal:
    """Thread-safe access to the journal database in the platform's home folder."""

    def __init__(self, path: Path) -> None:
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        # WAL + NORMAL survives a killed process (kill -9); only an OS crash could lose the last commit.
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)

    def close(self) -> None:
        """Close the database."""
        with self._lock:
            self._db.close()

    def accept(self, record: TransferRecord) -> None:
        """Record a transfer and its plan, before any file is touched."""
        with self._lock, self._db:
            self._db.execute("BEGIN")
            self._db.execute(
                "INSERT INTO transfers (id, sender, trigger_name, data_name, receipt_name, receipt_xml,"
                " outcome, size, error_codes, state, created) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    record.id,
                    record.sender,
                    record.trigger_name,
                    record.data_name,
                    record.receipt_name,
                    record.receipt_xml,
                    record.outcome,
                    record.size,
                    json.dumps(record.error_codes),
                    ACCEPTED,
                    time.time(),
                ),
            )
            self._db.executemany(
                "INSERT INTO deliveries (transfer_id, recipient, metadata_xml) VALUES (?, ?, ?)",
                [(record.id, d.recipient, d.metadata_xml) for d in record.deliveries],
            )

    def delivered(self, transfer_id: str, recipient: str) -> None:
        """Mark one recipient's delivery (data file and metadata) as complete."""
        with self._lock:
            self._db.execute(
                "UPDATE deliveries SET delivered = 1 WHERE transfer_id = ? AND recipient = ?",
                (transfer_id, recipient),
            )

    def fail(self, transfer_id: str, receipt_xml: bytes, error_codes: list[int]) -> None:
        """Turn an accepted transfer into a failure (delivery rolled back)."""
        with self._lock, self._db:
            self._db.execute("BEGIN")
            self._db.execute(
                "UPDATE transfers SET outcome = 'failure', receipt_xml = ?, error_codes = ? WHERE id = ?",
                (receipt_xml, json.dumps(error_codes), transfer_id),
            )
            self._db.execute("DELETE FROM deliveries WHERE transfer_id = ?", (transfer_id,))

    def set_receipt_name(self, transfer_id: str, receipt_name: str) -> None:
        """Record that the receipt goes under another name (its planned name was taken meanwhile)."""
        with self._lock:
            query = "UPDATE transfers SET receipt_name = ? WHERE id = ?"
            self._db.execute(query, (receipt_name, transfer_id))

    def set_state(self, transfer_id: str, state: str) -> None:
        """Advance a transfer to ``cleaned`` or ``done``."""
        with self._lock:
            self._db.execute("UPDATE transfers SET state = ? WHERE id = ?", (state, transfer_id))

    def unfinished(self) -> list[TransferRecord]:
        """Every transfer not yet done, oldest first."""
        with self._lock:
            rows = self._db.execute(
                "SELECT id, sender, trigger_name, data_name, receipt_name, receipt_xml, outcome, size,"
                " error_codes, state FROM transfers WHERE state != ? ORDER BY seq",
                (DONE,),
            ).fetchall()
            records = []
            for row in rows:
                deliveries = [
                    Delivery(recipient, bytes(xml), bool(done))
                    for recipient, xml, done in self._db.execute(
                        "SELECT recipient, metadata_xml, delivered FROM deliveries WHERE transfer_id = ?"
                        " ORDER BY recipient",
                        (row[0],),
                    )
                ]
                records.append(
                    TransferRecord(
                        id=row[0],
                        sender=row[1],
                        trigger_name=row[2],
                        data_name=row[3],
                        receipt_name=row[4],
                        receipt_xml=bytes(row[5]),
                        outcome=row[6],
                        size=row[7],
                        error_codes=json.loads(row[8]),
                        deliveries=deliveries,
                        state=row[9],
                    )
                )
            return records

    def count(self, state: str | None = None) -> int:
        """Number of transfers (in ``state`` if given)."""
        with self._lock:
            if state is None:
                return int(self._db.execute("SELECT count(*) FROM transfers").fetchone()[0])
            query = "SELECT count(*) FROM transfers WHERE state = ?"
            return int(self._db.execute(query, (state,)).fetchone()[0])

    def warned(self, user: str, folder: str, name: str, mtime_ns: int) -> bool:
        """Whether this version of the file (same mtime) already got its retention warning."""
        with self._lock:
            row = self._db.execute(
                "SELECT mtime_ns FROM warnings WHERE user = ? AND folder = ? AND name = ?",
                (user, folder, name),
            ).fetchone()
        return row is not None and int(row[0]) == mtime_ns

    def record_warning(self, user: str, folder: str, name: str, mtime_ns: int) -> None:
        """Remember that this version of the file got its warning."""
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO warnings (user, folder, name, mtime_ns, sent) VALUES (?, ?, ?, ?, ?)",
                (user, folder, name, mtime_ns, time.time()),
            )

    def forget_warning(self, user: str, folder: str, name: str) -> None:
        """Drop the warning record of a deleted file."""
        with self._lock:
            self._db.execute(
                "DELETE FROM warnings WHERE user = ? AND folder = ? AND name = ?", (user, folder, name)
            )
