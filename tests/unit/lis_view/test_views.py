"""The views' plain parts: ledgers read in one query per database, the cells' states, the Deliveries
rows, the report's home and summary, and pages that escape what they show."""

from __future__ import annotations

import dataclasses
import json
import sqlite3
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sf1630.database import Database
from sf1630.lis_view.deliveries import build_deliveries
from sf1630.lis_view.loads import build_matrix, current_rows, deadline, is_late
from sf1630.lis_view.model import Filters, NoTasks, Receipt, State, TaskRef
from sf1630.lis_view.pages import Links, action_target, loads_page, report_page
from sf1630.lis_view.report import (
    ReportFolder,
    Summary,
    locate_report,
    quarantine_folder_of,
    summarize_validation,
)
from sf1630.protocol import Period, ReceiptError
from sf1630.receiver.config import Receiver, load_receivers
from sf1630.registry import load_registry
from sf1630.sender.ledger import ACCEPTED, REJECTED, Ledger, read_sent_rows
from sf1630.sender.plan import plan_deliveries
from sf1630.warehouse import LoadEntry, Outcome, record_outcome
from sf1630.warehouse.ledger import (
    LoadRow,
    read_first_periods,
    read_load_row,
    read_load_rows,
    read_newest_load,
)
from sf1630.warehouse.load import LoadRequest, load_delivery

from tests.support.postgres import POSTGRES_DSN, fresh_schema

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
OCT = Period(2026, 10)


def _receiver(user: str) -> Receiver:
    return next(r for r in load_receivers() if r.sftp_user == user)


KBH = "KOEBENHAVN_LIS01_SIMPEL"


def _entry(uuid: str, name: str, sender: str, outcome: Outcome, rows: int = 3, detail: str = "") -> LoadEntry:
    return LoadEntry(
        uuid, name, sender, "10100000", Period(2026, 10), rows, "0" * 64, outcome, NOW, NOW, detail
    )


def _load(db: Database, entry: LoadEntry) -> None:
    import pyarrow as pa

    data = pa.table({"sag": ["a"] * entry.rows})
    load_delivery(db, LoadRequest("facts", ("CREATE TABLE facts (sag VARCHAR)",), data, entry))


class FakeTasks:
    """A task index with fixed task instances (Airflow's metadata is the Airflow face's part)."""

    def __init__(self, known: Mapping[tuple[str, str], TaskRef]) -> None:
        self.known = dict(known)

    def lookup(
        self, task_id: str, dag_ids: Sequence[str], since: datetime | None = None
    ) -> Mapping[tuple[str, str], TaskRef]:
        return {k: v for k, v in self.known.items() if k[0] in dag_ids and v.task_id == task_id}


@pytest.fixture
def warehouse(pg_schema: str) -> Database:
    db = Database.postgres(POSTGRES_DSN, schema=pg_schema)
    _load(db, _entry("u-ky", "KY_LIS_10100000_M10_20261101000000.csv", "KY", Outcome.LOADED))
    record_outcome(
        db,
        _entry(
            "u-ksd",
            "KSD_LIS_10100000_M10_20261101000000.csv",
            "KSD",
            Outcome.QUARANTINED,
            0,
            "invalid extract: <b>x</b>",
        ),
    )
    return db


def test_the_matrix_has_every_state(warehouse: Database, tmp_path: Path) -> None:
    receiver = _receiver(KBH)
    ledger = Ledger(Database.sqlite(tmp_path / "sender.sqlite"))
    registry = load_registry()
    [dubu] = plan_deliveries(registry.sender("DUBU"), [receiver.kommune], OCT)
    ledger.record(dubu, ACCEPTED, "t-dubu")
    filters = Filters(lis=KBH, months=(OCT, Period(2026, 11)))
    rows = read_load_rows([(KBH, receiver.kommune.cvr, warehouse)], filters.months)
    sent = read_sent_rows([("DUBU", ledger.database)], filters.months)
    task = TaskRef(receiver.dag_id, "manual__1", "load", 2, "failed")
    tasks = FakeTasks({(receiver.dag_id, "KSD → København LIS01 2026-10"): task})
    matrix = build_matrix([receiver], filters, rows, sent, tasks, NOW)
    cells = {(r.sender, c.period): c for r in matrix.rows for c in r.cells}
    assert cells["KY", OCT].state is State.LOADED and cells["KY", OCT].rows == 3
    assert cells["KSD", OCT].state is State.QUARANTINED
    assert cells["KSD", OCT].task == task
    assert cells["DUBU", OCT].state is State.RECEIVED
    assert cells["AULA", OCT].state is State.LATE  # past 10 November
    assert cells["AULA", Period(2026, 11)].state is State.MISSING  # before 10 December
    assert matrix.counts[State.MISSING] == 5  # every sender in 2026-11 (KP too)


