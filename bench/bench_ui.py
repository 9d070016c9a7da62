"""How fast the Loads page answers on a year of the whole country, beside a plain query of the same rows.

A PostgreSQL warehouse (the machine's server, a database of the run's own) with one schema per LIS system
(122, as the demo has them) and a ledger row per LIS
system × sender (5: the four of senders.yaml and KP) × month (12 of 2026); a SQLite sender ledger with the
matching receipts; 7,320 task instances known to the task index. Timed in the same run, best of N:
- ``plain_query``: one ``UNION ALL`` over the 122 ledgers for the year, fetched (the floor: the rows must
  be read);
- ``matrix_page``: what the app answers for ``/sf1630/loads?year=2026`` (all LIS systems): both ledgers
  read, every cell's state and links, the HTML (``sf1630.lis_view.pages.loads_html``). Not included: the
  api-server's own request handling and the task-instance query against Airflow's metadata database.
Goal: ``ratio`` (page / query) at most 3 and the page under a second. ``SF1630_BENCH_SCALE`` shrinks the
country (tests/bench runs 1 %).
"""

# ruff: noqa: S608  (SQL text built from registry SFTP users turned into identifiers)

from __future__ import annotations

import json
import os
import sqlite3
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "include"))

from sf1630.database import Database  # noqa: E402
from sf1630.lis_view.model import Filters, TaskRef  # noqa: E402
from sf1630.lis_view.pages import Links, loads_html  # noqa: E402
from sf1630.receiver.config import connection_slug, load_receivers  # noqa: E402
from sf1630.registry import delivery_label, load_registry  # noqa: E402
from sf1630.warehouse.ledger import ledger_ddl, ledger_migrations  # noqa: E402

SENDERS = ("KY", "KSD", "DUBU", "AULA", "KP")
YEAR = 2026
NOW = datetime(2027, 1, 20, tzinfo=UTC)
REPEATS = 5


class Tasks:
    """The task index as the app gets it from Airflow: one load_one per delivery."""

    def __init__(self, known: dict[tuple[str, str], TaskRef]) -> None:
        self.known = known

    def lookup(self, task_id: str, dag_ids: object, since: object = None) -> dict[tuple[str, str], TaskRef]:
        return self.known


def _seed(
    folder: Path, dsn: str, scale: float
) -> tuple[list[tuple[str, str, Database]], Database, Tasks, int]:
    import psycopg

    receivers = load_receivers()
    count = max(1, round(len(receivers) * scale))
    chosen = receivers[:count]
    rows = 0
    known: dict[tuple[str, str], TaskRef] = {}
    with psycopg.connect(dsn) as con, con.cursor() as cur:
        for receiver in chosen:
            schema = connection_slug(receiver.sftp_user)
            con.execute(f"CREATE SCHEMA {schema}")
            con.execute(ledger_ddl(schema))
            for statement in ledger_migrations(schema):
                con.execute(statement)
            batch = []
            for sender in SENDERS:
                for month in range(1, 13):
                    period = f"{YEAR}-{month:02d}"
                    quarantined = (month + len(sender)) % 17 == 0
                    name = f"{sender}_LIS_{receiver.kommune.cvr}_M{month:02d}_{YEAR}{month:02d}28000000.csv"
                    batch.append(
                        (
                            str(uuid.uuid4()),
                            name,
                            sender,
                            receiver.kommune.cvr,
                            period,
                            0 if quarantined else 4000,
                            "0" * 64,
                            "quarantined" if quarantined else "loaded",
                            "invalid extract: 3 rows break person_noegle" if quarantined else "",
                            NOW,
                            NOW,
                        )
                    )
                    label = delivery_label(sender, receiver.kommune, receiver.lis, period)
                    known[(receiver.dag_id, label)] = TaskRef(
                        receiver.dag_id, f"scheduled__{period}", "load_one", 0, "success"
                    )
            cur.executemany(
                f"INSERT INTO {schema}.sf1630_ledger (file_transfer_uuid, file_name, sender, kommune, period,"
                " rows, checksum, outcome, detail, received_at, finished_at)"
                " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
                batch,
            )
            rows += len(batch)
    sender_db = folder / "sender.sqlite"
    with sqlite3.connect(sender_db) as conn:
        from sf1630.sender.ledger import _DDL

        conn.execute(_DDL)
        conn.executemany(
            "INSERT INTO sf1630_sender_ledger VALUES (?, ?, ?, ?, ?, 'accepted', ?, '[]', '2027-01-01', '')",
            [
                (
                    s,
                    f"{s}_{r.sftp_user}_{m}",
                    r.sftp_user,
                    r.kommune.kode,
                    f"{YEAR}-{m:02d}",
                    str(uuid.uuid4()),
                )
                for r in chosen
                for s in SENDERS
                for m in range(1, 13)
            ],
        )
    targets = [
        (r.sftp_user, r.kommune.cvr, Database.postgres(dsn, connection_slug(r.sftp_user))) for r in chosen
    ]
    return targets, Database.sqlite(sender_db), Tasks(known), rows


@contextmanager
def _database() -> Iterator[str]:
    """A database of the run's own on the machine's server (trust authentication), dropped afterwards."""
    import psycopg

    admin = "host=127.0.0.1 port=5432 user=postgres dbname=test"
    name = f"bench_ui_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    try:
        yield admin.replace("dbname=test", f"dbname={name}")
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def _best(work: object) -> tuple[float, object]:
    best, result = float("inf"), None
    for _ in range(REPEATS):
        started = time.perf_counter()
        result = work()  # type: ignore[operator]
        best = min(best, time.perf_counter() - started)
    return best, result


def main() -> int:
    scale = float(os.environ.get("SF1630_BENCH_SCALE", "1"))
    registry = load_registry()
    receivers = load_receivers()
    with tempfile.TemporaryDirectory() as folder, _database() as dsn:
        targets, sender_db, tasks, rows = _seed(Path(folder), dsn, scale)
        chosen_users = {user for user, _, _ in targets}
        chosen = [r for r in receivers if r.sftp_user in chosen_users]
        filters = Filters.parse(year=str(YEAR), now=NOW)

        def plain() -> int:
            import psycopg

            sql = " UNION ALL ".join(
                f"SELECT * FROM {db.schema}.sf1630_ledger WHERE period BETWEEN '{YEAR}-01' AND '{YEAR}-12'"
                for _, _, db in targets
            )
            with psycopg.connect(dsn) as con:
                return len(con.execute(sql).fetchall())

        ledgers = [(s.code, sender_db) for s in registry.senders]

        def page() -> str:
            return loads_html(
                chosen,
                filters,
                targets,
                ledgers,
                tasks,
                Links("", "/sf1630"),
                [s.code for s in registry.senders],
                NOW,
            )

        query_seconds, fetched = _best(plain)
        page_seconds, html = _best(page)
    cells = str(html).count("<td class='cell ")
    shape = f"{len(targets)} LIS systems x {len(SENDERS)} senders x 12 months"
    print(f"ledger rows {rows} ({shape}); fetched {fetched}")
    print(
        f"plain query {query_seconds * 1000:.1f} ms; matrix page {page_seconds * 1000:.1f} ms ({cells} cells,"
        f" {len(str(html)) / 1e6:.2f} MB HTML)"
    )
    figures = {
        "lis_systems": len(targets),
        "ledger_rows": rows,
        "cells": cells,
        "plain_query_s": round(query_seconds, 4),
        "matrix_page_s": round(page_seconds, 4),
        "ratio": round(page_seconds / query_seconds, 2),
        "html_mb": round(len(str(html)) / 1e6, 2),
    }
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
