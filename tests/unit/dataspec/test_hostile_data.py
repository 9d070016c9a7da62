"""Hostile data files (issue 11, items 10-13, and the corpus around them): every one gets the normal report.

Each case is a small KY file made from a valid synthetic one, with one hostile change, grouped by class
(encoding, structure, values, sizes). Every case must end in a report naming the check that refused it,
never a traceback; the few that are legitimate (a formula-like text) are accepted, stored as written and
shown inert in the HTML page. The receiver's view (``spec_for("ky").check``) must refuse the same files,
which is what sends them to the quarantine.
"""

from __future__ import annotations

import codecs
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import lxml.html
import polars as pl
import pytest
from sf1630.cli import main
from sf1630.dataspec import DataSpec, load_spec
from sf1630.dataspec.report import FORMULA_STARTS, CheckResult, ValidationReport, for_people
from sf1630.dataspec.schema import csv_text
from sf1630.dataspec.synth import synthesize
from sf1630.dataspec.validation import Validated, validate_bytes
from sf1630.protocol import Period
from sf1630.receiver.extract import spec_for

AUTHORITY, PERIOD = "29189846", Period(2026, 3)
OF_TYPE = "expect_column_values_to_be_of_type"
REGEX = "expect_column_values_to_match_regex"
IN_SET = "expect_column_values_to_be_in_set"
NOT_NULL = "expect_column_values_to_not_be_null"
COLUMN_SET = "expect_table_columns_to_match_set"
ACCEPTED = "accepted"


@pytest.fixture(scope="module")
def ky() -> DataSpec:
    return load_spec("ky")


@pytest.fixture(scope="module")
def lines(ky: DataSpec) -> list[str]:
    """A valid five-row KY file as lines (header first, no trailing empty line)."""
    return csv_text(synthesize(ky, 5, AUTHORITY, PERIOD, seed=11), ky).rstrip("\n").split("\n")


Make = Callable[[list[str]], bytes]


@dataclass(frozen=True)
class Case:
    """One hostile file: its class, how to make it from the valid lines, the check that must catch it."""

    kind: str
    make: Make
    caught_by: str
    #: (column, text) when the case is one cell's text in an otherwise valid file: such cases are validated
    #: together, each in a row of its own of one file (see :func:`_batch`).
    cell: tuple[str, str] | None = None


def _join(lines: list[str], end: str = "\n") -> bytes:
    return (end.join(lines) + end).encode("utf-8")


def _set_cell(lines: list[str], column: str, text: str, row: int) -> list[str]:
    """The lines with one cell's text replaced (quoted when it holds a separator, a quote or a line break)."""
    header = lines[0].split(";")
    fields = lines[row].split(";")
    needs_quotes = any(c in text for c in ';"\n\r')
    fields[header.index(column)] = '"' + text.replace('"', '""') + '"' if needs_quotes else text
    return [*lines[:row], ";".join(fields), *lines[row + 1 :]]


def _cell(column: str, text: str, row: int = 1) -> Make:
    """Replace one cell's text (see :func:`_set_cell`)."""
    return lambda lines: _join(_set_cell(lines, column, text, row))


def _value(column: str, text: str, caught_by: str) -> Case:
    """A value case: one cell of the first row holds ``text``."""
    return Case("values", _cell(column, text), caught_by, cell=(column, text))


def _raw_cell(column: str, raw: bytes, row: int = 1) -> Make:
    """Replace one cell with raw bytes (for encodings the file must not be in)."""

    def make(lines: list[str]) -> bytes:
        marker = "\u2063MARK\u2063"
        return _cell(column, marker, row)(lines).replace(marker.encode("utf-8"), raw)

    return make


def _lines(edit: Callable[[list[str]], list[str]], end: str = "\n") -> Make:
    return lambda lines: _join(edit(list(lines)), end)


def _bytes(edit: Callable[[bytes], bytes]) -> Make:
    return lambda lines: edit(_join(lines))


def _drop_last_field(lines: list[str]) -> list[str]:
    lines[2] = lines[2].rsplit(";", 1)[0]
    return lines


def _swap_header(old: str, new: str) -> Callable[[list[str]], list[str]]:
    def edit(lines: list[str]) -> list[str]:
        lines[0] = ";".join(new if name == old else name for name in lines[0].split(";"))
        return lines

    return edit


def _many_columns(lines: list[str]) -> list[str]:
    extra = 5000
    lines[0] += "".join(f";x{i}" for i in range(extra))
    return [lines[0]] + [line + ";" * extra for line in lines[1:]]


