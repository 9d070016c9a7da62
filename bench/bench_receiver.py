"""Benchmark: a 1,000,000-row KY delivery through the receiver code path, beside the floor and the plain way.

- ours:  ``process_delivery`` as the DAG's ``load_one`` runs it: metadata over SFTP from the emulator,
         download with size check, polars read with the spec's schema, every expectation of the spec's suite
         (the project's engine: polars, GX semantics, no GX import), load into DuckDB (Arrow, no copy) with
         the ledger row in one transaction, delete both files from the server;
- floor: polars read of the local file with the spec's schema, then the DuckDB insert of the Arrow table into
         the same warehouse table (the same DDL ours creates) with the same lineage values;
- plain: the same SFTP download (paramiko ``getfo`` with prefetch, what ``SFTPHook.retrieve_file`` does),
         ``pandas.read_csv``, GX on the pandas frame with the same suite (GX's own default path),
         ``DataFrame.to_sql`` (into SQLite: pandas' only driver-free SQL target here).

Fairness: each variant runs in its own fresh process and its clock starts before its first import, so every
variant pays its own imports (GX's for plain, which needs it; polars, DuckDB and paramiko for all), as a task
process on a worker does. Peak RSS is each process's own ``VmHWM``. Ours does strictly more than plain
(metadata, size check, ledger, transaction, delete). Targets (2 cores): ours ≤ 4× floor, ours ≤ 0.4× plain,
peak RSS of ours ≤ 6× the file size. The last line of output is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
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
ROWS = max(1000, int(1_000_000 * SCALE))
LIS_USER = "HERNING_LIS01_SIMPEL"
SENDER = "KY_SFTPSIMPEL"
PASSWORD = "bench-only-password"  # noqa: S105 - the throwaway emulator's test user
DATA_NAME = "KY_LIS_65700000_M10_20261101060000.csv"


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


# --- the three variants, each in its own process ----------------------------------------------------------


def run_ours(home: Path, port: int, work: Path) -> None:
    from sf1630.database import Database
    from sf1630.receiver.config import load_receiver
    from sf1630.receiver.delivery import Intake, Status, process_delivery
    from sf1630.receiver.extract import spec_for
    from sf1630.receiver.inbox import InboxItem

    intake = Intake(
        receiver=load_receiver(LIS_USER),
        database=Database.duckdb(work / "ours.duckdb", schema="lis"),
        open_sftp=lambda: sftp_session(home, port, LIS_USER),
        spec_for=spec_for,
        staging=work / "staging",
        quarantine_root=work / "quarantine",
    )
    size = (home / "users" / LIS_USER / "IN" / DATA_NAME).stat().st_size
    result = process_delivery(intake, InboxItem(DATA_NAME, f"{DATA_NAME}.metadata", size))
    assert result.status is Status.LOADED and result.rows == ROWS, result


def run_floor(data: Path, work: Path) -> None:
    """polars read with the spec's schema, then the insert into the same warehouse table ours loads."""
    import duckdb
    import polars as pl
    from sf1630.receiver.extract import spec_for

    spec = spec_for("ky")
    arrow = spec.read(data).to_arrow(compat_level=pl.CompatLevel.newest())
    constants, _ = spec.lineage(
        file_transfer_uuid=str(uuid.uuid4()),
        kommune="65700000",
        period="2026-10",
        loaded_at=datetime.now(UTC),
    )
    columns = ", ".join(arrow.column_names)
    lineage = ", ".join(c for c, _ in constants)
    with duckdb.connect(str(work / "floor.duckdb")) as con:
        for statement in spec.create_sql("duckdb", "main"):
            con.execute(statement)
        con.register("incoming", arrow)
        con.execute(
            f"INSERT INTO {spec.table} ({columns}, {lineage}) SELECT {columns}, ?, ?, ?, ? FROM incoming",  # noqa: S608
            [v for _, v in constants],
        )
    assert arrow.num_rows == ROWS


def run_plain(home: Path, port: int, work: Path) -> None:
    import sqlite3

    import pandas as pd
    from sf1630.dataspec import load_spec
    from sf1630.dataspec.suite import build_suite, gx_context

    local = work / "plain.csv"
    with sftp_session(home, port, LIS_USER) as sftp, local.open("wb") as out:
        sftp.getfo(f"IN/{DATA_NAME}", out, prefetch=True)
    spec = load_spec("ky")
    d = spec.dialect
    frame = pd.read_csv(local, sep=d.separator, quotechar=d.quote, encoding=d.encoding, decimal=d.decimal)
    source = gx_context().data_sources.add_or_update_pandas("plain")
    batch = source.add_dataframe_asset("ky").add_batch_definition_whole_dataframe("whole")
    batch.get_batch(batch_parameters={"dataframe": frame}).validate(build_suite(spec))
    with sqlite3.connect(work / "plain.sqlite") as con:
        frame.to_sql("ky", con, index=False, chunksize=50_000)


