"""The SF1630 views in a real browser, against a real ``airflow api-server`` with the plugin, over the
state a real demo run left (one kommune: every sender DAG, the receiver DAG, København's invalid KSD file
quarantined), changed a little so every kind of cell shows: DUBU's file received but not loaded, AULA's
missing past its deadline, and the current month missing before its deadline.

Chromium is Debian's, driven by chromium-driver (``.ci/run`` installs both). Screenshots of the three
views go to ``SF1630_SCREENSHOTS`` when set (``docs/`` holds the ones from the last run).
"""

# ruff: noqa: S608  (SQL text built from the demo's own schema name only)

from __future__ import annotations

import io
import json
import os
import shutil
import sqlite3
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, urlparse

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict
from sf1630.demo.environment import read_env_file, warehouse_dsn
from sf1630.demo.layout import DemoHome
from sf1630.demo.metadb import SQLITE, start_metadata_db
from sf1630.demo.progress import Progress
from sf1630.demo.run import run_demo
from sf1630.demo.stack import free_port
from sf1630.protocol import Period

from tests.support.airflow_ui import (
    ApiServer,
    api_server,
    chromium,
    chromium_available,
    get,
    loads_cell,
    wait_for_element,
)

pytestmark = [
    pytest.mark.integration,
    pytest.mark.timeout(1500),  # the module's first test waits for a whole (one-kommune) demo run
    pytest.mark.skipif(not chromium_available(), reason="needs Debian's chromium and chromium-driver"),
]

LIS = "KOEBENHAVN_LIS01_SIMPEL"
SCHEMA = "koebenhavn_lis01_simpel"
INVALID = "KSD_LIS_10100000_M10_20261101000000.csv"
RECEIVER = "sf1630_receiver_koebenhavn_lis01_simpel"


def _seed(root: Path) -> DemoHome:
    """A finished one-kommune demo (or a copy of ``SF1630_BROWSER_STATE``, a finished demo home)."""
    home = DemoHome.at(root / "state")
    given = os.environ.get("SF1630_BROWSER_STATE")
    if given:  # a faster loop while working on the views: the same state, copied and repointed
        shutil.copytree(given, home.root)
        env = (home.root / "demo.env").read_text(encoding="utf-8")
        old = str(Path(read_env_file(DemoHome.at(Path(given)))["AIRFLOW_HOME"]).parent)
        (home.root / "demo.env").write_text(env.replace(old, str(home.root)), encoding="utf-8")
    else:
        quiet = Progress(io.StringIO(), every=0)
        # SQLite: the browser tests' own api-server reads Airflow's state after the demo has stopped (the
        # warehouse's embedded PostgreSQL is started again by the ``warehouse`` fixture). A platform
        # that answers within the senders' quick look: the views, not the deferred waits, are tested.
        run_demo(
            home,
            kommune_count=1,
            rows=10,
            progress=quiet,
            api_port=free_port(),
            metadata_db=SQLITE,
            processing_delay=timedelta(seconds=1),
        )
    with sqlite3.connect(home.sender_ledger) as conn:
        conn.execute("DELETE FROM sf1630_sender_ledger WHERE sender = 'AULA'")
    return home


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> DemoHome:
    return _seed(tmp_path_factory.mktemp("ui"))


@pytest.fixture(scope="module")
def warehouse(seeded: DemoHome) -> Iterator[str]:
    """The demo's warehouse (its embedded PostgreSQL, started again); its libpq connection string."""
    database = start_metadata_db(SQLITE, seeded.airflow_home, warehouse=seeded.postgres)
    try:
        dsn = warehouse_dsn(*database.warehouse_server())
        with psycopg.connect(dsn) as con:
            # DUBU: accepted by the platform, not loaded yet; AULA: never delivered.
            con.execute(f"DELETE FROM {SCHEMA}.sf1630_ledger WHERE sender IN ('DUBU', 'AULA')")
        yield dsn
    finally:
        database.stop()


@pytest.fixture(scope="module")
def server(seeded: DemoHome, warehouse: str) -> Iterator[ApiServer]:
    env = read_env_file(seeded)
    socket_folder, port = (conninfo_to_dict(warehouse)[k] for k in ("host", "port"))
    for name, value in env.items():  # the server's socket folder may have moved since the demo
        conn = json.loads(value) if name.startswith("AIRFLOW_CONN_SF1630_WAREHOUSE_") else None
        if conn is not None:
            env[name] = json.dumps({**conn, "host": socket_folder, "port": int(str(port))})
    with api_server(env, seeded.root.parent / "api-server.log") as running:
        yield running


