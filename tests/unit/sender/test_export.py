"""Exporting one kommune's month: the spec's columns and dialect, only that kommune and month, same bytes;
the vendor's own SQL with its own column names; every way a result can miss the spec, refused."""

from __future__ import annotations

import contextlib
import sqlite3
from pathlib import Path

import polars as pl
import pytest
from sf1630.database import Database
from sf1630.dataspec import load_spec
from sf1630.dataspec.schema import read_typed, write_csv
from sf1630.dataspec.synth import synthesize
from sf1630.protocol import Period
from sf1630.registry import Kommune, LisSystem, load_registry
from sf1630.sender.export import (
    ExportError,
    SourceError,
    export_extract,
    export_month,
    generated_sql,
    one_statement,
    parameters,
)
from sf1630.sender.source import seed_source
from sf1630.settings import config_dir
from sqlalchemy import create_engine
from sqlalchemy.engine import Engine

from tests.support.postgres import POSTGRES_DSN

CVRS = ("10100000", "15300000")
OCTOBER = Period(2026, 10)


def _kommune(cvr: str = "15300000") -> Kommune:
    lis = LisSystem(name="LIS01", sftp_user="BRO_LIS01", it_system="00000000-0000-0000-0000-000000000001")
    return Kommune(name="Brøndby", kode="153", cvr=cvr, lis_systems=(lis,))


def _source(tmp_path: Path, spec_name: str) -> Engine:
    """A SQLite source with two kommuner's October and September rows of ``spec_name``."""
    database = Database.sqlite(tmp_path / "source.sqlite")
    spec = load_spec(spec_name)
    seed_source(database, spec, CVRS, OCTOBER, rows_per_kommune=40, seed=7)
    seed_source(database, spec, CVRS, OCTOBER.previous(), rows_per_kommune=5, seed=99)
    return create_engine(f"sqlite:///{database.path}")


def _sql(tmp_path: Path, *statements: str) -> None:
    with contextlib.closing(sqlite3.connect(tmp_path / "source.sqlite")) as conn, conn:
        for statement in statements:
            conn.execute(statement)


@pytest.mark.parametrize("spec_name", ["ky", "ksd", "dubu", "aula", "kp"])
def test_generated_query_in_batches_writes_the_bytes_of_the_whole_month(
    tmp_path: Path, spec_name: str
) -> None:
    engine = _source(tmp_path, spec_name)
    spec = load_spec(spec_name)
    path = export_month(
        engine,
        generated_sql(spec),
        parameters(_kommune(), OCTOBER),
        spec,
        tmp_path / "out.csv",
        "Brøndby",
        batch_rows=7,  # six batches and a short one
    )
    expected = synthesize(spec, 40, "15300000", OCTOBER, 7 + 1).sort(list(spec.primary_key))
    assert path.read_bytes() == write_csv(expected, spec, tmp_path / "whole.csv").read_bytes()
    assert read_typed(path, spec).equals(expected)


def test_empty_month_gives_header_only(tmp_path: Path) -> None:
    engine = _source(tmp_path, "ky")
    spec = load_spec("ky")
    path = export_month(
        engine, generated_sql(spec), parameters(_kommune(), Period(2026, 11)), spec, tmp_path / "x.csv", "B"
    )
    assert path.read_text(encoding="utf-8") == ";".join(spec.column_names) + "\n"


def test_generated_query_uses_the_named_parameters() -> None:
    assert '"myndighed_cvr" = :cvr AND :period_start <= "dato" AND "dato" < :period_end' in generated_sql(
        load_spec("aula")
    )
    assert generated_sql(load_spec("ky")).endswith(
        '"udtraeksperiode" = :period ORDER BY "sag_id", "ydelse_id"'
    )
    assert {k: str(v) for k, v in parameters(_kommune(), Period(2026, 12)).items()} == {
        "cvr": "15300000",
        "kommunekode": "153",
        "period": "2026-12",
        "period_start": "2026-12-01",
        "period_end": "2027-01-01",
    }


