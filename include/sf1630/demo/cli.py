"""``sf1630 demo``: the whole month (default), ``seed`` only, or ``ui`` to look at a finished run.

``sf1630 demo`` with no sub-command runs everything, so ``make demo`` needs no arguments; the seeding
service of docker-compose calls ``sf1630 demo seed --home DIR``.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

from sf1630.demo import DEFAULT_HOME, DEMO_MONTH


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
    parser.add_argument("--kommuner", type=_positive, help="only the first N kommuner of kommuner.yaml")
    parser.add_argument(
        "--rows", type=_positive, default=40, help="synthetic rows per kommune and sender (default 40)"
    )
    if full:
        parser.add_argument(
            "--workers", type=_positive, default=2, help="parallel DAG worker processes (default 2)"
        )


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

    ui = commands.add_parser("ui", help="the emulator and `airflow standalone` on a finished demo's state")
    ui.add_argument(
        "--home", type=Path, default=DEFAULT_HOME, help=f"state directory (default {DEFAULT_HOME})"
    )
    ui.add_argument("--port", type=int, default=8080, help="the API server's port (default 8080)")
    ui.set_defaults(handler=ui_command)


def run_command(args: argparse.Namespace) -> int:
    """The whole demo; exit 0 when every delivery but the invalid one was loaded."""
    from sf1630.demo.layout import DemoHome, HomeInUse
    from sf1630.demo.run import run_demo

    try:
        summary = run_demo(
            DemoHome.at(args.home),
            month=args.month,
            kommune_count=args.kommuner,
            rows=args.rows,
            workers=args.workers,
        )
    except HomeInUse as exc:
        print(str(exc), file=sys.stderr)
        return 2
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
    """Start the emulator and ``airflow standalone`` with the demo's environment until Ctrl-C."""
    from sf1630.demo.emulator import start_emulator
    from sf1630.demo.environment import env_file, read_env_file, write_env_file
    from sf1630.demo.layout import DemoHome

    home = DemoHome.at(args.home)
    if not env_file(home).exists():
        print(f"no demo state in {home.root}: run `sf1630 demo` first", file=sys.stderr)
        return 2
    env = read_env_file(home)
    emulator = start_emulator(home.platform_config, home.platform_home, home.logs / "emulator-ui.log")
    env = _repoint(env, emulator.port)
    write_env_file(home, env)
    env["AIRFLOW__API__PORT"] = str(args.port)
    env["AIRFLOW__API__HOST"] = "127.0.0.1"  # the UI is for this machine only
    # `airflow standalone` starts its components as `airflow ...` from PATH: use this environment's.
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    signal.signal(signal.SIGTERM, _interrupt)  # stop both on SIGTERM too (a background job ignores SIGINT)
    print(
        f"emulator on 127.0.0.1:{emulator.port}; Airflow UI on http://localhost:{args.port}"
        " (Ctrl-C stops both)"
    )
    # Its own process group: standalone's components (scheduler, LocalExecutor workers, API server,
    # triggerer, DAG processor) are then stopped together, whatever signal reached this command.
    airflow = subprocess.Popen(
        [str(Path(sys.executable).with_name("airflow")), "standalone"],
        env={**os.environ, **env},
        start_new_session=True,
    )
    try:
        return airflow.wait()
    except KeyboardInterrupt:
        return _stop_group(airflow)
    finally:
        emulator.stop()


def _stop_group(process: subprocess.Popen[bytes]) -> int:
    """SIGTERM to the process group of ``process``; SIGKILL to it if it has not exited in 30 s."""
    import contextlib

    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        code = process.wait(30)
    except subprocess.TimeoutExpired:
        code = -signal.SIGKILL
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)  # stragglers such as idle LocalExecutor workers
    process.wait()
    return 0 if code in (0, -signal.SIGTERM) else code


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _repoint(env: dict[str, str], port: int) -> dict[str, str]:
    """The SFTP connections of ``env`` with the emulator's new port (the host key stays the same)."""
    import json

    out = dict(env)
    for name, value in env.items():
        if name.startswith("AIRFLOW_CONN_") and '"conn_type":"sftp"' in value:
            conn = json.loads(value)
            conn["port"] = port
            out[name] = json.dumps(conn, separators=(",", ":"))
    return out
