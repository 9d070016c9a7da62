"""The receiver's view of a data spec: one read and check per file, rows handed over without a copy, and
warehouse tables keyed and indexed for lineage."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pytest
from sf1630.dataspec.ddl import table_key
from sf1630.dataspec.schema import write_csv
from sf1630.dataspec.synth import synthesize
from sf1630.protocol import Period
from sf1630.receiver.extract import delivery_expectations, spec_for

CVR = "65700000"
PERIOD = Period(2026, 10)


def ky_file(tmp_path: Path, cvr: str = CVR) -> Path:
    spec = spec_for("ky").spec
    return write_csv(synthesize(spec, 50, cvr, PERIOD, seed=5), spec, tmp_path / "ky.csv")


def test_valid_file_gives_typed_arrow_rows(tmp_path: Path) -> None:
    verdict, rows = spec_for("ky").check(ky_file(tmp_path), cvr=CVR, period=PERIOD)
    assert verdict.success and verdict.report.rows == 50
    assert rows is not None and rows.num_rows == 50
    assert rows.column_names == spec_for("ky").spec.column_names
    assert rows.schema.field("sag_id").type == pa.string_view()  # polars' buffers, not a copy
    assert rows.schema.field("beloeb").type == pa.decimal128(12, 2)
    configs = {
        (r.expectation_config.type, r.expectation_config.kwargs.get("column")) for r in verdict.result.results
    }
    expected = delivery_expectations(spec_for("ky").spec, cvr=CVR, period=PERIOD)
    assert {(kind, kwargs["column"]) for kind, kwargs in expected} <= configs


def test_rows_of_another_kommune_are_refused(tmp_path: Path) -> None:
    verdict, rows = spec_for("ky").check(ky_file(tmp_path, "29189846"), cvr=CVR, period=PERIOD)
    assert not verdict.success and rows is None
    spec = spec_for("ky").spec
    [failed] = verdict.report.failures
    assert (failed.expectation, failed.column) == ("expect_column_values_to_be_in_set", spec.kommune_column)
    assert failed.unexpected_count == 50 and failed.sample[0] == "29189846"


def test_aula_rows_outside_the_month_are_refused(tmp_path: Path) -> None:
    extract = spec_for("aula")
    frame = synthesize(extract.spec, 20, CVR, Period(2026, 9), seed=5)
    path = write_csv(frame, extract.spec, tmp_path / "aula.csv")
    verdict, rows = extract.check(path, cvr=CVR, period=PERIOD)
    assert rows is None
    assert ("expect_column_values_to_be_between", "dato") in {
        (r.expectation, r.column) for r in verdict.report.failures
    }


@pytest.mark.parametrize("name", ["ky", "ksd", "dubu", "aula", "kp"])
def test_warehouse_tables_have_the_key_and_the_lineage_index(name: str) -> None:
    extract = spec_for(name)
    statements = extract.create_sql("lis")
    assert f"PRIMARY KEY ({', '.join(table_key(extract.spec))})" in statements[0]
    assert any(s.startswith("CREATE INDEX") for s in statements)


def test_the_load_step_reads_rows_without_great_expectations(tmp_path: Path) -> None:
    """Only the validate step pays GX's import; the load step reads the validated file with polars alone."""
    path = ky_file(tmp_path)
    code = (
        "import sys; from pathlib import Path; from sf1630.receiver.extract import spec_for; "
        f"rows = spec_for('ky').rows(Path({str(path)!r}).read_bytes()); "
        "print(rows.num_rows, 'great_expectations' in sys.modules, 'pandas' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["50", "False", "False"]
