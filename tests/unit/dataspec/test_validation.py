"""Validation with Great Expectations: every corruption class is caught by the expectation meant for it, for
every spec; a wrong value is a failed expectation naming column and samples; results are GX's own.

GX is slow to import and to set up, so this module keeps one :class:`Validator` (one GX context) for all its
tests, as the receiver's validate step does for all files of a run.
"""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest
from sf1630.dataspec import DataSpec, load_spec
from sf1630.dataspec.corrupt import CORRUPTIONS, caught_by, corrupt
from sf1630.dataspec.schema import csv_text
from sf1630.dataspec.validation import Validator, default_validator, write_reports
from sf1630.protocol import Period

KINDS = sorted(CORRUPTIONS)
OF_TYPE = "expect_column_values_to_be_of_type"


@pytest.fixture(scope="module")
def validator() -> Validator:
    return default_validator()


def test_valid_synthetic_file_passes(spec: DataSpec, frame: pl.DataFrame, validator: Validator) -> None:
    validated = validator.validate_bytes(csv_text(frame, spec).encode("utf-8"), spec, name="valid.csv")
    assert validated.success, validated.summary
    assert validated.report.rows == frame.height
    assert validated.result is not None and validated.result.success
    assert len(validated.result.results) == len(validated.report.results) - 3  # the three parse.* entries


@pytest.mark.parametrize("kind", KINDS)
def test_corruption_is_caught_by_its_check(
    spec: DataSpec, frame: pl.DataFrame, kind: str, validator: Validator
) -> None:
    validated = validator.validate_bytes(corrupt(frame, spec, kind), spec, name=f"{kind}.csv")
    failed = {r.expectation for r in validated.report.failures}
    assert not validated.success
    assert caught_by(spec, kind) in failed, validated.summary
    if validated.result is not None:  # a value or shape failure: GX's result says the same
        gx_failed = {r.expectation_config.type for r in validated.result.results if not r.success}
        assert gx_failed == failed


def test_a_letter_in_an_integer_column_is_a_failed_expectation_with_samples(validator: Validator) -> None:
    spec = load_spec("ky")
    integer = next(c.name for c in spec.columns if c.type == "integer")
    text = csv_text(pl_frame(spec), spec)
    header, first, *rest = text.splitlines()
    cells = first.split(spec.dialect.separator)
    cells[spec.column_names.index(integer)] = "12x"
    data = "\n".join([header, spec.dialect.separator.join(cells), *rest]) + "\n"
    validated = validator.validate_bytes(data.encode(), spec, name="letter.csv")
    [failed] = [r for r in validated.report.failures if r.expectation == OF_TYPE]
    assert failed.column == integer and failed.unexpected_count == 1 and failed.sample == ("12x",)
    assert validated.report.rows == 40  # parsed: a value, not a parse error
    gx = [r for r in validated.result.results if r.expectation_config.type == OF_TYPE and not r.success]
    assert gx[0].result["partial_unexpected_list"] == ["12x"]


def test_an_expectation_that_raises_is_a_failure_with_gx_exception_text(validator: Validator) -> None:
    """GX 1.24 keys a metric's exception by metric inside ``exception_info``; the report must still say it
    failed and why, never a bare FAIL line (a range check on a column mixing numbers and text raises)."""
    spec = load_spec("ky")
    header, first, *rest = csv_text(pl_frame(spec), spec).splitlines()
    cells = first.split(spec.dialect.separator)
    cells[spec.column_names.index("antal_dage")] = "12x"
    data = "\n".join([header, spec.dialect.separator.join(cells), *rest]) + "\n"
    validated = validator.validate_bytes(data.encode(), spec, name="mixed.csv")
    [between] = [
        r
        for r in validated.report.results
        if r.expectation == "expect_column_values_to_be_between" and r.column == "antal_dage"
    ]
    assert not between.success
    assert between.detail.startswith("raised ") and len(between.detail) > len("raised ") + 10, between
    line = next(x for x in validated.report.summary_lines() if "between [antal_dage]" in x)
    assert "raised" in line


def test_an_impossible_date_is_a_failed_expectation_with_samples(validator: Validator) -> None:
    spec = load_spec("ky")
    column = next(c.name for c in spec.columns if c.type == "date")
    text = csv_text(pl_frame(spec), spec)
    header, first, *rest = text.splitlines()
    cells = first.split(spec.dialect.separator)
    cells[spec.column_names.index(column)] = "2026-02-30"
    data = "\n".join([header, spec.dialect.separator.join(cells), *rest]) + "\n"
    report = validator.validate_bytes(data.encode(), spec, name="date.csv").report
    [failed] = [r for r in report.failures if r.expectation == OF_TYPE]
    assert failed.column == column and failed.sample == ("2026-02-30",)


