"""``sf1630 sender export``: the DAG's file for one kommune and month; a bad input is one line, exit ≠ 0."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sf1630.cli import main
from sf1630.database import Database
from sf1630.dataspec import load_spec
from sf1630.dataspec.validation import validate_file
from sf1630.protocol import Period
from sf1630.registry import load_registry
from sf1630.sender.source import seed_source


@pytest.fixture
def source(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """KY's source for København's October on SQLite, as the sender DAG's connection."""
    path = tmp_path / "source.sqlite"
    cvr = load_registry().kommune("101").cvr
    seed_source(Database.sqlite(path), load_spec("ky"), [cvr], Period(2026, 10), rows_per_kommune=25)
    monkeypatch.setenv(
        "AIRFLOW_CONN_SF1630_SOURCE_KY", json.dumps({"conn_type": "sqlite", "host": str(path)})
    )
    monkeypatch.chdir(tmp_path)
    return path


def test_writes_the_delivery_file(source: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sender", "export", "ky", "--kommune", "København", "--period", "2026-10"]) == 0
    name = "KY_LIS_10100000_M10_20261101000000.csv"  # the name the DAG gives the delivery
    assert capsys.readouterr().out.strip() == name
    assert validate_file(tmp_path / name, load_spec("ky")).success
    out = tmp_path / "mine.csv"
    assert main(["sender", "export", "KY", "--kommune", "101", "--period", "2026-10", "--out", str(out)]) == 0
    assert out.read_bytes() == (tmp_path / name).read_bytes()


@pytest.mark.parametrize(
    ("args", "status", "message"),
    [
        (["XX", "--kommune", "101", "--period", "2026-10"], 2, "no sender 'XX' (known: KY, KSD"),
        (["KY", "--kommune", "999", "--period", "2026-10"], 2, "no kommune '999'"),
        (["KY", "--kommune", "101", "--period", "2026-13"], 2, "period '2026-13' must be YYYY-MM"),
        (["KSD", "--kommune", "101", "--period", "2026-10"], 1, "`sf1630_source_ksd` isn't defined"),
        (["KY", "--kommune", "101", "--period", "2026-10", "--out", "no/such/dir/x.csv"], 1, "No such file"),
    ],
    ids=["sender", "kommune", "period", "connection", "out"],
)
def test_bad_input_is_one_line(
    source: Path, args: list[str], status: int, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["sender", "export", *args]) == status
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("sf1630 sender export: ") and message in err, err


def test_sql_error_and_spec_mismatch_are_one_line(
    source: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import sqlite3

    with sqlite3.connect(source) as conn:
        conn.execute("ALTER TABLE ky_ydelser RENAME TO ky_old")
    assert main(["sender", "export", "KY", "--kommune", "101", "--period", "2026-10"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no such table: ky_ydelser" in err, err
    with sqlite3.connect(source) as conn:
        conn.execute("ALTER TABLE ky_old RENAME TO ky_ydelser")
        conn.execute("ALTER TABLE ky_ydelser RENAME COLUMN status TO state")
    monkeypatch.setenv("SF1630_CONFIG_DIR", str(_config_with_sql(tmp_path, "SELECT * FROM ky_ydelser")))
    assert main(["sender", "export", "KY", "--kommune", "101", "--period", "2026-10"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    assert "København: the extract does not fit data spec ky: missing column(s) status;" in err
    assert "column(s) not in the spec: state" in err
    assert not list(tmp_path.glob("KY_*"))


def _config_with_sql(tmp_path: Path, sql: str) -> Path:
    from sf1630.settings import config_dir

    folder = tmp_path / "config"
    folder.mkdir()
    (folder / "kommuner.yaml").write_text((config_dir() / "kommuner.yaml").read_text(encoding="utf-8"))
    senders = (config_dir() / "senders.yaml").read_text(encoding="utf-8")
    (folder / "senders.yaml").write_text(
        senders.replace("    dataspec: ky\n", "    dataspec: ky\n    extract_sql: ky.sql\n")
    )
    (folder / "ky.sql").write_text(sql, encoding="utf-8")
    return folder


def test_extract_sql_outside_the_config_folder_is_a_config_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = _config_with_sql(tmp_path, "SELECT 1")
    senders = folder / "senders.yaml"
    senders.write_text(
        senders.read_text(encoding="utf-8").replace("extract_sql: ky.sql", "extract_sql: ../ky.sql")
    )
    monkeypatch.setenv("SF1630_CONFIG_DIR", str(folder))
    assert main(["sender", "export", "KY", "--kommune", "101", "--period", "2026-10"]) == 2
    err = capsys.readouterr().err
    assert "senders.yaml:" in err and "senders[0].extract_sql: ../ky.sql is not a path inside" in err, err
    senders.write_text(senders.read_text(encoding="utf-8").replace("../ky.sql", "missing.sql"))
    assert main(["sender", "export", "KY", "--kommune", "101", "--period", "2026-10"]) == 2
    assert "missing.sql is not a file" in capsys.readouterr().err
