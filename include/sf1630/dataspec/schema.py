"""polars read options, the typed schema, and the parse/cast expressions derived from a spec.

Nothing is inferred: files are read with every column as text (so a bad value cannot abort the read or be
silently coerced) and then cast with the spec's exact formats. A value counts as the column's type only if
its text matches the type's lexical form *and* parses; polars alone is more lenient (``2020-1-5`` as a date,
``12.345`` truncated into a scale-2 decimal), which would hide bad data.
"""

from __future__ import annotations

import codecs
import io
import re
from pathlib import Path
from typing import Any

import polars as pl

from sf1630.dataspec.spec import Column, DataSpec, Dialect

_YEAR = "(?:000[1-9]|00[1-9][0-9]|0[1-9][0-9]{2}|[1-9][0-9]{3})"
#: Years divisible by 4 and not by 100, or by 400 (0400, 0800, ..., 2000).
_LEAP_YEAR = "(?:[0-9]{2}(?:0[48]|[2468][048]|[13579][26])|(?:[02468][048]|[13579][26])00)"
#: (year, month, day) patterns whose union is exactly the calendar: a date's text is valid iff one matches.
_CALENDAR = (
    # Years 0001-9999: PostgreSQL has no year 0, so "0000" could not be stored as the file says it.
    (_YEAR, "(?:0[13578]|1[02])", "(?:0[1-9]|[12][0-9]|3[01])"),
    (_YEAR, "(?:0[469]|11)", "(?:0[1-9]|[12][0-9]|30)"),
    (_YEAR, "02", "(?:0[1-9]|1[0-9]|2[0-8])"),
    (_LEAP_YEAR, "02", "29"),
)
#: The time of day; no leap second (23:59:60 would be stored as the next minute, not as the file says).
_CLOCK = {"%H": "(?:[01][0-9]|2[0-3])", "%M": "[0-5][0-9]", "%S": "[0-5][0-9]", "%f": "[0-9]{6}"}


def polars_dtype(column: Column) -> pl.DataType:
    """The polars type a column's values have once parsed."""
    if column.type == "integer":
        return pl.Int64()
    if column.type == "decimal":
        return pl.Decimal(column.precision, column.scale or 0)
    if column.type == "date":
        return pl.Date()
    if column.type == "timestamp":
        return pl.Datetime("us")
    if column.type == "boolean":
        return pl.Boolean()
    return pl.String()


def polars_schema(spec: DataSpec) -> dict[str, pl.DataType]:
    """Column name → polars type, in file order: the typed frame every consumer sees."""
    return {c.name: polars_dtype(c) for c in spec.columns}


def read_options(spec: DataSpec, columns: list[str] | None = None) -> dict[str, Any]:
    """Keyword arguments for ``pl.read_csv`` that read the file as text, column by column, without inference.

    ``columns`` are the header's names when they differ from the spec (validation reads what is there).
    """
    d = spec.dialect
    names = columns if columns is not None else spec.column_names
    return {
        "separator": d.separator,
        "quote_char": d.quote,
        "has_header": d.header,
        "schema": dict.fromkeys(names, pl.String()),
        "null_values": [d.null] if d.null else None,
        "empty_string_is_null": d.null == "",
        "infer_schema": False,
        "encoding": "utf8",
        "raise_if_empty": False,
    }


def lexical_pattern(column: Column, dialect: Dialect) -> str | None:
    """Regular expression every non-null text of the column must match to be of its type (None: any text)."""
    if column.type == "integer":
        return r"-?[0-9]{1,18}"
    if column.type == "decimal":
        whole = (column.precision or 1) - (column.scale or 0)
        sep = re.escape(dialect.decimal)
        return f"-?[0-9]{{1,{max(whole, 1)}}}" + (
            f"({sep}[0-9]{{1,{column.scale}}})?" if column.scale else ""
        )
    if column.type in ("date", "timestamp"):
        fmt = dialect.date_format if column.type == "date" else dialect.timestamp_format
        return calendar_pattern(fmt)
    if column.type == "boolean":
        return f"{re.escape(dialect.true_value)}|{re.escape(dialect.false_value)}"
    return None


def calendar_pattern(fmt: str) -> str:
    """Regular expression matching exactly the real dates (and times) written in strftime format ``fmt``.

    A calendar in a pattern: the months of 31 and 30 days, February's 28 and the 29th in leap years, hours
    below 24 and minutes and seconds below 60. So a type check is one pattern match in any engine (GX's
    SQL engine bundles it with the other column checks; PostgreSQL 15 has no ``pg_input_is_valid``), and a
    text that matches can be cast without an error.
    """
    pieces = re.split(r"(%[A-Za-z])", fmt)

    def render(year: str, month: str, day: str) -> str:
        fields = {"%Y": year, "%m": month, "%d": day, **_CLOCK}
        return "".join(fields.get(piece) or re.escape(piece) for piece in pieces)

    return "|".join(f"(?:{render(*case)})" for case in _CALENDAR)