CASES: dict[str, Case] = {
    # ------------------------------------------------------------------ encoding
    "windows-1252": Case(
        "encoding", _raw_cell("sagsbehandler_enhed", "Ærø".encode("cp1252")), "parse.encoding"
    ),
    "latin-1": Case("encoding", _raw_cell("sagsbehandler_enhed", "Søby".encode("latin-1")), "parse.encoding"),
    "overlong-slash": Case("encoding", _raw_cell("sagsbehandler_enhed", b"a\xc0\xafb"), "parse.encoding"),
    "encoded-surrogate": Case(
        "encoding", _raw_cell("sagsbehandler_enhed", b"\xed\xa0\x80"), "parse.encoding"
    ),
    "lone-continuation": Case("encoding", _raw_cell("sagsbehandler_enhed", b"\x80"), "parse.encoding"),
    "five-byte-ff": Case("encoding", _raw_cell("sagsbehandler_enhed", b"\xff" * 5), "parse.encoding"),
    "truncated-at-end": Case("encoding", _bytes(lambda d: d + "Æ".encode()[:1]), "parse.encoding"),
    "last-line-cp1252": Case(
        "encoding", _raw_cell("sagsbehandler_enhed", "Østerbro".encode("cp1252"), row=5), "parse.encoding"
    ),
    "utf-16-le-bom": Case(
        "encoding", _bytes(lambda d: codecs.BOM_UTF16_LE + d.decode().encode("utf-16-le")), "parse.encoding"
    ),
    "utf-16-be-no-bom": Case("encoding", _bytes(lambda d: d.decode().encode("utf-16-be")), "parse.encoding"),
    "utf-16-ascii-only": Case(
        "encoding",
        lambda lines: _join(lines).decode().encode("ascii", "ignore").decode().encode("utf-16-le"),
        "parse.nul",
    ),
    "utf-8-bom": Case("encoding", _bytes(lambda d: codecs.BOM_UTF8 + d), "parse.bom"),
    "nul-in-text": Case("encoding", _raw_cell("sagsbehandler_enhed", b"Team\x00Syd"), "parse.nul"),
    "nul-at-start": Case("encoding", _bytes(lambda d: b"\x00" + d), "parse.nul"),
    "nul-quoted": Case("encoding", _raw_cell("sagsbehandler_enhed", b'"a\x00;b"'), "parse.nul"),
    # ------------------------------------------------------------------ structure
    "empty": Case("structure", lambda lines: b"", "parse.empty"),
    "header-only": Case("structure", _lines(lambda lines: lines[:1]), "expect_table_row_count_to_be_between"),
    "cr-only": Case("structure", _lines(lambda lines: lines, end="\r"), "parse.line_endings"),
    "cr-only-quoted": Case(
        "structure",
        lambda lines: _cell("sagsbehandler_enhed", 'Team "Syd"')(lines).replace(b"\n", b"\r"),
        "parse.line_endings",
    ),
    "cr-rows-after-lf-header": Case(
        "structure", lambda lines: (lines[0] + "\n" + "\r".join(lines[1:]) + "\r").encode(), "parse.rows"
    ),
    "bare-cr-in-quoted-file": Case(
        "structure",
        lambda lines: _cell("sagsbehandler_enhed", 'Team "Syd"')(lines).replace(b"\n", b"\r", 2),
        "parse.read",
    ),
    "ragged-short": Case("structure", _lines(_drop_last_field), "parse.rows"),
    "ragged-long": Case(
        "structure", _lines(lambda lines: [*lines[:3], lines[3] + ";x", *lines[4:]]), "parse.rows"
    ),
    "blank-line": Case("structure", _lines(lambda lines: [*lines[:3], "", *lines[3:]]), "parse.rows"),
    "comma-separated": Case("structure", _bytes(lambda d: d.replace(b";", b",")), "parse.separator"),
    "tab-separated": Case("structure", _bytes(lambda d: d.replace(b";", b"\t")), "parse.separator"),
    "duplicate-header": Case("structure", _lines(_swap_header("slutdato", "startdato")), "parse.header"),
    "blank-header": Case("structure", _lines(_swap_header("status", "")), "parse.header"),
    "zero-width-in-header": Case("structure", _lines(_swap_header("status", "\u200bstatus")), COLUMN_SET),
    "bom-inside-header": Case("structure", _lines(_swap_header("status", "\ufeffstatus")), COLUMN_SET),
    "formula-header": Case("structure", _lines(_swap_header("status", "=cmd|'/C calc'!A0")), COLUMN_SET),
    "missing-column": Case(
        "structure", _lines(lambda lines: [line.rsplit(";", 1)[0] for line in lines]), COLUMN_SET
    ),
    "unterminated-quote": Case(
        "structure", lambda lines: _join(lines).rstrip(b"\n") + b';"open\n', "parse.rows"
    ),
    "only-separators": Case("structure", _lines(lambda lines: [*lines, ";" * lines[0].count(";")]), NOT_NULL),
    # ------------------------------------------------------------------ values
    "leap-second": _value("registreret", "2026-03-31T23:59:60", OF_TYPE),
    "leap-second-new-year": _value("registreret", "2026-12-31T23:59:60", OF_TYPE),
    "hour-24": _value("registreret", "2026-03-31T24:00:00", OF_TYPE),
    "minute-60": _value("registreret", "2026-03-31T10:60:00", OF_TYPE),
    "timestamp-with-offset": _value("registreret", "2026-03-31T10:00:00Z", OF_TYPE),
    "february-30": _value("startdato", "2026-02-30", OF_TYPE),
    "month-13": _value("startdato", "2026-13-01", OF_TYPE),
    "unpadded-date": _value("startdato", "2026-3-5", OF_TYPE),
    "year-zero": _value("startdato", "0000-01-01", OF_TYPE),
    "arabic-indic-digits": _value("antal_dage", "\u0661\u0662", OF_TYPE),
    "fullwidth-digits": _value("antal_dage", "\uff11\uff12", OF_TYPE),
    "integer-19-digits": _value("antal_dage", "9223372036854775808", OF_TYPE),
    "padded-integer": _value("antal_dage", " 12", OF_TYPE),
    "decimal-point": _value("beloeb", "12.50", OF_TYPE),
    "decimal-scale-3": _value("beloeb", "12,505", OF_TYPE),
    "decimal-exponent": _value("beloeb", "1e5", OF_TYPE),
    "decimal-nan": _value("beloeb", "NaN", OF_TYPE),
    "boolean-lowercase": _value("tilbagebetaling", "j", OF_TYPE),
    "boolean-true": _value("tilbagebetaling", "true", OF_TYPE),
    "cvr-seven-digits": _value("myndighed_cvr", "2918984", REGEX),
    "hex-lowercase-id": _value("ydelse_id", "12e407bbe2617968", REGEX),
    "formula-in-code": _value("ydelseskode", "=1+1", REGEX),
    "set-lowercase": _value("ydelsestype", "kontanthjaelp", IN_SET),
    "set-trailing-space": _value("ydelsestype", "KONTANTHJAELP ", IN_SET),
    "set-zero-width": _value("ydelsestype", "KONTANT\u200bHJAELP", IN_SET),
    "set-cyrillic-homoglyph": _value("status", "\u0410KTIV", IN_SET),
    "empty-key": _value("sag_id", "", NOT_NULL),
    "formula-equals": _value("sagsbehandler_enhed", '=HYPERLINK("http://x","ok")', ACCEPTED),
    "formula-plus": _value("sagsbehandler_enhed", "+45 12345678", ACCEPTED),
    "formula-minus": _value("sagsbehandler_enhed", "-2+3", ACCEPTED),
    "formula-at": _value("sagsbehandler_enhed", "@SUM(A1:A9)", ACCEPTED),
    "formula-tab": _value("sagsbehandler_enhed", "\t=1+1", ACCEPTED),
    # ------------------------------------------------------------------ sizes
    "quoted-field-131073": Case("sizes", _cell("sagsbehandler_enhed", '"' + "x" * 131073), "parse.read"),
    "quoted-field-1m": Case("sizes", _cell("sagsbehandler_enhed", "a;" * 500_000), "parse.read"),
    "unquoted-field-200k": Case(
        "sizes", _cell("sagsbehandler_enhed", "x" * 200_000), "expect_column_value_lengths_to_be_between"
    ),
    "text-61-characters": Case(
        "sizes", _cell("sagsbehandler_enhed", "Æ" * 61), "expect_column_value_lengths_to_be_between"
    ),
    "5000-extra-columns": Case("sizes", _lines(_many_columns), COLUMN_SET),
    "header-1mb": Case("sizes", lambda lines: ("h" * 1_000_000 + "\n").encode(), "parse.read"),
}