def test_deadline_is_the_end_of_the_deadline_day_in_local_time() -> None:
    receiver = _receiver(KBH)
    assert deadline(receiver, OCT).isoformat() == "2026-11-11T00:00:00+01:00"


def test_late_at_the_edges_of_the_calendar_and_of_the_systems_life() -> None:
    receiver = _receiver(KBH)  # start_date 2026-01-01, deadline day 10
    assert is_late(receiver, OCT, OCT, NOW)
    assert not is_late(receiver, Period(9999, 12), OCT, NOW)  # no deadline arithmetic past 9999
    assert not is_late(receiver, Period(9999, 12), OCT, datetime(9999, 12, 31, 23, tzinfo=UTC))
    assert is_late(receiver, Period(9999, 11), OCT, datetime(9999, 12, 31, 23, tzinfo=UTC))
    assert not is_late(receiver, Period(2026, 11), OCT, NOW)  # before its deadline day
    assert not is_late(receiver, Period(2026, 9), OCT, NOW)  # before its first delivery
    assert not is_late(receiver, OCT, None, NOW)  # nothing delivered yet: not started
    assert not is_late(receiver, Period(2025, 12), Period(2025, 6), NOW)  # before its start_date


def test_the_matrix_starts_with_the_first_delivery(warehouse: Database, tmp_path: Path) -> None:
    receiver = _receiver(KBH)
    missing = Database.sqlite(tmp_path / "none.sqlite")  # the first minute of a deployment
    targets = [(KBH, receiver.kommune.cvr, warehouse), ("X", "1", missing)]
    assert read_first_periods(targets) == {KBH: OCT}
    assert read_load_rows(targets[1:], [OCT]) == []
    assert not (tmp_path / "none.sqlite").exists()
    filters = Filters.parse(now=NOW, lis=KBH)  # December 2025 to November 2026
    matrix = build_matrix([receiver], filters, [], [], NoTasks(), NOW, {KBH: OCT})
    states = {c.period: c.state for r in matrix.rows if r.sender == "AULA" for c in r.cells}
    assert {states[p] for p in filters.months if p < OCT} == {State.MISSING}
    assert states[OCT] is State.LATE
    never = build_matrix([receiver], filters, [], [], NoTasks(), NOW)
    assert never.counts[State.LATE] == 0


def test_a_receipt_the_ledger_holds_in_another_shape_is_shown(tmp_path: Path) -> None:
    registry = load_registry()
    ledger = Ledger(Database.sqlite(tmp_path / "sender.sqlite"))
    [ky] = plan_deliveries(registry.sender("KY"), [_receiver(KBH).kommune], OCT)
    ledger.record(ky, REJECTED, "t1", (ReceiptError(401, "Ingen rute", "x"),))
    for stored in ('[["x", 1]]', "[[1e400, {}, null]]", "[" * 5000, "{}x"):
        with sqlite3.connect(tmp_path / "sender.sqlite") as conn:
            conn.execute("UPDATE sf1630_sender_ledger SET errors = ?", (stored,))
        [row] = read_sent_rows([("KY", ledger.database)], [OCT])
        assert row.errors == (ReceiptError(0, "unreadable in the ledger", stored[:200]),)
    assert read_sent_rows([("KY", Database.sqlite(tmp_path / "not-yet.sqlite"))], [OCT]) == []
    assert not (tmp_path / "not-yet.sqlite").exists()


