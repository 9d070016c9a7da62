"""A delivered file staged in PostgreSQL and validated there: every corruption class is caught by the check
meant for it (the same names as the typed suite's), file-level faults become ``parse.*`` entries with their
counts and leave no table, dates and times get the same verdict from the calendar pattern (the machine's
server is 15) and from the server's own input (``pg_input_is_valid``, the demo's embedded 18), and a staging
table the server lost is noticed by the load instead of loading nothing."""

# ruff: noqa: S608  (SQL text built from the fixture's schema name only)

from __future__ import annotations

import hashlib
import io
from collections.abc import Iterator
from datetime import UTC, datetime

import polars as pl
import pytest
from sf1630.database import Database
from sf1630.dataspec import DataSpec, load_spec
from sf1630.dataspec.corrupt import CORRUPTIONS, caught_by, corrupt
from sf1630.dataspec.ddl import Calendar
from sf1630.dataspec.schema import csv_text
from sf1630.dataspec.synth import synthesize
from sf1630.dataspec.validation import Validator, default_validator
from sf1630.protocol import Period
from sf1630.receiver.extract import SpecExtract
from sf1630.warehouse import LoadEntry, LoadRequest, Outcome, load_delivery, recorded
from sf1630.warehouse.load import StagedRows
from sf1630.warehouse.staging import StagedFile, StagingLost, stage, staged_rows, staging_table

from tests.support.streams import FailingStream

CVR, PERIOD = "65700000", Period(2026, 10)
KINDS = sorted(CORRUPTIONS)


@pytest.fixture(scope="module")
def validator() -> Validator:
    return default_validator()


@pytest.fixture(scope="module")
def ky() -> DataSpec:
    return load_spec("ky")


@pytest.fixture(scope="module")
def frame(ky: DataSpec) -> pl.DataFrame:
    return synthesize(ky, 40, CVR, PERIOD, seed=5)


@pytest.fixture(scope="module")
def pg18(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Database]:
    """The demo's warehouse server (embedded PostgreSQL 18, on a unix socket only), schema ``lis``."""
    from sf1630.demo.environment import warehouse_dsn
    from sf1630.demo.metadb import SQLITE, start_metadata_db

    folder = tmp_path_factory.mktemp("pg18")
    server = start_metadata_db(SQLITE, folder / "airflow", warehouse=folder / "pg")
    try:
        yield Database.postgres(warehouse_dsn(*server.warehouse_server()), schema="lis")
    finally:
        server.stop()


@pytest.fixture(params=[("warehouse", Calendar.PATTERN), ("pg18", Calendar.INPUT)], ids=["15", "18"])
def server(request: pytest.FixtureRequest) -> Database:
    """Both servers: the machine's 15 (dates checked by the calendar pattern), the demo's 18 (its input);
    staging finds out which itself."""
    db: Database = request.getfixturevalue(request.param[0])
    assert staged(db, b"", load_spec("ky")).calendar is request.param[1]
    return db


def staged(db: Database, data: bytes, spec: DataSpec) -> StagedFile:
    return stage(db, staging_table("u-1"), io.BytesIO(data), spec)


def check(db: Database, data: bytes, spec: DataSpec, validator: Validator) -> tuple[StagedFile, set[str]]:
    done = staged(db, data, spec)
    verdict = SpecExtract(spec).validate_staged(validator, db, done, name="f.csv", cvr=CVR, period=PERIOD)
    return done, {r.expectation for r in verdict.report.failures}


def test_a_valid_file_stages_whole_and_passes(
    warehouse: Database, ky: DataSpec, frame: pl.DataFrame, validator: Validator
) -> None:
    data = csv_text(frame, ky).encode()
    done, failed = check(warehouse, data, ky, validator)
    assert failed == set() and done.ok
    assert (done.rows, done.size, done.checksum) == (40, len(data), hashlib.sha256(data).hexdigest())
    assert staged_rows(warehouse, done.table) == 40


@pytest.mark.parametrize("kind", KINDS)
def test_corruption_is_caught_by_its_check_in_postgresql(
    warehouse: Database, ky: DataSpec, frame: pl.DataFrame, validator: Validator, kind: str
) -> None:
    done, failed = check(warehouse, corrupt(frame, ky, kind), ky, validator)
    assert caught_by(ky, kind) in failed, failed
    if kind.startswith(("wrong_separator", "windows", "ragged", "empty", "byte_order")):
        assert staged_rows(warehouse, done.table) is None  # a file-level fault leaves no table
    data = corrupt(frame, ky, kind)
    assert (done.size, done.checksum) == (len(data), hashlib.sha256(data).hexdigest())  # the whole file


def test_ragged_records_and_nul_bytes_are_counted_to_the_end(
    warehouse: Database, ky: DataSpec, frame: pl.DataFrame
) -> None:
    lines = csv_text(frame, ky).splitlines()
    ragged = [line + ";x" if n in (3, 9, 30) else line for n, line in enumerate(lines)]
    done = stage(warehouse, "sf1630_stage_small", io.BytesIO(("\n".join(ragged) + "\n").encode()), ky)
    [entry] = done.parse
    assert (entry.expectation, entry.unexpected_count) == ("parse.rows", 3)
    assert entry.sample[0].startswith("line 4:")
    with_nul = ("\n".join(lines) + "\n").replace("KONTANT", "KON\x00TANT").encode()
    [entry] = stage(warehouse, "sf1630_stage_small", io.BytesIO(with_nul), ky, block_bytes=512).parse
    assert entry.expectation == "parse.nul" and entry.unexpected_count == with_nul.count(b"\x00") > 1


