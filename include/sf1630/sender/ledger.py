"""The sender's record of what the platform accepted or rejected, the memory that makes re-runs safe.

After a success receipt the receipt is deleted (the sender's ``IN/`` must not fill up), and the platform
has removed data file and trigger from ``OUT/``: nothing on the SFTP server says any more that the month's
file went out. The ledger does. Upload skips whatever it lists as accepted, the summary and the deadline
callback read it to say what is missing. One row per (sender, file name), written before the receipt is
deleted, so a crash between the two leaves a receipt that is read again, never a lost acceptance. A delivery
the sender withdrew after its receipt wait timed out is recorded as ``withdrawn`` (no transfer, no errors).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from contextlib import closing
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from typing import Any

from sf1630.database import (
    Database,
    check_identifier,
    exists,
    group_key,
    months_between,
    reading,
    table_columns,
)
from sf1630.protocol import Period, ReceiptError
from sf1630.sender.plan import Delivery

ACCEPTED = "accepted"
REJECTED = "rejected"
#: No receipt within ``receipt_timeout``: the sender took its data file and trigger back from ``OUT/``.
WITHDRAWN = "withdrawn"
TABLE = "sf1630_sender_ledger"

_DDL = f"""
CREATE TABLE IF NOT EXISTS {TABLE} (
    sender TEXT NOT NULL,
    file_name TEXT NOT NULL,
    recipient TEXT NOT NULL,
    kommune_kode TEXT NOT NULL,
    period TEXT NOT NULL,
    status TEXT NOT NULL,
    transfer_uuid TEXT NOT NULL,
    errors TEXT NOT NULL,
    recorded_at TEXT NOT NULL,
    supersedes TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (sender, file_name)
)
"""


@dataclass(frozen=True)
class ReceiptEntry:
    """One row of the ledger: what the platform's receipt said about one delivery of ``sender``."""

    file_name: str
    status: str
    transfer_uuid: str
    errors: tuple[ReceiptError, ...]
    recorded_at: str
    supersedes: str = ""
    sender: str = ""
    #: The LIS system's key (:attr:`~sf1630.registry.LisSystem.key`).
    recipient: str = ""
    kommune_kode: str = ""
    period: Period | None = None  # None for a row without one (column ``period``, ``YYYY-MM``)


#: The ledger's columns in :class:`ReceiptEntry` order.
_COLUMNS = (
    "file_name, status, transfer_uuid, errors, recorded_at, supersedes,"
    " sender, recipient, kommune_kode, period"
)


#: The views read a year of receipts over twelve months: each month's text is parsed once.
_period = cache(Period.parse)


def _entry(row: Sequence[Any]) -> ReceiptEntry:
    name, status, transfer, errors, at, supersedes, sender, recipient, kode, period = (
        str(v if v is not None else "") for v in row
    )
    month = _period(period) if period else None
    return ReceiptEntry(
        name, status, transfer, _receipt_errors(errors), at, supersedes, sender, recipient, kode, month
    )


def _receipt_errors(raw: str) -> tuple[ReceiptError, ...]:
    """The receipt's errors as the ledger stores them (JSON ``[[code, code text, text], ...]``); a value of
    another shape is shown as it is rather than failing a page or a message."""
    try:
        return tuple(ReceiptError(int(c), str(d), str(t)) for c, d, t in json.loads(raw or "[]"))
    except (ValueError, TypeError, OverflowError, RecursionError):
        return (ReceiptError(0, "unreadable in the ledger", raw[:200]),)