def test_a_newer_load_is_current_and_counts_what_it_replaced() -> None:
    def row(uuid: str, name: str, outcome: str, superseded_by: str = "") -> LoadRow:
        return LoadRow(KBH, uuid, name, "KY", "10100000", OCT, 1, outcome, "", "", "", superseded_by)

    old = row("u1", "KY_LIS_10100000_M10_20261101000000.csv", "loaded", "u2")
    new = row("u2", "KY_LIS_10100000_M10_20261201093000.csv", "loaded")
    [(current, earlier)] = current_rows([old, new]).values()
    assert (current.file_transfer_uuid, earlier) == ("u2", 1)
    refused = row("u3", "KY_LIS_10100000_M10_20261202093000.csv", "quarantined")
    [(current, _)] = current_rows([old, new, refused]).values()
    assert current.file_transfer_uuid == "u3"  # the newest delivery was refused: that is what to act on


@pytest.fixture
def schemas(pg_schema: str) -> Iterator[tuple[str, str]]:
    with fresh_schema("frb") as frb:
        yield pg_schema, frb


def test_ledgers_in_one_database_come_back_in_one_query_and_by_kommune(schemas: tuple[str, str]) -> None:
    kbh, frb = (Database.postgres(POSTGRES_DSN, schema=s) for s in schemas)
    _load(kbh, _entry("u-1", "KY_LIS_10100000_M10_20261101000000.csv", "KY", Outcome.LOADED))
    empty = Database.postgres(POSTGRES_DSN, schema="nothing_yet")  # no schema, no ledger: nothing handled yet
    rows = read_load_rows([(KBH, "10100000", kbh), ("FRB", "14700000", frb), ("X", "1", empty)], [OCT])
    assert [(r.sftp_user, r.file_transfer_uuid, r.report) for r in rows] == [(KBH, "u-1", "")]
    with kbh.connect(autocommit=True) as con:
        con.execute("UPDATE sf1630_ledger SET report = 's3://reports/kbh/u-1'")
    [row] = read_load_rows([(KBH, "10100000", kbh)], [OCT])
    assert row.report == "s3://reports/kbh/u-1"
    assert read_load_rows([(KBH, "14700000", kbh)], [OCT]) == []  # another kommune's LIS sharing the schema


def test_one_delivery_is_read_by_its_key_over_all_months(schemas: tuple[str, str]) -> None:
    """The report pages look a row up by FileTransferUUID, or the newest of a sender's month: any month."""
    kbh = Database.postgres(POSTGRES_DSN, schema=schemas[0])
    _load(kbh, _entry("u-1", "KY_LIS_10100000_M10_20261101000000.csv", "KY", Outcome.LOADED))
    _load(kbh, _entry("u-2", "KY_LIS_10100000_M10_20261201000000.csv", "KY", Outcome.LOADED))
    old = _entry("u-0", "KY_LIS_10100000_M01_19000201000000.csv", "KY", Outcome.QUARANTINED, rows=0)
    record_outcome(kbh, dataclasses.replace(old, period=Period(1900, 1)))
    row = read_load_row(KBH, "10100000", kbh, "u-0")
    assert row is not None and (row.period, row.outcome) == (Period(1900, 1), "quarantined")
    assert read_load_row(KBH, "14700000", kbh, "u-1") is None  # another kommune's row is not this LIS's
    assert read_load_row(KBH, "10100000", kbh, "nope") is None
    newest = read_newest_load(KBH, "10100000", kbh, "KY", OCT)
    assert newest is not None and newest.file_transfer_uuid == "u-2"
    assert read_newest_load(KBH, "10100000", kbh, "KSD", OCT) is None


def test_deliveries_show_receipts_errors_and_waiting(tmp_path: Path) -> None:
    registry = load_registry()
    ledger = Ledger(Database.sqlite(tmp_path / "sender.sqlite"))
    receiver = _receiver(KBH)
    ky, ksd = (plan_deliveries(registry.sender(c), [receiver.kommune], OCT)[0] for c in ("KY", "KSD"))
    ledger.record(ky, ACCEPTED, "t1")
    ledger.record(ksd, REJECTED, "t2", (ReceiptError(401, "Ingen rute", "ingen rute for <København>"),))
    waiting = TaskRef("sf1630_sender_dubu", "manual__1", "deliver", 0, "deferred")
    tasks = FakeTasks({("sf1630_sender_dubu", "DUBU → København LIS01 2026-10"): waiting})
    filters = Filters(lis=KBH, months=(OCT,))
    rows = build_deliveries(
        registry, filters, read_sent_rows([(c, ledger.database) for c in ("KY", "KSD")], [OCT]), tasks
    )
    by_sender = {r.sender: r for r in rows}
    assert by_sender["KY"].receipt is Receipt.ACCEPTED
    assert by_sender["KSD"].receipt is Receipt.REJECTED and by_sender["KSD"].errors[0].code == 401
    assert by_sender["DUBU"].receipt is Receipt.WAITING
    assert by_sender["AULA"].receipt is Receipt.NOT_SENT


