"""Schema, DDL and data agree: synthetic rows go through the polars schema into real DuckDB and PostgreSQL
tables created from the derived DDL, and come back equal."""

# Table and schema names come from the checked specs and uuid4 hex; values are bound or COPYed.
# ruff: noqa: S608

from __future__ import annotations

import io
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import duckdb
import polars as pl
import psycopg
import pytest
from sf1630.dataspec import DataSpec, list_specs, load_spec
from sf1630.dataspec.ddl import LINEAGE_COLUMNS, create_table, export_sql, qualified, source_table_ddl
from sf1630.dataspec.schema import csv_text, read_options, typed_frame
from sf1630.dataspec.synth import synthesize
from sf1630.dataspec.validation import validate_bytes
from sf1630.protocol import Period

pytestmark = pytest.mark.integration
POSTGRES = "host=127.0.0.1 port=5432 dbname=test user=postgres"
AUTHORITY, PERIOD = "29189846", Period(2026, 3)


@pytest.fixture(params=list_specs())
def spec(request: pytest.FixtureRequest) -> DataSpec:
    return load_spec(request.param)


def _with_lineage(frame: pl.DataFrame, transfer: str) -> pl.DataFrame:
    loaded = datetime(2026, 4, 1, 6, 0, tzinfo=UTC)
    return frame.with_columns(
        pl.lit(transfer).alias(LINEAGE_COLUMNS[0]),
        pl.lit(AUTHORITY).alias(LINEAGE_COLUMNS[1]),
        pl.lit(str(PERIOD)).alias(LINEAGE_COLUMNS[2]),
        pl.lit(loaded).alias(LINEAGE_COLUMNS[3]),
    )


def _file_frame(spec: DataSpec) -> pl.DataFrame:
    """Synthetic rows as the spec's CSV, passed by the GX suite, read back through the polars schema."""
    frame = synthesize(spec, 200, AUTHORITY, PERIOD, seed=5)
    data = csv_text(frame, spec).encode()
    report = validate_bytes(data, spec, name="synthetic.csv")
    assert report.success, report.summary_lines()
    return typed_frame(pl.read_csv(data, **read_options(spec)), spec)


def test_duckdb_round_trip_via_arrow(spec: DataSpec) -> None:
    frame = _file_frame(spec)
    transfer = str(uuid.uuid4())
    con = duckdb.connect()
    con.execute("CREATE SCHEMA wh")
    for statement in create_table(spec, "duckdb", "wh"):
        con.execute(statement)
    arrow_rows = _with_lineage(frame, transfer).to_arrow()  # noqa: F841 - scanned by DuckDB by name
    con.execute(f"INSERT INTO {qualified(spec, 'wh')} SELECT * FROM arrow_rows")
    back = pl.from_arrow(
        con.sql(f"SELECT {', '.join(spec.column_names)} FROM {qualified(spec, 'wh')}").to_arrow_table()
    )
    assert isinstance(back, pl.DataFrame)
    assert back.sort(spec.primary_key).equals(frame.sort(spec.primary_key))


def test_duckdb_export_sql_selects_one_kommune_period(spec: DataSpec) -> None:
    frame = _file_frame(spec)
    other = synthesize(spec, 20, "11111111", Period(2026, 2), seed=6)
    con = duckdb.connect()
    con.execute(source_table_ddl(spec, "duckdb"))
    source_rows = pl.concat([frame, other])  # noqa: F841 - scanned by DuckDB by name
    con.execute(f"INSERT INTO {spec.source_table} SELECT * FROM source_rows")
    params: dict[str, object] = {"authority": AUTHORITY}
    if spec.column(spec.period_column).type == "string":
        params["period"] = str(PERIOD)
    else:
        params |= {"period_start": datetime(2026, 3, 1).date(), "period_end": datetime(2026, 4, 1).date()}
    exported = pl.from_arrow(con.sql(export_sql(spec, "duckdb"), params=params).to_arrow_table())
    assert isinstance(exported, pl.DataFrame)
    assert exported.columns == spec.column_names
    assert exported.equals(frame.sort(spec.primary_key))


@pytest.fixture
def pg_schema() -> Iterator[tuple[psycopg.Connection[tuple[object, ...]], str]]:
    name = f"dataspec_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(POSTGRES, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {name}")
        try:
            yield conn, name
        finally:
            conn.execute(f"DROP SCHEMA {name} CASCADE")


def test_postgres_round_trip_via_copy(
    spec: DataSpec, pg_schema: tuple[psycopg.Connection[tuple[object, ...]], str]
) -> None:
    conn, schema = pg_schema
    frame = _file_frame(spec)
    for statement in create_table(spec, "postgres", schema):
        conn.execute(statement)
    rows = _with_lineage(frame, str(uuid.uuid4()))
    buffer = io.BytesIO()
    rows.write_csv(buffer, include_header=False, null_value="\\N")
    columns = ", ".join(rows.columns)
    with conn.cursor().copy(
        f"COPY {qualified(spec, schema)} ({columns}) FROM STDIN (FORMAT csv, NULL '\\N')"
    ) as copy:
        copy.write(buffer.getvalue())
    cursor = conn.execute(f"SELECT {', '.join(spec.column_names)} FROM {qualified(spec, schema)}")
    back = pl.DataFrame(cursor.fetchall(), schema=frame.schema, orient="row")
    assert back.sort(spec.primary_key).equals(frame.sort(spec.primary_key))