def test_a_source_that_fails_mid_file_fails_the_stage_and_leaves_no_table(
    warehouse: Database, ky: DataSpec, frame: pl.DataFrame
) -> None:
    """The blocks are read and checked in a thread ahead of COPY: what goes wrong there reaches the caller,
    and the COPY it interrupted is rolled back."""
    data = csv_text(frame, ky).encode()
    broken = FailingStream(data, OSError("the store went away"))
    with pytest.raises(OSError, match="went away"):
        stage(warehouse, "sf1630_stage_broken", broken, ky, block_bytes=256)
    assert staged_rows(warehouse, "sf1630_stage_broken") is None


SAG_IDS = ["KY0123456789", "KY9999999999", "KY012345678", "KY01234567890", "ky0123456789", "KYA123456789"]
SAG_IDS += ["XKY012345678", "KY 123456789", "KY01234567٣9", "", "KYKY12345678"]


def test_a_one_run_pattern_fails_exactly_what_the_regex_fails(
    warehouse: Database, ky: DataSpec, frame: pl.DataFrame, validator: Validator
) -> None:
    """``KY[0-9]{10}`` runs in PostgreSQL as its length and an uncounted run (counted repetitions cost
    PostgreSQL's regex engine per value): the same texts fail as under the spec's regex, counted, sampled.
    """
    import re

    pattern = ky.column("sag_id").pattern
    assert pattern == "KY[0-9]{10}"
    ids = pl.Series("sag_id", SAG_IDS * 3, dtype=pl.String)
    edited = frame.head(len(ids)).with_columns(ids)
    done = staged(warehouse, csv_text(edited, ky).encode(), ky)
    spec = SpecExtract(ky)
    verdict = spec.validate_staged(validator, warehouse, done, name="f.csv", cvr=CVR, period=PERIOD)
    [failed] = [r for r in verdict.report.failures if r.column == "sag_id" and "regex" in r.expectation]
    wrong = [t for t in ids.to_list() if t and not re.fullmatch(pattern, t)]
    assert failed.expectation == "expect_column_values_to_match_regex"
    assert failed.unexpected_count == len(wrong) and set(failed.sample) <= set(wrong)


DATES = ["2024-02-29", "2000-02-29", "0001-01-01", "9999-12-31"]
NOT_DATES = [
    "2023-02-29",
    "1900-02-29",
    "2021-02-30",
    "2026-04-31",
    "0000-01-01",
    "12026-01-01",
    "2026-1-01",
    " 2026-01-01",
    "2026/01/01",
    "epoch",
    "today",
    "2026-01-01 BC",
    "２０２６-01-01",
]
TIMES = ["2026-10-31T23:59:59", "2024-02-29T00:00:00"]
NOT_TIMES = [
    "2026-10-31T24:00:00",
    "2026-12-31T23:59:60",
    "2026-10-31 10:00:00",
    "2026-10-31T10:00:0Z",
    "2026-10-31T10:60:00",
    "2026-10-31T1:00:00 ",
    "2026-10-31",
]


def test_dates_and_times_are_checked_by_the_calendar_on_either_server(
    server: Database, ky: DataSpec, frame: pl.DataFrame, validator: Validator
) -> None:
    """Row by row, the type check of a date (``startdato``) and a timestamp (``registreret``) fails exactly
    the texts that are not real dates and times written in the spec's format: the same verdict from the
    calendar pattern (PostgreSQL 15) and from the server's input and a round trip (16+), counted and sampled.
    """
    dates = [*DATES, *NOT_DATES]
    times = [*TIMES, *NOT_TIMES] * 2
    header, *lines = csv_text(frame.head(len(dates)), ky).splitlines()
    names = header.split(ky.dialect.separator)
    edited = [header]
    for line, date, time in zip(lines, dates, times, strict=False):
        fields = line.split(ky.dialect.separator)
        fields[names.index("startdato")], fields[names.index("registreret")] = date, time
        fields[names.index("slutdato")] = ""  # no rule between the two dates
        edited.append(ky.dialect.separator.join(fields))
    done = staged(server, ("\n".join(edited) + "\n").encode(), ky)
    verdict = SpecExtract(ky).validate_staged(validator, server, done, name="f.csv", cvr=CVR, period=PERIOD)
    failed = {r.column: r for r in verdict.report.failures}
    assert set(failed) == {"startdato", "registreret"}, verdict.report.failures
    assert failed["startdato"].unexpected_count == len(NOT_DATES)
    assert failed["registreret"].unexpected_count == sum(t in NOT_TIMES for t in times[: len(dates)])
    assert {r.expectation for r in failed.values()} == {"expect_column_values_to_be_of_type"}
    assert failed["startdato"].sample and set(failed["startdato"].sample) <= set(NOT_DATES)


