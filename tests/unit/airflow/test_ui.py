"""The SF1630 views app (``sf1630.airflow.ui``) in-process behind Airflow's real authentication: every
page answers with a page or a 4xx, report files come only from the LIS system's own share of the store,
nothing is cached or framed by others, each user sees the rows of the DAGs they may read, and the matrix
starts when the LIS system did. One test per class of issue 21's attack on the views."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sf1630.airflow.rest import AirflowApi, AirflowTasks
from sf1630.protocol import Period
from sf1630.registry import delivery_label
from sf1630.warehouse import Outcome

from tests.support.views_app import (
    KBH,
    OUTSIDE_SECRET,
    SEEDED,
    ViewsApp,
    airflow_api,
    execute,
    quarantine,
    record,
    seed_load_task,
)

KY_FILE = "KY_LIS_10100000_M10_20261101000000.csv"
KSD_FILE = "KSD_LIS_10100000_M10_20261101000000.csv"


def cell_states(html: str, lis: str, sender: str) -> dict[str, str]:
    """period → state of one matrix row, read from the cells' markup."""
    found: dict[str, str] = {}
    marker = f"data-lis='{lis}' data-sender='{sender}' data-period='"
    for chunk in html.split("<td class='cell ")[1:]:
        state, _, rest = chunk.partition("'")
        if marker in rest.split(">")[0]:
            found[rest.split(marker)[1][:7]] = state
    return found


# --- valid input answered with 500 ---------------------------------------------------------------------


def test_months_at_the_edge_of_the_calendar_are_pages(views_app: ViewsApp) -> None:
    record(views_app, "u-ky", KY_FILE, Outcome.LOADED)
    for query in ({"month": "9999-12"}, {"year": "9999"}, {"month": "1900-01"}, {"year": "1900"}):
        answer = views_app.get("/loads", **query)
        assert answer.status_code == 200, (query, answer.text[:300])
        assert "late" in answer.text
    assert views_app.get("/loads", month="10000-01").status_code == 400
    assert views_app.get("/loads", year="99999").status_code == 400


def test_before_the_warehouse_exists_the_matrix_is_empty_and_says_so(views_app: ViewsApp) -> None:
    answer = views_app.get("/loads", month="2026-10")
    assert answer.status_code == 200
    assert "Nothing has been loaded yet" in answer.text and "loaded: 0" in answer.text
    answer = views_app.get("/report", lis=KBH, uuid="u-1")
    assert answer.status_code == 404 and "no delivery" in answer.text
    assert views_app.get("/deliveries", month="2026-10").status_code == 200
    assert not views_app.sender_ledger.exists()  # reading created no SQLite file


def test_a_warehouse_that_cannot_be_read_is_a_page_that_says_so(
    views_app: ViewsApp, monkeypatch: pytest.MonkeyPatch
) -> None:
    receiver = views_app.receiver()
    missing = {
        "conn_type": "postgres",
        "host": "127.0.0.1",
        "login": "postgres",
        "schema": "no_such_db_sf1630",
    }
    monkeypatch.setenv(f"AIRFLOW_CONN_{receiver.warehouse_conn_id.upper()}", json.dumps(missing))
    answer = views_app.get("/loads", month="2026-10", lis=KBH)
    assert answer.status_code == 503 and "cannot be read right now" in answer.text
    assert "no_such_db" not in answer.text  # the database's own message stays in the log


