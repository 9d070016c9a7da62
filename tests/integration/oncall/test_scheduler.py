"""On-call is paged by Airflow's own processes: scheduler, DAG processor, triggerer (LocalExecutor, SQLite).

``dag.test()`` cannot run a DAG with ``deadline=`` (apache/airflow#73428) and runs no DAG processor, so
this module starts the real processes once (``tests.support.airflow_stack``) over the real DAG files, the
emulator and a real SMTP server (aiosmtpd), and runs five DAG runs side by side:

- KY's sender run for October with deliveries the platform rejects (KY delivers by the simple pattern, and
  has no simple route to Brøndby LIS02 or Aalborg: code 404):
  the run fails and the DAG processor's failure callback sends exactly **one** FAILED message listing
  them; the run's deadline (45 s here) fires anyway, because Airflow prunes a deadline only when its run
  succeeds (apache/airflow#60927), and the triggerer sends one DEADLINE MISSED message;
- København's receiver run loads KY's file, which is invalid on purpose: one FAILED message with the
  validation summary and KY's contact;
- Brøndby LIS01's receiver run waits for files with a ``run_deadline`` of 5 s: the deadline fires while the
  run is still going, the callback runs in the triggerer, one DEADLINE MISSED message;
- København's completeness DAG with ``deadline_day: 1`` (its deadline falls when a run is queued): unpausing
  it makes the scheduler create the run of the last complete month (``catchup`` is off), whose deadline
  fires at once: one DEADLINE MISSED message listing the extracts not loaded;
- Brøndby LIS02's completeness DAG, likewise, for a month its warehouse ledger already lists as complete:
  the deadline fires as the run is queued, before its check can succeed, and the triggerer reads the
  ledger and sends a RESOLVED note (whatever the run then does: no failure callback on this DAG);
- Aalborg's receiver run meets its 60 s ``run_deadline`` (KY has no route to it either, so there is
  nothing to wait for): no message at all, and its deadline is pruned.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from email.message import Message
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sf1630.database import Database
from sf1630.dataspec import load_spec
from sf1630.protocol import Period
from sf1630.receiver.config import connection_slug
from sf1630.registry import load_registry, platform_config
from sf1630.sender.source import seed_source

from tests.support import emulator as emulators
from tests.support.airflow_stack import ObservedStack, airflow_stack
from tests.support.config import NEVER, write_config
from tests.support.mail import MailBox, body_text, smtp_connection, smtp_sink
from tests.support.postgres import POSTGRES_DSN, fresh_schema

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]

REPO = Path(__file__).resolve().parents[3]
KOMMUNER = ("101", "153", "851")  # København; Brøndby (LIS01, LIS02); Aalborg
PERIOD = "2026-10"
PASSWORD = "oncall-test-only"
SENDER_DEADLINE = "45s"
KBH, BRO1, BRO2, AAL = (
    "KOEBENHAVN_LIS01_SIMPEL",
    "BROENDBY_LIS01_SIMPEL",
    "BROENDBY_LIS02_SIMPEL",
    "AALBORG_LIS01_SIMPEL",
)
AAL_RUN_DEADLINE = 60.0  # its run takes 20-40 s (the 20 s settle, then the short circuit)


def _write_config(folder: Path, work: Path) -> None:
    """The shipped configuration for three kommuner, test-speed waits, no schedules, short deadlines."""
    write_config(
        folder,
        kommuner=KOMMUNER,
        senders={
            "schedule": NEVER,
            "retries": 0,
            "receipt_poll": "1s",
            "receipt_quick_look": "3s",
            "receipt_timeout": "2m",
            "deadline": SENDER_DEADLINE,
        },
        receivers={
            "schedule": NEVER,
            "wait_timeout": "3s",
            "poke_interval": "1s",
            "retries": 0,
            "run_deadline": "10m",
            "warehouse_conn_id": "sf1630_warehouse_{user}",  # one schema per LIS, as deployed
            "storage": f"file://{work / 'store'}",
        },
        receiver_overrides={
            KBH: {"deadline_day": 1},  # the completeness deadline falls when its run is queued
            BRO2: {"deadline_day": 1},
            BRO1: {"run_deadline": "5s", "wait_timeout": "60s"},
            AAL: {"run_deadline": f"{int(AAL_RUN_DEADLINE)}s"},
        },
    )


def _postgres(schema: str) -> dict[str, Any]:
    return {"conn_type": "postgres", "host": "127.0.0.1", "port": 5432, "login": "postgres",
            "schema": "test", "extra": {"schema": schema}}  # fmt: skip


@contextmanager
def _lis_schemas(prefix: str, users: list[str]) -> Iterator[None]:
    """One PostgreSQL schema per LIS system (``<prefix>_<slug>``), dropped afterwards."""
    import psycopg

    names = [f"{prefix}_{connection_slug(user)}" for user in users]
    with psycopg.connect(POSTGRES_DSN, autocommit=True) as conn:
        for name in names:
            conn.execute(f'CREATE SCHEMA "{name}"')
    try:
        yield
    finally:
        with psycopg.connect(POSTGRES_DSN, autocommit=True) as conn:
            for name in names:
                conn.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')


def _complete_months(schema: str, cvr: str) -> None:
    """Every accepted extract loaded, in the warehouse ledger, for the two months a scheduled completeness
    run created now can be about (the month before the last 06:00-on-the-1st tick, in local time)."""
    from sf1630.warehouse import LoadEntry, Outcome, record_outcome

    db = Database.postgres(POSTGRES_DSN, schema=schema)
    now = datetime.now(ZoneInfo("Europe/Copenhagen"))
    for period in (Period.of(now).previous(), Period.of(now).previous().previous()):
        for code in ("KY", "KSD", "DUBU", "AULA", "KP"):
            name = f"{code}_LIS_{cvr}_{period.code}_20000101000000.csv"
            entry = LoadEntry(f"{code}-{period}", name, code, cvr, period, 1, "0" * 64, Outcome.LOADED,
                              now, now)  # fmt: skip
            record_outcome(db, entry)


@dataclass
class World:
    stack: ObservedStack
    box: MailBox
    sftp_users: list[str]
    work: Path


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    work = tmp_path_factory.mktemp("oncall")
    config = work / "config"
    _write_config(config, work)
    registry = load_registry(config)
    ky = registry.sender("KY")
    sftp_users = [lis.sftp_user for k in registry.kommuner for lis in k.lis_systems]
    source = Database.sqlite(work / "source.sqlite")
    spec = load_spec(ky.dataspec)
    seed_source(source, spec, [k.cvr for k in registry.kommuner], Period.parse(PERIOD), rows_per_kommune=20)
    broken = f"UPDATE {spec.source_table} SET sag_id = 'BROKEN-ID' WHERE myndighed_cvr = '10100000'"  # noqa: S608
    with contextlib.closing(source.connect()) as conn, conn:  # København's KY extract breaks its pattern
        conn.execute(broken)
    platform = platform_config(
        registry,
        sender_codes={"KY"},
        passwords={u: PASSWORD for u in [ky.sftp_user, *sftp_users]},
        omit_routes={("KY", BRO2), ("KY", AAL)},  # Aalborg's IN/ stays empty: its run has nothing to wait for
        extra={"router": {"rescan_interval": "1s"}},
    )
    emulator = emulators.start(platform, work / "emulator")
    try:
        with (
            smtp_sink() as (smtp_port, box),
            fresh_schema("oncall") as schema,
            _lis_schemas(schema, sftp_users),
        ):

            def sftp(user: str) -> str:
                return emulators.sftp_connection(
                    emulator.port, emulator.host_key, login=user, password=PASSWORD, look_for_keys=False
                )

            env = {
                f"AIRFLOW_CONN_{ky.sftp_conn_id.upper()}": sftp(ky.sftp_user),
                f"AIRFLOW_CONN_{ky.source_conn_id.upper()}": json.dumps(
                    {"conn_type": "sqlite", "host": str(source.path)}
                ),
                f"AIRFLOW_CONN_{ky.ledger_conn_id.upper()}": json.dumps(
                    {"conn_type": "sqlite", "host": str(work / "ledger.sqlite")}
                ),
                "AIRFLOW_CONN_SF1630_SMTP": smtp_connection(smtp_port),
                "SF1630_CONFIG_DIR": str(config),
                "SF1630_DEADLINES": "true",
                "GX_ANALYTICS_ENABLED": "False",
            }
            for user in sftp_users:
                slug = connection_slug(user)
                env[f"AIRFLOW_CONN_SF1630_SFTP_{slug.upper()}"] = sftp(user)
                env[f"AIRFLOW_CONN_SF1630_WAREHOUSE_{slug.upper()}"] = json.dumps(
                    _postgres(f"{schema}_{slug}")
                )
            _complete_months(f"{schema}_{connection_slug(BRO2)}", registry.kommune("153").cvr)
            with airflow_stack(work / "airflow", REPO / "dags", env) as stack:
                yield World(stack, box, sftp_users, work)
    finally:
        emulator.stop()
        shutil.rmtree(work / "store", ignore_errors=True)


def _messages(box: MailBox) -> list[tuple[str, str, Message]]:
    """(kind header, subject, message) of everything received so far."""
    return [(str(m["X-SF1630-Kind"]), str(m["Subject"]), m) for _to, m in list(box.messages)]


def _wait_for(world: World, expected: set[tuple[str, str]], timeout: float) -> None:
    """Until a message of each (kind, DAG id) in ``expected`` has arrived (the DAG processor runs failure
    callbacks when it next gets to the DAG file, the triggerer deadline callbacks when it next polls)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = _messages(world.box)
        if all(any(k == kind and dag in body_text(m) for k, _s, m in found) for kind, dag in expected):
            return
        world.stack.check_alive()
        time.sleep(1)
    subjects = [s for _k, s, _m in _messages(world.box)]
    raise AssertionError(f"expected {sorted(expected)}, received {subjects}\n{world.stack.diagnostics()}")