def child(args: argparse.Namespace) -> None:
    """Run one variant and print its time, peak RSS and any warning it logged (a retried download, say)."""
    import logging

    warnings: list[str] = []
    handler = logging.Handler(logging.WARNING)
    handler.emit = lambda record: warnings.append(record.getMessage())  # type: ignore[method-assign]
    logging.getLogger().addHandler(handler)
    work, home = Path(args.work), Path(args.home)
    started = time.perf_counter()
    if args.variant == "ours":
        run_ours(home, args.port, work)
    elif args.variant == "floor":
        run_floor(work / DATA_NAME, work)
    else:
        run_plain(home, args.port, work)
    seconds = time.perf_counter() - started
    print(json.dumps({"seconds": seconds, "peak_rss": peak_rss_bytes(), "warnings": warnings[:5]}))


def measure(variant: str, home: Path, port: int, work: Path) -> dict[str, Any]:
    command = [sys.executable, __file__, "--variant", variant, "--home", str(home), "--port", str(port)]
    done = subprocess.run([*command, "--work", str(work)], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{variant} failed:\n{done.stdout}\n{done.stderr}")
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def restore_inbox(home: Path, data: Path, metadata: bytes) -> None:
    inbox = home / "users" / LIS_USER / "IN"
    shutil.copyfile(data, inbox / DATA_NAME)
    (inbox / f"{DATA_NAME}.metadata").write_bytes(metadata)


def one_round(home: Path, port: int, work: Path, data: Path, metadata: bytes) -> dict[str, dict[str, Any]]:
    """plain, floor and ours once each, every one on a fresh warehouse and a full IN/."""
    for name in ("ours.duckdb", "ours.duckdb.wal", "floor.duckdb", "floor.duckdb.wal", "plain.sqlite"):
        (work / name).unlink(missing_ok=True)
    shutil.rmtree(work / "staging", ignore_errors=True)
    restore_inbox(home, data, metadata)
    results = {"plain": measure("plain", home, port, work)}
    results["floor"] = measure("floor", home, port, work)
    results["ours"] = measure("ours", home, port, work)
    results["ours"]["inbox_after"] = sorted(p.name for p in (home / "users" / LIS_USER / "IN").iterdir())
    return results


def summarise(rounds: list[dict[str, dict[str, Any]]], file_bytes: int) -> dict[str, Any]:
    """Ratios within each round (same machine state), and the medians over the rounds."""
    per_round = []
    for r in rounds:
        ours, floor, plain = (r[k]["seconds"] for k in ("ours", "floor", "plain"))
        per_round.append(
            {
                "ours_s": round(ours, 3),
                "floor_s": round(floor, 3),
                "plain_s": round(plain, 3),
                "ours_over_floor": round(ours / floor, 2),
                "ours_over_plain": round(ours / plain, 2),
                "ours_rss_over_file": round(r["ours"]["peak_rss"] / file_bytes, 2),
                "floor_rss_over_file": round(r["floor"]["peak_rss"] / file_bytes, 2),
                "plain_rss_over_file": round(r["plain"]["peak_rss"] / file_bytes, 2),
                "ours_warnings": r["ours"]["warnings"],
                "inbox_after_ours": r["ours"]["inbox_after"],
            }
        )
    summary: dict[str, Any] = {"benchmark": "receiver", "rows": ROWS, "file_bytes": file_bytes}
    summary["scale"] = SCALE
    for key in ("ours_over_floor", "ours_over_plain", "ours_rss_over_file"):
        summary[f"median_{key}"] = statistics.median(r[key] for r in per_round)
    summary["rounds"] = per_round
    summary["targets"] = {"over_floor": 4.0, "over_plain": 0.4, "rss_over_file": 6.0}
    summary["targets_met"] = (
        summary["median_ours_over_floor"] <= 4.0
        and summary["median_ours_over_plain"] <= 0.4
        and summary["median_ours_rss_over_file"] <= 6.0
    )
    return summary


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--variant", choices=["ours", "floor", "plain"])
    parser.add_argument("--home")
    parser.add_argument("--port", type=int)
    parser.add_argument("--work")
    parser.add_argument(
        "--rounds", type=int, default=1, help="plain/floor/ours rounds (the machine is noisy)"
    )
    args = parser.parse_args()
    if args.variant:
        child(args)
        return
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
    from sf1630.dataspec import load_spec
    from sf1630.dataspec.schema import write_csv
    from sf1630.dataspec.synth import synthesize

    work = Path(tempfile.mkdtemp(prefix="bench-receiver-"))
    try:
        data = work / DATA_NAME
        spec = load_spec("ky")
        write_csv(synthesize(spec, ROWS, "65700000", "2026-10", 1630), spec, data)
        with emulator(work) as (home, port):
            metadata = deliver(home, port, data)
            rounds = [one_round(home, port, work, data, metadata) for _ in range(args.rounds)]
        print(json.dumps(summarise(rounds, data.stat().st_size)))
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
