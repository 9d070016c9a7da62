"""The export through Airflow SQL connections from ``AIRFLOW_CONN_*``: SQLite and a real PostgreSQL, the
vendor's own SQL file; a connection without a SQL hook is refused by name."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sf1630.airflow.extract import export_for
from sf1630.database import Database
from sf1630.dataspec import load_spec
from sf1630.dataspec.schema import read_typed
from sf1630.dataspec.synth import synthesize
from sf1630.protocol import Period
from sf1630.registry import load_registry
from sf1630.sender.export import ExportError
from sf1630.sender.source import seed_source

OCTOBER = Period(2026, 10)


def _check(path: Path, cvr: str) -> None:
    spec = load_spec("ky")
    expected = synthesize(spec, 30, cvr, OCTOBER, 1630).sort(list(spec.primary_key))
    assert read_typed(path, spec).equals(expected)


def test_sqlite_connection(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    registry = load_registry()
    kommune = registry.kommune("101")
    source = Database.sqlite(tmp_path / "source.sqlite")
    seed_source(source, load_spec("ky"), [kommune.cvr, "15300000"], OCTOBER, rows_per_kommune=30)
    monkeypatch.setenv(
        "AIRFLOW_CONN_SF1630_SOURCE_KY", json.dumps({"conn_type": "sqlite", "host": str(source.path)})
    )
    path = export_for(registry.sender("KY"), kommune, OCTOBER, tmp_path, file_name="ky.csv")
    _check(path, kommune.cvr)


def test_postgres_connection_with_the_vendors_sql(
    pg_schema: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The hook's own connection applies the connection's extras (here libpq ``options``), and the
    vendor's SQL reads its own table and columns with PostgreSQL's ``::`` casts beside named parameters."""
    registry = load_registry()
    kommune = registry.kommune("101")
    extra = {"options": f"-c search_path={pg_schema}"}
    source = Database.from_connection(
        "s", "postgres", host="127.0.0.1", login="postgres", schema="test", extra=extra
    )
    spec = load_spec("ky")
    seed_source(source, spec, [kommune.cvr], OCTOBER, rows_per_kommune=30)
    renamed = ", ".join(f'"{c}" AS "ky_{c}"' for c in spec.column_names)
    with source.connect() as conn:
        conn.execute(f"CREATE TABLE vendor AS SELECT {renamed} FROM ky_ydelser")  # noqa: S608
    config = tmp_path / "config"
    config.mkdir()
    columns = ", ".join(f"ky_{c} AS {c}" for c in spec.column_names)
    (config / "ky.sql").write_text(
        f"SELECT {columns} FROM vendor WHERE ky_myndighed_cvr = :cvr"  # noqa: S608
        " AND ky_udtraeksperiode::text = CAST(:period AS text) ORDER BY ky_sag_id, ky_ydelse_id",
        encoding="utf-8",
    )
    sender = registry.sender("KY").model_copy(update={"extract_sql": config / "ky.sql"})
    connection = {
        "conn_type": "postgres",
        "host": "127.0.0.1",
        "port": 5432,
        "login": "postgres",
        "schema": "test",
    }
    monkeypatch.setenv("AIRFLOW_CONN_SF1630_SOURCE_KY", json.dumps({**connection, "extra": extra}))
    _check(export_for(sender, kommune, OCTOBER, tmp_path), kommune.cvr)


def test_connection_without_a_sql_hook_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    registry = load_registry()
    monkeypatch.setenv(
        "AIRFLOW_CONN_SF1630_SOURCE_KY", json.dumps({"conn_type": "sftp", "host": "127.0.0.1"})
    )
    with pytest.raises(ExportError, match="connection sf1630_source_ky: conn_type 'sftp' has no SQL hook"):
        export_for(registry.sender("KY"), registry.kommune("101"), OCTOBER, tmp_path)
    assert list(tmp_path.iterdir()) == []
