"""Every benchmark still runs end to end (``make bench``), shrunk to 1 % of its workload.

Benchmarks are not timed tests: this only checks that each one completes and prints its figures as one JSON
object on its last line, so a benchmark cannot rot unnoticed between the runs that report real figures.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BENCHMARKS = sorted((REPO / "bench").glob("bench_*.py"))
#: Benchmarks that start Airflow's whole stack (twice) even at 1 %.
SLOW = {"bench_airflow": 1200}


@pytest.mark.integration
@pytest.mark.timeout(1300)
@pytest.mark.parametrize("benchmark", BENCHMARKS, ids=lambda path: path.stem)
def test_benchmark_prints_its_figures(benchmark: Path, tmp_path: Path) -> None:
    env = {**os.environ, "SF1630_BENCH_SCALE": "0.01", "TMPDIR": str(tmp_path)}
    env.pop("AIRFLOW_HOME", None)  # each benchmark sets up its own Airflow state
    result = subprocess.run(
        [sys.executable, str(benchmark)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=SLOW.get(benchmark.stem, 400),
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    assert isinstance(figures, dict) and figures, result.stdout[-2000:]