def parse_expression(column: Column, dialect: Dialect, name: str | None = None) -> pl.Expr:
    """Expression turning the column's text into its typed value; null where the text is not of the type."""
    raw = pl.col(name or column.name)
    lexical = lexical_pattern(column, dialect)
    if column.type == "string" or lexical is None:
        return raw
    if column.type == "integer":
        parsed = raw.cast(pl.Int64, strict=False)
    elif column.type == "decimal":
        text = raw.str.replace(dialect.decimal, ".", literal=True) if dialect.decimal != "." else raw
        parsed = text.cast(polars_dtype(column), strict=False)
    elif column.type == "date":
        parsed = _round_trip(raw, raw.str.to_date(dialect.date_format, strict=False), dialect.date_format)
    elif column.type == "timestamp":
        datetimes = raw.str.to_datetime(dialect.timestamp_format, time_unit="us", strict=False)
        parsed = _round_trip(raw, datetimes, dialect.timestamp_format)
    else:
        # A when/then chain is named after its first ``then``: a bare literal would name it "literal".
        parsed = (
            pl.when(raw == dialect.true_value)
            .then(pl.lit(True).alias(name or column.name))
            .when(raw == dialect.false_value)
            .then(False)
        )
    typed = (
        pl.when(raw.str.contains(f"^(?:{lexical})$")).then(parsed).otherwise(None).cast(polars_dtype(column))
    )
    return typed.alias(name or column.name)


def _round_trip(raw: pl.Expr, parsed: pl.Expr, fmt: str) -> pl.Expr:
    """Keep a parsed date or time only if it prints back as the very text it came from.

    polars (chrono) accepts a leap second ``23:59:60`` and stores the next minute, which can be the next
    day, month or period: what is stored must be what the file says, so such a text is not of the type.
    """
    return pl.when(parsed.dt.strftime(fmt) == raw).then(parsed)


def typed_frame(raw: pl.DataFrame, spec: DataSpec) -> pl.DataFrame:
    """Cast a text frame read with :func:`read_options` to the spec's types (bad values become null)."""
    return raw.select(parse_expression(c, spec.dialect) for c in spec.columns)


def utf8_bytes(data: bytes, dialect: Dialect) -> bytes:
    """File content ``data`` as UTF-8, decoded as the spec declares (strictly; utf-8-sig's BOM dropped).

    polars reads UTF-8 only: every reader of a delivered file hands it the bytes through here, so a
    windows-1252 or ISO-8859-1 file is read as declared, never as (invalid) UTF-8.
    """
    if dialect.encoding == "utf-8":
        return data
    if dialect.encoding == "utf-8-sig":
        return data.removeprefix(codecs.BOM_UTF8)
    return data.decode(dialect.encoding).encode("utf-8")


def read_typed(path: Path, spec: DataSpec) -> pl.DataFrame:
    """Read a valid file into the typed frame (callers validate first; bad values would become null)."""
    source: Path | bytes = path
    if spec.dialect.encoding != "utf-8":
        source = utf8_bytes(path.read_bytes(), spec.dialect)
    return typed_frame(pl.read_csv(source, **read_options(spec)), spec)


def csv_text(frame: pl.DataFrame, spec: DataSpec) -> str:
    """The frame as CSV text in the spec's dialect (columns in file order)."""
    return csv_utf8(frame, spec).decode("utf-8")


def csv_utf8(frame: pl.DataFrame, spec: DataSpec, *, header: bool | None = None) -> bytes:
    """The frame as CSV in the spec's dialect, UTF-8 encoded as polars writes it (no text round trip for a
    month of rows); ``header=False`` leaves the header line out (a batch after the first), ``None``
    writes it if the dialect has one."""
    d = spec.dialect
    out = frame.select(spec.column_names).with_columns(
        pl.col(c.name).replace_strict({True: d.true_value, False: d.false_value}, return_dtype=pl.String)
        for c in spec.columns
        if c.type == "boolean"
    )
    buffer = io.BytesIO()
    out.write_csv(
        buffer,
        separator=d.separator,
        quote_char=d.quote,
        include_header=d.header if header is None else header,
        null_value=d.null,
        date_format=d.date_format,
        datetime_format=d.timestamp_format,
        decimal_comma=d.decimal == ",",
    )
    return buffer.getvalue()


def write_csv(frame: pl.DataFrame, spec: DataSpec, path: Path) -> Path:
    """Write the frame as a file in the spec's dialect and encoding; returns ``path``."""
    path.write_bytes(csv_text(frame, spec).encode(spec.dialect.encoding))
    return path
