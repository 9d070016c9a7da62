"""Warehouse DDL and source-export SQL derived from a spec, for DuckDB and PostgreSQL.

The warehouse table carries the spec's columns plus lineage (which transfer, kommune and period a row came
from, and when it was loaded), so any row can be traced back to the file that delivered it. Snapshot specs
key the table on (kommune, period, primary key): a new month's file replaces only that kommune's period.
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Literal

from sf1630.dataspec.spec import Column, DataSpec, Dialect

Engine = Literal["duckdb", "postgres"]

LINEAGE_FILE_TRANSFER_UUID = "lineage_file_transfer_uuid"
LINEAGE_KOMMUNE = "lineage_kommune"
LINEAGE_PERIOD = "lineage_period"
LINEAGE_LOADED_AT = "lineage_loaded_at"
#: Lineage columns, in table order after the spec's own columns.
LINEAGE_COLUMNS = (LINEAGE_FILE_TRANSFER_UUID, LINEAGE_KOMMUNE, LINEAGE_PERIOD, LINEAGE_LOADED_AT)


def sql_type(column: Column, engine: Engine) -> str:
    """The column's SQL type in ``engine``."""
    if column.type == "string":
        return (
            f"VARCHAR({column.max_length})"
            if column.max_length
            else ("TEXT" if engine == "postgres" else "VARCHAR")
        )
    if column.type == "integer":
        return "BIGINT"
    if column.type == "decimal":
        return f"NUMERIC({column.precision}, {column.scale})"
    if column.type == "date":
        return "DATE"
    if column.type == "timestamp":
        return "TIMESTAMP"
    return "BOOLEAN"


def table_key(spec: DataSpec) -> list[str]:
    """The warehouse primary key: lineage scoping plus the spec's key."""
    scope = [LINEAGE_KOMMUNE, LINEAGE_PERIOD] if spec.load == "snapshot" else [LINEAGE_KOMMUNE]
    return scope + [k for k in spec.primary_key if k not in scope]


def qualified(spec: DataSpec, schema: str | None) -> str:
    """``schema.table`` (or just the table) for the spec's warehouse table."""
    return f"{schema}.{spec.warehouse_table}" if schema else spec.warehouse_table


def create_table(
    spec: DataSpec, engine: Engine, schema: str | None = None, *, keyed: bool = True
) -> list[str]:
    """Statements that create the warehouse table (idempotent) and its lineage index; without the key and
    the index when not ``keyed`` (then :func:`key_sql` adds them once the first rows are in)."""
    uuid_type = "UUID"
    lines = [
        f"    {c.name} {sql_type(c, engine)}{' NOT NULL' if c.required or c.name in spec.primary_key else ''}"
        for c in spec.columns
    ]
    lines += [
        f"    {LINEAGE_FILE_TRANSFER_UUID} {uuid_type} NOT NULL",
        f"    {LINEAGE_KOMMUNE} VARCHAR(8) NOT NULL",
        f"    {LINEAGE_PERIOD} VARCHAR(7) NOT NULL",
        f"    {LINEAGE_LOADED_AT} {'TIMESTAMPTZ' if engine == 'duckdb' else 'TIMESTAMP WITH TIME ZONE'}"
        " NOT NULL",
    ]
    table = qualified(spec, schema)
    if not keyed:
        return [f"CREATE TABLE IF NOT EXISTS {table} (\n" + ",\n".join(lines) + "\n)"]
    lines.append(f"    PRIMARY KEY ({', '.join(table_key(spec))})")
    return [
        f"CREATE TABLE IF NOT EXISTS {table} (\n" + ",\n".join(lines) + "\n)",
        _lineage_index(spec, table),
    ]


def key_sql(spec: DataSpec, schema: str | None = None) -> list[str]:
    """The key and the lineage index of a table made without them (``create_table(keyed=False)``): built
    after a bulk insert, a sort of the whole table instead of an index update per row."""
    table = qualified(spec, schema)
    return [
        f"ALTER TABLE {table} ADD PRIMARY KEY ({', '.join(table_key(spec))})",
        _lineage_index(spec, table),
    ]


def _lineage_index(spec: DataSpec, table: str) -> str:
    return (
        f"CREATE INDEX IF NOT EXISTS {spec.warehouse_table}_transfer_idx"
        f" ON {table} ({LINEAGE_FILE_TRANSFER_UUID})"
    )


