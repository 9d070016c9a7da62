"""The receiver's view of a data spec: one read and check per file, rows handed over without a copy, and
DuckDB tables without the index upkeep a load cannot need."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest
from sf1630.dataspec.ddl import table_key
from sf1630.dataspec.schema import write_csv
from sf1630.dataspec.synth import synthesize
from sf1630.receiver.extract import BELONGS_TO_DELIVERY, spec_for

KOMMUNE = "65700000"
PERIOD = "2026-10"


def ky_file(tmp_path: Path, kommune: str = KOMMUNE) -> Path:
    spec = spec_for("ky").spec
    return write_csv(synthesize(spec, 50, kommune, PERIOD, seed=5), spec, tmp_path / "ky.csv")


def test_valid_file_gives_typed_arrow_rows(tmp_path: Path) -> None:
    verdict, rows = spec_for("ky").check(ky_file(tmp_path), kommune=KOMMUNE, period=PERIOD)
    assert verdict.ok and verdict.rows == 50
    assert rows is not None and rows.num_rows == 50
    assert rows.column_names == spec_for("ky").spec.column_names
    assert rows.schema.field("sag_id").type == pa.string_view()  # polars' buffers, not a copy
    assert rows.schema.field("beloeb").type == pa.decimal128(12, 2)
    assert BELONGS_TO_DELIVERY in {r.expectation for r in verdict.report.results}


def test_rows_of_another_kommune_are_refused(tmp_path: Path) -> None:
    verdict, rows = spec_for("ky").check(ky_file(tmp_path, "29189846"), kommune=KOMMUNE, period=PERIOD)
    assert not verdict.ok and rows is None
    failed = [r for r in verdict.report.failures if r.expectation == BELONGS_TO_DELIVERY]
    assert failed and failed[0].unexpected_count == 50


@pytest.mark.parametrize("name", ["ky", "ksd", "dubu", "aula", "kp"])
def test_duckdb_tables_skip_only_the_key_a_load_cannot_break(name: str) -> None:
    extract = spec_for(name)
    duck = extract.create_sql("duckdb", "lis")
    key = f"PRIMARY KEY ({', '.join(table_key(extract.spec))})"
    assert not any(s.startswith("CREATE INDEX") for s in duck)
    assert (key in duck[0]) is (not extract.snapshot)  # snapshot: delete + insert of one scope, key validated
    postgres = extract.create_sql("postgres", "lis")
    assert key in postgres[0] and any(s.startswith("CREATE INDEX") for s in postgres)
    with duckdb.connect() as con:
        con.execute("CREATE SCHEMA lis")
        for statement in duck:
            con.execute(statement)


def test_receiver_validation_does_not_import_great_expectations(tmp_path: Path) -> None:
    """GX's import is seconds per task; the project's engine evaluates the suite without it."""
    path = ky_file(tmp_path)
    code = (
        "import sys; from pathlib import Path; from sf1630.receiver.extract import spec_for; "
        f"v, rows = spec_for('ky').check(Path({str(path)!r}), kommune={KOMMUNE!r}, period={PERIOD!r}); "
        "assert v.ok, v.summary; print('great_expectations' in sys.modules, 'pandas' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["False", "False"]