#: The value cases GX must refuse, and those it must accept: each kind is validated as one file.
REFUSED_VALUES = sorted(n for n, c in CASES.items() if c.cell is not None and c.caught_by != ACCEPTED)
ACCEPTED_VALUES = sorted(n for n, c in CASES.items() if c.cell is not None and c.caught_by == ACCEPTED)


def _batch(ky: DataSpec, names: list[str]) -> bytes:
    """One valid file with each named value case's cell in a row of its own (case ``i`` in row ``i + 1``).

    Why this proves what a file per case would: every value check is per row (a type, pattern, value set or
    null check of one cell), so a row's verdict does not depend on the other rows; each case is then found
    by its own check, column and text among the failures (at most SAMPLE_SIZE cases per column, so every
    text is in its check's sample), and a refused-file count per column equal to its cases. A batch of
    accepted cases that passes means each of them passes alone. GX's cost is per validation (two passes and
    the results store, about 0.25 s), so 59 validations become three.
    """
    rows = csv_text(synthesize(ky, len(names) + 5, AUTHORITY, PERIOD, seed=11), ky).rstrip("\n").split("\n")
    for row, name in enumerate(names, start=1):
        cell = CASES[name].cell
        assert cell is not None
        rows = _set_cell(rows, *cell, row=row)
    return _join(rows)


