"""Two Airflows, as in reality: a vendor's and a LIS team's, each made with ``sf1630 init``, each with its
own ``AIRFLOW_HOME``, configuration folder and metadata database, each passing ``sf1630 preflight``,
exchange a month through the emulator and share nothing but the platform.

One sender (KY, simple pattern) delivers to two kommuner, one of them (Brøndby) with two LIS systems: three
deliveries, each loaded exactly once by the LIS team's receivers. The vendor's source does not use the data
spec's column names; its own SQL file maps them.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from sf1630.database import Database
from sf1630.dataspec import load_spec
from sf1630.demo.seed import generate_keys
from sf1630.registry import load_registry, platform_config
from sf1630.sender.source import seed_source

from tests.support import emulator as platform
from tests.support.deployment import Deployment
from tests.support.postgres import POSTGRES_DSN, fresh_schema
from tests.support.receiver import warehouse_connection

pytestmark = pytest.mark.integration

PERIOD = "2026-10"
ROWS = 7
KOMMUNER = ("657", "153")  # Herning (one LIS system), Brøndby (two)
SENDER = "KY_SFTPSIMPEL"
#: The vendor's own names for the spec's columns (its source table is ``ky_udbetalinger``).
VENDOR_NAMES = {
    "myndighed_cvr": "kommune_cvr",
    "udtraeksperiode": "periode",
    "sag_id": "sagsnummer",
    "ydelse_id": "linje_id",
}


def _country() -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The two kommuner as the demo's registry has them, and KY's entry of the demo's senders.yaml."""
    registry = load_registry()
    kommuner = [k.model_dump(mode="json") for k in registry.kommuner if k.kode in KOMMUNER]
    ky = registry.sender("KY").model_dump(mode="json")
    return kommuner, ky


def _vendor_sql() -> str:
    """The vendor's own query: its column names mapped onto the spec's, the named parameters bound."""
    spec = load_spec("ky")
    select = ", ".join(f"{VENDOR_NAMES[c]} AS {c}" if c in VENDOR_NAMES else c for c in spec.column_names)
    return (
        f"-- KY's LIS extract from our own table\nSELECT {select}\nFROM ky_udbetalinger\n"
        "WHERE kommune_cvr = :cvr AND periode = :period\nORDER BY sagsnummer, linje_id\n"
    )


def _vendor_source(schema: str, cvrs: list[str]) -> Database:
    """The vendor's database: the month's rows in a table and columns named the vendor's way."""
    source = Database.postgres(POSTGRES_DSN, schema)
    from sf1630.protocol import Period

    seed_source(source, load_spec("ky"), cvrs, Period.parse(PERIOD), rows_per_kommune=ROWS)
    with source.connect(autocommit=True) as conn:
        conn.execute("ALTER TABLE ky_ydelser RENAME TO ky_udbetalinger")
        for spec_name, own in VENDOR_NAMES.items():
            conn.execute(f'ALTER TABLE ky_udbetalinger RENAME COLUMN "{spec_name}" TO "{own}"')
    return source


def _warehouse(schema: str) -> dict[str, Any]:
    return warehouse_connection(Database.postgres(POSTGRES_DSN, schema))


def _sftp(port: int, host_key: str, user: str, keys: Path) -> dict[str, Any]:
    extra = {"key_file": str(keys / user), "host_key": host_key, "look_for_keys": False}
    return {"conn_type": "sftp", "host": "127.0.0.1", "port": port, "login": user, "extra": extra}


@pytest.fixture
def schemas() -> Iterator[tuple[str, list[str]]]:
    """The vendor's source, and a warehouse for each of the LIS team's three systems: nothing in common."""
    with (
        fresh_schema("vendor") as vendor,
        fresh_schema("lis") as one,
        fresh_schema("lis") as two,
        fresh_schema("lis") as three,
    ):
        yield vendor, [one, two, three]


