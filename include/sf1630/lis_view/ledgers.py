"""Reading the ledgers for the views: every LIS system's warehouse ledger and every sender ledger.

A country has 122 LIS systems, usually in few databases (the demo has one PostgreSQL database with a
schema per LIS system), so the rows of all ledgers in one database come back in ONE ``UNION ALL`` query
over one connection, restricted to the months shown; that is what keeps the Loads page near the cost of a
plain query. Timestamps come back as text: turning 7,000 time-zoned timestamps into Python objects costs more
than the rest of the query. Columns added by later versions (``superseded_by`` here, ``report`` from the
object-storage reports) are read when the table has them and are empty otherwise.
"""

# Schema and table names in SQL text are checked identifiers; every value is a bound parameter.
# ruff: noqa: S608

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from sf1630.database import Database, check_identifier
from sf1630.protocol import Period, ReceiptError

WAREHOUSE_LEDGER = "sf1630_ledger"
SENDER_LEDGER = "sf1630_sender_ledger"
_OPTIONAL = ("superseded_by", "report")


@dataclass(frozen=True)
class LoadRow:
    """One row of one LIS system's warehouse ledger."""

    lis_user: str
    file_transfer_uuid: str
    file_name: str
    sender: str
    kommune: str  # CVR, as in file names
    period: str
    rows: int
    outcome: str
    detail: str
    received_at: str  # as the database prints it: a view shows it, it never computes with it
    finished_at: str
    superseded_by: str = ""
    report: str = ""


@dataclass(frozen=True)
class SentRow:
    """One row of a sender ledger: what the platform said about one file."""

    sender: str
    file_name: str
    recipient: str
    kommune_kode: str
    period: str
    status: str
    transfer_uuid: str
    errors: tuple[ReceiptError, ...]
    recorded_at: str
    supersedes: str = ""


def _group_key(db: Database) -> tuple[str, str, str]:
    return (db.kind, str(db.path or ""), db.dsn)


@contextmanager
def _connect(db: Database) -> Iterator[Any]:
    """A read connection: PostgreSQL readers never wait for a load, SQLite (a sender ledger) for a moment."""
    con = db.connect()
    try:
        yield con
    finally:
        con.close()


def _columns(con: Any, db: Database, table: str, schemas: Sequence[str]) -> dict[str, set[str]]:
    """schema → columns of ``table`` for the schemas that have it (one catalogue query)."""
    p = db.placeholder
    if db.kind == "sqlite":
        rows = con.execute(f"SELECT name FROM pragma_table_info('{check_identifier(table)}')").fetchall()
        return {"main": {str(r[0]) for r in rows}} if rows else {}
    markers = ", ".join([p] * len(schemas))
    sql = (
        "SELECT table_schema, column_name FROM information_schema.columns "
        f"WHERE table_name = {p} AND table_schema IN ({markers})"
    )
    found: dict[str, set[str]] = {}
    for schema, column in con.execute(sql, [table, *schemas]).fetchall():
        found.setdefault(str(schema), set()).add(str(column))
    return found


def _present(db: Database) -> bool:
    """Whether there is a database to read: a DuckDB or SQLite file that does not exist yet (the first
    minute of a deployment) holds no rows, and opening it would fail (DuckDB) or create it (SQLite)."""
    return db.path is None or db.path.exists()


def _months_between(months: Sequence[Period]) -> tuple[str, str]:
    ordered = sorted(months)
    return str(ordered[0]), str(ordered[-1])


def read_load_rows(targets: Sequence[tuple[str, str, Database]], months: Sequence[Period]) -> list[LoadRow]:
    """The warehouse ledger rows of the months shown, for every (LIS SFTP user, kommune CVR, warehouse).

    The CVR narrows each LIS system's part to its own kommune, so LIS systems that share one ledger table
    (one warehouse schema for several) still see only their own rows.
    """
    targets = [t for t in targets if _present(t[2])]
    if not targets or not months:
        return []
    first, last = _months_between(months)
    groups: dict[tuple[str, str, str], list[tuple[str, str, Database]]] = {}
    for user, cvr, db in targets:
        groups.setdefault(_group_key(db), []).append((user, cvr, db))
    rows: list[LoadRow] = []
    for members in groups.values():
        rows.extend(_read_group(members, first, last))
    return rows


