"""Both warehouses for real: a DuckDB file in tmp_path and a unique PostgreSQL schema per test."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from sf1630.warehouse import WarehouseTarget

POSTGRES_DSN = "host=127.0.0.1 port=5432 user=postgres dbname=test"


@pytest.fixture(params=["duckdb", "postgres"])
def target(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[WarehouseTarget]:
    if request.param == "duckdb":
        yield WarehouseTarget.duckdb(tmp_path / "warehouse.duckdb", schema="lis")
        return
    schema = f"t_{uuid.uuid4().hex[:16]}"
    yield WarehouseTarget.postgres(POSTGRES_DSN, schema=schema)
    with psycopg.connect(POSTGRES_DSN, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
