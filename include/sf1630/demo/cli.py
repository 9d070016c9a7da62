"""``sf1630 demo``: the whole month (default), ``seed`` only, or ``ui`` to look at a finished run.

``sf1630 demo`` with no sub-command runs everything, so ``make demo`` needs no arguments; the seeding
service of docker-compose calls ``sf1630 demo seed --home DIR``.
"""

from __future__ import annotations

import argparse
import signal
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

from sf1630.demo import DEFAULT_HOME, DEMO_MONTH
from sf1630.demo.stack import Sizing

#: The default month's size: sized to finish within 10 minutes on a 2-core machine (README).
DEFAULT_KOMMUNER = 20


def _month(text: str) -> str:
    from sf1630.protocol import Period

    try:
        return str(Period.parse(text))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def _options(parser: argparse.ArgumentParser, *, full: bool) -> None:
    parser.add_argument(
        "--home", type=Path, default=DEFAULT_HOME, help=f"state directory (default {DEFAULT_HOME})"
    )
    parser.add_argument(
        "--month", type=_month, default=DEMO_MONTH, help=f"month to deliver (default {DEMO_MONTH})"
    )
    parser.add_argument(
        "--kommuner",
        type=_positive,
        default=None if not full else DEFAULT_KOMMUNER,
        help="only the first N kommuner of kommuner.yaml"
        + (f" (default {DEFAULT_KOMMUNER}; 98 is the whole country)" if full else ""),
    )
    parser.add_argument(
        "--rows", type=_positive, default=40, help="synthetic rows per kommune and sender (default 40)"
    )
    if full:
        parser.add_argument(
            "--metadata-db",
            choices=["postgres", "sqlite"],
            default="postgres",
            help="Airflow's metadata database: embedded PostgreSQL from pip (default) or a SQLite file",
        )
        parser.add_argument(
            "--processing-delay",
            type=_duration,
            default="20s",
            metavar="DURATION",
            help="how long the emulator takes before it answers a trigger (default 20s)",
        )
        parser.add_argument(
            "--port", type=int, default=8080, help="the UI's port (default 8080, or any free)"
        )
        parser.add_argument(
            "--parallelism",
            type=_positive,
            default=Sizing.parallelism,
            help=f"task processes at once (default {Sizing.parallelism}, for 2 cores)",
        )
        parser.add_argument(
            "--keep-running", action="store_true", help="leave Airflow up after the summary until Ctrl-C"
        )


def _duration(text: str) -> timedelta:
    from sf1630.config import parse_duration

    try:
        return parse_duration(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def register(subparsers: Any) -> None:
    """Add the ``demo`` command group."""
    group = subparsers.add_parser("demo", help="run a whole month end to end on this machine (make demo)")
    _options(group, full=True)
    group.set_defaults(handler=run_command)
    commands = group.add_subparsers(dest="command", required=False, metavar="COMMAND")

    run = commands.add_parser("run", help="the whole demo (the default)")
    _options(run, full=True)
    run.set_defaults(handler=run_command)

    seed = commands.add_parser("seed", help="only seed the source DB and write the platform config and keys")
    _options(seed, full=False)
    seed.set_defaults(handler=seed_command)

    ui = commands.add_parser("ui", help="Airflow's UI (and the emulator) on a finished demo's state again")
    ui.add_argument(
        "--home", type=Path, default=DEFAULT_HOME, help=f"state directory (default {DEFAULT_HOME})"
    )
    ui.add_argument("--port", type=int, default=None, help="the UI's port (default: the run's)")
    ui.set_defaults(handler=ui_command)


def run_command(args: argparse.Namespace) -> int:
    """The whole demo; exit 0 when every delivery but the invalid one was loaded."""
    from sf1630.demo.layout import DemoHome, HomeInUse
    from sf1630.demo.run import MonthNotDue, run_demo
    from sf1630.demo.stack import StackFailed
    from sf1630.platform.process import EmulatorFailed

    signal.signal(signal.SIGTERM, _interrupt)  # SIGTERM stops everything the demo started, as Ctrl-C does
    delay = args.processing_delay
    delay = _duration(delay) if isinstance(delay, str) else delay
    try:
        summary = run_demo(
            DemoHome.at(args.home),
            month=args.month,
            kommune_count=args.kommuner,
            rows=args.rows,
            metadata_db=args.metadata_db,
            processing_delay=delay,
            api_port=args.port,
            sizing=Sizing(parallelism=args.parallelism, max_active_tasks_per_dag=args.parallelism),
            keep_running=args.keep_running,
        )
    except HomeInUse as exc:
        print(str(exc), file=sys.stderr)
        return 2
    except (StackFailed, EmulatorFailed, MonthNotDue) as exc:
        print(f"sf1630 demo: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted: everything the demo started is stopped", file=sys.stderr)
        return 130
    return 0 if summary.complete else 1


def seed_command(args: argparse.Namespace) -> int:
    """Seed only (the docker-compose one-shot service)."""
    from sf1630.demo.layout import DemoHome
    from sf1630.demo.seed import describe, seed

    home = DemoHome.at(args.home)
    info = seed(home, month=args.month, kommune_count=args.kommuner, rows=args.rows)
    for key, value in describe(info, home).items():
        print(f"{key + ':':<10} {value}")
    return 0


def ui_command(args: argparse.Namespace) -> int:
    """The finished month's database, emulator and Airflow again, until Ctrl-C or SIGTERM."""
    import time

    from sf1630.demo.layout import DemoHome
    from sf1630.demo.progress import Progress
    from sf1630.demo.run import reopened, ui_banner

    home = DemoHome.at(args.home)
    if not home.settings.exists():
        print(f"no demo state in {home.root}: run `sf1630 demo` first", file=sys.stderr)
        return 2
    signal.signal(signal.SIGTERM, _interrupt)
    progress = Progress()
    try:
        with reopened(home, progress, args.port) as started:
            print(ui_banner(started.port, started.password) + "\n  Ctrl-C stops it", flush=True)
            while True:
                started.stack.check()
                time.sleep(2)
    except KeyboardInterrupt:
        return 0


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt
