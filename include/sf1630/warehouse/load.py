"""Bulk loading of one delivery plus its ledger row in a single transaction, in PostgreSQL.

The whole point is "exactly once or not at all": the ledger insert, the snapshot delete and the bulk insert
commit together, and a FileTransferUUID already in the ledger makes the call a no-op. The receiver's rows
wait in a staging table of the warehouse (:class:`StagedRows`): the insert is ``INSERT ... SELECT`` with
the typed values, and the staging table is dropped in the same transaction. Rows given as Arrow (the
reload of a quarantined file) travel through ``COPY ... FROM STDIN`` as CSV written by pyarrow in record
batches (never row-by-row inserts, which are orders of magnitude slower).

The warehouse is PostgreSQL only. DuckDB was the demo's warehouse until it failed the contract the receiver
needs: one process at a time may open a DuckDB file for writing, so concurrent load tasks had to retry on
lock errors (keyed on the error message's text) and the Loads view could not read the file while a load
held it, or at all before it existed; and GX 1.24 has no DuckDB dialect (GX #10738, #11579), so a file
could only be validated by reading it into a pandas frame in the task's memory (about 8× the file's size)
instead of in the database. PostgreSQL loads concurrently under MVCC, its readers never wait for writers,
and GX's SQL datasource validates a staged file where it lies.
"""

# Identifiers in SQL text are checked by check_identifier (schema, table, columns) or are constants;
# every value travels as a bound parameter.
# ruff: noqa: S608

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sf1630.database import Database, check_identifier
from sf1630.warehouse.ledger import (
    LEDGER_COLUMNS,
    LEDGER_TABLE,
    SUPERSEDED_BY,
    LoadEntry,
    Outcome,
    check_warehouse,
    ledger_connection,
)
from sf1630.warehouse.staging import StagingLost

if TYPE_CHECKING:
    import pyarrow as pa

_COPY_BATCH_ROWS = 100_000


@dataclass(frozen=True)
class StagedRows:
    """A delivery's rows waiting in staging ``table`` of the warehouse (:mod:`sf1630.warehouse.staging`):
    ``columns`` pairs each warehouse column with its SQL over the staging table's text; ``rows`` is what
    staging counted (a shorter table was emptied by a server crash: :class:`StagingLost`)."""

    table: str
    columns: tuple[tuple[str, str], ...]
    rows: int


@dataclass(frozen=True)
class LoadRequest:
    """One delivery's rows for ``table`` (created from ``create_sql`` when missing; then ``key_sql``, when
    given, adds the key and indexes after the rows are in, in the same transaction, which builds them from a
    sort instead of updating them row by row).

    ``constants`` are (column, value) pairs that every row gets (lineage), added by the database rather than
    materialised as a million-element column. ``replace_where`` holds (column, value) pairs: when given, the
    rows matching all of them are deleted first (a snapshot spec replacing the kommune's period); when empty
    the rows are appended.

    A load supersedes every earlier delivery of the same sender, kommune and period in the ledger (their
    ``superseded_by`` names this one), so the ledger says which file is current; for an appending spec the
    superseded deliveries' rows are deleted by their lineage FileTransferUUID (the constant whose value is
    the entry's UUID). ``reload`` loads a delivery the ledger lists as quarantined: its row turns into a
    loaded one (exactly once: a row no longer quarantined makes the call a no-op).
    """

    table: str
    create_sql: Sequence[str]
    data: pa.Table | StagedRows
    entry: LoadEntry
    replace_where: tuple[tuple[str, object], ...] = field(default=())
    constants: tuple[tuple[str, object], ...] = field(default=())
    reload: bool = False
    key_sql: Sequence[str] = field(default=())

    @property
    def lineage_uuid_column(self) -> str | None:
        """The lineage column that holds the delivery's FileTransferUUID, if the rows carry one."""
        uuid = self.entry.file_transfer_uuid
        return next((column for column, value in self.constants if value == uuid), None)


def load_delivery(db: Database, request: LoadRequest) -> bool:
    """Load ``request`` and its ledger row atomically; False (nothing written) if the UUID is recorded."""
    check_identifier(request.table)
    for column, _ in (*request.replace_where, *request.constants):
        check_identifier(column)
    check_warehouse(db)
    return _postgres_load(db, request)


def _claim_sql(schema: str, mark: str, reload: bool) -> tuple[str, bool]:
    """The ledger statement that claims a delivery for this load, and whether it is the insert."""
    if not reload:
        placeholders = ", ".join(mark for _ in LEDGER_COLUMNS)
        return (
            f"INSERT INTO {schema}.{LEDGER_TABLE} ({', '.join(LEDGER_COLUMNS)}) VALUES ({placeholders}) "
            "ON CONFLICT DO NOTHING RETURNING file_transfer_uuid",
            True,
        )
    return (
        f"UPDATE {schema}.{LEDGER_TABLE} SET outcome = 'loaded', rows = {mark}, checksum = {mark},"
        f" detail = {mark}, finished_at = {mark}"
        f" WHERE file_transfer_uuid = {mark} AND outcome = 'quarantined'"
        " RETURNING file_transfer_uuid",
        False,
    )


def _claim_params(entry: LoadEntry, insert: bool) -> list[object]:
    if insert:
        return list(entry.values())
    return [entry.rows, entry.checksum, entry.detail, entry.finished_at, entry.file_transfer_uuid]