def test_the_page_escapes_and_links(warehouse: Database) -> None:
    receiver = _receiver(KBH)
    filters = Filters(lis=KBH, months=(OCT,))
    rows = read_load_rows([(KBH, receiver.kommune.cvr, warehouse)], filters.months)
    task = TaskRef(receiver.dag_id, "manual__2026-12-01T10:00:00+00:00", "load", 2, "failed")
    tasks = FakeTasks({(receiver.dag_id, "KSD → København LIS01 2026-10"): task})
    matrix = build_matrix([receiver], filters, rows, [], tasks, NOW)
    page = loads_page(
        matrix, Links(ui="", app="/sf1630"), [receiver], [s.code for s in load_registry().senders]
    )
    assert "<b>x</b>" not in page and "&lt;b&gt;x&lt;/b&gt;" in page
    assert "/runs/manual__2026-12-01T10%3A00%3A00%2B00%3A00/tasks/load/mapped/2" in page
    assert "København" in page
    assert f"/sf1630/act?lis={KBH}&sender=KSD&do=resend&period=2026-10" in page.replace("&amp;", "&")
    dag_id, conf = action_target(receiver, "resend", "KSD", OCT, "", "sf1630_reload")
    assert (dag_id, conf) == (
        "sf1630_sender_ksd",
        {"kommune": ["101"], "recipient": [KBH], "period": "2026-10", "force": True},
    )
    file = "KSD_LIS_10100000_M10_20261101000000.csv"
    assert action_target(receiver, "reload", "KSD", OCT, file, "sf1630_reload") == (
        "sf1630_reload",
        {"lis": KBH, "file_name": file},
    )
    with pytest.raises(ValueError):
        action_target(receiver, "drop", "KSD", OCT, "", "sf1630_reload")


def test_the_report_comes_from_the_ledger_uri_or_the_quarantine(tmp_path: Path) -> None:
    row = LoadRow(
        KBH,
        "u",
        "KSD_LIS_10100000_M10_20261101000000.csv",
        "KSD",
        "10100000",
        OCT,
        0,
        "quarantined",
        "",
        NOW,
        NOW,
    )
    store = "s3://bucket/sf1630"
    assert locate_report(row, store, tmp_path, KBH) is None
    (tmp_path / row.file_name).mkdir()
    (tmp_path / f"{row.file_name}.2").mkdir()
    (tmp_path / f"{row.file_name}.10").symlink_to(tmp_path / row.file_name)  # a link is not a folder of it
    found = locate_report(row, store, tmp_path, KBH)
    assert found == ReportFolder(("quarantine", KBH, f"{row.file_name}.2"), "quarantine")
    stored = dataclasses.replace(row, report=f"{store}/reports/{KBH}/{row.file_name}/")
    assert locate_report(stored, store, tmp_path, KBH) == ReportFolder(
        ("reports", KBH, row.file_name), "object storage"
    )
    for elsewhere in (
        f"s3://bucket/other/reports/{KBH}/x",  # another prefix of the same bucket
        f"s3://bucket/sf1630/reports/OTHER_LIS/{row.file_name}",  # another LIS system's share
        f"s3://bucket/sf1630/reports/{KBH}/../../x",
        f"s3://bucket/sf1630/reports/{KBH}/a/b",
        f"file:///bucket/sf1630/reports/{KBH}/x",  # a scheme the store does not use
        f"http://bucket/sf1630/reports/{KBH}/x",
        f"s3://bucket/sf1630/staging/{KBH}/x",
    ):
        assert locate_report(dataclasses.replace(row, report=elsewhere), store, tmp_path, KBH) is None
    hostile = dataclasses.replace(row, file_name="../etc")
    assert locate_report(hostile, store, tmp_path, KBH) is None