class Ledger:
    """The ledger table in a SQLite file or a PostgreSQL schema."""

    def __init__(self, database: Database) -> None:
        self.database = database
        self._ready = False

    def _connect(self) -> closing[Any]:
        return closing(self.database.connect())

    def _ensure_table(self, conn: Any) -> None:
        if self._ready:
            return
        cursor = conn.cursor()
        try:
            cursor.execute(_DDL)
        except Exception as exc:  # two workers creating the table at once in PostgreSQL
            if "already exists" not in str(exc) and "duplicate key" not in str(exc):
                raise
            conn.rollback()
        conn.commit()
        self._add_supersedes(conn)
        self._ready = True

    def _add_supersedes(self, conn: Any) -> None:
        """Add the ``supersedes`` column to a ledger made before ``force`` existed."""
        cursor = conn.cursor()
        if self.database.kind == "sqlite":
            cursor.execute(f"SELECT name FROM pragma_table_info('{TABLE}')")  # noqa: S608 (constant)
            if "supersedes" in {row[0] for row in cursor.fetchall()}:
                return
            cursor.execute(f"ALTER TABLE {TABLE} ADD COLUMN supersedes TEXT NOT NULL DEFAULT ''")
        else:
            cursor.execute(
                f"ALTER TABLE {TABLE} ADD COLUMN IF NOT EXISTS supersedes TEXT NOT NULL DEFAULT ''"
            )
        conn.commit()

    def record(
        self,
        delivery: Delivery,
        status: str,
        transfer_uuid: str,
        errors: Sequence[ReceiptError] = (),
        *,
        at: datetime | None = None,
    ) -> None:
        """Insert or replace the entry of ``delivery`` (a later acceptance replaces an earlier rejection)."""
        p = self.database.placeholder
        row = (
            delivery.sender,
            delivery.file_name,
            delivery.lis.key,
            delivery.kommune.kode,
            str(delivery.period),
            status,
            transfer_uuid,
            json.dumps([[e.code, e.code_description, e.description] for e in errors], ensure_ascii=False),
            (at or datetime.now(UTC)).isoformat(timespec="seconds"),
            delivery.supersedes,
        )
        # Only the fixed table name and parameter markers are formatted in; values are bound parameters.
        sql = (
            f"INSERT INTO {TABLE} (sender, file_name, recipient, kommune_kode, period, status, transfer_uuid,"  # noqa: S608
            f" errors, recorded_at, supersedes) VALUES ({', '.join([p] * len(row))})"
            " ON CONFLICT (sender, file_name) DO UPDATE SET status = excluded.status,"
            " transfer_uuid = excluded.transfer_uuid, errors = excluded.errors,"
            " recorded_at = excluded.recorded_at"
        )
        with self._connect() as conn:
            self._ensure_table(conn)
            conn.cursor().execute(sql, row)
            conn.commit()

    def entries(self, sender: str, file_names: Iterable[str]) -> dict[str, ReceiptEntry]:
        """The entries of ``sender`` for the given file names (missing names have none)."""
        wanted = sorted(set(file_names))
        if not wanted:
            return {}
        p = self.database.placeholder
        found: dict[str, ReceiptEntry] = {}
        with self._connect() as conn:
            self._ensure_table(conn)
            cursor = conn.cursor()
            for start in range(0, len(wanted), 500):
                chunk = wanted[start : start + 500]
                markers = ", ".join([p] * len(chunk))
                cursor.execute(
                    f"SELECT {_COLUMNS} FROM {TABLE} WHERE sender = {p} AND file_name IN ({markers})",  # noqa: S608
                    (sender, *chunk),
                )
                for row in cursor.fetchall():
                    entry = _entry(row)
                    found[entry.file_name] = entry
        return found

    def accepted(self, sender: str, file_names: Iterable[str]) -> set[str]:
        """Which of the file names the platform has accepted."""
        return {name for name, e in self.entries(sender, file_names).items() if e.status == ACCEPTED}

    def current_accepted(self, sender: str, period: Period) -> dict[tuple[str, Period], str]:
        """(LIS SFTP user, period) → the newest accepted file of ``sender`` for ``period``.

        Newest by name: the names of one delivery differ only in ``datoTid``, which sorts as time.
        """
        p = self.database.placeholder
        current: dict[tuple[str, Period], str] = {}
        with self._connect() as conn:
            self._ensure_table(conn)
            cursor = conn.cursor()
            cursor.execute(
                f"SELECT recipient, file_name FROM {TABLE}"  # noqa: S608
                f" WHERE sender = {p} AND period = {p} AND status = {p}",
                (sender, str(period), ACCEPTED),
            )
            for recipient, name in cursor.fetchall():
                key = (str(recipient), period)
                if name > current.get(key, ""):
                    current[key] = str(name)
        return current


def read_sent_rows(ledgers: Sequence[tuple[str, Database]], months: Sequence[Period]) -> list[ReceiptEntry]:
    """The rows of the months shown, for every (sender code, ledger database) pair: one query per database.

    A ledger not created yet holds no rows (it is not created here: a reader never writes); one made before
    ``supersedes`` existed reads it as empty.
    """
    ledgers = [(code, db) for code, db in ledgers if exists(db)]
    if not ledgers or not months:
        return []
    first, last = months_between(months)
    groups: dict[tuple[str, str, str], list[tuple[str, Database]]] = {}
    for code, db in ledgers:
        groups.setdefault(group_key(db), []).append((code, db))
    rows: list[ReceiptEntry] = []
    for members in groups.values():
        db = members[0][1]
        p = db.placeholder
        codes = sorted({code for code, _ in members})
        with reading(db) as con:
            columns = table_columns(con, db, TABLE, [db.schema]).get(
                db.schema if db.kind != "sqlite" else "main"
            )
            if columns is None:
                continue
            selected = _COLUMNS if "supersedes" in columns else _COLUMNS.replace("supersedes", "''")
            table = TABLE if db.kind == "sqlite" else f"{check_identifier(db.schema)}.{TABLE}"
            sql = (
                f"SELECT {selected} FROM {table} WHERE period BETWEEN {p} AND {p}"  # noqa: S608
                f" AND sender IN ({', '.join([p] * len(codes))})"
            )
            rows += [_entry(r) for r in con.execute(sql, [first, last, *codes]).fetchall()]
    return rows
