"""Validation: every corruption class is caught by the check meant for it, for every spec, in both engines.

The project's engine evaluates every expectation of the suite in polars; the reference engine runs the whole
suite through GX. They must agree expectation by expectation, which is what makes the fast path trustworthy.
GX is slow to import, so this module keeps one GX context for all its tests.
"""

from __future__ import annotations

import polars as pl
import pytest
from sf1630.dataspec import DataSpec
from sf1630.dataspec.corrupt import CORRUPTIONS, caught_by, corrupt
from sf1630.dataspec.report import CheckResult
from sf1630.dataspec.schema import csv_text, polars_schema
from sf1630.dataspec.validation import check_bytes, check_file, validate_bytes

KINDS = sorted(CORRUPTIONS)


@pytest.mark.parametrize("engine", ["project", "gx"])
def test_valid_synthetic_file_passes(spec: DataSpec, frame: pl.DataFrame, engine: str) -> None:
    report = validate_bytes(csv_text(frame, spec).encode("utf-8"), spec, name="valid.csv", engine=engine)
    assert report.success, report.summary_lines()
    assert report.rows == frame.height


@pytest.mark.parametrize("kind", KINDS)
def test_corruption_is_caught_by_its_check(spec: DataSpec, frame: pl.DataFrame, kind: str) -> None:
    report = validate_bytes(corrupt(frame, spec, kind), spec, name=f"{kind}.csv")
    failed = {r.expectation for r in report.failures}
    assert not report.success
    assert caught_by(spec, kind) in failed, report.summary_lines()


@pytest.mark.parametrize("kind", KINDS)
def test_project_engine_agrees_with_gx(spec: DataSpec, frame: pl.DataFrame, kind: str) -> None:
    data = corrupt(frame, spec, kind)
    ours = validate_bytes(data, spec, name="x.csv")
    reference = validate_bytes(data, spec, name="x.csv", engine="gx")

    def key(r: CheckResult) -> tuple[str, str | None, str, str]:
        return r.expectation, r.column, str(r.kwargs.get("column_list")), str(r.kwargs.get("column_A"))

    ours_by = {key(r): r for r in ours.results if not r.expectation.startswith("parse.")}
    ref_by = {key(r): r for r in reference.results if not r.expectation.startswith("parse.")}
    assert ours_by.keys() == ref_by.keys()
    for k, ref in ref_by.items():
        mine = ours_by[k]
        assert mine.success == ref.success, (k, mine, ref)
        if ref.unexpected_count and mine.unexpected_count:
            assert mine.unexpected_count == ref.unexpected_count, (k, mine, ref)


def test_parse_failures_are_reports_not_tracebacks(frame: pl.DataFrame, spec: DataSpec) -> None:
    report = validate_bytes(corrupt(frame, spec, "windows_1252"), spec, name="bad.csv")
    assert report.rows is None
    assert [r.expectation for r in report.results] == ["parse.encoding"]
    assert "line" in report.results[0].detail
    lines = report.summary_lines()
    assert lines[0].startswith("INVALID: bad.csv") and "parse.encoding" in lines[1]
    page = report.to_html()
    assert "<table>" in page and "parse.encoding" in page


def test_report_samples_the_bad_values(frame: pl.DataFrame, spec: DataSpec) -> None:
    report = validate_bytes(corrupt(frame, spec, "outside_value_set"), spec, name="set.csv")
    failed = [r for r in report.failures if r.expectation == "expect_column_values_to_be_in_set"]
    assert failed[0].unexpected_count == 1 and failed[0].sample == ("UKENDT",)
    assert '"UKENDT"' in report.to_json()


def test_check_keeps_the_typed_frame_and_runs_extra_checks(spec: DataSpec, frame: pl.DataFrame) -> None:
    data = csv_text(frame, spec).encode("utf-8")
    seen: list[int] = []

    def extra(typed: pl.DataFrame) -> CheckResult:
        seen.append(typed.height)
        return CheckResult("caller.check", False, detail="the caller says no")

    checked = check_bytes(data, spec, name="x.csv", extra=(extra,))
    assert checked.frame is not None and checked.frame.equals(frame)
    assert dict(checked.frame.schema) == polars_schema(spec)
    assert seen == [frame.height]
    assert [r.expectation for r in checked.report.failures] == ["caller.check"]
    assert check_bytes(data, spec, name="x.csv", keep_frame=False).frame is None


def test_check_file_reads_once_and_reports_unparseable_files(
    spec: DataSpec, frame: pl.DataFrame, tmp_path_factory: pytest.TempPathFactory
) -> None:
    folder = tmp_path_factory.mktemp("check")
    good = folder / "good.csv"
    good.write_bytes(csv_text(frame, spec).encode("utf-8"))
    checked = check_file(good, spec)
    assert checked.report.success and checked.report.file == "good.csv"
    assert checked.frame is not None and checked.frame.height == frame.height
    bad = folder / "bad.csv"
    bad.write_bytes(corrupt(frame, spec, "windows_1252"))
    failed = check_file(bad, spec)
    assert failed.frame is None and failed.report.rows is None