def pl_frame(spec: DataSpec) -> pl.DataFrame:
    from sf1630.dataspec.synth import synthesize

    return synthesize(spec, 40, "29189846", Period(2026, 3), seed=4)


def test_parse_failures_are_reports_not_tracebacks(
    frame: pl.DataFrame, spec: DataSpec, validator: Validator
) -> None:
    validated = validator.validate_bytes(corrupt(frame, spec, "windows_1252"), spec, name="bad.csv")
    report = validated.report
    assert report.rows is None and validated.result is None
    assert [r.expectation for r in report.results] == ["parse.encoding"]
    assert "line" in report.results[0].detail
    lines = report.summary_lines()
    assert lines[0].startswith("INVALID: bad.csv") and "parse.encoding" in lines[1]
    assert "<table>" in report.to_html() and "parse.encoding" in report.to_html()


def test_report_samples_the_bad_values(frame: pl.DataFrame, spec: DataSpec, validator: Validator) -> None:
    validated = validator.validate_bytes(corrupt(frame, spec, "outside_value_set"), spec, name="set.csv")
    failed = [r for r in validated.report.failures if r.expectation == "expect_column_values_to_be_in_set"]
    assert failed[0].unexpected_count == 1 and failed[0].sample == ("UKENDT",)
    assert '"UKENDT"' in validated.result_json()


def test_passing_expectations_cost_no_details_failed_ones_get_them(validator: Validator) -> None:
    """GX's knobs: BOOLEAN_ONLY first, SUMMARY (counts, samples) only for what failed."""
    spec = load_spec("ky")
    validated = validator.validate_bytes(
        corrupt(pl_frame(spec), spec, "pattern_mismatch"), spec, name="p.csv"
    )
    by_success = {True: [], False: []}  # type: dict[bool, list[dict[str, object]]]
    for r in validated.result.results:
        if r.expectation_config.type.startswith("expect_column_values"):
            by_success[bool(r.success)].append(dict(r.result or {}))
    assert by_success[False] and all("partial_unexpected_list" in res for res in by_success[False])
    assert by_success[True] and all("partial_unexpected_list" not in res for res in by_success[True])


def test_reports_are_gx_native(tmp_path: Path, validator: Validator) -> None:
    spec = load_spec("ky")
    validated = validator.validate_bytes(
        corrupt(pl_frame(spec), spec, "pattern_mismatch"), spec, name="r.csv"
    )
    written = {p.relative_to(tmp_path).as_posix() for p in write_reports(validator, validated, tmp_path)}
    assert written == {"validation.json", "validation.html", "summary.txt", "datadocs/index.html"}
    result = json.loads((tmp_path / "validation.json").read_text())
    assert result["success"] is False and result["suite_name"] == "sf1630.ky"
    assert {"results", "statistics", "meta"} <= result.keys()
    pages = [p for p in (tmp_path / "datadocs" / "validations").rglob("*.html")]
    assert len(pages) == 1 and "person_noegle" in pages[0].read_text() and "XYZ" in pages[0].read_text()
    assert "r.csv" in (tmp_path / "datadocs" / "index.html").read_text()
    assert (tmp_path / "summary.txt").read_text().startswith("INVALID: r.csv")
    assert oct((tmp_path / "validation.json").stat().st_mode & 0o777) == oct(0o600)
    assert oct((tmp_path / "datadocs").stat().st_mode & 0o777) == oct(0o700)


def test_one_validator_imports_gx_once_for_many_files(validator: Validator) -> None:
    spec = load_spec("ky")
    data = csv_text(pl_frame(spec), spec).encode()
    context = validator.context
    for n in range(3):
        assert validator.validate_bytes(data, spec, name=f"{n}.csv").success
    assert validator.context is context and default_validator() is validator


def test_validators_on_one_context_never_run_a_suite_another_replaced(validator: Validator) -> None:
    """Every Validator of a process shares GX's context: a second one storing the spec's suite anew must
    not leave the first running a definition of the deleted suite (GX's freshness error)."""
    spec = load_spec("ky")
    data = csv_text(pl_frame(spec), spec).encode()
    assert validator.validate_bytes(data, spec, name="first.csv").success
    other = Validator()
    assert other.context is validator.context
    assert other.validate_bytes(data, spec, name="second.csv").success
    assert validator.validate_bytes(data, spec, name="third.csv").success