def test_unexpected_ledger_and_report_values_are_shown_not_failed(views_app: ViewsApp) -> None:
    glob = "KSD_LIS_10100000_M10_2026**[x]?.csv"
    record(views_app, "u-glob", glob, Outcome.QUARANTINED)
    quarantine(views_app, glob)
    counts = [10**400, "many", [1], {"n": 1}, -5, True, 1.5e308]
    odd = {
        "success": "perhaps",
        "results": [
            {
                "success": False,
                "expectation_config": {"type": "t", "kwargs": []},
                "result": {"unexpected_count": c},
            }
            for c in counts
        ]
        + [{"success": False, "unexpected_count": "x", "expectation": {"nested": True}}, "not a result"],
    }
    record(views_app, "u-odd", KSD_FILE, Outcome.QUARANTINED)
    quarantine(views_app, KSD_FILE, validation=json.dumps(odd).replace("1e+400", "1e400").encode())
    answer = views_app.get("/report", lis=KBH, uuid="u-odd")
    assert answer.status_code == 200 and "validation ? : 9 expectations, 8 failed" in answer.text.replace(
        "validation ?:", "validation ? :"
    )
    answer = views_app.get("/report", lis=KBH, uuid="u-glob")
    assert answer.status_code == 200 and "validation FAILED" in answer.text
    nested = b"[" * 100_000
    (views_app.quarantine() / glob / "validation.json").write_bytes(nested)
    assert views_app.get("/report", lis=KBH, uuid="u-glob").status_code == 200
    execute(
        views_app,
        "UPDATE LEDGER SET detail = ?, period = '2026-1x' WHERE file_transfer_uuid = 'u-odd'",
        "\x01\u202e",
    )
    execute(views_app, "UPDATE LEDGER SET file_name = ? WHERE file_transfer_uuid = 'u-glob'", "a\x01b.csv")
    assert views_app.get("/loads", month="2026-10", lis=KBH).status_code == 200
    assert views_app.get("/report", lis=KBH, uuid="u-glob").status_code == 200
    answer = views_app.get("/report/ti", dag_id=views_app.receiver().dag_id, run_id="a\x00b", task_id="load")
    assert answer.status_code == 422 and "control characters" in answer.text
    answer = views_app.get("/report/ti", dag_id="x", run_id="r", task_id="load", map_index=2**40)
    assert answer.status_code == 422


# --- report locations trusted whole ----------------------------------------------------------------------


def test_report_files_come_only_from_the_lis_systems_own_share_of_the_store(
    views_app: ViewsApp, web: tuple[str, list[str]]
) -> None:
    url, hits = web
    store = f"file://{views_app.store}"
    other = next(r for r in views_app.receivers if r.sftp_user != KBH).sftp_user
    (views_app.reports(other) / "theirs").mkdir(parents=True)
    (views_app.reports(other) / "theirs" / "validation.json").write_bytes(OUTSIDE_SECRET)
    elsewhere = {
        "u-file": f"file://{views_app.outside}",
        "u-http": f"{url}/reports/{KBH}/x",
        "u-other-lis": f"{store}/reports/{other}/theirs",
        "u-dotdot": f"{store}/reports/{KBH}/../../store-outside",
        "u-scheme": f"s3:/{views_app.store}/reports/{KBH}/x",
        "u-plain-path": str(views_app.outside),
    }
    for uuid, location in elsewhere.items():
        record(
            views_app,
            uuid,
            f"KY_LIS_10100000_M10_2026110100000{len(uuid)}.csv",
            Outcome.LOADED,
            report=location,
        )
    # a symlink in the quarantine to a folder outside, and a report file that is a symlink out
    record(views_app, "u-link", KSD_FILE, Outcome.QUARANTINED)
    (views_app.quarantine()).mkdir(parents=True)
    (views_app.quarantine() / KSD_FILE).symlink_to(views_app.outside, target_is_directory=True)
    record(views_app, "u-file-link", "DUBU_LIS_10100000_M10_20261101000000.csv", Outcome.QUARANTINED)
    folder = quarantine(views_app, "DUBU_LIS_10100000_M10_20261101000000.csv")
    (folder / "validation.json").unlink()
    (folder / "validation.json").symlink_to(views_app.outside / "validation.json")
    for uuid in [*elsewhere, "u-link", "u-file-link"]:
        for name in ("validation.json", "validation.html")[: 1 if uuid == "u-file-link" else 2]:
            answer = views_app.get("/report/file", lis=KBH, uuid=uuid, name=name)
            assert answer.status_code == 404, (uuid, name, answer.status_code)
            assert OUTSIDE_SECRET not in answer.content
        page = views_app.get("/report", lis=KBH, uuid=uuid)
        assert page.status_code == 200 and OUTSIDE_SECRET not in page.content
    assert hits == []  # the api-server fetched nothing


# --- reports lost on ordinary paths -----------------------------------------------------------------------


def test_reports_are_found_in_a_store_whose_path_has_spaces_quotes_and_danish_letters(
    views_app: ViewsApp,
) -> None:
    assert " " in str(views_app.store) and '"' in str(views_app.store) and "Ø" in str(views_app.store)
    record(views_app, "u-q", KSD_FILE, Outcome.QUARANTINED)
    quarantine(views_app, KSD_FILE)
    page = views_app.get("/report", lis=KBH, uuid="u-q")
    assert "validation FAILED: 1 expectations, 1 failed" in page.text
    answer = views_app.get("/report/file", lis=KBH, uuid="u-q", name="validation.html")
    assert answer.status_code == 200 and b"report of the quarantine" in answer.content
    folder = views_app.reports() / KY_FILE
    folder.mkdir(parents=True)
    (folder / "validation.json").write_text(json.dumps({"success": True, "results": []}), encoding="utf-8")
    record(views_app, "u-r", KY_FILE, Outcome.LOADED, report=f"file://{folder}")  # as str(ObjectStoragePath)
    answer = views_app.get("/report/file", lis=KBH, uuid="u-r", name="validation.json")
    assert answer.status_code == 200 and answer.json()["success"] is True


