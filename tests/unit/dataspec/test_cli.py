"""The ``sf1630 dataspec`` commands, run in-process through the project's entry point."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest
from sf1630.cli import main
from sf1630.dataspec import DataSpec, load_spec
from sf1630.dataspec.corrupt import CORRUPTIONS, caught_by, corrupt
from sf1630.dataspec.schema import read_typed


def test_list_prints_one_name_per_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["dataspec", "list"]) == 0
    assert capsys.readouterr().out.splitlines() == ["aula", "dubu", "kp", "ksd", "ky"]


def test_show_describes_the_spec(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["dataspec", "show", "ksd"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("ksd: ") and "sygemeldt_dato" in out and "expectations:" in out


def test_synth_then_check_valid_and_corrupted(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "KY_LIS_29189846_M03_20260401060000.csv"
    args = ["dataspec", "synth", "ky", "--rows", "30", "--authority", "29189846", "--period", "2026-03"]
    assert main([*args, "--seed", "4", "--out", str(out)]) == 0
    assert main(["dataspec", "check", str(out), "--spec", "ky"]) == 0
    assert capsys.readouterr().out.splitlines()[-1].startswith("VALID: ")

    spec = load_spec("ky")
    bad = tmp_path / "bad.csv"
    bad.write_bytes(corrupt(read_typed(out, spec), spec, "pattern_mismatch"))
    reports = tmp_path / "reports"
    assert main(["dataspec", "check", str(bad), "--spec", "ky", "--report-dir", str(reports)]) == 1
    stdout = capsys.readouterr().out
    assert stdout.startswith("INVALID: bad.csv") and caught_by(spec, "pattern_mismatch") in stdout
    assert (reports / "validation.html").read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    assert '"success": false' in (reports / "validation.json").read_text(encoding="utf-8")
    assert (reports / "datadocs" / "index.html").is_file()

    # The same verdict from GX Core itself.
    assert main(["dataspec", "check", str(out), "--spec", "ky"]) == 0
    assert main(["dataspec", "check", str(bad), "--spec", "ky"]) == 1
    assert caught_by(spec, "pattern_mismatch") in capsys.readouterr().out


@pytest.mark.parametrize(
    "argv",
    [
        ["dataspec", "check", "/nonexistent/file.csv", "--spec", "ky"],
        ["dataspec", "check", "/dev/null", "--spec", "nope"],
        ["dataspec", "show", "nope"],
        [
            "dataspec",
            "synth",
            "ky",
            "--rows",
            "1",
            "--authority",
            "12",
            "--period",
            "2026-03",
            "--out",
            "/tmp/x",
        ],
    ],
)
def test_usage_errors_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 2
    assert capsys.readouterr().err.startswith("sf1630 dataspec: ")


#: The command's part (exit code, summary line, reports) for three kinds per spec: that every kind of
#: corruption of every spec is caught is test_validation's matrix, with one validator for all of it.
CLI_KINDS = ("missing_column", "pattern_mismatch", "wrong_type")


def test_the_cli_kinds_are_corruptions() -> None:
    assert set(CLI_KINDS) <= set(CORRUPTIONS)


@pytest.mark.parametrize("kind", CLI_KINDS)
def test_check_rejects_corrupted_variants(
    spec: DataSpec, frame: pl.DataFrame, kind: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / f"{spec.extract.sender}_LIS_29189846_M03_20260401060000.csv"
    bad.write_bytes(corrupt(frame, spec, kind))
    reports = tmp_path / "reports"
    assert main(["dataspec", "check", str(bad), "--spec", spec.name, "--report-dir", str(reports)]) == 1
    summary = capsys.readouterr().out
    assert summary.startswith(f"INVALID: {bad.name}") and caught_by(spec, kind) in summary
    assert (reports / "validation.html").is_file() and (reports / "validation.json").is_file()


def test_suite_writes_the_gx_suite_as_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The suite written is the one the receiver runs on the staged file (the staging suite)."""
    import json

    from sf1630.dataspec import load_spec
    from sf1630.dataspec.ddl import Calendar
    from sf1630.dataspec.suite import staging_configs

    out = tmp_path / "ky.json"
    for server, calendar in (("15", Calendar.PATTERN), ("16", Calendar.INPUT)):
        assert main(["dataspec", "suite", "ky", "--out", str(out), "--postgres", server]) == 0
        suite = json.loads(out.read_text(encoding="utf-8"))
        assert suite["name"] == "sf1630.ky"
        kinds = [e["type"] for e in suite["expectations"]]
        assert kinds == [kind for kind, _ in staging_configs(load_spec("ky"), calendar=calendar)]
        conditions = {
            (e["meta"]["stands_for"], e["kwargs"]["column"])
            for e in suite["expectations"]
            if e["type"] == "expect_column_values_to_satisfy_sql_condition"
        }
        assert ("expect_column_values_to_be_between", "antal_dage") in conditions, conditions
        dated = ("expect_column_values_to_be_of_type", "startdato")
        # the server's input, or a pattern
        assert (dated in conditions) == (calendar is Calendar.INPUT), server
    capsys.readouterr()  # the paths written
    assert main(["dataspec", "suite", "ky"]) == 0
    assert json.loads(capsys.readouterr().out)["name"] == "sf1630.ky"
    assert main(["dataspec", "suite", "nope"]) == 2


@pytest.mark.parametrize("encoding", ["windows-1252", "iso-8859-1", "utf-8-sig"])
def test_a_declared_encoding_is_read_as_declared(
    encoding: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """synth writes, check validates and read_typed reads the file in the spec's encoding (Danish letters
    intact); check refuses bytes the encoding does not have."""
    from sf1630.dataspec.schema import write_csv
    from sf1630.dataspec.spec import spec_dir

    folder = tmp_path / "specs"
    folder.mkdir()
    text = (spec_dir() / "ky.yaml").read_text(encoding="utf-8")
    (folder / "ky.yaml").write_text(text.replace("  encoding: utf-8\n", f"  encoding: {encoding}\n"))
    spec = load_spec("ky", folder)
    assert spec.dialect.encoding == encoding
    out = tmp_path / "KY_LIS_29189846_M03_20260401060000.csv"
    args = ["dataspec", "--spec-dir", str(folder), "synth", "ky", "--rows", "20"]
    assert main([*args, "--authority", "29189846", "--period", "2026-03", "--out", str(out)]) == 0
    danish = "Ærø æøå ÆØÅ" + (" – € “citat”" if encoding != "iso-8859-1" else " ½ «citat»")
    frame = read_typed(out, spec).with_columns(pl.lit(danish).alias("sagsbehandler_enhed"))
    write_csv(frame, spec, out)
    assert main(["dataspec", "--spec-dir", str(folder), "check", str(out), "--spec", "ky"]) == 0
    assert capsys.readouterr().out.splitlines()[-1].startswith("VALID: ")
    assert set(read_typed(out, spec)["sagsbehandler_enhed"]) == {danish}

    if encoding == "windows-1252":  # every byte is ISO-8859-1; 0x81 is not windows-1252
        out.write_bytes(out.read_bytes().replace("Ærø".encode(encoding), b"\x81r\xf8", 1))
        assert main(["dataspec", "--spec-dir", str(folder), "check", str(out), "--spec", "ky"]) == 1
        assert "not valid windows-1252" in capsys.readouterr().out