@pytest.fixture(scope="module")
def refused_values(ky: DataSpec) -> bytes:
    return _batch(ky, REFUSED_VALUES)


@pytest.fixture(scope="module")
def value_reports(ky: DataSpec, refused_values: bytes) -> dict[bool, ValidationReport]:
    """The report on the refused value cases (key False) and on the accepted ones (key True)."""
    return {
        False: validate_bytes(refused_values, ky, name="refused-values.csv"),
        True: validate_bytes(_batch(ky, ACCEPTED_VALUES), ky, name="accepted-values.csv"),
    }


def _column(name: str) -> str | None:
    cell = CASES[name].cell
    return cell[0] if cell else None


def _assert_found(report: ValidationReport, name: str) -> None:
    """Value case ``name`` is refused by its own check on its own column, with its text in the sample."""
    case = CASES[name]
    assert case.cell is not None
    column, text = case.cell
    same = [n for n in REFUSED_VALUES if (CASES[n].caught_by, _column(n)) == (case.caught_by, column)]
    found = [r for r in report.failures if r.expectation == case.caught_by and r.column == column]
    assert len(found) == 1 and found[0].unexpected_count == len(same), report.summary_lines()
    assert not text or text in found[0].sample, (text, found[0].sample)


@pytest.mark.parametrize("name", sorted(CASES))
def test_hostile_file_gets_the_normal_report(
    name: str, ky: DataSpec, lines: list[str], value_reports: dict[bool, ValidationReport]
) -> None:
    case = CASES[name]
    if case.cell is not None:
        report = value_reports[case.caught_by == ACCEPTED]
    else:
        report = validate_bytes(case.make(lines), ky, name=f"{name}.csv")
    if case.caught_by == ACCEPTED:
        assert report.success, report.summary_lines()
        return
    assert not report.success
    assert case.caught_by in {r.expectation for r in report.failures}, report.summary_lines()
    if case.cell is not None:
        _assert_found(report, name)
    assert report.to_html().startswith("<!DOCTYPE html>") and report.to_json().startswith("{")


@pytest.fixture(scope="module")
def receiver_refused_values(
    refused_values: bytes, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Validated, object]:
    path = tmp_path_factory.mktemp("hostile") / "refused-values.csv"
    path.write_bytes(refused_values)
    return spec_for("ky").check(path, cvr=AUTHORITY, period=PERIOD)


@pytest.mark.parametrize("name", sorted(n for n, c in CASES.items() if c.caught_by != ACCEPTED))
def test_the_receiver_refuses_what_validation_refuses(
    name: str,
    lines: list[str],
    tmp_path_factory: pytest.TempPathFactory,
    receiver_refused_values: tuple[Validated, object],
) -> None:
    """The receiver's check returns a failed verdict (the caller quarantines it), never an exception."""
    if CASES[name].cell is not None:
        verdict, rows = receiver_refused_values
        _assert_found(verdict.report, name)
    else:
        path = tmp_path_factory.mktemp("hostile") / f"{name}.csv"
        path.write_bytes(CASES[name].make(lines))
        verdict, rows = spec_for("ky").check(path, cvr=AUTHORITY, period=PERIOD)
    assert not verdict.success and rows is None


def test_a_leap_second_is_not_stored_as_the_next_minute(ky: DataSpec, lines: list[str]) -> None:
    """Item 11: ``23:59:60`` used to pass and be stored as 00:00:00 of the next day (next period)."""
    report = validate_bytes(CASES["leap-second-new-year"].make(lines), ky, name="leap.csv")
    failed = [r for r in report.failures if r.expectation == OF_TYPE]
    assert [r.column for r in failed] == ["registreret"] and failed[0].sample == ("2026-12-31T23:59:60",)


