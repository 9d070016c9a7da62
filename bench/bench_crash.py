"""Fault injection at scale: many rounds of the randomized crash test, then its figures as JSON.

Runs ``tests/integration/platform/test_crash_random.py`` with ``SF1630_CRASH_ROUNDS`` rounds (default 220):
each round kills the platform (SIGKILL at a random moment, or an armed ``SF1630_PLATFORM_CRASH_AT`` step)
while senders upload, and the test's exactly-once checks run over the whole history at the end. The last
line of output is one JSON object: rounds, fault injections by kind, rounds with transfers in flight at the
kill, transfers, receipts by outcome. This is not a timed benchmark; it is the issue 11 figure generator.

    PYTHONPATH=include python bench/bench_crash.py --rounds 220 --seed 1630
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
#: SF1630_BENCH_SCALE shrinks the workload (tests/bench runs every benchmark at 1 % to keep it working).
SCALE = float(os.environ.get("SF1630_BENCH_SCALE", "1"))


def main() -> int:
    """Run the crash test with the requested rounds; print its summary; exit with pytest's status."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=max(2, round(220 * SCALE)))
    parser.add_argument("--seed", type=int, default=1630)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        summary = Path(folder) / "summary.json"
        env = {
            **os.environ,
            "SF1630_CRASH_ROUNDS": str(args.rounds),
            "SF1630_CRASH_SEED": str(args.seed),
            "SF1630_CRASH_SUMMARY": str(summary),
        }
        test = "tests/integration/platform/test_crash_random.py"
        # Hundreds of rounds take minutes: lift the suite's per-test timeout for this one run.
        command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--timeout=3600", test]
        done = subprocess.run(command, cwd=REPO, env=env, check=False)
        figures = json.loads(summary.read_text()) if summary.exists() else {"error": "no summary written"}
    figures["passed"] = done.returncode == 0
    print(json.dumps(figures))
    return done.returncode


if __name__ == "__main__":
    sys.exit(main())
