"""A delivery from the platform to the warehouse with dag.test(), against the emulator and both warehouses,
through the steps wait_for_metadata → fetch → validate → load → delete: loaded once and deleted; a
re-delivery of the same FileTransferUUID loads nothing; an invalid file is quarantined with its GX
ValidationResult and Data Docs; a crash between commit and delete does not load twice; a cut connection is
retried; a short file (size mismatch) is quarantined."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sf1630.airflow.receiver import build_receiver_dag
from sf1630.database import Database
from sf1630.protocol import Period
from sf1630.receiver import delivery as delivery_module
from sf1630.warehouse import Outcome, recorded, report_of

from tests.support.proxy import CuttingProxy
from tests.support.receiver import Emulator, ReceiverSetup, corrupt_extract, make_extract, next_logical_date

KY_DATA = "KY_LIS_65700000_M10_20261101060000.csv"
PERIOD = "2026-10"
KY_ASSET = "sf1630://lis-warehouse/ky"


def query(db: Database, sql: str) -> list[tuple[Any, ...]]:
    with contextlib.closing(db.connect()) as conn:
        return list(conn.execute(sql).fetchall())


def ledger(db: Database) -> list[tuple[Any, ...]]:
    return query(db, f"SELECT file_name, outcome, rows FROM {db.schema}.sf1630_ledger ORDER BY 1")  # noqa: S608


def row_count(db: Database, table: str) -> int:
    return int(query(db, f"SELECT count(*) FROM {db.schema}.{table}")[0][0])  # noqa: S608


def states(run: Any) -> dict[str, str]:
    return {ti.task_id: ti.state for ti in run.get_task_instances()}


def asset_events(uri: str) -> list[dict[str, Any]]:
    """The extras of the asset events recorded for ``uri`` in this worker's Airflow database."""
    from airflow.models.asset import AssetEvent, AssetModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        query = select(AssetEvent.extra).join(AssetModel, AssetEvent.asset_id == AssetModel.id)
        ordered = query.where(AssetModel.uri == uri).order_by(AssetEvent.id)
        return [dict(extra) for extra in session.scalars(ordered)]


def _validation_page(site: Path) -> str:
    """The text of a Data Docs site's validation result page."""
    [page] = (site / "validations").rglob("*.html")
    return page.read_text(encoding="utf-8")


def uuid_of(metadata: bytes) -> str:
    from sf1630.protocol import read_metadata

    return read_metadata(metadata).file_transfer_uuid


@pytest.mark.integration
def test_valid_delivery_loads_once_and_a_redelivery_loads_nothing(
    emulator: Emulator, configure: Callable[..., ReceiverSetup], warehouse: Database, airflow_db: Path
) -> None:
    setup = configure(emulator, warehouse)
    events_before = asset_events(KY_ASSET)
    content, table = make_extract("KY", rows=250)
    metadata_path = emulator.deliver("KY", KY_DATA, content)
    metadata = metadata_path.read_bytes()

    run = build_receiver_dag(setup.receiver).test(logical_date=next_logical_date())

    steps = ("wait_for_metadata", "fetch", "validate", "load", "delete", "housekeeping", "all_loaded")
    assert all(states(run)[step] == "success" for step in steps), states(run)
    assert run.state == "success"
    assert list(emulator.inbox().iterdir()) == []
    assert row_count(warehouse, table) == 250
    assert ledger(warehouse) == [(KY_DATA, "loaded", 250)]
    assert recorded(warehouse, uuid_of(metadata)) is Outcome.LOADED
    assert not any(setup.staging.iterdir())
    report = report_of(warehouse, uuid_of(metadata))
    assert report == f"file://{setup.reports / KY_DATA}"
    folder = setup.reports / KY_DATA
    assert json.loads((folder / "validation.json").read_text())["success"] is True
    assert (folder / "datadocs" / "index.html").is_file()
    assert oct(folder.stat().st_mode & 0o777) == oct(0o700)
    assert oct((folder / "validation.json").stat().st_mode & 0o777) == oct(0o600)
    [load_ti] = [ti for ti in run.get_task_instances() if ti.task_id == "load"]
    assert load_ti.rendered_map_index == "KY → Herning LIS01 2026-10"
    expected_event = {"lis": "HERNING_LIS01_SIMPEL", "kommune": "65700000", "period": PERIOD, "rows": 250}
    assert asset_events(KY_ASSET)[len(events_before) :] == [expected_event]

    # The platform delivers the same transfer again (same FileTransferUUID): nothing is loaded twice.
    (emulator.inbox() / KY_DATA).write_bytes(content)
    (emulator.inbox() / f"{KY_DATA}.metadata").write_bytes(metadata)
    again = build_receiver_dag(setup.receiver).test(logical_date=next_logical_date())

    assert states(again)["load"] == "success"
    assert (
        again.get_task_instances()[0].xcom_pull(task_ids="load", map_indexes=0)["status"] == "already-loaded"
    )
    assert list(emulator.inbox().iterdir()) == []
    assert row_count(warehouse, table) == 250
    assert ledger(warehouse) == [(KY_DATA, "loaded", 250)]


