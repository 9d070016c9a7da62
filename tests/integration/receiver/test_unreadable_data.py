"""Issue 11 item 10, end to end: files the CSV readers cannot read are quarantined with the normal report.

A quoted field over 131072 characters and CR-only line endings used to raise ``_csv.Error`` inside the
receiver's check, which was not a rejection: the file stayed in ``IN/`` unquarantined. A NUL byte (item 12)
used to pass and fail only in PostgreSQL. Each is delivered through the emulator and one receiver DAG run
(``dag.test()``, PostgreSQL warehouse) must quarantine all three with their reports and clear ``IN/``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from sf1630.airflow.receiver import build_receiver_dag
from sf1630.database import Database

from tests.support.receiver import Emulator, ReceiverSetup, make_extract, next_logical_date


def _long_quoted_field(valid: bytes) -> bytes:
    lines = valid.decode().split("\n")
    fields = lines[1].split(";")
    fields[-2] = '"' + "x" * 131_073 + '"'
    lines[1] = ";".join(fields)
    return "\n".join(lines).encode()


UNREADABLE: dict[str, tuple[Callable[[bytes], bytes], str]] = {
    "KY_LIS_65700000_M10_20261101060001.csv": (_long_quoted_field, "parse.read"),
    "KY_LIS_65700000_M10_20261101060002.csv": (
        lambda valid: valid.replace(b"\n", b"\r"),
        "parse.line_endings",
    ),
    "KY_LIS_65700000_M10_20261101060003.csv": (lambda valid: valid.replace(b";", b";\x00", 1), "parse.nul"),
}


@pytest.mark.integration
def test_unreadable_files_are_quarantined_with_the_parse_error(
    emulator: Emulator,
    configure: Callable[..., ReceiverSetup],
    tmp_path: Path,
    airflow_db: Path,
    warehouse: Database,
) -> None:
    target = warehouse
    setup = configure(emulator, target)
    valid, _table = make_extract("KY", rows=20)
    for name, (make, _check) in UNREADABLE.items():
        emulator.deliver("KY", name, make(valid))

    run = build_receiver_dag(setup.receiver).test(logical_date=next_logical_date())

    assert run.state == "failed"
    assert list(emulator.inbox().iterdir()) == [], "nothing is left in IN/"
    for name, (make, check) in UNREADABLE.items():
        folder = setup.quarantine / name
        assert (folder / name).read_bytes() == make(valid), "the file is kept as delivered"
        report = json.loads((folder / "validation.json").read_text())
        assert [r["expectation"] for r in report["results"] if not r["success"]] == [check]
        assert (folder / "validation.html").exists()
    with target.connect() as con:
        outcomes = con.execute("SELECT file_name, outcome FROM sf1630_ledger ORDER BY 1").fetchall()
    assert outcomes == [(name, "quarantined") for name in sorted(UNREADABLE)]
