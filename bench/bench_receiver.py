"""Benchmark: a receiver run through the DAG's steps (PostgreSQL staging + GX SQL), beside the plain way and
the floor.

Three ways over the same deliveries into the same PostgreSQL server (the demo's warehouse server, the
embedded PostgreSQL 18 the package installs; ``SF1630_BENCH_SERVER=machine``: the machine's, database
``test``; a schema of the run's own), each in fresh processes that pay their own imports (the clock starts
before a process's first import, as a task process on a worker does):

- ours:  the receiver's steps as the DAG runs them, each step its own process: ``fetch`` (metadata over SFTP
         from the emulator, checked claims, download with size check into the store), ``validate`` (every
         staged file streamed into an UNLOGGED text table with COPY and checked there by GX's SQL engine,
         one process: one GX import per run; ValidationResult and Data Docs written), ``load`` (one process
         per delivery, as the mapped task: typed ``INSERT ... SELECT`` from the staging table with the
         ledger row, staging dropped, one transaction), ``delete`` (both files from the server);
- plain: per file a fresh process: SFTP download (paramiko ``getfo`` with prefetch), ``pandas.read_csv``,
         GX on the pandas frame with the spec's suite and GX's defaults, ``DataFrame.to_sql`` into the same
         PostgreSQL (SQLAlchemy, psycopg 3);
- floor: the raw files streamed into ``COPY`` of a text table (one process).

Workloads: 4 deliveries of 100,000 rows, one of 1,000,000 and one of 5,000,000 rows (shrunk by
``SF1630_BENCH_SCALE``; below full scale the first workload is 2 deliveries, which still runs every step).
Plain is not run on the 5M-row file (GX's pandas frame of it does not fit the machine's memory: about 1.4 GB
per million rows). Peak RSS is each process's own ``VmHWM`` (a step's peak for ours). Targets (2 cores): ours
≤ 0.5× plain on the 4-delivery run and on the 1M-row file; every ours process's peak RSS on the 5M-row
file ≤ 1.2× its peak on the 1M-row file and ≤ 600 MB; the validate step on the 1M-row file (GX import
included) ≤ 12 s. The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml
from rss import peak_rss_bytes  # bench/ is on sys.path when a benchmark runs

REPO = Path(__file__).resolve().parent.parent
#: SF1630_BENCH_SCALE shrinks the workload (tests/bench runs every benchmark at 1 % to keep it working).
SCALE = float(os.environ.get("SF1630_BENCH_SCALE", "1"))
WORKLOADS = {
    "run4": (4 if SCALE >= 1 else 2, max(1000, int(100_000 * SCALE))),
    "one1m": (1, max(1000, int(1_000_000 * SCALE))),
    "one5m": (1, max(5000, int(5_000_000 * SCALE))),
}
#: The server: "embedded" (the demo's warehouse, PostgreSQL 18) or "machine" (127.0.0.1:5432, database test).
SERVER = os.environ.get("SF1630_BENCH_SERVER", "embedded")
MACHINE = "host=127.0.0.1 port=5432 user=postgres dbname=test"
#: Set by the parent for its children once the server runs.
DSN_VARIABLE = "SF1630_BENCH_DSN"


def postgres() -> str:
    """libpq's connection string of the benchmark's server."""
    return os.environ.get(DSN_VARIABLE, MACHINE)


@contextmanager
def warehouse_server(work: Path) -> Iterator[str]:
    """The server every variant uses, running for the whole benchmark (its DSN in the environment)."""
    if SERVER == "machine":
        os.environ[DSN_VARIABLE] = MACHINE
        yield MACHINE
        return
    from sf1630.demo.environment import warehouse_dsn
    from sf1630.demo.metadb import SQLITE, start_metadata_db

    server = start_metadata_db(SQLITE, work / "airflow", warehouse=work / "pg")
    try:
        os.environ[DSN_VARIABLE] = warehouse_dsn(*server.warehouse_server())
        yield os.environ[DSN_VARIABLE]
    finally:
        server.stop()


LIS_USER = "HERNING_LIS01_SIMPEL"
SENDER = "KY_SFTPSIMPEL"
PASSWORD = "bench-only-password"  # noqa: S105 - the throwaway emulator's test user
TARGETS = {
    "run4_ours_over_plain": 0.5,
    "one1m_ours_over_plain": 0.5,
    "one5m_rss_over_one1m": 1.2,
    "one5m_peak_rss_mb": 600,
    "one1m_validate_seconds": 12.0,
}


def data_name(n: int) -> str:
    return f"KY_LIS_65700000_M10_2026110106{n:04d}.csv"


# --- the emulator -----------------------------------------------------------------------------------------


def platform_config() -> dict[str, Any]:
    from sf1630.protocol import INF_REF_SF1630, cvr_urn
    from sf1630.receiver.config import load_receiver
    from sf1630.settings import config_dir

    senders = yaml.safe_load((config_dir() / "senders.yaml").read_text(encoding="utf-8"))["senders"]
    ky = next(s for s in senders if s["code"] == "KY")
    herning = load_receiver(LIS_USER)
    cvr, lis_it_system = herning.kommune.cvr, str(herning.lis.it_system)
    return {
        "users": [
            {"name": u, "email": f"{u.lower()}@bench.example", "password": PASSWORD}
            for u in (SENDER, LIS_USER)
        ],
        "it_systems": [
            {"uuid": ky["it_system"], "name": "KY", "sftp_user": SENDER},
            {"uuid": lis_it_system, "name": "Herning LIS01", "sftp_user": LIS_USER},
        ],
        "routes": [
            {
                "inf_ref": INF_REF_SF1630,
                "sender_authority": cvr_urn(cvr),
                "sender_it_system": ky["it_system"],
                "recipient_authority": cvr_urn(cvr),
                "recipient_it_system": lis_it_system,
                "sftp_username": LIS_USER,
            }
        ],
        "router": {"rescan_interval": "1s"},
    }


@contextmanager
def emulator(work: Path) -> Iterator[tuple[Path, int]]:
    config = work / "platform.yaml"
    config.write_text(yaml.safe_dump(platform_config(), allow_unicode=True), encoding="utf-8")
    home = work / "platform-home"
    command = [
        sys.executable,
        "-m",
        "sf1630.platform.cli",
        "serve",
        "--config",
        str(config),
        "--home",
        str(home),
    ]
    process = subprocess.Popen(
        [*command, "--host", "127.0.0.1", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert process.stdout is not None
    port = 0
    for line in process.stdout:
        match = re.search(r"listening on 127\.0\.0\.1:(\d+)", line)
        if match:
            port = int(match.group(1))
            break
    if not port:
        raise SystemExit("the emulator did not start")
    try:
        yield home, port
    finally:
        process.terminate()
        process.wait(20)
        process.stdout.close()


@contextmanager
def sftp_session(home: Path, port: int, user: str) -> Iterator[Any]:
    import base64

    import paramiko

    kind, blob = (home / "host_key.pub").read_text(encoding="ascii").split()[:2]
    client = paramiko.SSHClient()
    client.get_host_keys().add(
        f"[127.0.0.1]:{port}", kind, paramiko.PKey.from_type_string(kind, base64.b64decode(blob))
    )
    client.connect(
        "127.0.0.1", port, username=user, password=PASSWORD, look_for_keys=False, allow_agent=False
    )
    try:
        yield client.open_sftp()
    finally:
        client.close()


def deliver(home: Path, port: int, data: Path) -> bytes:
    """Upload the file and its trigger as KY; return the metadata file the platform writes for the LIS."""
    from sf1630.protocol import (
        INF_REF_SF1630,
        ROUTING_RECIPIENT,
        FileContentDescriptor,
        FileDescriptor,
        RoutingInfo,
        Trigger,
        cvr_urn,
        to_xml,
    )
    from sf1630.receiver.config import load_receiver

    herning = load_receiver(LIS_USER)
    ky_system = platform_config()["it_systems"][0]["uuid"]
    routing = RoutingInfo(
        INF_REF_SF1630,
        uuid.UUID(ky_system),
        cvr_urn(herning.kommune.cvr),
        uuid.uuid4(),
        datetime.now(UTC),
        cvr_urn(herning.kommune.cvr),
        herning.lis.it_system,
    )
    trigger = Trigger(
        FileDescriptor(data.name, data.stat().st_size, SENDER, (ROUTING_RECIPIENT,)),
        FileContentDescriptor(routing=routing),
    )
    with sftp_session(home, port, SENDER) as sftp:
        sftp.put(str(data), f"OUT/{data.name}")
        with sftp.open(f"OUT/{data.name}.trigger", "wb") as out:
            out.write(to_xml(trigger))
    metadata = home / "users" / LIS_USER / "IN" / f"{data.name}.metadata"
    deadline = time.monotonic() + 300
    while not metadata.exists():
        if time.monotonic() > deadline:
            raise SystemExit("the platform did not deliver the file")
        time.sleep(0.1)
    return metadata.read_bytes()


# --- the variants, each in its own process ---------------------------------------------------------------


def _schema(work: Path) -> str:
    return "bench_" + work.name.rsplit("-", 1)[-1].replace("_", "").lower()[:20]


def _database(work: Path) -> Any:
    from sf1630.database import Database

    return Database.postgres(postgres(), schema=_schema(work))


def _intake(home: Path, port: int, work: Path) -> Any:
    from sf1630.receiver.config import load_receiver
    from sf1630.receiver.extract import spec_for
    from sf1630.receiver.intake import Intake
    from sf1630.receiver.storage import Storage
    from upath import UPath

    return Intake(
        receiver=load_receiver(LIS_USER),
        database=_database(work),
        open_sftp=lambda: sftp_session(home, port, LIS_USER),
        spec_for=spec_for,
        storage=Storage(UPath(f"file://{work / 'store'}"), LIS_USER),
    )


def _records(work: Path, step: str) -> list[Any]:
    from sf1630.receiver.record import ItemRecord

    return [ItemRecord.from_xcom(r) for r in json.loads((work / f"{step}.json").read_text(encoding="utf-8"))]


def _save(work: Path, step: str, records: list[Any]) -> None:
    (work / f"{step}.json").write_text(json.dumps([r.to_xcom() for r in records]), encoding="utf-8")


def step_fetch(home: Path, port: int, work: Path) -> None:
    from sf1630.receiver.delivery import fetch_items
    from sf1630.receiver.fetch import list_inbox

    intake = _intake(home, port, work)
    with intake.open_sftp() as sftp:
        items = list_inbox(sftp, "IN", who=LIS_USER).items
    receiver = intake.receiver
    records = fetch_items(intake, [(item, item.label(receiver.kommune, receiver.lis)) for item in items])
    assert all(r.status == "staged" for r in records), records
    _save(work, "fetch", records)


def step_validate(home: Path, port: int, work: Path) -> None:
    from sf1630.dataspec.validation import Validator
    from sf1630.receiver.delivery import validate_items

    records = validate_items(_intake(home, port, work), _records(work, "fetch"), Validator())
    assert all(r.status == "valid" for r in records), [r.summary for r in records]
    _save(work, "validate", records)


def step_load(home: Path, port: int, work: Path, index: int) -> None:
    from sf1630.receiver.delivery import load_item

    record = load_item(_intake(home, port, work), _records(work, "validate")[index])
    assert record.status == "loaded", record


def step_delete(home: Path, port: int, work: Path) -> None:
    from sf1630.receiver.delivery import delete_items

    assert len(delete_items(_intake(home, port, work), _records(work, "fetch"))) == len(
        _records(work, "fetch")
    )


def run_floor(work: Path, count: int) -> None:
    """Each raw file streamed into COPY of a text table: the least any load into PostgreSQL costs."""
    import psycopg
    from sf1630.dataspec import load_spec

    spec = load_spec("ky")
    d = spec.dialect
    schema = _schema(work)
    columns = ", ".join(f"{c.name} text" for c in spec.columns)
    with psycopg.connect(postgres(), autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
        for n in range(count):
            table = f"{schema}.floor_{n}"
            conn.execute(f"DROP TABLE IF EXISTS {table}")
            conn.execute(f"CREATE UNLOGGED TABLE {table} ({columns})")
            copy_sql = (
                f"COPY {table} FROM STDIN (FORMAT csv, DELIMITER '{d.separator}', HEADER true, NULL '')"
            )
            source = (work / "data" / data_name(n)).open("rb")
            with source, conn.cursor() as cur, cur.copy(copy_sql) as copy:
                while block := source.read(1 << 20):
                    copy.write(block)


def run_plain(home: Path, port: int, work: Path, index: int) -> None:
    import great_expectations as gx
    import pandas as pd
    import sqlalchemy
    from sf1630.dataspec import load_spec
    from sf1630.dataspec.suite import build_suite

    name = data_name(index)
    local = work / f"plain-{name}"
    with sftp_session(home, port, LIS_USER) as sftp, local.open("wb") as out:
        sftp.getfo(f"IN/{name}", out, prefetch=True)
    spec = load_spec("ky")
    d = spec.dialect
    frame = pd.read_csv(local, sep=d.separator, quotechar=d.quote, encoding=d.encoding, decimal=d.decimal)
    context = gx.get_context(mode="ephemeral")
    batch = (
        context.data_sources.add_pandas("plain")
        .add_dataframe_asset("ky")
        .add_batch_definition_whole_dataframe("w")
    )
    batch.get_batch(batch_parameters={"dataframe": frame}).validate(build_suite(spec))
    engine = sqlalchemy.create_engine("postgresql+psycopg://postgres@127.0.0.1:5432/test")
    with engine.begin() as con:
        con.exec_driver_sql(f"CREATE SCHEMA IF NOT EXISTS {_schema(work)}")
        frame.to_sql("plain_ky", con, schema=_schema(work), index=False, chunksize=50_000, if_exists="append")


def child(args: argparse.Namespace) -> None:
    """Run one variant or step and print its time and peak RSS."""
    work, home = Path(args.work), Path(args.home)
    started = time.perf_counter()
    if args.variant == "fetch":
        step_fetch(home, args.port, work)
    elif args.variant == "validate":
        step_validate(home, args.port, work)
    elif args.variant == "load":
        step_load(home, args.port, work, args.index)
    elif args.variant == "delete":
        step_delete(home, args.port, work)
    elif args.variant == "floor":
        run_floor(work, args.index)
    else:
        run_plain(home, args.port, work, args.index)
    print(json.dumps({"seconds": time.perf_counter() - started, "peak_rss": peak_rss_bytes()}))


def measure(variant: str, home: Path, port: int, work: Path, index: int = 0) -> dict[str, Any]:
    command = [sys.executable, __file__, "--variant", variant, "--home", str(home), "--port", str(port)]
    command += ["--work", str(work), "--index", str(index)]
    env = {**os.environ, "GX_ANALYTICS_ENABLED": "False"}
    done = subprocess.run(command, capture_output=True, text=True, check=False, env=env)
    if done.returncode != 0:
        raise SystemExit(f"{variant} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    return {"step": variant, **json.loads(done.stdout.strip().splitlines()[-1])}


def total(parts: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "seconds": round(sum(p["seconds"] for p in parts), 3),
        "peak_rss": max(p["peak_rss"] for p in parts),
        "processes": len(parts),
        "parts": [
            {"step": p["step"], "s": round(p["seconds"], 2), "rss_mb": p["peak_rss"] >> 20} for p in parts
        ],
    }


def restore_inbox(home: Path, work: Path, count: int, metadata: dict[str, bytes]) -> None:
    inbox = home / "users" / LIS_USER / "IN"
    for n in range(count):
        shutil.copyfile(work / "data" / data_name(n), inbox / data_name(n))
        (inbox / f"{data_name(n)}.metadata").write_bytes(metadata[data_name(n)])


def fresh(work: Path) -> None:
    import psycopg

    with psycopg.connect(postgres(), autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA IF EXISTS {_schema(work)} CASCADE")
    shutil.rmtree(work / "store", ignore_errors=True)
    for plain in work.glob("plain-*"):
        plain.unlink()


def workload(
    home: Path, port: int, work: Path, count: int, metadata: dict[str, bytes], with_plain: bool
) -> dict[str, Any]:
    """plain (unless told not to), floor and ours once each on a fresh schema and a full IN/."""
    figures: dict[str, Any] = {}
    try:
        if with_plain:
            fresh(work)
            restore_inbox(home, work, count, metadata)
            figures["plain"] = total([measure("plain", home, port, work, n) for n in range(count)])
        fresh(work)
        figures["floor"] = total([measure("floor", home, port, work, count)])
        fresh(work)
        restore_inbox(home, work, count, metadata)
        steps = [measure("fetch", home, port, work), measure("validate", home, port, work)]
        steps += [measure("load", home, port, work, n) for n in range(count)]
        steps.append(measure("delete", home, port, work))
        figures["ours"] = total(steps)
        figures["ours"]["inbox_after"] = sorted(p.name for p in (home / "users" / LIS_USER / "IN").iterdir())
    finally:
        fresh(work)
    return figures


def summarise(figures: dict[str, Any], file_bytes: int) -> dict[str, Any]:
    ours, floor = figures["ours"]["seconds"], figures["floor"]["seconds"]
    out: dict[str, Any] = {
        **figures,
        "file_bytes": file_bytes,
        "ours_over_floor": round(ours / floor, 2),
        "ours_rss_over_file": round(figures["ours"]["peak_rss"] / file_bytes, 2),
        "validate_seconds": next(p["s"] for p in figures["ours"]["parts"] if p["step"] == "validate"),
    }
    if "plain" in figures:
        out["ours_over_plain"] = round(ours / figures["plain"]["seconds"], 3)
        out["plain_rss_over_file"] = round(figures["plain"]["peak_rss"] / file_bytes, 2)
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--variant")
    parser.add_argument("--home")
    parser.add_argument("--port", type=int)
    parser.add_argument("--work")
    parser.add_argument("--index", type=int, default=0)
    parser.add_argument("--only", choices=sorted(WORKLOADS), action="append", default=None)
    args = parser.parse_args()
    if args.variant:
        child(args)
        return
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
    from sf1630.dataspec import load_spec

    summary: dict[str, Any] = {"benchmark": "receiver", "scale": SCALE, "warehouse": "postgresql"}
    spec = load_spec("ky")
    server_home = Path(tempfile.mkdtemp(prefix="bench-receiver-server-"))
    with warehouse_server(server_home) as dsn:
        summary["server"] = {"where": SERVER, "version": _server_version(dsn)}
        _workloads(args, spec, summary)
    shutil.rmtree(server_home, ignore_errors=True)
    summary["targets"] = TARGETS
    summary["targets_met"] = targets_met(summary)
    print(json.dumps(summary))


def _server_version(dsn: str) -> str:
    import psycopg

    with psycopg.connect(dsn) as conn:
        return str(conn.execute("SHOW server_version").fetchone()[0])  # type: ignore[index]


def _workloads(args: argparse.Namespace, spec: Any, summary: dict[str, Any]) -> None:
    """Each workload chosen: its files made, delivered by the emulator, then plain, floor and ours."""
    from sf1630.dataspec.schema import write_csv
    from sf1630.dataspec.synth import synthesize
    from sf1630.protocol import Period

    for name, (count, rows) in WORKLOADS.items():
        if args.only is not None and name not in args.only:
            continue
        work = Path(tempfile.mkdtemp(prefix=f"bench-receiver-{name}-"))
        try:
            (work / "data").mkdir()
            for n in range(count):
                frame = synthesize(spec, rows, "65700000", Period(2026, 10), 1630 + n)
                write_csv(frame, spec, work / "data" / data_name(n))
                del frame
            with emulator(work) as (home, port):
                metadata = {
                    data_name(n): deliver(home, port, work / "data" / data_name(n)) for n in range(count)
                }
                figures = workload(home, port, work, count, metadata, with_plain=name != "one5m")
            largest = max((work / "data" / data_name(n)).stat().st_size for n in range(count))
            summary[name] = {"deliveries": count, "rows": rows, **summarise(figures, largest)}
        finally:
            shutil.rmtree(work, ignore_errors=True)


def targets_met(summary: dict[str, Any]) -> dict[str, bool]:
    met: dict[str, bool] = {}
    for name in ("run4", "one1m"):
        if "ours_over_plain" in summary.get(name, {}):
            met[f"{name}_ours_over_plain"] = (
                summary[name]["ours_over_plain"] <= TARGETS[f"{name}_ours_over_plain"]
            )
    if "one1m" in summary:
        met["one1m_validate_seconds"] = (
            summary["one1m"]["validate_seconds"] <= TARGETS["one1m_validate_seconds"]
        )
    if "one1m" in summary and "one5m" in summary:
        small = {p["step"]: p["rss_mb"] for p in summary["one1m"]["ours"]["parts"]}
        large = {p["step"]: p["rss_mb"] for p in summary["one5m"]["ours"]["parts"]}
        met["one5m_rss_over_one1m"] = all(
            large[s] <= TARGETS["one5m_rss_over_one1m"] * small[s] for s in large if s in small
        )
        met["one5m_peak_rss_mb"] = max(large.values()) <= TARGETS["one5m_peak_rss_mb"]
    return met


if __name__ == "__main__":
    main()
