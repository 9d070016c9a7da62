"""Issue 21's attack on the LIS views, replayed: a battery of hostile and edge requests, over ledgers and a
quarantine with planted values, as an admin and as a user of one LIS team. No answer is a 5xx other than
the 503 of an unreadable ledger (none here), no answer carries a byte from outside the store, and the
api-server fetches nothing from the network."""

from __future__ import annotations

import itertools
import json
import os
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sf1630.database import Database
from sf1630.protocol import Period, ReceiptError
from sf1630.registry import load_registry
from sf1630.sender.ledger import REJECTED, Ledger
from sf1630.sender.plan import plan_deliveries
from sf1630.warehouse import Outcome

from tests.support.views_app import GX_FAILED, KBH, OUTSIDE_SECRET, ViewsApp, execute, quarantine, record

MONTHS = [
    "9999-12", "9999-11", "1900-01", "0000-00", "2026-13", "2026-00", "2026-1", "202610", "-2026-10",
    "２０２６-１０", "२०२६-१०", " 2026-10 ", "2026-10' OR '1'='1", "2026-10\x00", "2026-10\n", "x" * 200,
    "x" * 201, "%00", "10000-01",
]  # fmt: skip
YEARS = [
    "9999",
    "1900",
    "1899",
    "0",
    "10000",
    "00002026",
    "99999999999999999999",
    "²",
    "٢٠٢٦",
    "2026\x00",
    "-1",
]
NAMES = [
    "KY_LIS_10100000_M10_2026**.csv", "KSD_*.csv", "KSD_[x.csv", "a?b.csv", "../../etc/passwd", "a\x01b",
    "<script>alert(1)</script>", "x" * 255, "DUBU_\u202eLIS.csv", "KP_LIS_10100000_M10_20261101000000.csv",
]  # fmt: skip
FILES = ["validation.json", "validation.html", "reason.json", "index.html", "../reason.json", "x", "", "\x00"]


def _plant(app: ViewsApp, web_url: str) -> list[str]:
    """Ledger rows and report folders no receiver would write; returns the planted FileTransferUUIDs."""
    store = f"file://{app.store}"
    other = next(r for r in app.receivers if r.sftp_user != KBH).sftp_user
    locations = [
        f"file://{app.outside}",
        str(app.outside),
        f"{web_url}/x",
        "https://127.0.0.1:1/x",
        f"{store}/reports/{other}/theirs",
        f"{store}/reports/{KBH}/../../store-outside",
        f"{store}/reports/{KBH}/linked",
        f"{store}/quarantine/{KBH}/fifo",
        f"{store}/reports/{KBH}",
        f"s3:/{app.store}/reports/{KBH}/x",
        "data:text/plain,secret",
        "",
        f"{store}/reports/{KBH}/%2e%2e",
        f"{store}/reports/{KBH}/ok\x01",
    ]
    (app.reports(other) / "theirs").mkdir(parents=True)
    (app.reports(other) / "theirs" / "validation.json").write_bytes(OUTSIDE_SECRET)
    (app.reports()).mkdir(parents=True)
    (app.reports() / "linked").symlink_to(app.outside, target_is_directory=True)
    fifo = app.quarantine() / "fifo"
    fifo.mkdir(parents=True)
    os.mkfifo(fifo / "validation.json")
    uuids = []
    for number, (name, location) in enumerate(itertools.zip_longest(NAMES, locations, fillvalue="")):
        uuid = f"u-{number}"
        record(
            app,
            uuid,
            f"KY_LIS_10100000_M10_202611010000{number:02d}.csv",
            Outcome.QUARANTINED,
            report=location,
        )
        if name:
            execute(
                app,
                "UPDATE LEDGER SET file_name = ?, detail = ? WHERE file_transfer_uuid = ?",
                name,
                name,
                uuid,
            )
        uuids.append(uuid)
    validations = [
        json.dumps({"results": [{"success": False, "unexpected_count": 10**300}]}).encode(),
        b"[" * 50_000,
        b"\xff\xfe\x00garbage",
        b"",
        json.dumps(
            {"results": [{"success": False, "result": [], "expectation_config": {"kwargs": "x"}}]}
        ).encode(),
        b'{"results": [' + b"1" * 5000 + b"]}",
        json.dumps(GX_FAILED).encode(),
    ]
    for number, content in enumerate(validations):
        name = f"KSD_LIS_10100000_M10_2026110100{number:04d}.csv"
        record(app, f"q-{number}", name, Outcome.QUARANTINED)
        quarantine(app, name, validation=content)
        uuids.append(f"q-{number}")
    record(app, "q-link", "KSD_LIS_10100000_M10_linked.csv", Outcome.QUARANTINED)
    (app.quarantine() / "KSD_LIS_10100000_M10_linked.csv").symlink_to(app.outside, target_is_directory=True)
    (app.quarantine() / "KSD_LIS_10100000_M10_linked.csv.2").symlink_to(app.outside, target_is_directory=True)
    uuids.append("q-link")
    ledger = Ledger(Database.sqlite(app.sender_ledger))
    registry = load_registry()
    [ky] = plan_deliveries(registry.sender("KY"), [app.receiver().kommune], Period(2026, 10))
    ledger.record(ky, REJECTED, "t1", (ReceiptError(401, "Ingen rute", "<b>x</b>"),))
    with sqlite3.connect(app.sender_ledger) as conn:
        conn.execute("UPDATE sf1630_sender_ledger SET errors = ?", ("[[1e400, {}, null]]",))
    return uuids


