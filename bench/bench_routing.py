"""Benchmark of the emulator's router: latency, throughput, and whether routing time depends on file size.

Starts ``sf1630 platform serve`` as a subprocess on a free port and talks to it with asyncssh, like a sender:

* latency: 200 sequential transfers of 10 KB files; time from the trigger upload's close (the client's
  ``close`` returned) to the receipt being visible over SFTP (polled with ``stat``); p50 and p95 in ms.
* throughput: 8 concurrent senders (connections), each uploading data file + trigger and waiting for its
  receipt, 50 transfers each; transfers per second over the whole run.
* size ratio: routing time (trigger close → receipt visible) of a 1 GB data file divided by that of a 1 MB
  file, median of 25 each, interleaved, same run. The data files are written straight into the sender's
  ``OUT/`` on disk (what a finished upload leaves behind; written once, then the delivered file is moved back
  for the next run) and only the trigger is uploaded, since uploading 1 GB measures SSH, not routing.

Targets on a 2-core machine: p95 <= 100 ms, >= 100 transfers/s, ratio <= 1.5. Prints one JSON object last.
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncssh
import yaml
from sf1630.platform.process import start_emulator
from sf1630.protocol import (
    INF_REF_SF1630,
    RECEIPT_SUFFIX,
    Trigger,
    to_xml,
)

SENDER, RECIPIENT = "KY_SFTPSIMPEL", "IKAST-BRANDE_LIS01_SIMPEL"
KY, LIS = uuid.UUID("5f0c2a4e-6b1d-4c8e-9a3f-7d2e1b0c9a81"), uuid.UUID("e9b2c365-e007-5602-863c-c4569044a4b4")
CVR = "urn:oio:cvr-nr:75600000"
#: SF1630_BENCH_SCALE shrinks the workload (tests/bench runs every benchmark at 1 % to keep it working).
SCALE = float(os.environ.get("SF1630_BENCH_SCALE", "1"))
LATENCY_TRANSFERS, SENDERS = max(10, int(200 * SCALE)), 8
PER_SENDER, SIZE_RUNS = max(2, int(50 * SCALE)), max(2, int(25 * SCALE))
LARGE = max(2 << 20, int((1 << 30) * SCALE))  # 1 GB unless scaled down
REPO = Path(__file__).resolve().parent.parent


def trigger(name: str, size: int) -> bytes:
    trigger = Trigger.routed(
        name, size, sender=SENDER, sender_it_system=KY, authority=CVR, timestamp=datetime.now(UTC)
    )
    return to_xml(trigger)


def write_config(folder: Path, public_key: str) -> Path:
    config = {
        "users": [
            {"name": SENDER, "email": "drift@ky.example", "authorized_keys": [public_key]},
            {"name": RECIPIENT, "email": "lis@ikast.example"},
        ],
        "it_systems": [
            {"uuid": str(KY), "name": "KY", "sftp_user": SENDER},
            {"uuid": str(LIS), "name": "LIS", "sftp_user": RECIPIENT},
        ],
        "routes": [
            {
                "inf_ref": INF_REF_SF1630,
                "sender_authority": CVR,
                "sender_it_system": str(KY),
                "recipient_authority": CVR,
                "recipient_it_system": str(LIS),
                "sftp_username": RECIPIENT,
            }
        ],
        "retention": {"delete_after": "30d", "warn_before": "10d", "sweep_interval": "1d"},
    }
    path = folder / "platform.yaml"
    path.write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")
    return path


class Sender:
    """One SFTP session of the sender."""

    def __init__(self, sftp: asyncssh.SFTPClient) -> None:
        self.sftp = sftp

    async def put(self, path: str, data: bytes) -> None:
        async with self.sftp.open(path, "wb") as file:
            await file.write(data)

    async def wait_receipt(self, name: str) -> None:
        path = f"IN/{name}{RECEIPT_SUFFIX}"
        while not await self.sftp.exists(path):
            await asyncio.sleep(0.001)

    async def transfer(self, name: str, data: bytes | None, size: int) -> float:
        """Upload (data and) trigger; seconds from trigger close to receipt visible."""
        if data is not None:
            await self.put(f"OUT/{name}", data)
        await self.put(f"OUT/{name}.trigger", trigger(name, size))
        closed = time.perf_counter()
        await self.wait_receipt(name)
        return time.perf_counter() - closed


def name(tag: str, index: int) -> str:
    return f"KY_LIS_75600000_M03_{tag}{index:08d}.csv"


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


async def measure(port: int, home: Path, key: asyncssh.SSHKey) -> dict[str, Any]:
    known = asyncssh.import_known_hosts(f"[127.0.0.1]:{port} {(home / 'host_key.pub').read_text().strip()}\n")
    connect = dict(username=SENDER, client_keys=[key], known_hosts=known, agent_path=None)
    data = os.urandom(10 * 1024)
    async with asyncssh.connect("127.0.0.1", port, **connect) as conn, conn.start_sftp_client() as sftp:
        sender = Sender(sftp)
        for i in range(10):
            await sender.transfer(name("900000", i), data, len(data))  # warm-up
        latencies = [
            await sender.transfer(name("100000", i), data, len(data)) for i in range(LATENCY_TRANSFERS)
        ]

    async def one_sender(index: int) -> None:
        async with asyncssh.connect("127.0.0.1", port, **connect) as conn, conn.start_sftp_client() as sftp:
            sender = Sender(sftp)
            for i in range(PER_SENDER):
                await sender.transfer(name(f"2{index:05d}", i), data, len(data))

    began = time.perf_counter()
    await asyncio.gather(*(one_sender(i) for i in range(SENDERS)))
    throughput = SENDERS * PER_SENDER / (time.perf_counter() - began)

    out, delivered = home / "users" / SENDER / "OUT", home / "users" / RECIPIENT / "IN"
    timings: dict[str, list[float]] = {"1MB": [], "1GB": []}
    sizes = {"1MB": 1 << 20, "1GB": LARGE}
    current = {label: name(f"3{label[:2]}00", 0) for label in sizes}
    for label, size in sizes.items():
        write_file(out / current[label], size)
    async with asyncssh.connect("127.0.0.1", port, **connect) as conn, conn.start_sftp_client() as sftp:
        sender = Sender(sftp)
        for run in range(SIZE_RUNS):
            for label, size in sizes.items():
                timings[label].append(await sender.transfer(current[label], None, size))
                # The same bytes go round again: move the delivered file back into OUT/ under a new name.
                following = name(f"3{label[:2]}00", run + 1)
                os.rename(delivered / current[label], out / following)
                (delivered / f"{current[label]}.metadata").unlink()
                current[label] = following
    small, large = statistics.median(timings["1MB"]), statistics.median(timings["1GB"])
    return {
        "benchmark": "routing",
        "scale": SCALE,
        "large_file_bytes": LARGE,
        "latency_transfers": LATENCY_TRANSFERS,
        "latency_file_bytes": len(data),
        "latency_p50_ms": round(percentile(latencies, 0.50) * 1000, 2),
        "latency_p95_ms": round(percentile(latencies, 0.95) * 1000, 2),
        "throughput_senders": SENDERS,
        "throughput_transfers": SENDERS * PER_SENDER,
        "throughput_per_s": round(throughput, 1),
        "routing_1mb_ms": round(small * 1000, 2),
        "routing_1gb_ms": round(large * 1000, 2),
        "large_small_ratio": round(large / small, 3),
        "size_note": "1 MB / 1 GB data files written into OUT/ on disk, only the trigger uploaded",
        "targets": {"latency_p95_ms": 100, "throughput_per_s": 100, "large_small_ratio": 1.5},
    }


def write_file(path: Path, size: int) -> None:
    chunk = b"\0" * (8 << 20)
    with path.open("wb") as file:
        remaining = size
        while remaining:
            remaining -= file.write(chunk[: min(len(chunk), remaining)])


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="sf1630-bench-") as tmp:
        folder = Path(tmp)
        key = asyncssh.generate_private_key("ssh-ed25519")
        config = write_config(folder, key.export_public_key().decode().strip())
        with start_emulator(config, folder / "home", log=folder / "serve.log") as running:
            result = asyncio.run(measure(running.port, running.home, key))
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