# --- personal data in caches and frames -------------------------------------------------------------------


def test_pages_and_report_files_are_not_cached_and_framed_by_airflow_only(views_app: ViewsApp) -> None:
    record(views_app, "u-q", KSD_FILE, Outcome.QUARANTINED)
    quarantine(views_app, KSD_FILE)
    for path, query in (
        ("/loads", {"month": "2026-10"}),
        ("/deliveries", {"month": "2026-10"}),
        ("/report", {"lis": KBH, "uuid": "u-q"}),
        ("/report/ti", {"dag_id": views_app.receiver().dag_id, "run_id": "r", "task_id": "load"}),
    ):
        answer = views_app.get(path, **query)
        assert answer.status_code == 200
        assert answer.headers["cache-control"] == "no-store"
        assert "frame-ancestors 'self'" in answer.headers["content-security-policy"]
    answer = views_app.get("/report/file", lis=KBH, uuid="u-q", name="validation.html")
    assert answer.headers["cache-control"] == "no-store"
    assert answer.headers["content-security-policy"] == "sandbox; frame-ancestors 'self'"
    for error in (views_app.get("/loads", month="13"), views_app.get("/loads", user="")):
        assert error.status_code in (400, 401) and error.headers["cache-control"] == "no-store"


# --- rows the user may not see ----------------------------------------------------------------------------


def test_each_user_sees_the_rows_of_the_dags_they_may_read(views_app: ViewsApp) -> None:
    """``kbh`` may read København's receiver DAG only (team kbh); admin may read every DAG."""
    other = next(r for r in views_app.receivers if r.sftp_user != KBH)
    record(views_app, "u-kbh", KSD_FILE, Outcome.QUARANTINED)
    quarantine(views_app, KSD_FILE)
    theirs = KSD_FILE.replace("10100000", other.kommune.cvr)
    record(views_app, "u-other", theirs, Outcome.QUARANTINED, user=other.sftp_user)
    quarantine(views_app, theirs, user=other.sftp_user)
    admin = views_app.get("/loads", month="2026-10").text
    assert f"data-lis='{KBH}'" in admin and f"data-lis='{other.sftp_user}'" in admin
    mine = views_app.get("/loads", month="2026-10", user="kbh").text
    assert f"data-lis='{KBH}'" in mine and other.sftp_user not in mine
    for path, query in (
        ("/report", {"lis": other.sftp_user, "uuid": "u-other"}),
        ("/report/file", {"lis": other.sftp_user, "uuid": "u-other", "name": "validation.json"}),
        ("/report/ti", {"dag_id": other.dag_id, "run_id": "r", "task_id": "load"}),
        ("/act", {"do": "send", "lis": other.sftp_user, "sender": "KY", "period": "2026-10"}),
        ("/trigger", {"dag_id": "sf1630_sender_ky"}),
    ):
        answer = views_app.get(path, user="kbh", **query)
        assert answer.status_code == 403 and "may not read" in answer.text, path
        assert views_app.get(path, **query).status_code != 403
    assert views_app.get("/report", lis=KBH, uuid="u-kbh", user="kbh").status_code == 200
    deliveries = views_app.get("/deliveries", month="2026-10", user="kbh").text
    assert "<tbody></tbody>" in deliveries  # no sender DAG is theirs: no sender's receipts
    assert "<tbody></tbody>" not in views_app.get("/deliveries", month="2026-10").text


# --- the matrix starts when the system started -----------------------------------------------------------


def test_months_before_the_first_delivery_are_not_late(views_app: ViewsApp) -> None:
    record(views_app, "u-ky", KY_FILE, Outcome.LOADED)
    states = cell_states(views_app.get("/loads", year="2026", lis=KBH).text, KBH, "AULA")
    assert {states[f"2026-{m:02d}"] for m in range(1, 10)} == {"missing"}  # before its first delivery
    assert states["2026-10"] == "late"  # KY's October came, AULA's did not
    other = next(r for r in views_app.receivers if r.sftp_user != KBH).sftp_user
    states = cell_states(views_app.get("/loads", year="2026", lis=other).text, other, "KY")
    assert set(states.values()) == {"missing"}  # nothing ever delivered: not started


