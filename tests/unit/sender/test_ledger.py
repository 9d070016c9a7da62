"""The receipt ledger on both supported databases, and the databases connection fields describe."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from sf1630.database import Database, DatabaseConfigError
from sf1630.protocol import Period, ReceiptError
from sf1630.registry import Kommune, SenderSystem
from sf1630.sender.ledger import ACCEPTED, REJECTED, Ledger
from sf1630.sender.plan import plan_deliveries


def _exercise(ledger: Ledger, ky: SenderSystem, kommuner: tuple[Kommune, ...]) -> None:
    first, second, third, _ = plan_deliveries(ky, kommuner, Period(2026, 10))
    errors = (ReceiptError(401, "Ingen rute", "ingen rute for Brøndby"),)
    ledger.record(first, ACCEPTED, "t1", at=datetime(2026, 11, 1, tzinfo=UTC))
    ledger.record(second, REJECTED, "t2", errors)
    entries = ledger.entries("KY", [first.file_name, second.file_name, third.file_name])
    assert set(entries) == {first.file_name, second.file_name}
    assert entries[first.file_name].recorded_at == "2026-11-01T00:00:00+00:00"
    assert entries[second.file_name].errors == errors
    ledger.record(second, ACCEPTED, "t3")
    assert ledger.accepted("KY", [first.file_name, second.file_name, third.file_name]) == {
        first.file_name,
        second.file_name,
    }
    assert ledger.accepted("KSD", [first.file_name]) == set()
    assert ledger.entries("KY", []) == {}


def test_sqlite_ledger(tmp_path: Path, ky: SenderSystem, kommuner: tuple[Kommune, ...]) -> None:
    _exercise(Ledger(Database.sqlite(tmp_path / "l.sqlite")), ky, kommuner)


def test_postgres_ledger(pg_schema: str, ky: SenderSystem, kommuner: tuple[Kommune, ...]) -> None:
    database = Database.from_connection(
        "ledger",
        "postgres",
        host="127.0.0.1",
        login="postgres",
        schema="test",
        extra={"schema": pg_schema},
    )
    _exercise(Ledger(database), ky, kommuner)
    with database.connect() as conn:
        tables = conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = %s", (pg_schema,)
        ).fetchall()
    assert tables == [("sf1630_sender_ledger",)]


def test_many_file_names_at_once(tmp_path: Path, ky: SenderSystem) -> None:
    from sf1630.registry import load_registry

    deliveries = plan_deliveries(ky, load_registry().kommuner, Period(2026, 10)) * 6  # > one query chunk
    ledger = Ledger(Database.sqlite(tmp_path / "l.sqlite"))
    for delivery in deliveries[:122]:
        ledger.record(delivery, ACCEPTED, "t")
    assert (
        len(
            ledger.accepted(
                "KY", [d.file_name + str(i) for i, d in enumerate(deliveries)] + [deliveries[0].file_name]
            )
        )
        == 1
    )


def test_databases_from_connections(tmp_path: Path) -> None:
    from psycopg.conninfo import conninfo_to_dict

    lite = Database.from_connection("s", "sqlite", host=str(tmp_path / "x.sqlite"))
    assert lite.kind == "sqlite" and lite.path == tmp_path / "x.sqlite" and lite.placeholder == "?"
    pg = Database.from_connection(
        "s", "postgres", host="db", port=6543, login="u", password="s3cret", schema="lis"
    )
    assert conninfo_to_dict(pg.dsn) == {
        "host": "db",
        "port": "6543",
        "user": "u",
        "password": "s3cret",
        "dbname": "lis",
    }
    assert "s3cret" not in repr(pg)
    assert pg.schema == "public" and "s3cret" not in pg.describe()
    in_schema = Database.from_connection("s", "postgres", schema="lis", extra={"schema": "ky_src"})
    assert in_schema.schema == "ky_src"
    with pytest.raises(DatabaseConfigError, match=r"extra\.schema 'x; drop' is not a plain identifier"):
        Database.from_connection("s", "postgres", extra={"schema": "x; drop"})
    with pytest.raises(
        DatabaseConfigError, match="connection s: a sqlite connection needs the absolute file path"
    ):
        Database.from_connection("s", "sqlite", host="relative.sqlite")
    for other in ("mysql", "duckdb"):
        with pytest.raises(DatabaseConfigError, match=f"conn_type '{other}' is not one of sqlite, postgres"):
            Database.from_connection("s", other, host="/abs/h")
