"""The load is all-or-nothing and at-most-once per FileTransferUUID (PostgreSQL)."""

# ruff: noqa: S608  (SQL text built from the fixture's schema name only)

from __future__ import annotations

import contextlib
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from sf1630.database import Database
from sf1630.protocol import Period
from sf1630.warehouse import (
    LoadEntry,
    LoadRequest,
    Outcome,
    load_delivery,
    loaded_extracts,
    record_outcome,
    recorded,
)

WHEN = datetime(2026, 11, 1, 6, 0, tzinfo=UTC)
OCTOBER = Period(2026, 10)
DDL = (
    "CREATE TABLE facts (sag VARCHAR NOT NULL, beloeb DECIMAL(12,2), note VARCHAR, dato DATE, "
    "lineage_kommune VARCHAR NOT NULL, lineage_period VARCHAR NOT NULL)",
)


def entry(
    uuid: str,
    *,
    cvr: str = "10100000",
    period: Period = OCTOBER,
    rows: int = 2,
    outcome: Outcome = Outcome.LOADED,
) -> LoadEntry:
    return LoadEntry(
        uuid,
        f"KY_LIS_{cvr}_M10_20261101060000.csv",
        "KY",
        cvr,
        period,
        rows,
        "ab" * 32,
        outcome,
        WHEN,
        WHEN,
    )


def rows(cvr: str, *sager: str, note: list[str | None] | None = None) -> pa.Table:
    n = len(sager)
    return pa.table(
        {
            "sag": list(sager),
            "beloeb": pa.array([None] * n, pa.decimal128(12, 2)),
            "note": note if note is not None else [None] * n,
            "dato": [date(2026, 10, 31)] * n,
            "lineage_kommune": [cvr] * n,
            "lineage_period": ["2026-10"] * n,
        }
    )


def request(uuid: str, data: pa.Table, *, snapshot: bool = True) -> LoadRequest:
    cvr = data["lineage_kommune"][0].as_py()
    where = (("lineage_kommune", cvr), ("lineage_period", "2026-10")) if snapshot else ()
    return LoadRequest("facts", DDL, data, entry(uuid, cvr=cvr, rows=data.num_rows), where)


def query(db: Database, sql: str) -> list[tuple[Any, ...]]:
    with contextlib.closing(db.connect()) as conn:
        return list(conn.execute(sql).fetchall())


def test_load_writes_rows_and_ledger_once(db: Database) -> None:
    assert load_delivery(db, request("u-1", rows("10100000", "a", "b")))
    assert not load_delivery(db, request("u-1", rows("10100000", "x", "y", "z")))
    assert sorted(query(db, f"SELECT sag FROM {db.schema}.facts")) == [("a",), ("b",)]
    assert recorded(db, "u-1") is Outcome.LOADED
    assert recorded(db, "u-2") is None


def test_snapshot_replaces_only_the_kommunes_period(db: Database) -> None:
    load_delivery(db, request("u-1", rows("10100000", "a", "b")))
    load_delivery(db, request("u-2", rows("14700000", "c")))
    load_delivery(db, request("u-3", rows("10100000", "d")))
    got = sorted(query(db, f"SELECT lineage_kommune, sag FROM {db.schema}.facts"))
    assert got == [("10100000", "d"), ("14700000", "c")]
    assert loaded_extracts(db, OCTOBER) == {("KY", "10100000"), ("KY", "14700000")}
    assert loaded_extracts(db, Period(2026, 9)) == set()


def test_append_keeps_earlier_rows(db: Database) -> None:
    load_delivery(db, request("u-1", rows("10100000", "a"), snapshot=False))
    load_delivery(db, request("u-2", rows("10100000", "b"), snapshot=False))
    assert sorted(query(db, f"SELECT sag FROM {db.schema}.facts")) == [("a",), ("b",)]


def test_failed_insert_rolls_back_ledger_and_delete(db: Database) -> None:
    load_delivery(db, request("u-1", rows("10100000", "a")))
    broken = rows("10100000", "b").set_column(0, "sag", pa.array([None], pa.string()))  # NOT NULL violated
    with pytest.raises(Exception):  # noqa: B017 - each engine raises its own constraint error
        load_delivery(db, request("u-2", broken))
    assert query(db, f"SELECT sag FROM {db.schema}.facts") == [("a",)]
    assert recorded(db, "u-2") is None


