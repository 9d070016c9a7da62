"""A DAG worker process of the demo: parse a DAG file once, then ``dag.test()`` one DAG after another.

Airflow reads its configuration at import, so DAG runs happen in a child process started with the demo's
environment (:mod:`sf1630.demo.environment`); several workers can share the machine's cores. Each finished
run is reported as one ``SF1630-DEMO {json}`` line on stdout, which the parent turns into progress; all
other output (Airflow's and the tasks' logs) goes to the worker's log file.

``python -m sf1630.demo.worker --file dags/sender_dags.py --logical-date ISO [--period YYYY-MM] DAG_ID…``
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import traceback
from collections import Counter
from collections.abc import Sequence
from datetime import datetime
from typing import Any

REPORT_PREFIX = "SF1630-DEMO "


def report(message: dict[str, Any]) -> None:
    """One machine-readable line for the parent."""
    sys.stdout.write(REPORT_PREFIX + json.dumps(message, ensure_ascii=False) + "\n")
    sys.stdout.flush()


def run_outcome(dag_id: str, run: Any, seconds: float) -> dict[str, Any]:
    """What the parent needs of a finished run: its state and how its task instances ended, by task."""
    tasks: dict[str, Counter[str]] = {}
    for ti in run.get_task_instances():
        tasks.setdefault(ti.task_id, Counter())[str(ti.state)] += 1
    return {
        "dag_id": dag_id,
        "state": str(run.state),
        "tasks": {task: dict(states) for task, states in tasks.items()},
        "seconds": round(seconds, 2),
    }


def skip_bundle_resync() -> None:
    """Make ``dag.test()`` skip its re-parse and re-sync of the whole DAG bundle before every run.

    Since apache/airflow#64884 each ``dag.test()`` parses every file of the bundle and writes every DAG
    to the metadata DB again, so that sibling DAGs exist. The demo's bundle holds 5 sender and 244 receiver
    DAGs: that is ~2.5 s per call on a 2-core machine, and with two workers the concurrent writes of the
    same DAG rows race on SQLite. The parent syncs the bundle once (``airflow dags reserialize``) before
    any worker starts, and the DAG files do not change during a run, so the per-call sync is skipped
    here; ``dag.test()`` then finds each DAG's version already in the DB. The runs themselves, their task
    instances and every delivery are untouched.
    """
    import airflow.dag_processing.dagbag as dagbag_module

    class _AlreadySynced:
        def __init__(self, **_: Any) -> None:
            pass

    def _no_sync(*_: Any, **__: Any) -> None:
        return None

    dagbag_module.BundleDagBag = _AlreadySynced  # type: ignore[misc,assignment]
    dagbag_module.sync_bag_to_db = _no_sync


def run_dags(
    dag_file: str, dag_ids: Sequence[str], logical_date: str, period: str | None, *, synced: bool = False
) -> int:
    """Run each DAG of ``dag_ids`` from ``dag_file``; returns 0 even if runs failed (the report says so)."""
    import pendulum
    from airflow.dag_processing.dagbag import DagBag

    if synced:
        skip_bundle_resync()

    bag = DagBag(dag_folder=dag_file)
    if bag.import_errors:
        report({"error": f"import errors: {bag.import_errors}"})
        return 1
    when = pendulum.instance(datetime.fromisoformat(logical_date))
    conf = {"period": period} if period else None
    for dag_id in dag_ids:
        started = time.monotonic()
        try:
            run = bag.dags[dag_id].test(logical_date=when, run_conf=conf)
        except Exception as exc:  # one broken run must not hide the others' results
            traceback.print_exc()  # into the worker's log
            report({"dag_id": dag_id, "state": "error", "error": repr(exc), "tasks": {}, "seconds": 0})
            continue
        report(run_outcome(dag_id, run, time.monotonic() - started))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sf1630.demo.worker")
    parser.add_argument("--file", required=True, help="DAG file to parse")
    parser.add_argument("--logical-date", required=True, help="ISO timestamp of every run")
    parser.add_argument("--period", help="the `period` param (sender DAGs)")
    parser.add_argument(
        "--synced", action="store_true", help="the bundle is already in the metadata DB: skip the re-sync"
    )
    parser.add_argument("dag_ids", nargs="+")
    args = parser.parse_args(argv)
    return run_dags(args.file, args.dag_ids, args.logical_date, args.period, synced=args.synced)


if __name__ == "__main__":
    sys.exit(main())
