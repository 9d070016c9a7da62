"""A fagsystem's source table for the demo, tests and benchmark, filled by the data spec's generator.

The real source is the fagsystem's own database, read through its Airflow connection with its own SQL or
the query generated from the spec. To run a month end to end without one, this module creates the spec's
``source`` table (SQLite or PostgreSQL, typed from the spec) and fills it with valid synthetic rows
per kommune and month. SQLite has no date or decimal type: those are stored as ISO text, exactly.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from sf1630.database import Database, quoted
from sf1630.protocol import Period

if TYPE_CHECKING:
    import polars as pl

    from sf1630.dataspec import DataSpec


def _postgres_type(dtype: Any) -> str:
    import polars as pl

    if isinstance(dtype, pl.Decimal):
        return f"numeric({dtype.precision}, {dtype.scale})"
    simple = {pl.Int64: "bigint", pl.Date: "date", pl.Datetime: "timestamp", pl.Boolean: "boolean"}
    for kind, name in simple.items():
        if isinstance(dtype, kind):
            return name
    return "text"


def _write_postgres(database: Database, spec: DataSpec, frame: pl.DataFrame) -> None:
    table = quoted(spec.source_table)
    columns = ", ".join(quoted(name) for name in frame.columns)
    definition = ", ".join(f"{quoted(n)} {_postgres_type(t)}" for n, t in frame.schema.items())
    with database.connect() as conn, conn.cursor() as cursor:
        cursor.execute(f"CREATE TABLE IF NOT EXISTS {table} ({definition})")
        with cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
            for row in frame.iter_rows():
                copy.write_row(row)
        conn.commit()


def _write_sqlite(database: Database, spec: DataSpec, frame: pl.DataFrame) -> None:
    import contextlib

    import polars as pl

    table = quoted(spec.source_table)
    affinity = {pl.Int64: "INTEGER", pl.Boolean: "INTEGER"}
    definition = ", ".join(f"{quoted(n)} {affinity.get(type(t), 'TEXT')}" for n, t in frame.schema.items())
    stored = frame.with_columns(
        pl.col(n).cast(pl.Int8 if isinstance(t, pl.Boolean) else pl.String)
        for n, t in frame.schema.items()
        if not isinstance(t, (pl.Int64, pl.String))
    )
    marks = ", ".join("?" for _ in frame.columns)
    with contextlib.closing(database.connect()) as conn, conn:
        conn.execute(f"CREATE TABLE IF NOT EXISTS {table} ({definition})")
        conn.executemany(f"INSERT INTO {table} VALUES ({marks})", stored.iter_rows())  # noqa: S608


def write_rows(database: Database, spec: DataSpec, frame: pl.DataFrame) -> int:
    """Add ``frame`` (the spec's typed rows) to the spec's source table, created if missing."""
    writers = {"postgres": _write_postgres, "sqlite": _write_sqlite}
    writers[database.kind](database, spec, frame)
    return frame.height


def seed_source(
    database: Database,
    spec: DataSpec,
    cvrs: Iterable[str],
    period: Period,
    *,
    rows_per_kommune: int,
    seed: int = 1630,
) -> int:
    """Add ``rows_per_kommune`` synthetic rows per kommune CVR for ``period``; returns the count."""
    import polars as pl

    from sf1630.dataspec.synth import synthesize

    frames = [
        synthesize(spec, rows_per_kommune, cvr, period, seed + index)
        for index, cvr in enumerate(sorted(set(cvrs)))
    ]
    frame = pl.concat(frames) if frames else pl.DataFrame()
    return 0 if frame.is_empty() else write_rows(database, spec, frame)