def test_vendor_sql_with_its_own_column_names(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The vendor's table has its own names and no CVR column; its SQL maps them by aliases and filters on
    the kommunekode and the period's date range."""
    engine = _source(tmp_path, "aula")
    spec = load_spec("aula")
    vendor = ", ".join(f'"{c}" AS "v_{c}"' for c in spec.column_names if c != spec.kommune_column)
    _sql(
        tmp_path,
        f"CREATE TABLE vendor_rows AS SELECT '153' AS komkode, {vendor} FROM aula_fravaer"  # noqa: S608
        " WHERE myndighed_cvr = '15300000'",
    )
    select = ", ".join(f'"v_{c}" AS {c.upper()}' for c in spec.column_names if c != spec.kommune_column)
    sql = tmp_path / "config" / "aula.sql"
    sql.parent.mkdir()
    sql.write_text(
        f"-- AULA's own extract\nSELECT :cvr AS myndighed_cvr, {select}\nFROM vendor_rows\n"
        "WHERE komkode = :kommunekode AND v_dato >= :period_start AND v_dato < :period_end\n"
        "ORDER BY " + ", ".join(f"v_{c}" for c in spec.primary_key),
        encoding="utf-8",
    )
    (tmp_path / "config" / "senders.yaml").write_text(
        (config_dir() / "senders.yaml")
        .read_text(encoding="utf-8")
        .replace("    dataspec: aula\n", "    dataspec: aula\n    extract_sql: aula.sql\n"),
        encoding="utf-8",
    )
    (tmp_path / "config" / "kommuner.yaml").write_text(
        (config_dir() / "kommuner.yaml").read_text(encoding="utf-8"),
        encoding="utf-8",
    )
    sender = load_registry(tmp_path / "config").sender("AULA")
    assert sender.extract_sql == sql.resolve()
    path = export_extract(engine, sender, _kommune(), OCTOBER, tmp_path / "vendor.csv")
    generated = export_month(
        engine, generated_sql(spec), parameters(_kommune(), OCTOBER), spec, tmp_path / "spec.csv", "B"
    )
    assert path.read_bytes() == generated.read_bytes()
    assert read_typed(path, spec).height == 40


def _refused(tmp_path: Path, sql: str, match: str) -> None:
    engine = _source(tmp_path, "ky")
    target = tmp_path / "out.csv"
    with pytest.raises(ExportError, match=match):
        export_month(engine, sql, parameters(_kommune(), OCTOBER), load_spec("ky"), target, "Brøndby")
    assert list(tmp_path.glob("out.csv*")) == []  # neither the file nor its partial


def _select(replace: dict[str, str]) -> str:
    columns = [replace.get(c, f'"{c}"') for c in load_spec("ky").column_names]
    return f"SELECT {', '.join(c for c in columns if c)} FROM ky_ydelser WHERE myndighed_cvr = :cvr"  # noqa: S608


@pytest.mark.parametrize(
    ("replace", "match"),
    [
        ({"status": ""}, r"^Brøndby: .*missing column\(s\) status$"),
        ({"status": '"status", 1 AS note'}, r"^Brøndby: .*column\(s\) not in the spec: note$"),
        ({"status": '"status" AS state'}, r"missing column\(s\) status; column\(s\) not in the spec: state"),
        ({"status": '"status", "status" AS STATUS'}, r"column\(s\) given twice: status"),
    ],
    ids=["missing", "extra", "misnamed", "twice"],
)
def test_columns_that_do_not_fit_the_spec_are_refused(
    tmp_path: Path, replace: dict[str, str], match: str
) -> None:
    _refused(tmp_path, _select(replace), match)


@pytest.mark.parametrize(
    ("replace", "match"),
    [
        ({"beloeb": "'12.345' AS beloeb"}, r"^Brøndby: column beloeb: 45 value\(s\) the spec's type decimal"),
        ({"startdato": "'2026-02-30' AS startdato"}, r"^Brøndby: column startdato: .* type date refuses"),
        ({"startdato": "'i går' AS startdato"}, r"column startdato: .*'i går'"),
    ],
    ids=["decimal-scale", "impossible-date", "text-in-date"],
)
def test_values_the_type_refuses_fail_naming_column_and_kommune(
    tmp_path: Path, replace: dict[str, str], match: str
) -> None:
    _refused(tmp_path, _select(replace), match)


def test_refused_value_in_a_later_batch_leaves_no_file(tmp_path: Path) -> None:
    engine = _source(tmp_path, "ky")
    _sql(tmp_path, "UPDATE ky_ydelser SET beloeb = 'mange' WHERE rowid = (SELECT max(rowid) FROM ky_ydelser)")
    sql = _select({}).replace("WHERE myndighed_cvr = :cvr", "ORDER BY rowid")
    with pytest.raises(ExportError, match=r"column beloeb: 1 value.*'mange'"):
        export_month(engine, sql, {}, load_spec("ky"), tmp_path / "out.csv", "Brøndby", batch_rows=10)
    assert list(tmp_path.glob("out.csv*")) == []


def test_failed_export_keeps_an_earlier_file(tmp_path: Path) -> None:
    engine = _source(tmp_path, "ky")
    earlier = tmp_path / "out.csv"
    earlier.write_text("earlier\n", encoding="utf-8")
    with pytest.raises(ExportError):
        export_month(engine, _select({"status": ""}), {"cvr": "1"}, load_spec("ky"), earlier, "Brøndby")
    assert earlier.read_text(encoding="utf-8") == "earlier\n"
    assert pl.read_csv(earlier).columns == ["earlier"]


def _postgres(pg_schema: str, tmp_path: Path, spec_name: str) -> tuple[Engine, Engine]:
    """The same rows in PostgreSQL (read through COPY) and in SQLite (read row by row)."""
    database = Database.postgres(f"{POSTGRES_DSN} options='-c search_path={pg_schema}'", pg_schema)
    spec = load_spec(spec_name)
    seed_source(database, spec, CVRS, OCTOBER, rows_per_kommune=40, seed=7)
    url = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
    return create_engine(url, connect_args={"options": f"-c search_path={pg_schema}"}), _source(
        tmp_path, spec_name
    )


@pytest.mark.parametrize("spec_name", ["ky", "aula", "kp"])
def test_postgres_copy_writes_the_same_bytes_as_rows(pg_schema: str, tmp_path: Path, spec_name: str) -> None:
    postgres, sqlite = _postgres(pg_schema, tmp_path, spec_name)
    spec, params = load_spec(spec_name), parameters(_kommune(), OCTOBER)
    # A vendor's habits: a trailing comment and semicolon, which COPY ( … ) must survive.
    sql = generated_sql(spec) + "; -- the month"
    copied = export_month(postgres, sql, params, spec, tmp_path / "pg.csv", "Brøndby", batch_rows=7)
    rows = export_month(sqlite, generated_sql(spec), params, spec, tmp_path / "lite.csv", "Brøndby")
    assert copied.read_bytes() == rows.read_bytes()
    assert read_typed(copied, spec).height == 40


def test_postgres_copy_refuses_what_the_spec_refuses(pg_schema: str, tmp_path: Path) -> None:
    postgres, _ = _postgres(pg_schema, tmp_path, "ky")
    spec = load_spec("ky")
    sql = _select({"beloeb": "beloeb::numeric(12,3) + 0.001 AS beloeb"})
    with pytest.raises(ExportError, match=r"^Brøndby: column beloeb: 40 value\(s\) the spec's type decimal"):
        export_month(postgres, sql, {"cvr": "15300000"}, spec, tmp_path / "out.csv", "Brøndby")
    sql = _select({"tilbagebetaling": "'maybe' AS tilbagebetaling"})
    with pytest.raises(
        ExportError, match=r"column tilbagebetaling: 40 value\(s\) .* boolean refuses, e.g. 'maybe'"
    ):
        export_month(postgres, sql, {"cvr": "15300000"}, spec, tmp_path / "out.csv", "Brøndby")
    assert list(tmp_path.glob("out.csv*")) == []


def test_the_extract_is_one_statement(tmp_path: Path) -> None:
    assert (
        one_statement("-- KY\nSELECT /*+ FULL(t) */ a FROM t; -- the month\n")
        == "SELECT /*+ FULL(t) */ a FROM t"
    )
    assert one_statement("SELECT ';' AS a;") == "SELECT ';' AS a"
    with pytest.raises(ExportError, match="one SELECT statement, found 2"):
        export_month(
            _source(tmp_path, "ky"),
            "SELECT 1; DELETE FROM ky_ydelser",
            {},
            load_spec("ky"),
            tmp_path / "x",
            "B",
        )


def test_sql_the_source_refuses_is_a_source_error(pg_schema: str, tmp_path: Path) -> None:
    """Not an ExportError: a source that broke off may work on the DAG's retry."""
    postgres, sqlite = _postgres(pg_schema, tmp_path, "ky")
    for engine in (postgres, sqlite):
        with pytest.raises(SourceError, match="no_such_table"):
            export_month(engine, "SELECT * FROM no_such_table", {}, load_spec("ky"), tmp_path / "x.csv", "B")
    assert list(tmp_path.glob("x.csv*")) == []
