"""A data spec that declares a single-byte encoding (``windows-1252``): the file is read as declared in
every step, through the real receiver DAG (``dag.test()``) and the emulator. The Danish letters and the
characters only windows-1252 has (€, “ ”, –) arrive intact in the warehouse; a file whose bytes are not
windows-1252 is quarantined with a ``parse.encoding`` entry (not retried); and a quarantined windows-1252
file reloads from the quarantine with its letters intact."""

# ruff: noqa: S608  (SQL text built from the fixture's schema name only)

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sf1630.airflow.receiver import build_receiver_dag
from sf1630.airflow.reload import build_reload_dag
from sf1630.database import Database
from sf1630.protocol import Period
from sf1630.settings import dataspec_dir

from tests.support.receiver import LIS_USER, Emulator, ReceiverSetup, next_logical_date

from .test_delivery import KY_DATA, ledger, query, states

pytestmark = pytest.mark.integration

TEXT = "Ærø Kommune – æøå ÆØÅ € “citat”"
ENCODING = "windows-1252"


@pytest.fixture
def windows_1252(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The project's specs in a copy whose KY spec declares windows-1252 (SF1630_DATASPEC_DIR)."""
    from sf1630.receiver.extract import spec_for

    folder = tmp_path / "dataspecs"
    shutil.copytree(dataspec_dir(), folder)
    ky = folder / "ky.yaml"
    text = ky.read_text(encoding="utf-8")
    assert "  encoding: utf-8\n" in text
    ky.write_text(text.replace("  encoding: utf-8\n", f"  encoding: {ENCODING}\n"), encoding="utf-8")
    monkeypatch.setenv("SF1630_DATASPEC_DIR", str(folder))
    spec_for.cache_clear()
    assert spec_for("ky").spec.dialect.encoding == ENCODING
    yield folder
    spec_for.cache_clear()


def _extract(rows: int, text: str = TEXT, *, pattern_break: bool = False) -> bytes:
    """A valid KY file in windows-1252 whose free-text column holds ``text`` (``pattern_break``: one
    ydelseskode broken, so the suite refuses it)."""
    import polars as pl
    from sf1630.dataspec.schema import csv_text
    from sf1630.dataspec.synth import synthesize
    from sf1630.receiver.config import load_receiver
    from sf1630.receiver.extract import spec_for

    spec = spec_for("ky").spec
    frame = synthesize(spec, rows, load_receiver(LIS_USER).kommune.cvr, Period(2026, 10), 7)
    frame = frame.with_columns(pl.lit(text).alias("sagsbehandler_enhed"))
    if pattern_break:
        codes = frame["ydelseskode"].to_list()
        frame = frame.with_columns(pl.Series("ydelseskode", ["12X4", *codes[1:]]))
    return csv_text(frame, spec).encode(ENCODING)


def _texts(db: Database) -> set[str]:
    from sf1630.receiver.extract import spec_for

    table = f"{db.schema}.{spec_for('ky').table}"
    return {str(v) for (v,) in query(db, f"SELECT DISTINCT sagsbehandler_enhed FROM {table}")}


def test_a_windows_1252_file_loads_with_its_letters_intact(
    emulator: Emulator,
    configure: Callable[..., ReceiverSetup],
    warehouse: Database,
    airflow_db: Path,
    windows_1252: Path,
) -> None:
    setup = configure(emulator, warehouse)
    content = _extract(40)
    assert b"\x80" in content and b"\x93" in content  # € and “: windows-1252 only, not ISO-8859-1
    emulator.deliver("KY", KY_DATA, content)

    run = build_receiver_dag(setup.receiver).test(logical_date=next_logical_date())

    assert run.state == "success", states(run)
    assert ledger(warehouse) == [(KY_DATA, "loaded", 40)]
    assert _texts(warehouse) == {TEXT}


def test_bytes_not_valid_in_the_declared_encoding_are_quarantined(
    emulator: Emulator,
    configure: Callable[..., ReceiverSetup],
    warehouse: Database,
    airflow_db: Path,
    windows_1252: Path,
) -> None:
    setup = configure(emulator, warehouse, retries=2)
    content = _extract(20).replace("Ærø".encode(ENCODING), b"\x81r\x8d", 1)  # 0x81, 0x8D: no windows-1252
    emulator.deliver("KY", KY_DATA, content)

    run = build_receiver_dag(setup.receiver).test(logical_date=next_logical_date())

    assert states(run)["load"] == "failed" and run.state == "failed"
    [load_ti] = [ti for ti in run.get_task_instances() if ti.task_id == "load"]
    assert load_ti.try_number == 1  # a refusal is not retried
    assert ledger(warehouse) == [(KY_DATA, "quarantined", 0)]
    assert list(emulator.inbox().iterdir()) == []
    summary = (setup.quarantine / KY_DATA / "summary.txt").read_text(encoding="utf-8")
    assert "FAIL parse.encoding" in summary and "line 2, byte " in summary
    assert "not valid windows-1252" in summary


def test_a_quarantined_windows_1252_file_reloads_with_its_letters_intact(
    emulator: Emulator,
    configure: Callable[..., ReceiverSetup],
    warehouse: Database,
    airflow_db: Path,
    windows_1252: Path,
) -> None:
    from sf1630.receiver.extract import spec_for

    setup = configure(emulator, warehouse)
    emulator.deliver("KY", KY_DATA, _extract(30, pattern_break=True))
    assert build_receiver_dag(setup.receiver).test(logical_date=next_logical_date()).state == "failed"
    assert ledger(warehouse) == [(KY_DATA, "quarantined", 0)]

    ky = windows_1252 / "ky.yaml"  # the LIS fixes its spec: ydelseskode's pattern goes
    ky.write_text(ky.read_text(encoding="utf-8").replace('    pattern: "[0-9]{4}"\n', ""), encoding="utf-8")
    spec_for.cache_clear()
    reload = build_reload_dag().test(run_conf={"lis": LIS_USER, "file_name": KY_DATA})

    assert states(reload)["reload"] == "success"
    assert ledger(warehouse) == [(KY_DATA, "loaded", 30)]
    assert _texts(warehouse) == {TEXT}