def _requests(app: ViewsApp, uuids: list[str]) -> Iterator[tuple[str, dict[str, Any]]]:
    other = next(r for r in app.receivers if r.sftp_user != KBH)
    receiver = app.receiver()
    for page in ("/loads", "/deliveries"):
        yield page, {}
        for month in MONTHS:
            yield page, {"month": month}
        for year in YEARS:
            yield page, {"year": year}
        for lis in (KBH, other.sftp_user, "*", "../", "k\x00", "<b>", KBH.lower()):
            yield page, {"lis": lis, "month": "2026-10"}
        for kommune in ("101", "10100000", "københavn", "'; DROP TABLE x; --", "\x00"):
            yield page, {"kommune": kommune, "year": "2026"}
        for sender in ("KY", "ky", "XX", "*", "\x00"):
            yield page, {"sender": sender, "month": "2026-10"}
    for uuid in [*uuids, "nope", "\x00", "*", "u-%"]:
        for lis in (KBH, other.sftp_user, "nope"):
            yield "/report", {"lis": lis, "uuid": uuid}
        for name in FILES:
            yield "/report/file", {"lis": KBH, "uuid": uuid, "name": name}
    for run_id, task_id, index in (
        ("r", "load", "-1"), ("r\x00", "load", "0"), ("r", "fetch", "0"), ("%", "load", str(2**31 - 1)),
        ("r", "load", str(2**31)), ("r", "load", "-2"), ("r", "load", "x"), ("'", "load", "1e3"),
    ):  # fmt: skip
        for dag_id in (receiver.dag_id, other.dag_id, "sf1630_sender_ky", "nope", "\x00"):
            yield "/report/ti", {"dag_id": dag_id, "run_id": run_id, "task_id": task_id, "map_index": index}
    for do, period, file in (
        ("send", "2026-10", ""), ("resend", "9999-12", ""), ("reload", "2026-10", "../x"),
        ("drop", "2026-10", ""), ("send", "2026-13", ""), ("send", "x", ""), ("reload", "2026-10", "\x00"),
    ):  # fmt: skip
        for lis in (KBH, other.sftp_user, "nope"):
            yield "/act", {"do": do, "lis": lis, "sender": "KSD", "period": period, "file": file}
    for dag_id, conf in (
        ("sf1630_sender_ky", "{}"), ("sf1630_sender_ky", "[" * 3000), ("sf1630_sender_ky", "[]"),
        ("sf1630_sender_ky", '{"a": "\\u0000"}'), ("sf1630_sender_ky", "nope"), ("nope", "{}"),
        (receiver.dag_id, "{}"), ("sf1630_sender_ky", '{"a": ' * 900 + "1" + "}" * 900),
    ):  # fmt: skip
        yield "/trigger", {"dag_id": dag_id, "conf": conf}
    yield "/", {}
    yield "/nothing-here", {}


def test_the_attack_gives_no_server_error_and_no_byte_from_outside_the_store(
    views_app: ViewsApp, web: tuple[str, list[str]]
) -> None:
    url, hits = web
    uuids = _plant(views_app, url)
    failures, sent = [], 0
    for path, params in _requests(views_app, uuids):
        for user in ("admin", "kbh"):
            answer = views_app.get(path, user=user, **params)
            sent += 1
            if answer.status_code >= 500 or OUTSIDE_SECRET in answer.content:
                failures.append((user, path, params, answer.status_code, answer.text[:200]))
            if answer.status_code < 400 and path != "/":
                assert answer.headers["cache-control"] == "no-store"
    assert failures == []
    assert sent >= 450  # the attack's 225 requests, each as an admin and as one LIS team
    assert hits == []  # nothing fetched from a report location
    served = views_app.get("/report/file", lis=KBH, uuid="q-6", name="validation.json")
    assert served.status_code == 200 and served.json() == GX_FAILED  # the battery did not just refuse all
    assert Path(views_app.outside / "validation.json").read_bytes() == OUTSIDE_SECRET