def export_sql(spec: DataSpec, engine: Engine) -> str:
    """The sender's export query: columns in file order for one kommune and one period, ordered by key.

    Named parameters: ``authority`` (8-digit CVR) and ``period`` (``YYYY-MM``) when the period column is
    text, or ``period_start``/``period_end`` (dates, end exclusive) when it is a date.
    DuckDB takes them as ``$name``, PostgreSQL (psycopg) as ``%(name)s``.
    """

    def param(name: str) -> str:
        return f"${name}" if engine == "duckdb" else f"%({name})s"

    where = [f"{spec.kommune_column} = {param('authority')}"]
    if spec.column(spec.period_column).type == "string":
        where.append(f"{spec.period_column} = {param('period')}")
    else:
        where.append(f"{spec.period_column} >= {param('period_start')}")
        where.append(f"{spec.period_column} < {param('period_end')}")
    return (
        f"SELECT {', '.join(spec.column_names)}\nFROM {spec.source_table}\n"
        f"WHERE {' AND '.join(where)}\nORDER BY {', '.join(spec.primary_key)}"
    )


def source_table_ddl(spec: DataSpec, engine: Engine) -> str:
    """DDL for a sender-side source table with the spec's columns (demo and test databases)."""
    lines = [f"    {c.name} {sql_type(c, engine)}{' NOT NULL' if c.required else ''}" for c in spec.columns]
    return f"CREATE TABLE IF NOT EXISTS {spec.source_table} (\n" + ",\n".join(lines) + "\n)"


# --- text staging → typed values (PostgreSQL) ------------------------------------------------------------

#: Width of each strftime directive's digits in the spec's formats (the lexical patterns are fixed-width).
_DIRECTIVE_WIDTH = {"%Y": 4, "%m": 2, "%d": 2, "%H": 2, "%M": 2, "%S": 2, "%f": 6}


def sql_literal(text: str) -> str:
    """``text`` as a SQL string literal (standard_conforming_strings: only the quote is doubled)."""
    return "'" + text.replace("'", "''") + "'"


class Calendar(StrEnum):
    """How SQL on PostgreSQL tells a real date or time from text that only looks like one."""

    #: Any PostgreSQL: the calendar as a regular expression (:func:`~sf1630.dataspec.schema.calendar_pattern`;
    #: about 2-5 µs per value, most of a staged file's validation).
    PATTERN = "pattern"
    #: PostgreSQL 16 and later: ``pg_input_is_valid`` and a round trip through the type, about a tenth of it.
    INPUT = "input"

    @classmethod
    def of_server(cls, server_version: int) -> Calendar:
        """The calendar a server (``server_version_num``, e.g. 180006) can check fastest."""
        return cls.INPUT if server_version >= 160000 else cls.PATTERN


#: strftime directive → PostgreSQL ``to_char`` field, for the formats :func:`_input_format` accepts.
_TO_CHAR = {"%Y": "YYYY", "%m": "MM", "%d": "DD", "%H": "HH24", "%M": "MI", "%S": "SS", "%f": "US"}
#: The formats PostgreSQL's own date and time input reads the same way whatever its ``DateStyle``: ISO 8601.
_ISO_FORMATS = re.compile(r"%Y-%m-%d(?:[T ]%H:%M:%S(?:\.%f)?)?")


def _input_format(fmt: str) -> str | None:
    """The ``to_char`` format of strftime format ``fmt`` when PostgreSQL's input reads it unambiguously."""
    if not _ISO_FORMATS.fullmatch(fmt):
        return None
    pieces = re.split(r"(%[A-Za-z])", fmt)
    return "".join(_TO_CHAR.get(p) or (f'"{p}"' if p.isalpha() else p) for p in pieces)


def input_match(column: Column, dialect: Dialect, ref: str) -> str | None:
    """SQL (PostgreSQL 16+) that is true when the text ``ref`` is a date or time PostgreSQL's own input
    accepts and writes back unchanged in the column's format; None for other types and for formats its input
    could read another way. The same verdict as the calendar pattern (fixed width, no year 0, no 24:00, no
    leap second), from the server's parser instead of a regular expression."""
    if column.type not in ("date", "timestamp"):
        return None
    fmt = dialect.date_format if column.type == "date" else dialect.timestamp_format
    to_char = _input_format(fmt)
    if to_char is None:
        return None
    width = sum(_DIRECTIVE_WIDTH.get(p, len(p)) for p in re.split(r"(%[A-Za-z])", fmt))
    # CASE, not AND: PostgreSQL may evaluate AND's operands in any order, and the cast raises.
    return (
        f"(CASE WHEN length({ref}) = {width} AND pg_input_is_valid({ref}, '{column.type}')"
        f" THEN to_char({ref}::{column.type}, {sql_literal(to_char)}) = {ref} ELSE FALSE END)"
    )


