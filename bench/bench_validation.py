"""Benchmark: validating a 1,000,000-row synthetic KY file with GX, the project's way against GX's plain way.

Measures, each in its own subprocess so peak RSS belongs to one path only:
  floor   polars read of the file with the spec's read options (text columns) and nothing else;
  ours    sf1630.dataspec.validation.Validator (parse checks, polars casts, the suite run by GX Core with
          BOOLEAN_ONLY first and details only for what failed);
  plain   pandas.read_csv with the spec's dtypes, then the same suite through GX's default path.
Imports (GX takes seconds) happen before the clock starts in every variant, so this compares the validation
work alone; bench/bench_receiver.py measures whole processes, imports included. Peak RSS is each child's own
``VmHWM`` (``ru_maxrss`` would inherit the parent's peak from generating the file). The last line printed is
one JSON object. Usage: python bench/bench_validation.py [ROWS]
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from rss import peak_rss_bytes  # bench/ is on sys.path when a benchmark runs

os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
#: SF1630_BENCH_SCALE shrinks the workload (tests/bench runs every benchmark at 1 % to keep it working).
SCALE = float(os.environ.get("SF1630_BENCH_SCALE", "1"))
TARGET_OURS_VS_PLAIN = 0.5
TARGET_RSS_VS_CSV = 6.0


def _floor(path: Path) -> dict[str, object]:
    import polars as pl
    from sf1630.dataspec import load_spec
    from sf1630.dataspec.schema import read_options

    spec = load_spec("ky")
    start = time.perf_counter()
    frame = pl.read_csv(path, **read_options(spec))
    return {"seconds": time.perf_counter() - start, "rows": frame.height}


def _ours(path: Path) -> dict[str, object]:
    from sf1630.dataspec import load_spec
    from sf1630.dataspec.validation import Validator

    spec = load_spec("ky")
    validator = Validator()
    start = time.perf_counter()
    report = validator.validate_file(path, spec).report
    return {
        "seconds": time.perf_counter() - start,
        "rows": report.rows,
        "valid": report.success,
        "checks": len(report.results),
    }


def _plain(path: Path) -> dict[str, object]:
    import pandas as pd
    from sf1630.dataspec import load_spec
    from sf1630.dataspec.suite import gx_context
    from sf1630.dataspec.validation import check_result

    spec = load_spec("ky")
    context = gx_context()
    import great_expectations as gx
    from great_expectations.expectations.registry import get_expectation_impl
    from sf1630.dataspec.suite import expectation_configs

    start = time.perf_counter()
    d = spec.dialect
    dtypes = {
        c.name: ("Int64" if c.type == "integer" else "float64" if c.type == "decimal" else str)
        for c in spec.columns
        if c.type not in ("date", "timestamp", "boolean")
    }
    frame = pd.read_csv(
        path,
        sep=d.separator,
        quotechar=d.quote,
        decimal=d.decimal,
        dtype=dtypes,
        keep_default_na=False,
        na_values=[d.null],
        true_values=[d.true_value],
        false_values=[d.false_value],
        parse_dates=[c.name for c in spec.columns if c.type in ("date", "timestamp")],
    )
    suite = gx.ExpectationSuite(name="plain")
    for kind, kwargs in expectation_configs(spec):
        suite.add_expectation(get_expectation_impl(kind)(**kwargs))
    batch = (
        context.data_sources.add_pandas("plain")
        .add_dataframe_asset("a")
        .add_batch_definition_whole_dataframe("b")
    )
    result = batch.get_batch(batch_parameters={"dataframe": frame}).validate(suite, result_format="SUMMARY")
    results = [check_result(r) for r in result.results]
    return {
        "seconds": time.perf_counter() - start,
        "rows": len(frame),
        "checks": len(results),
        "failed": sorted({f"{r.expectation}:{r.column}" for r in results if not r.success}),
    }


def _child(kind: str, path: Path) -> None:
    measured = {"floor": _floor, "ours": _ours, "plain": _plain}[kind](path)
    measured["peak_rss_bytes"] = peak_rss_bytes()
    print(json.dumps(measured, default=str))


def _run(kind: str, path: Path) -> dict[str, object]:
    out = subprocess.run(
        [sys.executable, __file__, "--child", kind, str(path)], check=True, capture_output=True, text=True
    )
    result: dict[str, object] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    rows = int(sys.argv[1]) if len(sys.argv) > 1 else max(1000, int(1_000_000 * SCALE))
    with tempfile.TemporaryDirectory(prefix="sf1630-bench-") as tmp:
        from sf1630.dataspec import load_spec
        from sf1630.dataspec.schema import write_csv
        from sf1630.dataspec.synth import synthesize
        from sf1630.protocol import Period

        spec = load_spec("ky")
        path = write_csv(
            synthesize(spec, rows, "29189846", Period(2026, 3), seed=1), spec, Path(tmp) / "ky.csv"
        )
        size = path.stat().st_size
        floor, ours, plain = (_run(kind, path) for kind in ("floor", "ours", "plain"))
        ratio_floor = float(ours["seconds"]) / float(floor["seconds"])  # type: ignore[arg-type]
        ratio_plain = float(ours["seconds"]) / float(plain["seconds"])  # type: ignore[arg-type]
        rss_ratio = float(ours["peak_rss_bytes"]) / size  # type: ignore[arg-type]
        print(
            json.dumps(
                {
                    "benchmark": "dataspec_validation",
                    "rows": rows,
                    "csv_bytes": size,
                    "floor": floor,
                    "ours": ours,
                    "plain": plain,
                    "ours_vs_floor": round(ratio_floor, 2),
                    "ours_vs_plain": round(ratio_plain, 3),
                    "ours_peak_rss_vs_csv": round(rss_ratio, 2),
                    "floor_peak_rss_vs_csv": round(float(floor["peak_rss_bytes"]) / size, 2),  # type: ignore[arg-type]
                    "plain_peak_rss_vs_csv": round(float(plain["peak_rss_bytes"]) / size, 2),  # type: ignore[arg-type]
                    "targets_met": ratio_plain <= TARGET_OURS_VS_PLAIN and rss_ratio <= TARGET_RSS_VS_CSV,
                }
            )
        )


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--child":
        _child(sys.argv[2], Path(sys.argv[3]))
    else:
        main()