@pytest.mark.integration
def test_invalid_delivery_is_quarantined_with_reports_and_loads_nothing(
    emulator: Emulator, configure: Callable[..., ReceiverSetup], warehouse: Database, airflow_db: Path
) -> None:
    setup = configure(emulator, warehouse)
    content = corrupt_extract("KY", rows=50)
    emulator.deliver("KY", KY_DATA, content)

    run = build_receiver_dag(setup.receiver).test(logical_date=next_logical_date())

    assert states(run)["load"] == "failed" and states(run)["delete"] == "success"
    assert run.state == "failed" and states(run)["all_loaded"] == "upstream_failed"
    assert list(emulator.inbox().iterdir()) == []
    folder = setup.quarantine / KY_DATA
    kept = {p.name for p in folder.iterdir()}
    reports = {"validation.json", "validation.html", "summary.txt", "datadocs"}
    assert kept == {KY_DATA, f"{KY_DATA}.metadata", "reason.json", *reports}
    result = json.loads((folder / "validation.json").read_text())  # GX's own ValidationResult
    [failed] = [r for r in result["results"] if not r["success"]]
    config = failed["expectation_config"]  # a pattern, checked in the form PostgreSQL matches fastest
    assert config["meta"]["stands_for"] == "expect_column_values_to_match_regex"
    assert (config["kwargs"]["column"], failed["result"]["unexpected_count"]) == ("person_noegle", 1)
    assert failed["result"]["partial_unexpected_list"] == ["XYZ"]
    assert (folder / "datadocs" / "index.html").is_file()
    assert "person_noegle matches [0-9a-f]{32}" in _validation_page(folder / "datadocs")
    assert not any(setup.staging.iterdir())
    assert (folder / KY_DATA).read_bytes() == content
    reason = json.loads((folder / "reason.json").read_text())
    assert reason["reason"] == "invalid extract" and reason["contact"] == "KY drift <drift@ky.example>"
    assert ledger(warehouse) == [(KY_DATA, "quarantined", 0)]


@pytest.mark.integration
def test_one_run_validates_every_delivery_and_labels_each_load(
    emulator: Emulator,
    configure: Callable[..., ReceiverSetup],
    tmp_path: Path,
    airflow_db: Path,
    warehouse: Database,
) -> None:
    """Two deliveries, one validate step (GX imported once): the valid one loads, the invalid one is
    quarantined with its GX result; the ledger's report column points at each one's reports."""
    setup = configure(emulator, warehouse)
    content, table = make_extract("KY", rows=120)
    emulator.deliver("KY", KY_DATA, content)
    bad_name = "KSD_LIS_65700000_M10_20261101060000.csv"
    emulator.deliver("KSD", bad_name, corrupt_extract("KSD", rows=40, kind="null_in_required"))

    run = build_receiver_dag(setup.receiver).test(logical_date=next_logical_date())

    assert run.state == "failed" and states(run)["all_loaded"] == "upstream_failed"
    assert [ti.task_id for ti in run.get_task_instances()].count("validate") == 1
    labels = {ti.rendered_map_index: ti.state for ti in run.get_task_instances() if ti.task_id == "load"}
    assert labels == {"KSD → Herning LIS01 2026-10": "failed", "KY → Herning LIS01 2026-10": "success"}
    assert row_count(warehouse, table) == 120
    assert sorted(ledger(warehouse)) == [(bad_name, "quarantined", 0), (KY_DATA, "loaded", 120)]
    result = json.loads((setup.quarantine / bad_name / "validation.json").read_text())
    failed = [r for r in result["results"] if not r["success"]]
    assert {r["expectation_config"]["type"] for r in failed} == {"expect_column_values_to_not_be_null"}, (
        failed
    )
    assert failed[0]["result"]["unexpected_count"] >= 1
    reports = dict(query(warehouse, "SELECT file_name, report FROM sf1630_ledger"))
    assert reports == {
        bad_name: f"file://{setup.quarantine / bad_name}",
        KY_DATA: f"file://{setup.reports / KY_DATA}",
    }
    assert list(emulator.inbox().iterdir()) == []


