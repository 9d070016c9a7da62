"""One kommune's month from the sender's source database into a CSV file in the data spec's dialect.

The data spec decides everything a recipient relies on: which columns, their order and types, how values
are written (separator, decimal comma, date format, J/N). The SQL is either the vendor's own file (its
own tables and column names, mapped to the spec's names by aliases) or the SELECT generated from the spec
(its ``source`` table, filtered on its kommune and period columns and ordered by the primary key, so the
same month gives the same bytes on a re-run). Both take the same named parameters (:func:`parameters`),
written ``:name`` as in SQLAlchemy's ``text()``, which turns them into whatever the driver takes.

The source is a SQLAlchemy engine (the Airflow face makes it from the connection's common.sql hook), so
this module works with any database SQLAlchemy and a DB-API driver reach. Rows are read in batches (a
server-side cursor where the driver has one; from PostgreSQL over psycopg 3, ``COPY … TO STDOUT``) and
written batch by batch, so memory does not grow with the month. Each batch is cast strictly to the spec's
polars schema; a missing, extra or misnamed column or a value the type refuses raises
:class:`ExportError` naming the column and the kommune, and the partial file is removed: nothing that
does not fit the spec can reach the upload.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sf1630.database import quoted
from sf1630.protocol import Period
from sf1630.registry import Kommune, SenderSystem

if TYPE_CHECKING:
    import polars as pl
    from sqlalchemy.engine import Connection, Dialect, Engine

    from sf1630.dataspec import DataSpec

#: Rows per batch: large enough that per-batch costs vanish, small enough to keep memory flat.
BATCH_ROWS = 20_000


class ExportError(ValueError):
    """The extract's result does not fit the data spec; the message names the kommune and the column.

    Running it again gives the same result, so the DAG fails the delivery without retries.
    """


class SourceError(RuntimeError):
    """The source refused the extract's SQL or broke off (the driver's first line of the message).

    Unlike :class:`ExportError` this may be passing (a restart, a lost connection): the DAG retries it.
    """


def parameters(kommune: Kommune, period: Period) -> dict[str, Any]:
    """The values of the named parameters for one kommune's month (the end is exclusive)."""
    return {
        "cvr": kommune.cvr,
        "kommunekode": kommune.kode,
        "period": str(period),
        "period_start": period.first_day.date(),
        "period_end": period.next().first_day.date(),
    }


def generated_sql(spec: DataSpec) -> str:
    """The default extract: the spec's ``source`` table, one kommune's month, sorted by the primary key.

    The period column is either the ``YYYY-MM`` text of the extract or a date within it (then the month is
    the half-open range ``:period_start`` … ``:period_end``).
    """
    columns = ", ".join(quoted(name) for name in spec.column_names)
    order = ", ".join(quoted(name) for name in spec.primary_key) or columns
    period_column = quoted(spec.period_column)
    if spec.column(spec.period_column).type in {"date", "timestamp"}:
        in_period = f":period_start <= {period_column} AND {period_column} < :period_end"
    else:
        in_period = f"{period_column} = :period"
    return (
        f"SELECT {columns} FROM {quoted(spec.source_table)}"  # noqa: S608 -- identifiers checked and quoted
        f" WHERE {quoted(spec.kommune_column)} = :cvr AND {in_period} ORDER BY {order}"
    )


def extract_sql(sender: SenderSystem, spec: DataSpec) -> str:
    """The sender's own SQL file when it names one (``extract_sql``), else the generated query."""
    if sender.extract_sql is None:
        return generated_sql(spec)
    return sender.extract_sql.read_text(encoding="utf-8")


def export_extract(
    engine: Engine, sender: SenderSystem, kommune: Kommune, period: Period, path: Path
) -> Path:
    """Write ``kommune``'s month of ``sender``'s extract (its SQL file or the generated query) to ``path``."""
    from sf1630.dataspec import load_spec

    spec = load_spec(sender.dataspec)
    sql = extract_sql(sender, spec)
    return export_month(engine, sql, parameters(kommune, period), spec, path, kommune.name)