def _read_group(members: Sequence[tuple[str, str, Database]], first: str, last: str) -> list[LoadRow]:
    db = members[0][2]
    p = db.placeholder
    with _connect(db) as con:
        present = _columns(con, db, WAREHOUSE_LEDGER, sorted({m[2].schema for m in members}))
        parts: list[str] = []
        params: list[object] = []
        for user, cvr, member in members:
            columns = present.get(member.schema)
            if columns is None:
                continue  # nothing handled yet for this LIS system
            optional = ", ".join(
                (f"COALESCE({c}, '')" if c in columns else "''") + f" AS {c}" for c in _OPTIONAL
            )
            parts.append(
                f"SELECT {p} AS lis_user, file_transfer_uuid, file_name, sender, kommune, period, rows,"
                " outcome, detail, CAST(received_at AS VARCHAR), CAST(finished_at AS VARCHAR),"
                f" {optional}"
                f" FROM {check_identifier(member.schema)}.{WAREHOUSE_LEDGER}"
                f" WHERE kommune = {p} AND period BETWEEN {p} AND {p}"
            )
            params.extend([user, cvr, first, last])
        if not parts:
            return []
        result = con.execute(" UNION ALL ".join(parts), params).fetchall()
    return [_load_row(r) for r in result]


def _load_row(r: Sequence[Any]) -> LoadRow:
    return LoadRow(
        lis_user=str(r[0]),
        file_transfer_uuid=str(r[1]),
        file_name=str(r[2]),
        sender=str(r[3]),
        kommune=str(r[4]),
        period=str(r[5]),
        rows=int(r[6]),
        outcome=str(r[7]),
        detail=str(r[8]),
        received_at=str(r[9]),
        finished_at=str(r[10]),
        superseded_by=str(r[11] or ""),
        report=str(r[12] or ""),
    )


def read_sent_rows(ledgers: Sequence[tuple[str, Database]], months: Sequence[Period]) -> list[SentRow]:
    """The sender ledger rows of the months shown, for every (sender code, ledger database) pair."""
    ledgers = [(code, db) for code, db in ledgers if _present(db)]
    if not ledgers or not months:
        return []
    first, last = _months_between(months)
    groups: dict[tuple[str, str, str], list[tuple[str, Database]]] = {}
    for code, db in ledgers:
        groups.setdefault(_group_key(db), []).append((code, db))
    rows: list[SentRow] = []
    for members in groups.values():
        db = members[0][1]
        p = db.placeholder
        codes = sorted({code for code, _ in members})
        with _connect(db) as con:
            present = _columns(con, db, SENDER_LEDGER, [db.schema])
            columns = present.get(db.schema if db.kind != "sqlite" else "main")
            if columns is None:
                continue
            supersedes = "supersedes" if "supersedes" in columns else "''"
            table = SENDER_LEDGER if db.kind == "sqlite" else f"{check_identifier(db.schema)}.{SENDER_LEDGER}"
            sql = (
                "SELECT sender, file_name, recipient, kommune_kode, period, status, transfer_uuid, errors,"
                f" recorded_at, {supersedes} FROM {table} WHERE period BETWEEN {p} AND {p}"
                f" AND sender IN ({', '.join([p] * len(codes))})"
            )
            fetched = con.execute(sql, [first, last, *codes]).fetchall()
        for r in fetched:
            errors = _receipt_errors(r[7])
            sender, name, recipient, kode, period, status, transfer = (str(v) for v in r[:7])
            rows.append(
                SentRow(
                    sender,
                    name,
                    recipient,
                    kode,
                    period,
                    status,
                    transfer,
                    errors,
                    str(r[8]),
                    str(r[9] or ""),
                )
            )
    return rows


def _receipt_errors(raw: object) -> tuple[ReceiptError, ...]:
    """The receipt's errors as the ledger stored them (JSON ``[[code, code text, text], ...]``); a value of
    another shape is shown as it is rather than failing the page."""
    try:
        return tuple(ReceiptError(int(c), str(d), str(t)) for c, d, t in json.loads(str(raw or "[]")))
    except (ValueError, TypeError, OverflowError, RecursionError):
        return (ReceiptError(0, "unreadable in the ledger", str(raw)[:200]),)


def read_first_periods(targets: Sequence[tuple[str, str, Database]]) -> dict[str, str]:
    """LIS SFTP user → the period of its first delivery in its warehouse ledger (any outcome), over all time.

    Months before it are not late: the LIS system had not started. One ``UNION ALL`` query per database.
    """
    groups: dict[tuple[str, str, str], list[tuple[str, str, Database]]] = {}
    for user, cvr, db in targets:
        if _present(db):
            groups.setdefault(_group_key(db), []).append((user, cvr, db))
    first: dict[str, str] = {}
    for members in groups.values():
        db = members[0][2]
        p = db.placeholder
        with _connect(db) as con:
            present = _columns(con, db, WAREHOUSE_LEDGER, sorted({m[2].schema for m in members}))
            parts, params = [], []
            for user, cvr, member in members:
                if member.schema in present:
                    table = f"{check_identifier(member.schema)}.{WAREHOUSE_LEDGER}"
                    parts.append(f"SELECT {p}, MIN(period) FROM {table} WHERE kommune = {p}")
                    params.extend([user, cvr])
            if parts:
                for user, period in con.execute(" UNION ALL ".join(parts), params).fetchall():
                    if period is not None:
                        first[str(user)] = str(period)
    return first
