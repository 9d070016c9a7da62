"""Issue 11 item 12: validation accepts only what every supported warehouse can store, exactly as written.

Strange but storable texts pass validation and come back byte for byte from a real PostgreSQL warehouse
(through the receiver's check and the project's loader); a NUL byte, which PostgreSQL cannot hold, is
refused by validation, and the test shows PostgreSQL does refuse it, so the rule is not arbitrary.
"""

# ruff: noqa: S608  (SQL text built from the fixture's schema name and the spec's checked names)

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
import pytest
from sf1630.database import Database
from sf1630.dataspec.schema import csv_text
from sf1630.dataspec.synth import synthesize
from sf1630.protocol import Period
from sf1630.receiver.extract import spec_for
from sf1630.warehouse import LoadEntry, LoadRequest, Outcome, load_delivery

pytestmark = pytest.mark.integration
CVR, PERIOD = "65700000", Period(2026, 10)
WHEN = datetime(2026, 11, 1, 6, 0, tzinfo=UTC)
POSTGRES = "host=127.0.0.1 port=5432 user=postgres dbname=test"

STORABLE = {
    "formula": '=HYPERLINK("http://x";"ok")',
    "emoji": "Team 👩‍💻 Syd",
    "rtl-override": "Team \u202eduS",
    "combining": "Ae\u0301ro\u0308",
    "noncharacter": "a\uffffb",
    "zero-width-nbsp": "a\ufeffb",
    "backslash-n": "\\N",
    "copy-end-marker": "\\.",
    "separators-and-quotes": 'a;"b";c',
    "line-feed": "a\nb",
    "carriage-return": "a\r\nb",
    "tab": "a\tb",
    "sixty-ae": "Æ" * 60,
}


def _file(tmp_path: Path, text: str) -> Path:
    spec = spec_for("ky").spec
    frame = synthesize(spec, 4, CVR, PERIOD, seed=9)
    frame = frame.with_columns(frame["sagsbehandler_enhed"].scatter(0, text))
    path = tmp_path / "ky.csv"
    path.write_bytes(csv_text(frame, spec).encode("utf-8"))
    return path


def _load(target: Database, rows: Any) -> None:
    extract = spec_for("ky")
    transfer = str(uuid.uuid4())
    constants, scope = extract.lineage(file_transfer_uuid=transfer, cvr=CVR, period=PERIOD, loaded_at=WHEN)
    entry = LoadEntry(
        transfer,
        f"KY_LIS_{CVR}_M10_20261101060000.csv",
        "KY",
        CVR,
        PERIOD,
        rows.num_rows,
        "ab" * 32,
        Outcome.LOADED,
        WHEN,
        WHEN,
    )
    request = LoadRequest(
        table=extract.table,
        create_sql=extract.create_sql(target.schema),
        data=rows,
        entry=entry,
        replace_where=scope,
        constants=constants,
    )
    assert load_delivery(target, request)


def _stored(target: Database) -> set[str]:
    table = f"{target.schema}.{spec_for('ky').table}"
    query = f"SELECT sagsbehandler_enhed FROM {table}"
    with target.connect() as conn:
        return {row[0] for row in conn.execute(query).fetchall()}


@pytest.mark.parametrize("name", sorted(STORABLE))
def test_storable_text_passes_and_is_stored_as_written(
    name: str, warehouse: Database, tmp_path: Path
) -> None:
    verdict, rows = spec_for("ky").check(_file(tmp_path, STORABLE[name]), cvr=CVR, period=PERIOD)
    assert verdict.success and rows is not None, verdict.summary
    _load(warehouse, rows)
    assert STORABLE[name] in _stored(warehouse)


def test_nul_is_refused_by_validation_because_postgresql_refuses_it(tmp_path: Path) -> None:
    verdict, rows = spec_for("ky").check(_file(tmp_path, "Team\x00Syd"), cvr=CVR, period=PERIOD)
    assert not verdict.success and rows is None
    assert "parse.nul" in {r.expectation for r in verdict.report.failures}
    with psycopg.connect(POSTGRES) as conn, pytest.raises(psycopg.DataError):
        conn.execute("SELECT %s::text", ("Team\x00Syd",))