def export_month(
    engine: Engine,
    sql: str,
    params: Mapping[str, Any],
    spec: DataSpec,
    path: Path,
    kommune: str,
    *,
    batch_rows: int = BATCH_ROWS,
) -> Path:
    """Run ``sql`` with ``params`` and write its rows to ``path`` in the spec's dialect; returns ``path``.

    ``kommune`` names the kommune in error messages. The rows go to ``<path>.part`` first, renamed when
    complete and removed on any error, so nobody finds half a month under the delivery's name (nor loses an
    earlier file of that name). One thread parses, checks and writes a batch while this one reads the next
    from the source: polars releases the GIL, so the two overlap on a second core; never more than one
    batch waits, so memory stays flat.
    """
    import polars as pl

    from sf1630.dataspec.schema import csv_text, csv_utf8, polars_schema

    query = one_statement(sql)
    part = path.with_name(path.name + ".part")
    try:
        with (
            engine.connect() as connection,
            _batches(connection, query, params, batch_rows, kommune) as (found, batches),
            part.open("wb") as out,
        ):
            names = source_columns(found, spec, kommune)
            encoding = spec.dialect.encoding
            # The header, if any (and a BOM for utf-8-sig, once); then the batches in the same encoding.
            out.write(csv_text(pl.DataFrame(schema=polars_schema(spec)), spec).encode(encoding))
            encoding = "utf-8" if encoding == "utf-8-sig" else encoding
            spec_names = dict(zip(found, names, strict=True))

            def write(batch: Callable[[], pl.DataFrame]) -> None:
                typed = typed_frame(batch().rename(spec_names), spec, kommune)
                data = csv_utf8(typed, spec, header=False)
                out.write(data if encoding == "utf-8" else data.decode("utf-8").encode(encoding))

            with ThreadPoolExecutor(max_workers=1, thread_name_prefix="sf1630-export") as writer:
                written: Future[None] | None = None
                for batch in batches:
                    if written is not None:
                        written.result()
                    written = writer.submit(write, batch)
                if written is not None:
                    written.result()
        part.replace(path)
    except BaseException:
        part.unlink(missing_ok=True)
        raise
    return path


def one_statement(sql: str) -> str:
    """``sql`` as one statement without comments or a closing semicolon: what every driver and PostgreSQL's
    ``COPY ( … )`` accept (optimizer hints ``/*+ … */`` are kept). ExportError when it holds several."""
    import sqlparse

    statements = sqlparse.split(sqlparse.format(sql, strip_comments=True))
    if len(statements) != 1:
        raise ExportError(f"the extract must be one SELECT statement, found {len(statements)} statements")
    return statements[0].strip().rstrip(";").rstrip()


@contextmanager
def _batches(
    connection: Connection, sql: str, params: Mapping[str, Any], batch_rows: int, kommune: str
) -> Iterator[tuple[list[str], Iterator[Callable[[], pl.DataFrame]]]]:
    """The result's column names and its rows in batches of up to ``batch_rows``, each read into a frame
    (with the types the source gives) when called.

    On PostgreSQL over psycopg 3 the rows come as ``COPY (…) TO STDOUT`` CSV text, parsed by polars: several
    times faster than building a Python object per value, which is what any other driver gives.
    """
    from sqlalchemy import text
    from sqlalchemy.exc import SQLAlchemyError

    raw = connection.connection.driver_connection
    try:
        if connection.dialect.name == "postgresql" and _is_psycopg(raw):
            with _copy_batches(raw, connection.dialect, sql, params, batch_rows) as copied:
                yield copied
            return
        streaming = connection.execution_options(yield_per=batch_rows)
        result = streaming.execute(text(sql), dict(params))
        names = list(result.keys())
        yield names, (partial(_row_frame, rows, names, kommune) for rows in result.partitions(batch_rows))
    except SQLAlchemyError as exc:
        raise SourceError(_first_line(exc)) from exc


def _first_line(exc: Exception) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


def _is_psycopg(raw: Any) -> bool:
    """Whether ``raw`` is a psycopg 3 connection (PostgresHook's with SQLAlchemy 2; psycopg2 has no COPY
    iterator)."""
    import psycopg

    return isinstance(raw, psycopg.Connection)


def _row_frame(rows: Sequence[Any], names: list[str], kommune: str) -> pl.DataFrame:
    """DB-API rows as a frame with the driver's types (each batch inferred on its own)."""
    import polars as pl

    try:
        return pl.DataFrame(
            [tuple(row) for row in rows], schema=names, orient="row", infer_schema_length=None
        )
    except (TypeError, ValueError, pl.exceptions.PolarsError) as exc:
        raise ExportError(f"{kommune}: the extract's values cannot be read (mixed types?): {exc}") from None


