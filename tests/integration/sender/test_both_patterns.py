"""A month of one simple and one dynamic sender, end to end with ``dag.test()``: both deliveries loaded.

KY names the LIS system's SFTP user in ``Recipients`` (the simple pattern; SF1630 §2.1.3: DUBU, KY and KSD
use no routes); AULA writes ``ROUTING_V1_0_0`` and routing info the platform matches against a route. The
sender DAGs run from the real DAG file against the emulator with a registry derived by
``sf1630.registry.platform_config`` (a simple route for KY, a route for AULA), then København's receiver DAG
loads both files into the warehouse, so nothing on the receiving side depends on the pattern.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from sf1630.database import Database
from sf1630.dataspec import load_spec
from sf1630.platform.process import RunningEmulator
from sf1630.protocol import FILE_CONTENT_NAMESPACE, ROUTING_RECIPIENT, Period, read_metadata
from sf1630.registry import load_registry, platform_config
from sf1630.sender.plan import plan_deliveries
from sf1630.sender.source import seed_source

from tests.support import emulator as platform
from tests.support.receiver import warehouse_connection
from tests.support.sender import OCTOBER_START, sender_dag, task_states

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("airflow_db")]

KOMMUNE = "101"  # København: one LIS system
LIS_USER = "KOEBENHAVN_LIS01_SIMPEL"
PASSWORD = "both-patterns-test-password"
OCTOBER = Period(2026, 10)
ROWS = 60


@pytest.fixture
def emulator(tmp_path: Path) -> Iterator[RunningEmulator]:
    registry = load_registry()
    users = [registry.sender(code).sftp_user for code in ("KY", "AULA")] + [LIS_USER]
    config = platform_config(
        kommune_codes={KOMMUNE},
        sender_codes={"KY", "AULA"},
        passwords=dict.fromkeys(users, PASSWORD),
        extra={"router": {"rescan_interval": "1s"}},
    )
    assert [r["sender"] for r in config["simple_routes"]] == ["KY_SFTPSIMPEL"]
    assert [r["sftp_username"] for r in config["routes"]] == [LIS_USER]
    running = platform.start(config, tmp_path / "emulator")
    yield running
    running.stop()


def _sftp(emulator: RunningEmulator, user: str) -> str:
    extra = {"host_key": emulator.host_key, "look_for_keys": False, "allow_host_key_change": False}
    connection = {"conn_type": "sftp", "host": "127.0.0.1", "port": emulator.port, "login": user}
    return json.dumps({**connection, "password": PASSWORD, "extra": extra})


def _configure(
    emulator: RunningEmulator,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    config_dir: Path,
    warehouse: Database,
) -> Any:
    """Connections of both senders and the receiver (into ``warehouse``), sources seeded; the receiver."""
    from sf1630.receiver.config import load_receiver

    receivers = yaml.safe_load((config_dir / "receivers.yaml").read_text(encoding="utf-8"))
    receivers["defaults"].update(
        storage=f"file://{tmp_path / 'store'}",
        wait_timeout="20s",
        poke_interval="1s",
        retries=0,
    )
    (config_dir / "receivers.yaml").write_text(
        yaml.safe_dump(receivers, allow_unicode=True), encoding="utf-8"
    )
    ledger = {"conn_type": "sqlite", "host": str(tmp_path / "ledger.sqlite")}
    monkeypatch.setenv("AIRFLOW_CONN_SF1630_SENDER_LEDGER", json.dumps(ledger))
    registry = load_registry(config_dir)
    cvr = registry.kommune(KOMMUNE).cvr
    for code in ("KY", "AULA"):
        sender = registry.sender(code)
        source = Database.sqlite(tmp_path / f"source-{code.lower()}.sqlite")
        seed_source(source, load_spec(sender.dataspec), {cvr}, OCTOBER, rows_per_kommune=ROWS)
        monkeypatch.setenv(f"AIRFLOW_CONN_{sender.sftp_conn_id.upper()}", _sftp(emulator, sender.sftp_user))
        source_connection = {"conn_type": "sqlite", "host": str(source.path)}
        monkeypatch.setenv(f"AIRFLOW_CONN_{sender.source_conn_id.upper()}", json.dumps(source_connection))
    receiver = load_receiver(LIS_USER, config_dir)
    monkeypatch.setenv(f"AIRFLOW_CONN_{receiver.sftp_conn_id.upper()}", _sftp(emulator, LIS_USER))
    target = warehouse_connection(warehouse)
    monkeypatch.setenv(f"AIRFLOW_CONN_{receiver.warehouse_conn_id.upper()}", json.dumps(target))
    return receiver


def _query(db: Database, sql: str) -> list[tuple[Any, ...]]:
    with contextlib.closing(db.connect()) as conn:
        return list(conn.execute(sql).fetchall())


def test_simple_and_dynamic_sender_month_both_loaded(
    emulator: RunningEmulator,
    fast_config_dir: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    warehouse: Database,
) -> None:
    from sf1630.airflow.receiver import build_receiver_dag

    receiver = _configure(emulator, tmp_path, monkeypatch, fast_config_dir, warehouse)
    conf: dict[str, Any] = {"kommune": [KOMMUNE]}
    for code in ("ky", "aula"):
        run = sender_dag(code).test(logical_date=OCTOBER_START, run_conf=conf)
        assert str(run.state) == "success", (code, task_states(run))

    registry = load_registry(fast_config_dir)
    names = {}
    for code in ("KY", "AULA"):
        (delivery,) = plan_deliveries(
            registry.sender(code), registry.kommuner, OCTOBER, kommune_filter=[KOMMUNE]
        )
        names[code] = delivery.file_name
    expected = sorted(n + suffix for n in names.values() for suffix in ("", ".metadata"))
    assert emulator.files(LIS_USER, "IN") == expected
    inbox = emulator.folder(LIS_USER, "IN")
    simple = read_metadata((inbox / f"{names['KY']}.metadata").read_bytes())
    routed = read_metadata((inbox / f"{names['AULA']}.metadata").read_bytes())
    assert simple.file.recipients == routed.file.recipients == (LIS_USER,)
    assert simple.content.routing is None
    assert dict(simple.content.other)[f"{{{FILE_CONTENT_NAMESPACE}}}FilType"] == "LIS"
    assert routed.content.routing is not None and ROUTING_RECIPIENT not in routed.file.recipients

    loaded = build_receiver_dag(receiver).test(logical_date=datetime(2026, 11, 1, 7, tzinfo=UTC))

    assert str(loaded.state) == "success", task_states(loaded)
    ledger = _query(warehouse, "SELECT sender, file_name, outcome, rows FROM sf1630_ledger ORDER BY 1")
    assert ledger == [("AULA", names["AULA"], "loaded", ROWS), ("KY", names["KY"], "loaded", ROWS)]
    for code in ("KY", "AULA"):
        table = load_spec(code.lower()).warehouse_table
        assert _query(warehouse, f"SELECT count(*) FROM {table}") == [(ROWS,)]  # noqa: S608
    assert emulator.files(LIS_USER, "IN") == []
