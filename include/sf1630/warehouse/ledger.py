"""The ledger: one row per delivery (FileTransferUUID), written in the same transaction as its rows.

The platform may deliver a file twice (a crash after our commit but before we deleted it from the server,
or a re-delivery), so "has this FileTransferUUID been handled" must be answered by the warehouse itself,
atomically with the load; the ledger's primary key does that, and it doubles as the audit trail the
completeness check reads. ``report`` is the URI of the delivery's report folder in the receiver's object
store (``<base>/reports/<lis user>/<data file>/`` when loaded, its quarantine folder when quarantined, ""
when there is none): ``validation.json`` (GX's ValidationResult) and ``datadocs/index.html`` (its GX Data
Docs page) are inside (docs/receiver.md).
"""

# Schema and table names in SQL text are checked identifiers or constants; every value is a bound parameter.
# ruff: noqa: S608

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
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
from sf1630.protocol import Period

LEDGER_TABLE = "sf1630_ledger"


class Outcome(StrEnum):
    LOADED = "loaded"
    QUARANTINED = "quarantined"


@dataclass(frozen=True)
class LoadEntry:
    """The ledger row of one delivery: what was loaded (or quarantined), from where and when.

    Named apart from the sender's ledger entry (a delivery handed to the platform), which is another fact.
    """

    file_transfer_uuid: str
    file_name: str
    sender: str
    cvr: str  # column ``kommune``
    period: Period  # column ``period``, ``YYYY-MM``
    rows: int
    checksum: str
    outcome: Outcome
    received_at: datetime
    finished_at: datetime
    detail: str = ""
    report: str = ""

    def values(self) -> tuple[object, ...]:
        """The row in :data:`LEDGER_COLUMNS` order, as bound parameters."""
        return (
            self.file_transfer_uuid,
            self.file_name,
            self.sender,
            self.cvr,
            str(self.period),
            self.rows,
            self.checksum,
            str(self.outcome),
            self.detail,
            self.received_at,
            self.finished_at,
            self.report,
        )


#: The most of a refusal's text a ledger row keeps: a validation summary can run to pages, and the
#: delivery's report keeps all of it.
DETAIL_LIMIT = 2000


def delivery_entry(
    file_transfer_uuid: str,
    file_name: str,
    sender: str,
    cvr: str,
    period: Period,
    *,
    rows: int,
    checksum: str,
    outcome: Outcome,
    received_at: datetime,
    finished_at: datetime,
    detail: str = "",
    report: str = "",
) -> LoadEntry:
    """The ledger row of one delivery, the one way the receiver's load, its quarantine and the reload
    build it (``detail`` cut to :data:`DETAIL_LIMIT`)."""
    return LoadEntry(
        file_transfer_uuid=file_transfer_uuid,
        file_name=file_name,
        sender=sender,
        cvr=cvr,
        period=period,
        rows=rows,
        checksum=checksum,
        outcome=outcome,
        received_at=received_at,
        finished_at=finished_at,
        detail=detail[:DETAIL_LIMIT],
        report=report,
    )


LEDGER_COLUMNS = (
    "file_transfer_uuid",
    "file_name",
    "sender",
    "kommune",
    "period",
    "rows",
    "checksum",
    "outcome",
    "detail",
    "received_at",
    "finished_at",
    "report",
)


#: Added after the first release: the FileTransferUUID of the later delivery of the same sender, kommune
#: and period that replaced this one (NULL while the row is current). Added to older tables in place.
SUPERSEDED_BY = "superseded_by"


def ledger_migrations(schema: str) -> list[str]:
    """Statements that bring an older ledger table up to date (each idempotent)."""
    return [f"ALTER TABLE {schema}.{LEDGER_TABLE} ADD COLUMN IF NOT EXISTS {SUPERSEDED_BY} VARCHAR(255)"]