def lexical_match(
    column: Column, dialect: Dialect, ref: str, calendar: Calendar = Calendar.PATTERN
) -> str | None:
    """SQL that is true when the text ``ref`` has the column's lexical form (None for plain strings); a date
    or time by :func:`input_match` where ``calendar`` allows it."""
    from sf1630.dataspec.schema import lexical_pattern

    checked = input_match(column, dialect, ref) if calendar is Calendar.INPUT else None
    if checked is not None:
        return checked
    pattern = lexical_pattern(column, dialect)
    return None if pattern is None else f"{ref} ~ {sql_literal(f'^(?:{pattern})$')}"


def _parts(fmt: str, ref: str) -> dict[str, str]:
    """Directive → SQL integer taken from its fixed position in the text ``ref``."""
    parts: dict[str, str] = {}
    position = 1
    for piece in re.split(r"(%[A-Za-z])", fmt):
        width = _DIRECTIVE_WIDTH.get(piece)
        if width is None:
            position += len(piece)
            continue
        parts[piece] = f"substr({ref}, {position}, {width})::int"
        position += width
    return parts


def typed_value(
    column: Column,
    dialect: Dialect,
    ref: str,
    *,
    validated: bool = False,
    calendar: Calendar = Calendar.PATTERN,
) -> str:
    """SQL turning the text ``ref`` into the column's typed value; NULL where the text is not of the type.

    ``validated``: every text is known to be of the type (the suite passed), so the cast goes unguarded;
    the pattern match per value is most of a promotion's cost, and an unexpected text fails the
    transaction instead of becoming NULL. ``calendar``: how a date's or time's text is checked
    (:class:`Calendar`); with :attr:`Calendar.INPUT` the guard of a number, and of a date or time in an
    ISO format, is the server's own input (:func:`_server_typed`).
    """
    if column.type == "string":
        return ref
    loose = None if validated or calendar is not Calendar.INPUT else _server_typed(column, dialect, ref)
    if loose is not None:
        return loose
    match = "TRUE" if validated else lexical_match(column, dialect, ref, calendar)
    if column.type == "boolean":
        true, false = sql_literal(dialect.true_value), sql_literal(dialect.false_value)
        return f"(CASE {ref} WHEN {true} THEN TRUE WHEN {false} THEN FALSE END)"
    if column.type == "integer":
        value = f"{ref}::bigint"
    elif column.type == "decimal":
        text = ref if dialect.decimal == "." else f"replace({ref}, {sql_literal(dialect.decimal)}, '.')"
        value = f"{text}::numeric({column.precision}, {column.scale or 0})"
    else:
        fmt = dialect.date_format if column.type == "date" else dialect.timestamp_format
        p = _parts(fmt, ref)
        ymd = ", ".join(p.get(d, "1") for d in ("%Y", "%m", "%d"))
        if column.type == "date":
            value = f"make_date({ymd})"
        else:
            seconds = p.get("%S", "0") + (f" + {p['%f']} / 1000000.0" if "%f" in p else "")
            value = f"make_timestamp({ymd}, {p.get('%H', '0')}, {p.get('%M', '0')}, {seconds})"
    # For dates and times the lexical match is the calendar itself (schema.calendar_pattern, or the server's
    # own input): a text that matches casts without an error.
    return value if validated else f"(CASE WHEN {match} THEN {value} END)"


def _server_typed(column: Column, dialect: Dialect, ref: str) -> str | None:
    """The typed value of ``ref`` wherever the server's input reads it as the type (PostgreSQL 16+), NULL
    elsewhere; None for types and formats it could read another way.

    A guard for checks on typed values (ranges, numeric value sets, rules), a third of the pattern guard's
    cost on a million values (a range on a decimal 0.37 s against 0.94 s, on an integer 0.13 s against 0.57 s,
    the rule between two dates 0.33 s against 0.72 s): a text the server reads but the spec's form does not
    allow (``1.5`` for ``1,5``, ``2026-1-5``) gets a value too, and the type check fails it anyway.
    """
    if column.type == "integer":
        kind, text = "bigint", ref
    elif column.type == "decimal":
        kind = f"numeric({column.precision}, {column.scale or 0})"
        text = ref if dialect.decimal == "." else f"replace({ref}, {sql_literal(dialect.decimal)}, '.')"
    elif column.type in ("date", "timestamp"):
        fmt = dialect.date_format if column.type == "date" else dialect.timestamp_format
        if _input_format(fmt) is None:
            return None
        kind, text = column.type, ref
    else:
        return None
    return f"(CASE WHEN pg_input_is_valid({text}, {sql_literal(kind)}) THEN {text}::{kind} END)"