def test_null_and_empty_string_survive_bulk_copy(db: Database) -> None:
    load_delivery(db, request("u-1", rows("10100000", "a", "b", "c", note=[None, "", 'x,"y"\nz'])))
    got = sorted(query(db, f"SELECT sag, note FROM {db.schema}.facts"))
    assert got == [("a", None), ("b", ""), ("c", 'x,"y"\nz')]


def test_quarantine_outcome_is_recorded_once(db: Database) -> None:
    assert record_outcome(db, entry("u-9", rows=0, outcome=Outcome.QUARANTINED))
    assert not record_outcome(db, entry("u-9", rows=0, outcome=Outcome.QUARANTINED))
    assert recorded(db, "u-9") is Outcome.QUARANTINED
    assert loaded_extracts(db, OCTOBER) == set()


def test_constants_are_added_to_every_row(db: Database) -> None:
    data = rows("10100000", "a", "b").drop_columns(["lineage_period"])
    constants = (("lineage_period", "2026-10"),)
    request = LoadRequest("facts", DDL, data, entry("u-1"), (("lineage_kommune", "10100000"),), constants)
    assert load_delivery(db, request)
    got = sorted(query(db, f"SELECT sag, lineage_period FROM {db.schema}.facts"))
    assert got == [("a", "2026-10"), ("b", "2026-10")]


def test_string_views_from_polars_load_as_they_are(db: Database) -> None:
    """The receiver hands over polars' string views; COPY's CSV writer needs large strings."""
    import polars as pl

    plain = rows("10100000", "a", "b", "c", note=[None, "", 'x,"y"\nz'])
    views = pl.from_arrow(plain).to_arrow(compat_level=pl.CompatLevel.newest())
    assert views.schema.field("sag").type == pa.string_view()
    assert load_delivery(db, request("u-1", views))
    got = sorted(query(db, f"SELECT sag, note FROM {db.schema}.facts"))
    assert got == [("a", None), ("b", ""), ("c", 'x,"y"\nz')]


def test_only_postgres_can_be_a_warehouse(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="a warehouse is a PostgreSQL database"):
        recorded(Database.sqlite(tmp_path / "l"), "u-1")


def test_the_ledger_keeps_each_deliverys_report_uri(db: Database) -> None:
    """Issue 15's UI opens a delivery's Data Docs page and ValidationResult from the ``report`` column."""
    from dataclasses import replace

    from sf1630.warehouse import report_of

    uri = "file:///srv/sf1630/reports/HERNING_LIS01_SIMPEL/KY_LIS_10100000_M10_20261101060000.csv"
    assert record_outcome(db, replace(entry("u-report", outcome=Outcome.QUARANTINED), report=uri))
    assert report_of(db, "u-report") == uri
    assert record_outcome(db, entry("u-none", outcome=Outcome.QUARANTINED))
    assert report_of(db, "u-none") == ""
    assert report_of(db, "u-never") is None


def test_a_ledger_from_before_the_report_column_gets_it(db: Database) -> None:
    columns = (
        "file_transfer_uuid VARCHAR(255) PRIMARY KEY, file_name VARCHAR(255) NOT NULL,"
        " sender VARCHAR(32) NOT NULL, kommune VARCHAR(8) NOT NULL, period VARCHAR(7) NOT NULL,"
        " rows BIGINT NOT NULL,"
        " checksum VARCHAR(64) NOT NULL, outcome VARCHAR(16) NOT NULL, detail TEXT NOT NULL,"
        " received_at TIMESTAMP WITH TIME ZONE NOT NULL, finished_at TIMESTAMP WITH TIME ZONE NOT NULL"
    )
    old_row = "'u-old', 'f.csv', 'KY', '10100000', '2026-10', 1, 'x', 'loaded', '', now(), now()"
    with contextlib.closing(db.connect()) as conn:
        conn.execute(f"CREATE SCHEMA IF NOT EXISTS {db.schema}")
        conn.execute(f"CREATE TABLE {db.schema}.sf1630_ledger ({columns})")
        conn.execute(f"INSERT INTO {db.schema}.sf1630_ledger VALUES ({old_row})")
        conn.commit()
    from sf1630.warehouse import report_of

    assert report_of(db, "u-old") == ""
    assert record_outcome(db, entry("u-new", outcome=Outcome.QUARANTINED))
    assert recorded(db, "u-new") is Outcome.QUARANTINED