def ledger_ddl(schema: str) -> str:
    """``CREATE TABLE IF NOT EXISTS`` for the ledger."""
    return f"""
        CREATE TABLE IF NOT EXISTS {schema}.{LEDGER_TABLE} (
            file_transfer_uuid VARCHAR(255) PRIMARY KEY,
            file_name VARCHAR(255) NOT NULL,
            sender VARCHAR(32) NOT NULL,
            kommune VARCHAR(8) NOT NULL,
            period VARCHAR(7) NOT NULL,
            rows BIGINT NOT NULL,
            checksum VARCHAR(64) NOT NULL,
            outcome VARCHAR(16) NOT NULL,
            detail TEXT NOT NULL,
            received_at TIMESTAMP WITH TIME ZONE NOT NULL,
            finished_at TIMESTAMP WITH TIME ZONE NOT NULL,
            report TEXT NOT NULL DEFAULT ''
        )"""


def ledger_upgrade(schema: str) -> str:
    """Add ``report`` to a ledger created before that column existed."""
    return (
        f"ALTER TABLE {schema}.{LEDGER_TABLE} ADD COLUMN report TEXT DEFAULT ''"  # DuckDB: no NOT NULL here
    )


#: Ask before altering: PostgreSQL takes a table lock for ALTER TABLE even when the column exists.
REPORT_COLUMN_QUERY = (
    "SELECT 1 FROM information_schema.columns WHERE table_schema = {p} AND table_name = {p} "
    "AND column_name = 'report'"
)


# --- reading the ledger for the views and the demo: many LIS systems' ledgers, few databases -------------
# The rows of all ledgers in one database come back in ONE ``UNION ALL`` query over one connection,
# restricted to the months shown; timestamps come back as text (turning thousands of time-zoned timestamps
# into Python objects costs more than the query). Columns added by later versions (``superseded_by``,
# ``report``) are read when the table has them and are empty otherwise.

#: A year of the country is thousands of rows over twelve months: each month's text is parsed once.
_period = cache(Period.parse)

#: Columns an older ledger table may lack.
_OPTIONAL = (SUPERSEDED_BY, "report")


@dataclass(frozen=True)
class LoadRow:
    """One row of one LIS system's warehouse ledger."""

    sftp_user: str
    file_transfer_uuid: str
    file_name: str
    sender: str
    cvr: str  # column ``kommune``, as in file names
    period: Period
    rows: int
    outcome: str
    detail: str
    received_at: str  # as the database prints it: a view shows it, it never computes with it
    finished_at: str
    superseded_by: str = ""
    report: str = ""


def read_load_rows(targets: Sequence[tuple[str, str, Database]], months: Sequence[Period]) -> list[LoadRow]:
    """The warehouse ledger rows of the months shown, for every (LIS SFTP user, kommune CVR, warehouse).

    The CVR narrows each LIS system's part to its own kommune, so LIS systems that share one ledger table
    (one warehouse schema for several) still see only their own rows.
    """
    if not months:
        return []
    first, last = months_between(months)
    return _read_rows(targets, "period BETWEEN {p} AND {p}", [first, last])


def read_load_row(user: str, cvr: str, db: Database, file_transfer_uuid: str) -> LoadRow | None:
    """The ledger row of one delivery by its key (FileTransferUUID), if it is LIS system ``user``'s."""
    rows = _read_rows([(user, cvr, db)], "file_transfer_uuid = {p}", [file_transfer_uuid])
    return rows[0] if rows else None


def read_newest_load(user: str, cvr: str, db: Database, sender: str, period: Period) -> LoadRow | None:
    """The newest ledger row (by file name, which ends in its ``datoTid``) of ``sender``'s extract for
    ``period`` in LIS system ``user``'s ledger."""
    rows = _read_rows([(user, cvr, db)], "sender = {p} AND period = {p}", [sender, str(period)])
    return max(rows, key=lambda r: r.file_name) if rows else None


def _by_database(targets: Sequence[tuple[str, str, Database]]) -> list[list[tuple[str, str, Database]]]:
    """The targets whose database exists, grouped by database (each group is read over one connection)."""
    groups: dict[tuple[str, str, str], list[tuple[str, str, Database]]] = {}
    for user, cvr, db in targets:
        if exists(db):
            groups.setdefault(group_key(db), []).append((user, cvr, db))
    return list(groups.values())