def test_a_lost_staging_table_fails_the_load_instead_of_loading_nothing(
    warehouse: Database, ky: DataSpec, frame: pl.DataFrame
) -> None:
    extract = SpecExtract(ky)
    done = staged(warehouse, csv_text(frame, ky).encode(), ky)
    with warehouse.connect(autocommit=True) as conn:
        conn.execute(f"TRUNCATE {warehouse.schema}.{done.table}")  # what a server crash does to UNLOGGED
    when = datetime(2026, 11, 1, tzinfo=UTC)
    uuid = "3f2b8c1e-0000-4000-8000-000000000001"
    entry = LoadEntry(uuid, "f.csv", "KY", CVR, PERIOD, 40, done.checksum, Outcome.LOADED, when, when)
    constants, scope = extract.lineage(file_transfer_uuid=uuid, cvr=CVR, period=PERIOD, loaded_at=when)
    rows = StagedRows(done.table, extract.staged_columns(), done.rows)
    request = LoadRequest(extract.table, extract.create_sql(warehouse.schema), rows, entry, scope, constants)
    with pytest.raises(StagingLost):
        load_delivery(warehouse, request)
    assert recorded(warehouse, uuid) is None
    done = staged(warehouse, csv_text(frame, ky).encode(), ky)
    assert load_delivery(warehouse, request)
    assert staged_rows(warehouse, done.table) is None  # dropped with the commit
    with warehouse.connect() as conn:
        [(count, days)] = conn.execute(f"SELECT count(*), sum(antal_dage) FROM {extract.table}").fetchall()
    assert (count, days) == (40, frame["antal_dage"].sum())


def test_gx_reaches_a_warehouse_on_a_unix_socket(
    pg18: Database, ky: DataSpec, frame: pl.DataFrame, validator: Validator
) -> None:
    """The demo's warehouse listens on a unix socket only (embedded PostgreSQL 18): GX's PostgreSQL data
    source must reach it (its URL check wants a host name; the socket folder goes in the query)."""
    done, failed = check(pg18, csv_text(frame, ky).encode(), ky, validator)
    assert done.ok and failed == set()


def test_failed_typed_values_are_reported_check_by_check(
    server: Database, ky: DataSpec, frame: pl.DataFrame, validator: Validator
) -> None:
    """The staging suite counts every range, numeric set and rule in ONE GX check; when it fails, its parts
    run for the details and take its place: each failing check with its column, count and samples, and GX's
    statistics counted over what the ValidationResult holds."""
    days = [40, 99, *frame["antal_dage"].to_list()[2:]]
    broken = frame.with_columns(pl.Series("antal_dage", days, dtype=frame["antal_dage"].dtype))
    broken = broken.with_columns(broken["slutdato"].scatter(5, broken["startdato"][5].replace(year=2000)))
    done = staged(server, csv_text(broken, ky).encode(), ky)
    verdict = SpecExtract(ky).validate_staged(validator, server, done, name="f.csv", cvr=CVR, period=PERIOD)
    failed = {(r.expectation, r.column): (r.unexpected_count, r.sample) for r in verdict.report.failures}
    assert failed == {
        ("expect_column_values_to_be_between", "antal_dage"): (2, ("40", "99")),
        ("expect_column_pair_values_a_to_be_greater_than_b", "slutdato"): (
            1,
            (broken["slutdato"][5].isoformat(),),
        ),
    }
    stats = verdict.result.statistics
    assert stats["evaluated_expectations"] == len(verdict.result.results)
    assert stats["unsuccessful_expectations"] == 2


def test_a_load_that_creates_the_table_adds_its_key_after_the_rows(
    warehouse: Database, ky: DataSpec, frame: pl.DataFrame
) -> None:
    extract = SpecExtract(ky)
    done = staged(warehouse, csv_text(frame, ky).encode(), ky)
    when = datetime(2026, 11, 1, tzinfo=UTC)
    uuid = "3f2b8c1e-0000-4000-8000-000000000002"
    entry = LoadEntry(uuid, "f.csv", "KY", CVR, PERIOD, 40, done.checksum, Outcome.LOADED, when, when)
    constants, scope = extract.lineage(file_transfer_uuid=uuid, cvr=CVR, period=PERIOD, loaded_at=when)
    create, keys = extract.table_sql(warehouse.schema)
    rows = StagedRows(done.table, extract.staged_columns(), done.rows)
    request = LoadRequest(extract.table, create, rows, entry, scope, constants, key_sql=keys)
    assert load_delivery(warehouse, request)
    query = "SELECT indexdef FROM pg_indexes WHERE schemaname = %s AND tablename = %s ORDER BY indexname"
    with warehouse.connect() as conn:
        indexes = [row[0] for row in conn.execute(query, [warehouse.schema, extract.table]).fetchall()]
    assert any("UNIQUE" in i and "lineage_kommune, lineage_period, sag_id, ydelse_id" in i for i in indexes)
    assert any("(lineage_file_transfer_uuid)" in i for i in indexes), indexes