def _supersede_sql(schema: str, mark: str) -> str:
    """Mark the earlier deliveries of the entry's sender, kommune and period as superseded by it."""
    return (
        f"UPDATE {schema}.{LEDGER_TABLE} SET {SUPERSEDED_BY} = {mark}"
        f" WHERE sender = {mark} AND kommune = {mark} AND period = {mark} AND {SUPERSEDED_BY} IS NULL"
        f" AND file_transfer_uuid <> {mark} AND file_name < {mark}"
        " RETURNING file_transfer_uuid, outcome"
    )


def _supersede_params(entry: LoadEntry) -> list[object]:
    uuid = entry.file_transfer_uuid
    return [uuid, entry.sender, entry.cvr, str(entry.period), uuid, entry.file_name]


def _superseded_rows_sql(request: LoadRequest, qualified: str, mark: str, uuids: Sequence[str]) -> str | None:
    """For an appending spec: the DELETE of the rows of superseded loaded deliveries (None if nothing)."""
    column = request.lineage_uuid_column
    if request.replace_where or column is None or not uuids:
        return None
    return f"DELETE FROM {qualified} WHERE {column} IN ({', '.join(mark for _ in uuids)})"


def _copy_csv(conn: Any, qualified: str, data: pa.Table) -> None:
    """Stream ``data`` into ``qualified`` with COPY; pyarrow writes NULL as an unquoted empty field, which
    PostgreSQL's CSV format reads as NULL, while empty strings are quoted and stay empty strings."""
    import pyarrow.csv as pacsv

    columns = ", ".join(data.column_names)
    options = pacsv.WriteOptions(include_header=False, quoting_style="needed")
    with conn.cursor() as cur, cur.copy(f"COPY {qualified} ({columns}) FROM STDIN (FORMAT csv)") as copy:
        for batch in data.to_batches(max_chunksize=_COPY_BATCH_ROWS):
            buffer = io.BytesIO()
            pacsv.write_csv(_without_views(batch), buffer, write_options=options)
            copy.write(buffer.getbuffer())


def _without_views(batch: pa.RecordBatch) -> pa.RecordBatch:
    """String/binary views (polars' zero-copy export) as large types, which pyarrow's CSV writer needs.

    Done per batch, so the copy is one batch at a time, never a second table beside the delivery's rows.
    """
    import pyarrow as pa

    wanted = {pa.string_view(): pa.large_string(), pa.binary_view(): pa.large_binary()}
    if not any(field.type in wanted for field in batch.schema):
        return batch
    schema = pa.schema([f.with_type(wanted.get(f.type, f.type)) for f in batch.schema])
    return batch.cast(schema)


def _with_constants(data: pa.Table, constants: tuple[tuple[str, object], ...]) -> pa.Table:
    import pyarrow as pa

    for column, value in constants:
        data = data.append_column(column, pa.repeat(pa.scalar(value), data.num_rows))
    return data


def _postgres_load(db: Database, request: LoadRequest) -> bool:
    with ledger_connection(db) as conn, conn.transaction():
        claim, insert = _claim_sql(db.schema, "%s", request.reload)
        if conn.execute(claim, _claim_params(request.entry, insert)).fetchone() is None:
            return False  # the claim wrote nothing, so committing the empty transaction is harmless
        superseded = conn.execute(
            _supersede_sql(db.schema, "%s"), _supersede_params(request.entry)
        ).fetchall()
        conn.execute(f"SET LOCAL search_path TO {db.schema}")
        exists = conn.execute(
            "SELECT 1 FROM information_schema.tables WHERE table_schema = %s AND table_name = %s",
            [db.schema, request.table],
        ).fetchone()
        created = exists is None
        if created:
            for statement in request.create_sql:
                conn.execute(statement)
        qualified = f"{db.schema}.{request.table}"
        earlier = [str(u) for u, outcome in superseded if outcome == Outcome.LOADED]
        drop = _superseded_rows_sql(request, qualified, "%s", earlier)
        if drop is not None:
            conn.execute(drop, earlier)
        if request.replace_where:
            where = " AND ".join(f"{column} = %s" for column, _ in request.replace_where)
            conn.execute(f"DELETE FROM {qualified} WHERE {where}", [v for _, v in request.replace_where])
        if isinstance(request.data, StagedRows):
            _promote(conn, db.schema, qualified, request.data, request.constants)
        else:
            _copy_csv(conn, qualified, _with_constants(request.data, request.constants))
        if created:
            for statement in request.key_sql:
                conn.execute(statement)
    return True


def _promote(
    conn: Any, schema: str, qualified: str, staged: StagedRows, constants: tuple[tuple[str, object], ...]
) -> None:
    """Insert the staged rows, typed, and drop the staging table: both commit with the ledger row."""
    staging = f"{schema}.{check_identifier(staged.table)}"
    found = conn.execute("SELECT to_regclass(%s)", [staging]).fetchone()
    if found is None or found[0] is None:
        raise StagingLost(f"{staging} is gone")
    targets = ", ".join([*(check_identifier(c) for c, _ in staged.columns), *(c for c, _ in constants)])
    # The expressions are SQL of their own (``year % 4``): doubled, psycopg's placeholders are the values'.
    values = ", ".join([*(sql.replace("%", "%%") for _, sql in staged.columns), *("%s" for _ in constants)])
    inserted = conn.execute(
        f"INSERT INTO {qualified} ({targets}) SELECT {values} FROM {staging}", [v for _, v in constants]
    ).rowcount
    if inserted != staged.rows:
        raise StagingLost(f"{staging} holds {inserted} rows, staging counted {staged.rows}")
    conn.execute(f"DROP TABLE {staging}")