def test_dates_and_times_keep_what_the_file_says(ky: DataSpec, lines: list[str]) -> None:
    data = _cell("registreret", "2026-03-31T23:59:59")(lines)
    assert validate_bytes(data, ky, name="ok.csv").success
    rows = spec_for("ky").rows(data)
    assert rows.column("registreret")[0].as_py().isoformat() == "2026-03-31T23:59:59"


def test_formula_like_text_is_stored_as_written(ky: DataSpec, lines: list[str]) -> None:
    """Item 13: the warehouse gets the text unchanged; only pages for people neutralise it."""
    data = CASES["formula-equals"].make(lines)
    assert validate_bytes(data, ky, name="f.csv").success
    assert spec_for("ky").rows(data).column("sagsbehandler_enhed")[0].as_py() == '=HYPERLINK("http://x","ok")'


def _cells(page: str) -> list[str]:
    return [cell.text_content() for cell in lxml.html.fromstring(page).iter("td", "h1", "title")]


def test_the_html_report_turns_no_value_into_a_formula() -> None:
    """Item 13: every cell of the page that would start a formula starts with ``'`` instead."""
    results = tuple(
        CheckResult(
            expectation=f"check{i}",
            success=False,
            column=start + "col",
            sample=(start + "1",),
            detail=start + "detail",
        )
        for i, start in enumerate(sorted(FORMULA_STARTS))
    )
    report = ValidationReport(spec="ky", file="=evil.csv", rows=1, results=results)
    cells = _cells(report.to_html())
    assert cells and not [c for c in cells if c[:1] in FORMULA_STARTS], cells
    assert "'=evil.csv is invalid" in cells
    assert "mso-number-format" in report.to_html()
    assert '"=evil.csv"' in report.to_json(), "the JSON report keeps the value exactly"


def test_for_people() -> None:
    assert [for_people(t) for t in ("=1", "+1", "-1", "@a", "\t=1", "\r=1", "ok", "", "1-2")] == [
        "'=1",
        "'+1",
        "'-1",
        "'@a",
        "'\t=1",
        "'\r=1",
        "ok",
        "",
        "1-2",
    ]


def test_a_real_validation_page_of_a_formula_value_is_inert(ky: DataSpec, lines: list[str]) -> None:
    report = validate_bytes(CASES["formula-in-code"].make(lines), ky, name="f.csv")
    cells = _cells(report.to_html())
    assert any("=1+1" in c for c in cells) and not [c for c in cells if c[:1] in FORMULA_STARTS]


@pytest.mark.parametrize("name", ["quoted-field-131073", "cr-only"])
def test_the_check_command_reports_instead_of_crashing(
    name: str, lines: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Item 10: ``sf1630 dataspec check`` used to exit 1 with a ``_csv.Error`` traceback and no report.

    Run in this process through the command's entry point (a raised exception fails the test, as the
    traceback would), on this worker's GX context: a new process would import GX again for each case.
    """
    path = tmp_path / f"{name}.csv"
    path.write_bytes(CASES[name].make(lines))
    argv = ["dataspec", "check", str(path), "--spec", "ky", "--report-dir", str(tmp_path / "reports")]
    assert main(argv) == 1
    out, err = capsys.readouterr()
    assert "Traceback" not in err and out.startswith(f"INVALID: {name}.csv")
    assert (tmp_path / "reports" / "validation.html").exists()


def test_synthetic_files_still_pass(ky: DataSpec) -> None:
    frame = synthesize(ky, 200, AUTHORITY, PERIOD, seed=2)
    report = validate_bytes(csv_text(frame, ky).encode(), ky, name="ok.csv")
    assert report.success, report.summary_lines()
    assert isinstance(frame, pl.DataFrame)


@pytest.mark.parametrize("group", ["dataspec", "protocol"])
def test_a_fifo_is_refused_not_waited_on(group: str, tmp_path: Path) -> None:
    """Item 9: ``dataspec check`` and ``protocol validate`` on a FIFO used to hang for ever."""
    fifo = tmp_path / "pipe.csv"
    os.mkfifo(fifo)
    command = [sys.executable, "-m", "sf1630.cli", group]
    command += ["check", str(fifo), "--spec", "ky"] if group == "dataspec" else ["validate", str(fifo)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert "not a regular file" in done.stderr and "Traceback" not in done.stderr


def test_a_folder_is_refused(tmp_path: Path) -> None:
    command = [sys.executable, "-m", "sf1630.cli", "dataspec", "check", str(tmp_path), "--spec", "ky"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
