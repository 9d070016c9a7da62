"""The README's quarantine walkthrough on a finished ``make demo``, in a real browser, with screenshots.

Run after ``make demo`` (``.venv/bin/python tests/browser/walkthrough.py [--home var/demo] [--out docs]``):
it starts ``sf1630 demo ui``, opens the Loads view (København's KSD file quarantined: ``ui-before.png``),
corrects the source row as the README shows, clicks the cell's re-send link and the trigger form's button
(a KSD sender run with ``force``), waits for that run, unpauses København's receiver DAG, and opens the
Loads view again once its next run has loaded the new file (``ui-after.png``). Each step is printed; it
exits non-zero when a step does not end as the README says. The Loads view is filtered to København LIS01,
so a one-kommune demo (``--kommuner 1``) looks the same. Not a test of the suite (it needs a finished demo,
minutes of Airflow): ``tests/browser/test_ui.py`` checks the views themselves.
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

REPO = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(REPO), str(REPO / "include")]

from sf1630.demo import DEFAULT_HOME  # noqa: E402
from sf1630.demo.stack import RestClient, admin_password  # noqa: E402

from tests.support.airflow_ui import ApiServer, chromium, loads_cell, wait_for_element  # noqa: E402

LIS = "KOEBENHAVN_LIS01_SIMPEL"
RECEIVER = "sf1630_receiver_koebenhavn_lis01_simpel"
SENDER = "sf1630_sender_ksd"
MONTH = "2026-10"
#: The README's correction: the demo broke one person_noegle (pattern [0-9a-f]{32}) of København's KSD rows.
FIX = (
    "UPDATE ksd_sager SET person_noegle = lower(hex(randomblob(16)))"
    " WHERE length(person_noegle) <> 32 OR person_noegle GLOB '*[^0-9a-f]*'"
)


CELL = loads_cell(LIS, "KSD", MONTH)


def _cell_state(driver: Any, url: str) -> str:
    driver.get(f"{url}/sf1630/loads?month={MONTH}&lis={LIS}")
    return str(wait_for_element(driver, CELL).get_attribute("class")).split()[-1]


def _wait_run(client: RestClient, dag_id: str, run_id: str, timeout: float = 900) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = str(client.get(f"/api/v2/dags/{dag_id}/dagRuns/{quote(run_id, safe='')}")["state"])
        if state in ("success", "failed"):
            return state
        time.sleep(3)
    raise SystemExit(f"{dag_id} {run_id} not finished in {timeout} s")


def _start_ui(home: Path, log: Path) -> tuple[subprocess.Popen[bytes], str]:
    process = subprocess.Popen(
        [str(REPO / ".venv" / "bin" / "sf1630"), "demo", "ui", "--home", str(home)],
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        found = re.search(r"http://127\.0\.0\.1:\d+", log.read_text(encoding="utf-8", errors="replace"))
        if found:
            return process, found.group(0)
        if process.poll() is not None:
            raise SystemExit(f"sf1630 demo ui exited: {log.read_text()[-2000:]}")
        time.sleep(1)
    raise SystemExit("sf1630 demo ui did not print its address")


def main() -> int:
    import contextlib
    import sqlite3

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", type=Path, default=DEFAULT_HOME)
    parser.add_argument("--out", type=Path, default=REPO / "docs")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="sf1630-walkthrough-"))
    process, url = _start_ui(args.home, work / "demo-ui.log")
    try:
        client = RestClient(url, "admin", admin_password(args.home / "airflow"))
        with chromium(work / "profile") as driver:
            driver.get(f"{url}/api/v2/monitor/health")
            token = ApiServer(url, args.home / "airflow").token()
            driver.add_cookie({"name": "_token", "value": token, "path": "/"})
            before = _cell_state(driver, url)
            driver.save_screenshot(str(args.out / "ui-before.png"))
            print(f"1. Loads view: KSD for København {MONTH} is {before}")
            with contextlib.closing(sqlite3.connect(args.home / "source.sqlite")) as con, con:
                [(fixed,)] = con.execute(FIX + " RETURNING 1").fetchall() or [(0,)]
            print(f"2. source corrected: {fixed} row(s) of ksd_sager")
            driver.find_element("css selector", f"{CELL} a.resend").click()
            time.sleep(2)
            driver.find_element("css selector", "#go").click()
            deadline = time.monotonic() + 60
            while "/runs/manual__" not in driver.current_url and time.monotonic() < deadline:
                time.sleep(0.5)
            sender_run = unquote(driver.current_url.split("/runs/")[1].split("/")[0])
            print(f"3. re-send with force from the cell's trigger form: {SENDER} {sender_run}")
            print(f"   {_wait_run(client, SENDER, sender_run)}")
            # The demo pauses the receivers once its month is in; unpaused, the scheduler's next run (every
            # minute in the demo) finds the new file. A run triggered by hand as well would only wait behind
            # it and then for files that are already taken.
            client.set_paused(RECEIVER, paused=False)
            deadline = time.monotonic() + 600
            while _cell_state(driver, url) != "loaded" and time.monotonic() < deadline:
                time.sleep(5)
            runs = client.get(f"/api/v2/dags/{RECEIVER}/dagRuns", order_by="-start_date", limit=1)["dag_runs"]
            print(f"4. the next receiver run: {RECEIVER} {runs[0]['dag_run_id'] if runs else '-'}")
            after = _cell_state(driver, url)
            driver.save_screenshot(str(args.out / "ui-after.png"))
            print(f"5. Loads view: KSD for København {MONTH} is {after}")
        return 0 if (before, after) == ("quarantined", "loaded") else 1
    finally:
        os.killpg(process.pid, signal.SIGINT)
        process.wait(timeout=120)


if __name__ == "__main__":
    sys.exit(main())