def _one(found: list[tuple[str, str, Message]], kind: str, dag_id: str) -> Message:
    matching = [m for k, _s, m in found if k == kind and dag_id in body_text(m)]
    assert len(matching) == 1, (kind, dag_id, [s for _k, s, _m in found])
    return matching[0]


def test_failures_and_deadlines_page_on_call_once_each(world: World) -> None:
    stack = world.stack
    sender, kbh = "sf1630_sender_ky", f"sf1630_receiver_{KBH.lower()}"
    bro1, aal = f"sf1630_receiver_{BRO1.lower()}", f"sf1630_receiver_{AAL.lower()}"
    completeness = f"sf1630_completeness_{KBH.lower()}"
    complete_month = f"sf1630_completeness_{BRO2.lower()}"
    stack.wait_parsed([sender, kbh, bro1, aal, completeness, complete_month])

    aal_run = stack.trigger(aal)
    aal_queued = time.monotonic()
    bro1_run = stack.trigger(bro1)
    sender_run = stack.trigger(sender, conf={"period": PERIOD})
    assert stack.wait_run(sender, sender_run) == "failed"
    assert stack.wait_run(aal, aal_run) == "success"
    kbh_run = stack.trigger(kbh)
    assert stack.wait_run(kbh, kbh_run) == "failed"

    expected = {
        ("FAILED", sender),
        ("DEADLINE MISSED", sender),
        ("FAILED", kbh),
        ("DEADLINE MISSED", bro1),
        ("DEADLINE MISSED", completeness),
        ("RESOLVED", complete_month),
    }
    _wait_for(world, expected, timeout=300)
    assert stack.wait_run(bro1, bro1_run) == "success"
    # Two waits, run side by side (one sleep to the later end): 15 s past Aalborg's deadline, after which
    # nothing more may come and the deadline is gone; and 20 s past the last expected message and the last
    # run's end, by when a late duplicate (a second failure callback, a task-level one) would be here.
    quiet_after = max(aal_queued + AAL_RUN_DEADLINE + 15, time.monotonic() + 20)
    time.sleep(max(0.0, quiet_after - time.monotonic()))
    found = _messages(world.box)
    received = world.work / "received"  # as the sink got them, for a person to read (.eml)
    received.mkdir(exist_ok=True)
    for number, (_kind, _subject, message) in enumerate(found, 1):
        (received / f"{number:02d}.eml").write_bytes(message.as_bytes())
    assert len(found) == 6, [s for _k, s, _m in found]
    assert not [m for _k, _s, m in found if aal in body_text(m)]
    assert stack.query(
        "SELECT count(*) FROM deadline d JOIN dag_run r ON d.dagrun_id = r.id WHERE r.run_id = ?", aal_run
    ) == [(0,)]

    failed_sender = body_text(_one(found, "FAILED", sender))
    assert str(_one(found, "FAILED", sender)["Subject"]) == (
        "SF1630 FAILED: KY 2026-10: 2 of 4 deliveries not accepted (sf1630_sender_ky)"
    )
    assert "KY → Brøndby LIS02 2026-10 (KY_LIS_15300000_M10_20261101000001.csv): code 404" in failed_sender
    assert "KY → Aalborg LIS01 2026-10 (KY_LIS_85100000_M10_20261101000000.csv): code 404" in failed_sender
    assert "Contact about KY's deliveries: KY drift <drift@ky.example>" in failed_sender
    assert f"{stack.env['AIRFLOW__API__BASE_URL']}/dags/{sender}/runs/{sender_run}" in failed_sender
    # What is missing at 45 s depends on how far the run got (a loaded machine is slow); Brøndby LIS02 is.
    late_sender = _one(found, "DEADLINE MISSED", sender)
    assert str(late_sender["Subject"]).startswith("SF1630 DEADLINE MISSED: KY 2026-10: ")
    assert str(late_sender["Subject"]).endswith(" missing 45s after queueing")
    assert "KY → Brøndby LIS02 2026-10 (KY_LIS_15300000_M10_20261101000001.csv)" in body_text(late_sender)

    failed_kbh = body_text(_one(found, "FAILED", kbh))
    assert "KY → København LIS01 2026-10 (KY_LIS_10100000_M10_20261101000000.csv):" in failed_kbh
    assert "invalid extract" in failed_kbh and "sag_id" in failed_kbh
    assert "Contact: KY drift <drift@ky.example>" in failed_kbh

    late_bro1 = _one(found, "DEADLINE MISSED", bro1)
    assert "receiver run not done 5s after queueing (running)" in str(late_bro1["Subject"])
    assert f"{stack.env['AIRFLOW__API__BASE_URL']}/dags/{bro1}/runs/{bro1_run}" in body_text(late_bro1)
    late_month = body_text(_one(found, "DEADLINE MISSED", completeness))
    for code in ("KY", "KSD", "DUBU", "AULA", "KP"):
        assert f"  - {code} for København (CVR 10100000): contact" in late_month

    resolved = _one(found, "RESOLVED", complete_month)
    assert "all 5 extracts for" in str(resolved["Subject"]) and "Nothing is left to do" in body_text(resolved)

    # The deadline callbacks ran in the triggerer (their ERROR line is in its log), the failure callbacks
    # in the DAG processor's.
    triggerer_log = stack.log("triggerer").read_text(encoding="utf-8", errors="replace")
    assert "SF1630 DEADLINE MISSED" in triggerer_log, stack.diagnostics()
    # Callbacks of deadlines not (yet) missed wait as "scheduled"; the three that fired all succeeded.
    callbacks = stack.query("SELECT state FROM callback WHERE state <> 'scheduled'")
    assert sorted(state for (state,) in callbacks) == ["success"] * 4, callbacks