@pytest.fixture(scope="module")
def browser(server: ApiServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A browser logged in as admin: Airflow's own JWT in Airflow's own cookie, as after the login form."""
    with chromium(tmp_path_factory.mktemp("profile")) as driver:
        driver.get(f"{server.url}/api/v2/monitor/health")
        driver.add_cookie({"name": "_token", "value": server.token(), "path": "/"})
        yield driver


def _cell(driver: Any, sender: str, period: str = "2026-10") -> Any:
    return wait_for_element(driver, loads_cell(LIS, sender, period))


def _shot(driver: Any, name: str) -> None:
    folder = os.environ.get("SF1630_SCREENSHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        driver.save_screenshot(str(Path(folder) / name))


def test_the_loads_matrix_shows_each_kind_of_cell(server: ApiServer, browser: Any) -> None:
    browser.get(f"{server.url}/sf1630/loads?month=2026-10")
    states = {s: _cell(browser, s).get_attribute("class").split()[-1] for s in ("KY", "KSD", "DUBU", "AULA")}
    assert states == {"KY": "loaded", "KSD": "quarantined", "DUBU": "received", "AULA": "late"}
    assert "10 rows" in _cell(browser, "KY").text
    assert "invalid extract" in _cell(browser, "KSD").text
    assert "København" in browser.find_element("css selector", "th.who").text  # names, not only CVRs
    current = str(Period.of(datetime.now(UTC)))
    browser.get(f"{server.url}/sf1630/loads?month={current}&lis={LIS}")
    assert _cell(browser, "KY", current).get_attribute("class").split()[-1] == "missing"


def test_the_matrix_is_in_airflows_navigation(server: ApiServer, browser: Any) -> None:
    browser.get(f"{server.url}/plugin/sf1630-loads")
    frame = wait_for_element(browser, "iframe")
    browser.switch_to.frame(frame)
    try:
        _cell(browser, "KSD")
    finally:
        browser.switch_to.default_content()
    _shot(browser, "ui-loads.png")


@pytest.fixture(scope="module")
def failed_load(server: ApiServer) -> tuple[str, int]:
    """The run id and map index of the load that quarantined KSD's file (the order the scheduler mapped
    the month's deliveries in is not fixed, so neither is the index)."""
    with sqlite3.connect(Path(server.home) / "airflow.db") as conn:
        [(run_id, map_index)] = conn.execute(
            "SELECT run_id, map_index FROM task_instance"
            " WHERE dag_id = ? AND task_id = 'load' AND state = 'failed'",
            (RECEIVER,),
        ).fetchall()
    return str(run_id), int(map_index)


def test_a_click_on_the_cell_opens_its_run(
    server: ApiServer, browser: Any, failed_load: tuple[str, int]
) -> None:
    browser.get(f"{server.url}/sf1630/loads?month=2026-10")
    _cell(browser, "KSD").find_element("css selector", "a.ti").click()
    wait_for_element(browser, "body")
    path = urlparse(browser.current_url).path
    run, index = quote(failed_load[0], safe=""), failed_load[1]
    assert path == f"/dags/{RECEIVER}/runs/{run}/tasks/load/mapped/{index}", path
    wait_for_element(browser, "main, #root")
    assert "load" in browser.page_source


def test_a_click_on_report_opens_the_validation_report(server: ApiServer, browser: Any) -> None:
    browser.get(f"{server.url}/sf1630/loads?month=2026-10")
    _cell(browser, "KSD").find_element("css selector", "a.report").click()
    verdict = wait_for_element(browser, "#verdict")
    assert "FAILED" in verdict.text and "1 failed" in verdict.text
    assert "expect_column_values_to_match_regex" in browser.find_element("css selector", "#failed").text
    assert INVALID in browser.find_element("css selector", "#facts").text
    frame = browser.find_element("css selector", "iframe#datadocs")
    assert "name=validation.html" in frame.get_attribute("src")


def test_the_task_instance_tab_shows_the_report(
    server: ApiServer, browser: Any, failed_load: tuple[str, int]
) -> None:
    run, index = quote(failed_load[0], safe=""), failed_load[1]
    browser.get(f"{server.url}/dags/{RECEIVER}/runs/{run}/tasks/load/mapped/{index}/plugin/sf1630-report")
    frame = wait_for_element(browser, "iframe")
    browser.switch_to.frame(frame)
    try:
        assert "FAILED" in wait_for_element(browser, "#verdict").text
    finally:
        browser.switch_to.default_content()
    _shot(browser, "ui-report.png")


def test_the_resend_link_opens_the_trigger_form_with_the_params(server: ApiServer, browser: Any) -> None:
    browser.get(f"{server.url}/sf1630/loads?month=2026-10")
    link = _cell(browser, "KSD").find_element("css selector", "a.resend")
    link.click()
    wait_for_element(browser, "form#trigger")
    values = {
        e.get_attribute("name"): json.loads(e.get_attribute("value"))
        for e in browser.find_elements("css selector", "input.param")
    }
    assert values == {"kommune": ["101"], "recipient": [LIS], "period": "2026-10", "force": True}
    query = parse_qs(urlparse(browser.current_url).query)
    assert query["dag_id"] == ["sf1630_sender_ksd"]
    browser.find_element("css selector", "#go").click()  # Airflow's REST API, as the logged-in user
    wait_for_element(browser, "body")
    deadline = time.monotonic() + 60
    while "/runs/" not in browser.current_url and time.monotonic() < deadline:
        time.sleep(0.5)
    assert urlparse(browser.current_url).path.startswith("/dags/sf1630_sender_ksd/runs/manual__")
    with sqlite3.connect(Path(server.home) / "airflow.db") as conn:
        confs = [
            json.loads(c)
            for (c,) in conn.execute("SELECT conf FROM dag_run WHERE dag_id = 'sf1630_sender_ksd'")
        ]
    assert {"kommune": ["101"], "recipient": [LIS], "period": "2026-10", "force": True} in confs


def test_the_deliveries_view_shows_receipts(server: ApiServer, browser: Any) -> None:
    browser.get(f"{server.url}/sf1630/deliveries?month=2026-10&lis={LIS}")
    table = wait_for_element(browser, "table#deliveries").text
    # KY, KSD, DUBU and KP accepted; AULA's row was removed.
    assert table.count("accepted") == 4 and "not sent" in table
    browser.get(f"{server.url}/plugin/sf1630-deliveries")
    wait_for_element(browser, "iframe")
    _shot(browser, "ui-deliveries.png")


@pytest.mark.parametrize(
    "path",
    [
        "/sf1630/loads?month=2026-10",
        "/sf1630/deliveries?month=2026-10",
        f"/sf1630/report/ti?dag_id={RECEIVER}&run_id=x&task_id=load&map_index=2",
        "/sf1630/trigger?dag_id=sf1630_sender_ksd",
    ],
)
def test_an_unauthenticated_request_gets_no_data(server: ApiServer, path: str) -> None:
    status, body = get(server.url + path)
    assert status == 401 and b"Not authenticated" in body
    assert b"KSD" not in body and b"K\xc3\xb8benhavn" not in body
    status, body = get(server.url + path, {"Authorization": "Bearer not-a-token"})
    assert status in (401, 403) and b"KSD" not in body
    status, _ = get(server.url + path, {"Authorization": f"Bearer {server.token()}"})
    assert status == 200


def test_a_browser_without_login_sees_no_data(server: ApiServer, tmp_path: Path) -> None:
    with chromium(tmp_path / "profile") as driver:
        driver.get(f"{server.url}/sf1630/loads?month=2026-10")
        text = driver.find_element("css selector", "body").text
    assert "Not authenticated" in text and "quarantined" not in text


def test_report_files_need_login_too(server: ApiServer, warehouse: str) -> None:
    with psycopg.connect(warehouse) as con:
        [(uuid,)] = con.execute(
            f"SELECT file_transfer_uuid FROM {SCHEMA}.sf1630_ledger WHERE sender = 'KSD'"
        ).fetchall()
    url = f"{server.url}/sf1630/report/file?lis={LIS}&uuid={uuid}&name=validation.json"
    status, body = get(url)
    assert status == 401 and b"results" not in body
    status, body = get(url, {"Authorization": f"Bearer {server.token()}"})
    assert status == 200 and b"expect_column_values_to_match_regex" in body
    status, _ = get(
        url.replace("validation.json", "..%2Freason.json"), {"Authorization": f"Bearer {server.token()}"}
    )
    assert status == 404
