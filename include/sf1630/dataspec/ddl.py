"""Warehouse DDL and source-export SQL derived from a spec, for DuckDB and PostgreSQL.

The warehouse table carries the spec's columns plus lineage (which transfer, kommune and period a row came
from, and when it was loaded), so any row can be traced back to the file that delivered it. Snapshot specs
key the table on (kommune, period, primary key): a new month's file replaces only that kommune's period.
"""

from __future__ import annotations

from typing import Literal

from sf1630.dataspec.spec import Column, DataSpec

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


def create_table(spec: DataSpec, engine: Engine, schema: str | None = None) -> list[str]:
    """Statements that create the warehouse table (idempotent) and its lineage index."""
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
        f"    PRIMARY KEY ({', '.join(table_key(spec))})",
    ]
    table = qualified(spec, schema)
    return [
        f"CREATE TABLE IF NOT EXISTS {table} (\n" + ",\n".join(lines) + "\n)",
        f"CREATE INDEX IF NOT EXISTS {spec.warehouse_table}_transfer_idx"
        f" ON {table} ({LINEAGE_FILE_TRANSFER_UUID})",
    ]


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
