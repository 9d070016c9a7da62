"""A crash at each boundary the staging table adds loses and doubles nothing (``dag.test()``, emulator,
PostgreSQL): validate dying after COPY, the server losing the UNLOGGED staging table between validate and
load, and load dying after its INSERT but before its commit. Each time the delivery ends loaded exactly
once, IN/ is cleared and no staging table is left."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sf1630.airflow.receiver import build_receiver_dag
from sf1630.database import Database
from sf1630.receiver import delivery as delivery_module
from sf1630.warehouse import load as load_module
from sf1630.warehouse.staging import STAGING_PREFIX

from tests.support.receiver import Emulator, ReceiverSetup, make_extract, next_logical_date

pytestmark = pytest.mark.integration
KY_DATA = "KY_LIS_65700000_M10_20261101060000.csv"


def query(db: Database, sql: str) -> list[tuple[Any, ...]]:
    with contextlib.closing(db.connect()) as conn:
        return list(conn.execute(sql).fetchall())


def staging_tables(db: Database) -> list[str]:
    rows = query(db, f"SELECT tablename FROM pg_tables WHERE schemaname = '{db.schema}'")  # noqa: S608
    return [str(name) for (name,) in rows if str(name).startswith(STAGING_PREFIX)]


def states(run: Any) -> dict[str, str]:
    return {ti.task_id: ti.state for ti in run.get_task_instances()}


@contextlib.contextmanager
def delivered(
    emulator: Emulator, configure: Callable[..., ReceiverSetup], db: Database
) -> Iterator[ReceiverSetup]:
    setup = configure(emulator, db)
    content, table = make_extract("KY", rows=300)
    emulator.deliver("KY", KY_DATA, content)
    yield setup
    run = build_receiver_dag(configure(emulator, db).receiver).test(logical_date=next_logical_date())
    assert run.state == "success", states(run)
    assert query(db, f"SELECT count(*) FROM {table}") == [(300,)]  # noqa: S608
    assert query(db, "SELECT file_name, outcome, rows FROM sf1630_ledger") == [(KY_DATA, "loaded", 300)]
    assert list(emulator.inbox().iterdir()) == []
    assert staging_tables(db) == []


def test_validate_dying_after_copy_leaves_the_delivery_for_the_next_run(
    emulator: Emulator,
    configure: Callable[..., ReceiverSetup],
    warehouse: Database,
    airflow_db: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with delivered(emulator, configure, warehouse) as setup:

        def crash(*_: object) -> None:
            raise ConnectionAbortedError("worker lost after COPY (simulated)")

        monkeypatch.setattr("sf1630.dataspec.validation.write_reports", crash)
        run = build_receiver_dag(setup.receiver).test(logical_date=next_logical_date())
        assert states(run)["validate"] == "failed" and run.state == "failed"
        assert len(staging_tables(warehouse)) == 1  # staged, never promoted
        assert sorted(p.name for p in emulator.inbox().iterdir()) == [KY_DATA, f"{KY_DATA}.metadata"]
        monkeypatch.undo()


def test_staging_lost_between_validate_and_load_is_staged_again(
    emulator: Emulator,
    configure: Callable[..., ReceiverSetup],
    warehouse: Database,
    airflow_db: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A server crash empties UNLOGGED tables: the load must notice, stage the same bytes again, load once."""
    with delivered(emulator, configure, warehouse) as _setup:
        validate = delivery_module.validate_items

        def validate_then_crash_the_server(*args: Any) -> Any:
            done = validate(*args)
            for name in staging_tables(warehouse):
                with contextlib.closing(warehouse.connect(autocommit=True)) as conn:
                    conn.execute(f"TRUNCATE {warehouse.schema}.{name}")
            return done

        monkeypatch.setattr("sf1630.airflow.receiver.validate_items", validate_then_crash_the_server)


def test_load_dying_before_its_commit_loads_nothing_then_once(
    emulator: Emulator,
    configure: Callable[..., ReceiverSetup],
    warehouse: Database,
    airflow_db: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with delivered(emulator, configure, warehouse) as setup:
        promote = load_module._promote

        def promote_then_die(*args: Any) -> None:
            promote(*args)
            raise ConnectionAbortedError("worker lost before commit (simulated)")

        monkeypatch.setattr(load_module, "_promote", promote_then_die)
        run = build_receiver_dag(setup.receiver).test(logical_date=next_logical_date())
        assert states(run)["load"] == "failed"
        assert query(warehouse, "SELECT count(*) FROM sf1630_ledger") == [(0,)]
        assert len(staging_tables(warehouse)) == 1  # rolled back with the insert: still there to promote
        monkeypatch.undo()