def _read_rows(
    targets: Sequence[tuple[str, str, Database]], condition: str, values: Sequence[object]
) -> list[LoadRow]:
    """The rows meeting ``condition`` (``{p}`` per value) of every target, one query per database."""
    rows: list[LoadRow] = []
    for members in _by_database(targets):
        rows.extend(_read_group(members, condition, values))
    return rows


def _read_group(
    members: Sequence[tuple[str, str, Database]], condition: str, values: Sequence[object]
) -> list[LoadRow]:
    db = members[0][2]
    p = db.placeholder
    where = condition.format(p=p)
    with reading(db) as con:
        present = table_columns(con, db, LEDGER_TABLE, sorted({m[2].schema for m in members}))
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
                f"SELECT {p} AS sftp_user, file_transfer_uuid, file_name, sender, kommune, period, rows,"
                " outcome, detail, CAST(received_at AS VARCHAR), CAST(finished_at AS VARCHAR),"
                f" {optional}"
                f" FROM {check_identifier(member.schema)}.{LEDGER_TABLE}"
                f" WHERE kommune = {p} AND {where}"
            )
            params.extend([user, cvr, *values])
        if not parts:
            return []
        result = con.execute(" UNION ALL ".join(parts), params).fetchall()
    return [_load_row(r) for r in result]


def _load_row(r: Sequence[Any]) -> LoadRow:
    return LoadRow(
        sftp_user=str(r[0]),
        file_transfer_uuid=str(r[1]),
        file_name=str(r[2]),
        sender=str(r[3]),
        cvr=str(r[4]),
        period=_period(str(r[5])),
        rows=int(r[6]),
        outcome=str(r[7]),
        detail=str(r[8]),
        received_at=str(r[9]),
        finished_at=str(r[10]),
        superseded_by=str(r[11] or ""),
        report=str(r[12] or ""),
    )


def outcome_totals(db: Database) -> dict[tuple[str, str], tuple[int, int]]:
    """(sender, outcome) → (files, rows) in the ledger of ``db``'s schema (the demo's closing table)."""
    table = f"{check_identifier(db.schema)}.{LEDGER_TABLE}"
    with reading(db) as con:
        found = con.execute(
            f"SELECT sender, outcome, count(*), sum(rows) FROM {table} GROUP BY 1, 2"
        ).fetchall()
    return {(str(s), str(o)): (int(files), int(rows or 0)) for s, o, files, rows in found}


def read_first_periods(targets: Sequence[tuple[str, str, Database]]) -> dict[str, Period]:
    """LIS SFTP user → the period of its first delivery in its warehouse ledger (any outcome), over all time.

    Months before it are not late: the LIS system had not started. One ``UNION ALL`` query per database.
    """
    first: dict[str, Period] = {}
    for members in _by_database(targets):
        db = members[0][2]
        p = db.placeholder
        with reading(db) as con:
            present = table_columns(con, db, LEDGER_TABLE, sorted({m[2].schema for m in members}))
            parts, params = [], []
            for user, cvr, member in members:
                if member.schema in present:
                    table = f"{check_identifier(member.schema)}.{LEDGER_TABLE}"
                    parts.append(f"SELECT {p}, MIN(period) FROM {table} WHERE kommune = {p}")
                    params.extend([user, cvr])
            if parts:
                for user, period in con.execute(" UNION ALL ".join(parts), params).fetchall():
                    if period is not None:
                        first[str(user)] = _period(str(period))
    return first


# --- the receiver's own reads and writes of its ledger ------------------------------------------------


def check_warehouse(db: Database) -> Database:
    """``db`` if it can be a warehouse: PostgreSQL only (:mod:`sf1630.warehouse.load` says why not DuckDB)."""
    if db.kind != "postgres":
        raise ValueError(f"a warehouse is a PostgreSQL database, not {db.describe()}")
    return db