def test_a_vendor_and_a_lis_team_exchange_a_month(tmp_path: Path, schemas: tuple[str, list[str]]) -> None:
    vendor_schema, warehouses = schemas
    kommuner, ky = _country()
    sftp_users = [lis["sftp_user"] for k in kommuner for lis in k["lis_systems"]]
    assert len(sftp_users) == 3
    keys = tmp_path / "keys"
    public = generate_keys(keys, [SENDER, *sftp_users])
    config = platform_config(
        kommune_codes=KOMMUNER,
        sender_codes={"KY"},
        authorized_keys=public,
        extra={"router": {"rescan_interval": "1s"}},
    )
    with platform.start(config, tmp_path / "platform") as emulator:
        vendor = Deployment.init("sender", tmp_path / "vendor")
        lis = Deployment.init("receiver", tmp_path / "lis")
        assert vendor.stack.airflow_home != lis.stack.airflow_home

        # The vendor: its sender, its recipients (names and SFTP users, as its simple routes say), its query.
        _vendor_source(vendor_schema, [k["cvr"] for k in kommuner])
        sender = {
            key: ky[key]
            for key in ("code", "name", "it_system", "sftp_user", "dataspec", "routing", "contact")
        }
        sender.update(
            sftp_conn_id="vendor_sftp",
            source_conn_id="vendor_source",
            extract_sql="sql/ky.sql",
            receipt_poll="1s",
            receipt_quick_look="2s",
            retries=0,
        )
        senders_yaml = yaml.safe_load((vendor.config_dir / "senders.yaml").read_text(encoding="utf-8"))
        senders_yaml["senders"] = [sender]
        senders_yaml["kommuner"] = [
            {**k, "lis_systems": [{"name": s["name"], "sftp_user": s["sftp_user"]} for s in k["lis_systems"]]}
            for k in kommuner
        ]
        senders_yaml["defaults"].update(ledger_conn_id="vendor_ledger", smtp_conn_id=None, slack_conn_id=None)
        vendor.configure(
            {"senders.yaml": yaml.safe_dump(senders_yaml, allow_unicode=True), "sql/ky.sql": _vendor_sql()},
            {
                "vendor_sftp": _sftp(emulator.port, emulator.host_key, SENDER, keys),
                # The source is read through the provider's hook, whose extras are libpq's.
                "vendor_source": {
                    **_warehouse(vendor_schema),
                    "extra": {"options": f"-c search_path={vendor_schema}"},
                },
                "vendor_ledger": {"conn_type": "sqlite", "host": str(vendor.root / "ledger.sqlite")},
            },
        )

        # The LIS team: its kommuner and LIS systems (SFTP users only), the sender it accepts.
        receivers_yaml = yaml.safe_load((lis.config_dir / "receivers.yaml").read_text(encoding="utf-8"))
        receivers_yaml["kommuner"] = [
            {**k, "lis_systems": [{"name": s["name"], "sftp_user": s["sftp_user"]} for s in k["lis_systems"]]}
            for k in kommuner
        ]
        receivers_yaml["senders"] = [
            {key: ky[key] for key in ("code", "name", "sftp_user", "dataspec", "contact")}
        ]
        receivers_yaml["defaults"].update(
            sftp_conn_id="lis_sftp_{user}",
            warehouse_conn_id="lis_warehouse_{user}",
            storage=f"file://{lis.root / 'store'}",
            accepts=["KY"],
            wait_timeout="30s",
            poke_interval="1s",
            retries=0,
            smtp_conn_id=None,
            slack_conn_id=None,
        )
        receivers_yaml.pop("overrides", None)
        lis.configure(
            {"receivers.yaml": yaml.safe_dump(receivers_yaml, allow_unicode=True)},
            {
                **{
                    f"lis_warehouse_{user.lower()}": _warehouse(w)
                    for user, w in zip(sftp_users, warehouses, strict=True)
                },
                **{
                    f"lis_sftp_{user.lower()}": _sftp(emulator.port, emulator.host_key, user, keys)
                    for user in sftp_users
                },
            },
        )
        assert not (vendor.config_dir / "receivers.yaml").exists()
        assert not (lis.config_dir / "senders.yaml").exists()
        assert not any((d.config_dir / "kommuner.yaml").exists() for d in (vendor, lis))

        migrations = [threading.Thread(target=d.stack.migrate) for d in (vendor, lis)]
        for thread in migrations:
            thread.start()
        for thread in migrations:
            thread.join()
        for deployment in (vendor, lis):
            checked = deployment.sf1630("preflight", "--period", PERIOD)
            assert checked.returncode == 0, checked.stdout + checked.stderr
            assert "FAIL" not in checked.stdout

        vendor.dags_test("sf1630_sender_ky", {"period": PERIOD})
        ledger = Database.sqlite(vendor.root / "ledger.sqlite").connect()
        sent = ledger.execute("SELECT recipient, status FROM sf1630_sender_ledger").fetchall()
        assert sorted(sent) == sorted((user, "accepted") for user in sftp_users)
        assert emulator.files(SENDER, "OUT") == []

        for user, warehouse in zip(sftp_users, warehouses, strict=True):
            output = lis.dags_test(f"sf1630_receiver_{user.lower()}")
            with Database.postgres(POSTGRES_DSN, warehouse).connect() as conn:
                ledger_rows = conn.execute("SELECT outcome, rows FROM sf1630_ledger").fetchall()
                table_rows = conn.execute("SELECT count(*) FROM lis_ky_ydelser").fetchone()
            assert ledger_rows == [("loaded", ROWS)], output
            assert table_rows == (ROWS,), user
            assert emulator.files(user, "IN") == [], user