@pytest.mark.integration
def test_crash_between_commit_and_delete_does_not_load_twice(
    emulator: Emulator,
    configure: Callable[..., ReceiverSetup],
    warehouse: Database,
    airflow_db: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    setup = configure(emulator, warehouse)
    content, table = make_extract("KY", rows=120)
    emulator.deliver("KY", KY_DATA, content)

    def crash(*_: object) -> None:
        raise ConnectionAbortedError("worker lost after commit (simulated)")

    monkeypatch.setattr(delivery_module, "delete_remote", crash)
    first = build_receiver_dag(setup.receiver).test(logical_date=next_logical_date())
    assert states(first)["load"] == "success" and states(first)["delete"] == "failed"
    assert first.state == "failed"
    assert row_count(warehouse, table) == 120
    assert sorted(p.name for p in emulator.inbox().iterdir()) == [KY_DATA, f"{KY_DATA}.metadata"]

    monkeypatch.undo()
    setup = configure(emulator, warehouse)
    second = build_receiver_dag(setup.receiver).test(logical_date=next_logical_date())

    assert states(second)["load"] == "success" and states(second)["delete"] == "success"
    assert second.get_task_instances()[0].xcom_pull(task_ids="fetch")[0]["status"] == "already-loaded"
    assert list(emulator.inbox().iterdir()) == []
    assert not any(setup.staging.iterdir())
    assert row_count(warehouse, table) == 120
    assert ledger(warehouse) == [(KY_DATA, "loaded", 120)]


@pytest.mark.integration
def test_connection_cut_mid_download_is_retried(
    emulator: Emulator,
    configure: Callable[..., ReceiverSetup],
    tmp_path: Path,
    airflow_db: Path,
    warehouse: Database,
) -> None:
    db = warehouse
    content, table = make_extract("KY", rows=4000)
    assert len(content) > 200_000
    emulator.deliver("KY", KY_DATA, content)
    proxy = CuttingProxy(emulator.port, after=100_000, direction="down")
    try:
        setup = configure(emulator, db, sftp_port=proxy.port)
        run = build_receiver_dag(setup.receiver).test(logical_date=next_logical_date())
    finally:
        proxy.close()

    assert proxy.cuts_done == 1
    assert states(run)["load"] == "success"
    assert row_count(db, table) == 4000
    assert list(emulator.inbox().iterdir()) == []


@pytest.mark.integration
def test_one_fetch_step_logs_in_once_and_again_only_after_a_cut(
    emulator: Emulator, configure: Callable[..., ReceiverSetup], warehouse: Database, airflow_db: Path
) -> None:
    """The fetch step reads every delivery's metadata and data over one SFTP session (an SSH login each
    was 2 per delivery); a session cut mid-download is dropped and the retry logs in afresh."""
    from dataclasses import replace

    from sf1630.airflow.store import intake_for
    from sf1630.receiver.delivery import fetch_items
    from sf1630.receiver.fetch import list_inbox

    names = [KY_DATA, "KY_LIS_65700000_M10_20261101060001.csv", "KY_LIS_65700000_M10_20261101060002.csv"]
    for n, name in enumerate(names):
        emulator.deliver("KY", name, make_extract("KY", rows=3000 if n else 40, seed=n)[0])
    for cuts, logins in ((0, 1), (1, 2)):
        proxy = CuttingProxy(emulator.port, after=100_000, direction="down", cuts=cuts)
        try:
            intake = intake_for(configure(emulator, warehouse, sftp_port=proxy.port).receiver)
            with intake.open_sftp() as sftp:
                items = list_inbox(sftp, "IN", who=intake.receiver.sftp_user).items
            opened = proxy.connections
            records = fetch_items(
                replace(intake, backoff_seconds=0.0), [(item, item.data_name) for item in items]
            )
        finally:
            proxy.close()
        assert [r.status.value for r in records] == ["staged"] * len(names)
        assert (proxy.cuts_done, proxy.connections - opened) == (cuts, logins)


@pytest.mark.integration
def test_short_file_is_retried_then_quarantined(
    emulator: Emulator,
    configure: Callable[..., ReceiverSetup],
    tmp_path: Path,
    airflow_db: Path,
    warehouse: Database,
) -> None:
    db = warehouse
    setup = configure(emulator, db)
    content, _ = make_extract("KY", rows=30)
    emulator.deliver("KY", KY_DATA, content)
    (emulator.inbox() / KY_DATA).write_bytes(content[: len(content) // 2])  # what a broken transfer leaves

    run = build_receiver_dag(setup.receiver).test(logical_date=next_logical_date())

    assert states(run)["fetch"] == "success" and states(run)["load"] == "failed"
    reason = json.loads((setup.quarantine / KY_DATA / "reason.json").read_text())
    assert reason["reason"] == "size mismatch"
    assert ledger(db) == [(KY_DATA, "quarantined", 0)]
    assert list(emulator.inbox().iterdir()) == []


@pytest.mark.integration
def test_one_delivery_of_each_pattern_loads_the_same_way(
    emulator: Emulator, configure: Callable[..., ReceiverSetup], warehouse: Database, airflow_db: Path
) -> None:
    """KY names the LIS user (simple pattern), AULA routes dynamically: both end in the same metadata file."""
    from sf1630.protocol import FILE_CONTENT_NAMESPACE, ROUTING_RECIPIENT, read_metadata

    setup = configure(emulator, warehouse)
    ky, ky_table = make_extract("KY", rows=40)
    aula, aula_table = make_extract("AULA", rows=30)
    aula_name = "AULA_LIS_65700000_M10_20261101060000.csv"
    simple = read_metadata(emulator.deliver("KY", KY_DATA, ky).read_bytes())
    routed = read_metadata(emulator.deliver("AULA", aula_name, aula).read_bytes())
    assert simple.file.recipients == routed.file.recipients == ("HERNING_LIS01_SIMPEL",)
    assert simple.content.routing is None and f"{{{FILE_CONTENT_NAMESPACE}}}SF" in dict(simple.content.other)
    assert routed.content.routing is not None and ROUTING_RECIPIENT not in routed.file.recipients

    run = build_receiver_dag(setup.receiver).test(logical_date=next_logical_date())

    assert run.state == "success", states(run)
    assert row_count(warehouse, ky_table) == 40 and row_count(warehouse, aula_table) == 30
    assert ledger(warehouse) == [(aula_name, "loaded", 30), (KY_DATA, "loaded", 40)]
    assert list(emulator.inbox().iterdir()) == []


@pytest.mark.integration
def test_description_example_name_takes_kommune_and_period_from_the_data(
    emulator: Emulator, configure: Callable[..., ReceiverSetup], warehouse: Database, airflow_db: Path
) -> None:
    """``KY_LIS-DATA_201901.csv`` (the description's own example) loads: its rows name Herning and the month.

    The same name with rows of another kommune is quarantined as a wrong kommune, and a file whose data give
    no kommune either is quarantined with a reason that says neither the name nor the data gave them.
    """
    setup = configure(emulator, warehouse)
    content, table = make_extract("KY", rows=25, period=Period(2019, 1))
    emulator.deliver("KY", "KY_LIS-DATA_201901.csv", content)
    other, _ = make_extract("KY", rows=5, period=Period(2019, 1))
    emulator.deliver("KY", "KY_LIS-DATA_201601.csv", other.replace(b"65700000", b"10100000"))
    header, first_row = content.split(b"\n")[:2]
    renamed = header.replace(b"myndighed_cvr", b"cvr") + b"\n" + first_row + b"\n"
    emulator.deliver("KY", "KY_LIS-DATA_UDEN.csv", renamed)

    run = build_receiver_dag(setup.receiver).test(logical_date=next_logical_date())

    assert row_count(warehouse, table) == 25
    lineage = f"SELECT DISTINCT lineage_kommune, lineage_period FROM {warehouse.schema}.{table}"  # noqa: S608
    rows = query(warehouse, lineage)
    assert rows == [("65700000", "2019-01")]
    assert ("KY_LIS-DATA_201901.csv", "loaded", 25) in ledger(warehouse)
    wrong = json.loads((setup.quarantine / "KY_LIS-DATA_201601.csv" / "reason.json").read_text())
    assert wrong["reason"] == "wrong kommune" and "10100000" in wrong["detail"]
    unknown = json.loads((setup.quarantine / "KY_LIS-DATA_UDEN.csv" / "reason.json").read_text())
    assert unknown["reason"] == "kommune and period unknown"
    assert "does not follow <Afsender>_<Modtager>_<myndighedsID>_<periode>_<datoTid>.csv" in unknown["detail"]
    assert "'myndighed_cvr'" in unknown["detail"] and unknown["contact"] == "KY drift <drift@ky.example>"
    assert list(emulator.inbox().iterdir()) == []
    assert run.state == "failed"  # two quarantined deliveries fail the run, as any quarantine does