@contextmanager
def _copy_batches(
    raw: Any, dialect: Dialect, sql: str, params: Mapping[str, Any], batch_rows: int
) -> Iterator[tuple[list[str], Iterator[Callable[[], pl.DataFrame]]]]:
    """PostgreSQL's CSV of the query, a frame of text columns per ``batch_rows`` rows.

    COPY takes no bind parameters, so psycopg itself renders them as literals (``ClientCursor.mogrify``)
    into the statement SQLAlchemy compiled from the ``:name`` form. Each COPY message is one row, so a
    batch ends on a row boundary even when a value holds a line break.
    """
    import psycopg
    from sqlalchemy import text

    compiled = text(sql).compile(dialect=dialect)
    query = psycopg.ClientCursor(raw).mogrify(str(compiled), compiled.construct_params(dict(params)))
    statement = f"COPY ({query}) TO STDOUT (FORMAT csv, HEADER)"
    try:
        with raw.cursor() as cursor, cursor.copy(statement) as copy:
            rows = iter(copy)
            names = list(_csv_text_frame(bytes(next(rows)), None).row(0))

            def chunks() -> Iterator[Callable[[], pl.DataFrame]]:
                chunk, count = bytearray(), 0
                for row in rows:
                    chunk += row
                    count += 1
                    if count == batch_rows:
                        yield partial(_csv_text_frame, bytes(chunk), names)
                        chunk, count = bytearray(), 0
                if count:
                    yield partial(_csv_text_frame, bytes(chunk), names)

            yield names, chunks()
    except psycopg.Error as exc:
        raise SourceError(_first_line(exc)) from exc


def _csv_text_frame(data: bytes, names: list[str] | None) -> pl.DataFrame:
    """CSV rows as text columns (the header row itself when ``names`` is None)."""
    import polars as pl

    if names is None:
        return pl.read_csv(data, has_header=False, infer_schema=False)
    return pl.read_csv(data, has_header=False, new_columns=names, schema=dict.fromkeys(names, pl.String()))


def source_columns(found: Sequence[str], spec: DataSpec, kommune: str) -> list[str]:
    """The result's column names, checked against the spec's (any case: Oracle answers in upper case)."""
    names = [name.lower() for name in found]
    wanted = spec.column_names
    problems = []
    missing = [name for name in wanted if name not in names]
    if missing:
        problems.append(f"missing column(s) {', '.join(missing)}")
    extra = [name for name, lower in zip(found, names, strict=True) if lower not in wanted]
    if extra:
        problems.append(f"column(s) not in the spec: {', '.join(extra)}")
    twice = sorted({name for name in names if names.count(name) > 1})
    if twice:
        problems.append(f"column(s) given twice: {', '.join(twice)}")
    if problems:
        raise ExportError(f"{kommune}: the extract does not fit data spec {spec.name}: {'; '.join(problems)}")
    return names


def typed_frame(raw: pl.DataFrame, spec: DataSpec, kommune: str) -> pl.DataFrame:
    """A batch of the result (columns named as the spec's) as the spec's typed frame, in file order;
    ExportError naming the column and the kommune for a value its type refuses."""
    import polars as pl

    from sf1630.dataspec.schema import polars_dtype

    return pl.DataFrame([_strict(raw[c.name], polars_dtype(c), c.type, kommune) for c in spec.columns])


def _strict(values: pl.Series, dtype: pl.DataType, kind: str, kommune: str) -> pl.Series:
    """``values`` as ``dtype``, refusing any value that would change on the way (polars' strict cast
    still rounds decimals, truncates floats to integers and takes 2 as true)."""
    import polars as pl

    if values.dtype == pl.String and isinstance(dtype, pl.Date):
        typed = values.str.to_date("%Y-%m-%d", strict=False)
    elif values.dtype == pl.String and isinstance(dtype, pl.Datetime):
        typed = values.str.to_datetime(time_unit="us", strict=False)
    elif values.dtype == pl.String and isinstance(dtype, pl.Boolean):  # PostgreSQL's text is t/f
        truth = {"t": True, "true": True, "f": False, "false": False}
        typed = values.str.to_lowercase().replace_strict(truth, default=None, return_dtype=pl.Boolean)
    else:
        try:
            typed = values.cast(dtype, strict=False)
        except pl.exceptions.PolarsError:
            typed = pl.Series(values.name, [None] * len(values), dtype=dtype)
    refused = typed.is_null() & values.is_not_null()
    if dtype.is_numeric() or isinstance(dtype, pl.Boolean):
        changed = typed.cast(pl.Float64, strict=False) != values.cast(pl.Float64, strict=False)
        refused |= changed.fill_null(False)
    if refused.any():
        bad = values.filter(refused)
        raise ExportError(
            f"{kommune}: column {values.name}: {bad.len()} value(s) the spec's type {kind} refuses,"
            f" e.g. {bad[0]!r}"
        )
    return typed.alias(values.name)
