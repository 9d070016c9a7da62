"""A newer delivery of the same sender, kommune and period supersedes the earlier one in the ledger, and a
quarantined delivery reloads exactly once."""

# ruff: noqa: S608  (SQL text built from the fixture's schema name only)

from __future__ import annotations

import contextlib
from dataclasses import replace
from typing import Any

import pyarrow as pa
from sf1630.database import Database
from sf1630.warehouse import LoadRequest, Outcome, load_delivery, record_outcome, recorded

from tests.unit.warehouse.test_load import entry, rows

EARLY = "KY_LIS_10100000_M10_20261101000000.csv"
LATE = "KY_LIS_10100000_M10_20261201093000.csv"
DDL_UUID = (
    "CREATE TABLE facts (sag VARCHAR NOT NULL, beloeb DECIMAL(12,2), note VARCHAR, dato DATE, "
    "lineage_kommune VARCHAR NOT NULL, lineage_period VARCHAR NOT NULL, lineage_file_transfer_uuid VARCHAR)",
)


def query(db: Database, sql: str) -> list[tuple[Any, ...]]:
    with contextlib.closing(db.connect()) as conn:
        return list(conn.execute(sql).fetchall())


def load(
    db: Database, uuid: str, name: str, data: pa.Table, *, snapshot: bool = True, reload: bool = False
) -> bool:
    where = (("lineage_kommune", "10100000"), ("lineage_period", "2026-10")) if snapshot else ()
    constants = (("lineage_file_transfer_uuid", uuid),)
    the_entry = replace(entry(uuid, rows=data.num_rows), file_name=name)
    return load_delivery(db, LoadRequest("facts", DDL_UUID, data, the_entry, where, constants, reload=reload))


def ledger(db: Database) -> list[tuple[Any, ...]]:
    return sorted(
        query(db, f"SELECT file_transfer_uuid, outcome, superseded_by FROM {db.schema}.sf1630_ledger")
    )


def test_newer_snapshot_replaces_rows_and_supersedes_the_earlier_file(db: Database) -> None:
    assert load(db, "u-1", EARLY, rows("10100000", "a", "b"))
    assert load(db, "u-2", LATE, rows("10100000", "c"))
    assert query(db, f"SELECT sag FROM {db.schema}.facts") == [("c",)]
    assert ledger(db) == [("u-1", "loaded", "u-2"), ("u-2", "loaded", None)]


def test_newer_append_delivery_deletes_the_superseded_rows(db: Database) -> None:
    load(db, "u-1", EARLY, rows("10100000", "a", "b"), snapshot=False)
    load(db, "u-2", LATE, rows("10100000", "c"), snapshot=False)
    assert query(db, f"SELECT sag, lineage_file_transfer_uuid FROM {db.schema}.facts") == [("c", "u-2")]


def test_a_load_supersedes_an_earlier_quarantined_delivery(db: Database) -> None:
    record_outcome(db, replace(entry("u-1", rows=0, outcome=Outcome.QUARANTINED), file_name=EARLY))
    load(db, "u-2", LATE, rows("10100000", "c"))
    assert ledger(db) == [("u-1", "quarantined", "u-2"), ("u-2", "loaded", None)]


def test_an_older_table_gets_the_column(db: Database) -> None:
    with contextlib.closing(db.connect(autocommit=True) if db.kind == "postgres" else db.connect()) as conn:
        conn.execute(f"CREATE SCHEMA IF NOT EXISTS {db.schema}")
        conn.execute(
            f"CREATE TABLE {db.schema}.sf1630_ledger (file_transfer_uuid VARCHAR(255) PRIMARY KEY,"
            " file_name VARCHAR(255) NOT NULL, sender VARCHAR(32) NOT NULL, kommune VARCHAR(8) NOT NULL,"
            " period VARCHAR(7) NOT NULL, rows BIGINT NOT NULL, checksum VARCHAR(64) NOT NULL,"
            " outcome VARCHAR(16) NOT NULL, detail TEXT NOT NULL,"
            " received_at TIMESTAMP WITH TIME ZONE NOT NULL,"
            " finished_at TIMESTAMP WITH TIME ZONE NOT NULL)"
        )
        if db.kind != "postgres":
            conn.commit()
    assert load(db, "u-1", EARLY, rows("10100000", "a"))
    assert load(db, "u-2", LATE, rows("10100000", "b"))
    assert ledger(db) == [("u-1", "loaded", "u-2"), ("u-2", "loaded", None)]


def test_reload_turns_the_quarantined_row_into_a_load_once(db: Database) -> None:
    record_outcome(db, replace(entry("u-1", rows=0, outcome=Outcome.QUARANTINED), file_name=EARLY))
    assert load(db, "u-1", EARLY, rows("10100000", "a", "b"), reload=True)
    assert not load(db, "u-1", EARLY, rows("10100000", "x"), reload=True)
    assert recorded(db, "u-1") is Outcome.LOADED
    assert sorted(query(db, f"SELECT sag FROM {db.schema}.facts")) == [("a",), ("b",)]
    assert query(db, f"SELECT rows FROM {db.schema}.sf1630_ledger") == [(2,)]


def test_reload_of_an_unknown_delivery_loads_nothing(db: Database) -> None:
    assert not load(db, "u-7", EARLY, rows("10100000", "a"), reload=True)
    assert recorded(db, "u-7") is None
