"""Putting a month right on the LIS side, through the real receiver and reload DAGs (``dag.test()``) and
the real emulator: a newer delivery of the same extract replaces the snapshot and the ledger says which
file is current; a quarantined delivery reloads from the quarantine store after a spec fix, exactly once."""

# ruff: noqa: S608  (SQL text built from the fixture's schema name only)

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml
from sf1630.airflow.receiver import build_receiver_dag
from sf1630.airflow.reload import build_reload_dag
from sf1630.database import Database
from sf1630.settings import dataspec_dir

from tests.support.receiver import (
    LIS_USER,
    Emulator,
    ReceiverSetup,
    corrupt_extract,
    make_extract,
    next_logical_date,
)

from .test_delivery import KY_DATA, query, row_count, states

pytestmark = pytest.mark.integration
KY_NEWER = "KY_LIS_65700000_M10_20261201093000.csv"


def _ledger(db: Database) -> list[tuple[object, ...]]:
    sql = f"SELECT file_name, outcome, rows, superseded_by IS NULL FROM {db.schema}.sf1630_ledger ORDER BY 1"
    return query(db, sql)


def test_a_newer_delivery_replaces_the_snapshot_and_is_current(
    emulator: Emulator, configure: Callable[..., ReceiverSetup], warehouse: Database, airflow_db: Path
) -> None:
    setup = configure(emulator, warehouse)
    first, table = make_extract("KY", rows=60)
    emulator.deliver("KY", KY_DATA, first)
    assert build_receiver_dag(setup.receiver).test(logical_date=next_logical_date()).state == "success"
    again, _ = make_extract("KY", rows=30, seed=8)
    emulator.deliver("KY", KY_NEWER, again)
    assert build_receiver_dag(setup.receiver).test(logical_date=next_logical_date()).state == "success"

    assert row_count(warehouse, table) == 30
    assert _ledger(warehouse) == [(KY_DATA, "loaded", 60, False), (KY_NEWER, "loaded", 30, True)]
    [(superseded_by,)] = query(
        warehouse, f"SELECT superseded_by FROM {warehouse.schema}.sf1630_ledger WHERE file_name = '{KY_DATA}'"
    )
    [(newer,)] = query(
        warehouse,
        f"SELECT file_transfer_uuid FROM {warehouse.schema}.sf1630_ledger WHERE file_name = '{KY_NEWER}'",
    )
    assert superseded_by == newer


def _fixed_specs(report: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The LIS fixes its KY spec: the pattern its report says the file breaks is dropped (in a copy)."""
    from sf1630.dataspec.spec import load_spec
    from sf1630.receiver.extract import spec_for

    failed = [r for r in json.loads(report.read_text(encoding="utf-8"))["results"] if not r["success"]]
    # GX's ValidationResult: each result names its column in the expectation's kwargs.
    [broken] = {r["expectation_config"]["kwargs"]["column"] for r in failed}
    folder = tmp_path / "dataspecs"
    shutil.copytree(dataspec_dir(), folder)
    raw = yaml.safe_load((folder / "ky.yaml").read_text(encoding="utf-8"))
    for column in raw["columns"]:
        if column["name"] == broken:
            column.pop("pattern")
    (folder / "ky.yaml").write_text(
        yaml.safe_dump(raw, allow_unicode=True, sort_keys=False), encoding="utf-8"
    )
    monkeypatch.setenv("SF1630_DATASPEC_DIR", str(folder))
    spec_for.cache_clear()
    if hasattr(load_spec, "cache_clear"):
        load_spec.cache_clear()


def test_a_quarantined_delivery_reloads_once_after_a_spec_fix(
    emulator: Emulator,
    configure: Callable[..., ReceiverSetup],
    warehouse: Database,
    airflow_db: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from sf1630.receiver.extract import spec_for

    setup = configure(emulator, warehouse)
    emulator.deliver("KY", KY_DATA, corrupt_extract("KY", rows=50))
    assert build_receiver_dag(setup.receiver).test(logical_date=next_logical_date()).state == "failed"
    assert _ledger(warehouse) == [(KY_DATA, "quarantined", 0, True)]
    reload = build_reload_dag()
    conf = {"lis": LIS_USER, "file_name": KY_DATA}

    still_broken = reload.test(run_conf=conf)  # the spec is not fixed yet: nothing loads
    assert states(still_broken)["reload"] == "failed"
    assert _ledger(warehouse) == [(KY_DATA, "quarantined", 0, True)]

    _fixed_specs(setup.quarantine / KY_DATA / "validation.json", tmp_path, monkeypatch)
    try:
        assert states(reload.test(run_conf=conf))["reload"] == "success"
        table = spec_for("ky").table
        assert row_count(warehouse, table) == 50
        assert _ledger(warehouse) == [(KY_DATA, "loaded", 50, True)]
        assert (setup.quarantine / KY_DATA / "reloaded.json").is_file()

        assert states(reload.test(run_conf=conf))["reload"] == "success"  # again: exactly once
        assert row_count(warehouse, table) == 50
        assert states(reload.test(run_conf={"lis": LIS_USER, "file_name": KY_NEWER}))["reload"] == "failed"
    finally:
        spec_for.cache_clear()