@pytest.mark.parametrize("name", ["**", "KSD_*.csv", "KSD_[x.csv", "a?b", "KSD_LIS_**_M10_x.csv"])
def test_quarantine_folders_are_found_by_name_not_by_glob(tmp_path: Path, name: str) -> None:
    """A file name is compared with the folder names; ``*`` in it matches no other delivery's folder."""
    (tmp_path / "KSD_LIS_10100000_M10_20261101000000.csv.2").mkdir()
    assert quarantine_folder_of(tmp_path, name) is None
    (tmp_path / f"{name}.3").mkdir()
    assert quarantine_folder_of(tmp_path, name) == f"{name}.3"


def test_odd_values_in_a_validation_json_are_shown_as_unknown() -> None:
    def summary(count: object, **result: object) -> Summary:
        body = {"results": [{"success": False, "unexpected_count": count, **result}]}
        return summarize_validation(json.dumps(body).replace("Infinity", "1e400").encode())

    assert summary(3).failed[0].unexpected == 3
    for count in (float("inf"), 1.5, "many", [1], {"n": 1}, -1, True, 10**13):
        assert summary(count).failed[0].unexpected == -1
    assert summary(None).failed[0].unexpected == 0
    gx = {"success": False, "expectation_config": {"type": ["t"], "kwargs": [1]}, "result": "x"}
    assert summarize_validation(json.dumps({"results": [gx]}).encode()).failed[0].column == ""
    with pytest.raises(ValueError):
        summarize_validation(b"[" * 100_000)
    with pytest.raises(ValueError):
        summarize_validation(b"1" * 5000)  # an integer longer than Python converts


def test_summaries_of_both_validation_shapes() -> None:
    gx = {
        "success": False,
        "results": [
            {
                "success": True,
                "expectation_config": {"type": "expect_column_to_exist", "kwargs": {"column": "a"}},
            },
            {
                "success": False,
                "expectation_config": {
                    "type": "expect_column_values_to_match_regex",
                    "kwargs": {"column": "p"},
                },
                "result": {"unexpected_count": 2, "partial_unexpected_list": ["XYZ"]},
            },
        ],
    }
    summary = summarize_validation(json.dumps(gx).encode())
    assert (summary.success, summary.evaluated, summary.failed[0].unexpected) == (False, 2, 2)
    staged = gx["results"][1]["expectation_config"]  # the staging suite's check names what it stands for
    staged.update(type="expect_column_values_to_satisfy_sql_condition", meta={"stands_for": "expect_x"})
    assert summarize_validation(json.dumps(gx).encode()).failed[0].expectation == "expect_x"
    own = {
        "success": False,
        "results": [{"success": False, "expectation": "parse.rows", "unexpected_count": 1}],
    }
    assert summarize_validation(json.dumps(own).encode()).failed[0].expectation == "parse.rows"
    with pytest.raises(ValueError):
        summarize_validation(b"<html>")
    page = report_page(
        "t", [("file", "<script>")], summary, ["validation.json"], Links("", "/sf1630"), KBH, "u"
    )
    assert "<script>" not in page


def test_filters_from_query_parameters() -> None:
    assert Filters.parse(month="2026-10", now=NOW).months == (OCT,)
    assert len(Filters.parse(year="2026", now=NOW).months) == 12
    default = Filters.parse(now=NOW).months
    assert (default[0], default[-1]) == (Period(2025, 12), Period(2026, 11))
    with pytest.raises(ValueError):
        Filters.parse(month="2026-13", now=NOW)
    with pytest.raises(ValueError):
        Filters.parse(year="20x6", now=NOW)
    assert NoTasks().lookup("load", ["x"]) == {}


def test_task_instances_of_the_shown_months_started_the_day_before_the_first_at_the_earliest() -> None:
    """A month's delivery is made in or after that month: the task index need not look further back."""
    assert Filters.parse(month="2026-10", now=NOW).earliest_start() == datetime(2026, 9, 30, tzinfo=UTC)
    assert Filters.parse(now=NOW).earliest_start() == datetime(2025, 11, 30, tzinfo=UTC)
    assert Filters.parse(year="1900", now=NOW).earliest_start() == datetime(1899, 12, 31, tzinfo=UTC)
    assert Filters().earliest_start() is None
