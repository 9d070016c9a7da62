"""Exporting one kommune's month: the spec's columns and dialect, only that kommune and month, same bytes."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest
from sf1630.database import Database
from sf1630.dataspec import load_spec
from sf1630.dataspec.schema import read_typed
from sf1630.dataspec.synth import synthesize
from sf1630.protocol import Period
from sf1630.registry import Kommune, LisSystem, load_registry
from sf1630.sender.export import export_delivery, export_query
from sf1630.sender.plan import Delivery
from sf1630.sender.source import seed_source

CVRS = ("10100000", "15300000")


def _delivery(code: str, cvr: str, period: str, name: str) -> Delivery:
    lis = LisSystem(name="LIS01", sftp_user="KBH_LIS01", it_system="00000000-0000-0000-0000-000000000001")
    kommune = Kommune(name="København", kode="101", cvr=cvr, lis_systems=(lis,))
    return Delivery(code, kommune, lis, Period.parse(period), name)


def _read(path: Path, spec_name: str) -> pl.DataFrame:
    """The exported file typed by the spec, columns named in file order (the header is checked separately)."""
    spec = load_spec(spec_name)
    frame = read_typed(path, spec)
    return frame.rename(dict(zip(frame.columns, spec.column_names, strict=True)))


def _seed_two_months(source: Database, spec_name: str) -> None:
    spec = load_spec(spec_name)
    seed_source(source, spec, CVRS, Period(2026, 10), rows_per_kommune=40, seed=7)
    seed_source(source, spec, CVRS, Period(2026, 9), rows_per_kommune=5, seed=99)


@pytest.mark.parametrize("spec_name", ["ky", "ksd", "dubu", "aula", "kp"])
def test_duckdb_export_matches_the_generated_month(tmp_path: Path, spec_name: str) -> None:
    source = Database.duckdb(tmp_path / "source.duckdb")
    _seed_two_months(source, spec_name)
    spec = load_spec(spec_name)
    sender = load_registry().sender(spec_name.upper())
    out = tmp_path / "out"
    out.mkdir()
    name = f"{sender.code}_LIS_15300000_M10_20261101000000.csv"
    path = export_delivery(sender, _delivery(sender.code, "15300000", "2026-10", name), source, out)
    assert path == out / name
    exported = _read(path, spec_name)
    expected = synthesize(spec, 40, "15300000", "2026-10", 7 + 1).sort(list(spec.primary_key))
    assert exported.columns == spec.column_names
    assert exported.height == 40
    assert exported.equals(expected)
    first_line = path.read_text(encoding=spec.dialect.encoding).splitlines()[0]
    assert first_line == spec.dialect.separator.join(spec.column_names)
    again = export_delivery(sender, _delivery(sender.code, "15300000", "2026-10", name), source, tmp_path)
    assert again.read_bytes() == path.read_bytes()


def test_postgres_export(pg_schema: str, tmp_path: Path) -> None:
    source = Database.from_connection(
        "src",
        "postgres",
        host="127.0.0.1",
        login="postgres",
        schema="test",
        extra={"options": f"-c search_path={pg_schema}"},
    )
    _seed_two_months(source, "ky")
    spec = load_spec("ky")
    name = "KY_LIS_10100000_M09_20261001000000.csv"
    path = export_delivery(
        load_registry().sender("KY"), _delivery("KY", "10100000", "2026-09", name), source, tmp_path
    )
    exported = _read(path, "ky")
    assert exported.height == 5
    assert set(exported["myndighed_cvr"]) == {"10100000"}
    assert set(exported["udtraeksperiode"]) == {"2026-09"}
    assert exported.equals(synthesize(spec, 5, "10100000", "2026-09", 99).sort(list(spec.primary_key)))


def test_empty_month_gives_header_only(tmp_path: Path) -> None:
    source = Database.duckdb(tmp_path / "source.duckdb")
    _seed_two_months(source, "ky")
    name = "KY_LIS_10100000_M11_20261201000000.csv"
    path = export_delivery(
        load_registry().sender("KY"), _delivery("KY", "10100000", "2026-11", name), source, tmp_path
    )
    assert _read(path, "ky").height == 0


def test_query_filters_by_bound_parameters() -> None:
    sql, params = export_query(load_spec("aula"), "?", "10100000", Period(2026, 12))
    assert '"myndighed_cvr" = ?' in sql and '? <= "dato" AND "dato" < ?' in sql
    assert [str(p) for p in params] == ["10100000", "2026-12-01", "2027-01-01"]
    sql, params = export_query(load_spec("ky"), "%s", "10100000", Period(2026, 12))
    assert sql.endswith('ORDER BY "sag_id", "ydelse_id"')
    assert params == ("10100000", "2026-12")