@contextmanager
def ledger_connection(db: Database) -> Iterator[Any]:
    """A connection with the ledger in place (created or brought up to date: each statement idempotent)."""
    with check_warehouse(db).connect(autocommit=True) as conn:
        with conn.transaction():
            conn.execute(f"CREATE SCHEMA IF NOT EXISTS {db.schema}")
            conn.execute(ledger_ddl(db.schema))
            for statement in ledger_migrations(db.schema):
                conn.execute(statement)
            query = REPORT_COLUMN_QUERY.format(p="%s")
            if conn.execute(query, [db.schema, LEDGER_TABLE]).fetchone() is None:
                conn.execute(ledger_upgrade(db.schema))
        yield conn


def insert_entry(conn: Any, schema: str, entry: LoadEntry) -> bool:
    """Insert ``entry`` on ``conn`` (in the caller's transaction); False when its UUID is already there."""
    placeholders = ", ".join("%s" for _ in LEDGER_COLUMNS)
    row = conn.execute(
        f"INSERT INTO {schema}.{LEDGER_TABLE} ({', '.join(LEDGER_COLUMNS)}) VALUES ({placeholders}) "
        "ON CONFLICT DO NOTHING RETURNING file_transfer_uuid",
        list(entry.values()),
    ).fetchone()
    return row is not None


def record_outcome(db: Database, entry: LoadEntry) -> bool:
    """Record a delivery that loads no rows (quarantined); False when its UUID is already recorded."""
    with ledger_connection(db) as conn, conn.transaction():
        return insert_entry(conn, db.schema, entry)


def _fetch_all(db: Database, sql: str, params: Sequence[object]) -> list[tuple[Any, ...]]:
    """Rows of one parameterised query; ``sql`` ends where the engine's placeholder goes."""
    with ledger_connection(db) as conn:
        return list(conn.execute(sql + db.placeholder, list(params)).fetchall())


def report_of(db: Database, file_transfer_uuid: str) -> str | None:
    """The ledger's report URI for ``file_transfer_uuid`` ("" when none), None when never handled."""
    sql = f"SELECT report FROM {db.schema}.{LEDGER_TABLE} WHERE file_transfer_uuid = "
    rows = _fetch_all(db, sql, [file_transfer_uuid])
    return str(rows[0][0]) if rows else None


def recorded(db: Database, file_transfer_uuid: str) -> Outcome | None:
    """The ledger's outcome for ``file_transfer_uuid``, or None when the delivery was never handled."""
    sql = f"SELECT outcome FROM {db.schema}.{LEDGER_TABLE} WHERE file_transfer_uuid = "
    rows = _fetch_all(db, sql, [file_transfer_uuid])
    return Outcome(rows[0][0]) if rows else None


def loaded_extracts(db: Database, period: Period) -> set[tuple[str, str]]:
    """The (sender, kommune CVR) pairs with a loaded delivery for ``period``."""
    sql = (
        f"SELECT DISTINCT sender, kommune FROM {db.schema}.{LEDGER_TABLE} "
        "WHERE outcome = 'loaded' AND period = "
    )
    return {(str(sender), str(cvr)) for sender, cvr in _fetch_all(db, sql, [str(period)])}


def refused_since(db: Database, since: datetime) -> list[LoadEntry]:
    """The quarantined deliveries the ledger recorded at or after ``since``, oldest first.

    What a failed receiver run refused: the run's start is ``since`` (one run at a time per LIS system).
    """
    sql = (
        f"SELECT {', '.join(LEDGER_COLUMNS)} FROM {db.schema}.{LEDGER_TABLE} "
        "WHERE outcome = 'quarantined' AND finished_at >= "
    )
    entries = []
    for row in _fetch_all(db, sql, [since]):
        values = dict(zip(LEDGER_COLUMNS, row, strict=True))
        values["outcome"] = Outcome(values["outcome"])
        values["cvr"] = values.pop("kommune")
        values["period"] = Period.parse(values["period"])
        entries.append(LoadEntry(**values))
    return sorted(entries, key=lambda entry: entry.finished_at)