def test_the_views_need_login(views_app: ViewsApp) -> None:
    answer = views_app.get("/loads", user="")
    assert answer.status_code == 401 and "København" not in answer.text


# --- Airflow's REST API ----------------------------------------------------------------------------------


#: After any run a test of this worker makes for real (they share its metadata database).
LATER = datetime(2099, 1, 1, tzinfo=UTC)


def test_task_instances_come_from_airflows_rest_api_as_the_user(
    views_app: ViewsApp, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The newest ``load`` task instance of a delivery label links the cell and opens its report; a user who
    may not read the DAG gets none (Airflow's own per-DAG filter on its REST API). One task instance per
    page: every page is read. The seeded runs start later than any real one: other tests of this worker
    share the metadata database and may leave runs of the same DAGs, even of the same label."""
    monkeypatch.setenv("AIRFLOW__API__MAXIMUM_PAGE_LIMIT", "1")
    receiver = views_app.receiver()
    label = delivery_label("KY", receiver.kommune, receiver.lis, Period.parse("2026-10"))
    record(views_app, "u-ky", KY_FILE, Outcome.LOADED)
    seed_load_task(receiver.dag_id, "old", label, "failed", LATER)
    seed_load_task(receiver.dag_id, "new", label, "success", LATER + timedelta(hours=1))
    page = views_app.get("/loads", month="2026-10", lis=KBH).text
    assert f"{SEEDED}new" in page and f"{SEEDED}old" not in page
    other = next(r for r in views_app.receivers if r.sftp_user != KBH)
    seed_load_task(other.dag_id, "theirs", label, "success", LATER)
    mine = AirflowTasks(AirflowApi(airflow_api(), views_app.tokens["admin"]))
    newest = mine.lookup("load", [receiver.dag_id], LATER + timedelta(minutes=1))
    assert newest[(receiver.dag_id, label)].run_id == f"{SEEDED}new"
    assert mine.lookup("load", [receiver.dag_id], LATER + timedelta(days=1)) == {}  # none started since
    for user, seen in (("admin", {f"{SEEDED}theirs"}), ("kbh", set())):
        tasks = AirflowTasks(AirflowApi(airflow_api(), views_app.tokens[user]))
        found = tasks.lookup("load", [other.dag_id])
        assert {ref.run_id for (_, lab), ref in found.items() if lab == label} == seen, user
    query = {"dag_id": receiver.dag_id, "run_id": f"{SEEDED}new", "task_id": "load", "map_index": 0}
    answer = views_app.get("/report/ti", **query)
    assert answer.status_code == 200 and KY_FILE in answer.text
    assert "No SF1630 delivery" in views_app.get("/report/ti", **{**query, "map_index": 1}).text


def test_airflow_that_does_not_answer_is_a_page_that_says_so(
    views_app: ViewsApp, web: tuple[str, list[str]]
) -> None:
    """No api-server at ``[api] base_url`` (nothing listening), or something else there (no JSON): 503."""
    from fastapi.testclient import TestClient
    from sf1630.airflow.ui import create_app
    from sf1630.demo.stack import free_port

    record(views_app, "u-ky", KY_FILE, Outcome.LOADED)
    receiver = views_app.receiver()
    headers = {"Authorization": f"Bearer {views_app.tokens['admin']}"}
    for base in (f"http://127.0.0.1:{free_port()}/api/v2/", f"{web[0]}/api/v2/"):
        app = create_app(lambda base=base: httpx.Client(base_url=base, timeout=5.0))  # type: ignore[misc]
        with TestClient(app, raise_server_exceptions=False) as client:
            for path, query in (
                ("/loads", {"month": "2026-10"}),
                ("/deliveries", {"month": "2026-10"}),
                ("/report/ti", {"dag_id": receiver.dag_id, "run_id": "r", "task_id": "load"}),
                ("/trigger", {"dag_id": receiver.dag_id}),
            ):
                answer = client.get(path, params=query, headers=headers)
                assert answer.status_code == 503, (base, path, answer.text[:300])
                assert "Airflow not reachable" in answer.text and "Traceback" not in answer.text
                assert answer.headers["cache-control"] == "no-store"
