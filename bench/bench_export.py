"""Benchmark: one kommune's month exported from PostgreSQL, beside a plain ``COPY (SELECT …) TO STDOUT``.

A fresh schema in the machine's PostgreSQL (127.0.0.1:5432, database ``test``) gets KY's source table with
a 1,000,000-row month for one kommune and a 100,000-row month for another (``SF1630_BENCH_SCALE`` shrinks
both). Each measurement runs in a fresh process and reports its wall time and peak RSS:

* ``copy``: psycopg's ``COPY (<the generated SELECT>) TO STDOUT (FORMAT csv)`` into a file, the floor;
* ``export``: :func:`sf1630.sender.export.export_extract` (batches from a server-side cursor, strict cast to
  the spec's types, CSV in the spec's dialect), on the large and on the small month.

Targets (issue 18): export ≤ 1.5 × copy; the large export's peak RSS within 1.2 × the small one's. At
full scale each measurement is taken three times and the fastest run counts (the machine is shared: the
load average before and after is in the figures). Prints one JSON object on its last line.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))  # the shared test harness: tests.support

SCALE = float(os.environ.get("SF1630_BENCH_SCALE", "1"))
LARGE = max(1000, int(1_000_000 * SCALE))
SMALL = max(100, int(100_000 * SCALE))
PERIOD = "2026-10"
LARGE_KOMMUNE, SMALL_KOMMUNE = "101", "153"
REPEATS = 3 if SCALE >= 1 else 1


def _dsn() -> str:
    from tests.support.postgres import POSTGRES_DSN

    return POSTGRES_DSN


def _kommune(kode: str):  # type: ignore[no-untyped-def]
    from sf1630.registry import load_registry

    return load_registry().kommune(kode)


def child(kind: str, schema: str, kode: str, out: Path) -> dict[str, float]:
    """One measurement in this (fresh) process: seconds of the work and the process's peak RSS."""
    from sf1630.protocol import Period
    from sf1630.registry import load_registry

    kommune, period = _kommune(kode), Period.parse(PERIOD)
    sender = load_registry().sender("KY")
    options = f"-c search_path={schema}"
    if kind == "copy":
        import psycopg
        from sf1630.dataspec import load_spec
        from sf1630.sender.export import generated_sql, parameters
        from sqlalchemy import text
        from sqlalchemy.dialects import postgresql

        query = generated_sql(load_spec("ky"))
        used = {k: v for k, v in parameters(kommune, period).items() if f":{k}" in query}
        statement = text(query).bindparams(**used)
        sql = str(statement.compile(dialect=postgresql.dialect(), compile_kwargs={"literal_binds": True}))
        started = time.perf_counter()
        copy_sql = f"COPY ({sql}) TO STDOUT (FORMAT csv, HEADER, DELIMITER ';')"
        with (
            psycopg.connect(_dsn(), options=options) as conn,
            conn.cursor() as cursor,
            out.open("wb") as file,
            cursor.copy(copy_sql) as copy,
        ):
            for chunk in copy:
                file.write(chunk)
    else:
        from sf1630.sender.export import export_extract
        from sqlalchemy import create_engine

        url = "postgresql+psycopg://postgres@127.0.0.1:5432/test"  # the same server as _dsn()
        engine = create_engine(url, connect_args={"options": options})
        started = time.perf_counter()
        export_extract(engine, sender, kommune, period, out)
    seconds = time.perf_counter() - started
    rows = sum(1 for _ in out.open("rb")) - 1
    peak_mb = _peak_rss_kb() / 1024
    return {"seconds": round(seconds, 2), "peak_rss_mb": round(peak_mb, 1), "rows": rows}


def _peak_rss_kb() -> int:
    """This process's peak RSS since it started (``VmHWM``: unlike ``ru_maxrss``, not inherited from the
    parent that forked it, here the benchmark holding the seeded rows)."""
    for line in Path("/proc/self/status").read_text(encoding="ascii").splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise RuntimeError("no VmHWM in /proc/self/status")


def _measure(kind: str, schema: str, kode: str, work: Path) -> dict[str, float]:
    """The fastest of ``REPEATS`` runs, each in a fresh process."""
    runs = []
    for _ in range(REPEATS):
        out = work / f"{kind}-{kode}.csv"
        result = subprocess.run(
            [sys.executable, __file__, "--child", kind, schema, kode, str(out)],
            capture_output=True,
            text=True,
            check=True,
        )
        out.unlink(missing_ok=True)
        runs.append(json.loads(result.stdout.strip().splitlines()[-1]))
    fastest: dict[str, float] = min(runs, key=lambda figures: figures["seconds"])
    return fastest


def main() -> int:
    from sf1630.database import Database
    from sf1630.dataspec import load_spec
    from sf1630.protocol import Period
    from sf1630.sender.source import seed_source

    from tests.support.postgres import fresh_schema

    work = Path(tempfile.mkdtemp(prefix="sf1630-bench-export-"))
    load_before = os.getloadavg()[0]
    spec, period = load_spec("ky"), Period.parse(PERIOD)
    with fresh_schema("bench_export") as schema:
        source = Database.postgres(_dsn(), schema)
        started = time.perf_counter()
        seed_source(source, spec, [_kommune(LARGE_KOMMUNE).cvr], period, rows_per_kommune=LARGE)
        seed_source(source, spec, [_kommune(SMALL_KOMMUNE).cvr], period, rows_per_kommune=SMALL, seed=2)
        seeded = time.perf_counter() - started
        copy = _measure("copy", schema, LARGE_KOMMUNE, work)
        large = _measure("export", schema, LARGE_KOMMUNE, work)
        small = _measure("export", schema, SMALL_KOMMUNE, work)
    result = {
        "benchmark": "sender_export_postgres",
        "rows_large": LARGE,
        "rows_small": SMALL,
        "seed_seconds": round(seeded, 1),
        "copy_seconds": copy["seconds"],
        "copy_peak_rss_mb": copy["peak_rss_mb"],
        "export_seconds": large["seconds"],
        "export_peak_rss_mb": large["peak_rss_mb"],
        "export_small_seconds": small["seconds"],
        "export_small_peak_rss_mb": small["peak_rss_mb"],
        "ratio_export_to_copy": round(large["seconds"] / copy["seconds"], 2),
        "ratio_rss_large_to_small": round(large["peak_rss_mb"] / small["peak_rss_mb"], 2),
        "target_ratio_export_to_copy": 1.5,
        "target_ratio_rss": 1.2,
        "repeats": REPEATS,
        "load_average_1m": [round(load_before, 2), round(os.getloadavg()[0], 2)],
    }
    print(json.dumps(result))
    same_rows = copy["rows"] == large["rows"] == LARGE and small["rows"] == SMALL
    return 0 if same_rows else 1


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:
        kind, schema, kode, out = sys.argv[2:6]
        print(json.dumps(child(kind, schema, kode, Path(out))))
        sys.exit(0)
    sys.exit(main())
