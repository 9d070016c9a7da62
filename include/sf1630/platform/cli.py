"""``sf1630 platform``: run the Serviceplatform emulator, one retention sweep, or check a configuration.

Heavy imports (asyncssh, lxml) happen inside the handlers so that ``sf1630 --help`` stays fast. A platform
that cannot start (home is a file or in use by another process, port taken, unknown host, unreadable host
key) prints one line ``sf1630 platform serve: <reason>`` and exits 2, never a traceback.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

EXIT_USAGE = 2


def register(subparsers: Any) -> None:
    """Add the ``platform`` command group."""
    group = subparsers.add_parser("platform", help="the Serviceplatform SFTP emulator")
    commands = group.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = commands.add_parser("serve", help="run the SFTP server, router and retention sweeps")
    _common(serve)
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=2222, help="port to listen on, 0 for any (default 2222)")
    serve.add_argument(
        "--processing-delay",
        type=_delay,
        default=timedelta(0),
        metavar="DURATION",
        help="wait this long (e.g. 20s) before answering a trigger, as the real platform takes minutes",
    )
    serve.set_defaults(handler=serve_command)

    sweep = commands.add_parser("sweep", help="one retention pass: warn about and delete old files")
    _common(sweep)
    sweep.set_defaults(handler=sweep_command)

    check = commands.add_parser("check-config", help="check a configuration file and summarise it")
    check.add_argument("--config", type=Path, required=True, help="platform configuration (YAML)")
    check.set_defaults(handler=check_config_command)


def _delay(text: str) -> timedelta:
    from sf1630.config import parse_duration

    try:
        return parse_duration(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", type=Path, required=True, help="platform configuration (YAML)")
    parser.add_argument("--home", type=Path, required=True, help="folder holding all of the platform's state")


def _load(path: Path) -> Any:
    from sf1630.platform.config import ConfigError, load_config

    try:
        return load_config(path)
    except ConfigError as exc:
        print(str(exc), file=sys.stderr)
        return None


def check_config_command(args: argparse.Namespace) -> int:
    """Validate a configuration; exit 2 with ``FILE: entry: problem`` when it is wrong."""
    config = _load(args.config)
    if config is None:
        return 2
    print(
        f"{config.source}: ok: {len(config.users)} users, {len(config.it_systems)} it-systems,"
        f" {len(config.routes)} routes, {len(config.simple_routes)} simple routes"
    )
    return 0


def sweep_command(args: argparse.Namespace) -> int:
    """One retention pass; prints what it warned about, deleted and failed as JSON (exit 1 if any failed)."""
    config = _load(args.config)
    if config is None:
        return 2
    import os

    from sf1630.platform.folders import HomeError, PlatformHome
    from sf1630.platform.journal import Journal
    from sf1630.platform.retention import sweep

    home = PlatformHome(args.home)
    try:
        home.check_root()
        home.prepare(config)
        lock = home.acquire_lock()
    except (HomeError, OSError) as exc:
        return _refuse("sweep", exc)
    journal = Journal(home.journal)
    try:
        result = sweep(config, home, journal)
    finally:
        journal.close()
        os.close(lock)
    summary = {"warned": result.warned, "deleted": result.deleted, "failed": result.failed}
    print(json.dumps(summary, ensure_ascii=False))
    return 1 if result.failed else 0


def serve_command(args: argparse.Namespace) -> int:
    """Run the emulator until interrupted."""
    config = _load(args.config)
    if config is None:
        return 2
    import asyncio
    import contextlib
    import logging

    from sf1630.platform.server import StartupError

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    logging.getLogger("asyncssh").setLevel(logging.WARNING)
    try:
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(
                _serve(config, args.home, args.host, args.port, args.processing_delay.total_seconds())
            )
    except StartupError as exc:
        return _refuse("serve", exc)
    return 0


def _refuse(command: str, exc: BaseException) -> int:
    """One line on stderr for a start-up problem and exit 2: the operator fixes the cause, no traceback."""
    reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
    if isinstance(exc, OSError) and exc.filename:
        reason = f"{exc.filename}: {reason}"
    print(f"sf1630 platform {command}: {reason}", file=sys.stderr, flush=True)
    return EXIT_USAGE


async def _serve(config: Any, home: Path, host: str, port: int, delay: float = 0.0) -> None:
    import asyncio
    import signal

    from sf1630.platform.server import Platform

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    platform = Platform(config, home, processing_delay=delay)
    try:
        actual = await platform.start(host, port)
    except BaseException:
        await platform.stop()
        raise
    platform.start_sweeps()
    _announce(platform, host, actual)
    await stop.wait()
    await platform.stop()


def _announce(platform: Any, host: str, port: int) -> None:
    home = platform.home
    key = home.host_key_pub.read_text(encoding="ascii").split()
    known_hosts = home.root / "known_hosts"
    address = host if port == 22 else f"[{host}]:{port}"
    known_hosts.write_text(f"{address} {key[0]} {key[1]}\n", encoding="ascii")
    print(f"host key: {home.host_key_pub} (known_hosts line in {known_hosts})")
    for user in platform.config.users:
        if user.demo_client_key:
            print(
                f"connect:  sftp -P {port} -o UserKnownHostsFile={known_hosts} -o StrictHostKeyChecking=yes"
                f" -i {home.client_keys / user.name} {user.name}@{host}"
            )
    if platform.processing_delay:
        print(f"processing delay: {platform.processing_delay:g} s before each trigger is answered")
    print(f"listening on {host}:{port} (home {home.root})", flush=True)


def main(argv: list[str] | None = None) -> int:
    """``python -m sf1630.platform.cli serve ...``: the platform commands without the other groups."""
    parser = argparse.ArgumentParser(prog="sf1630")
    register(parser.add_subparsers(dest="group", required=True))
    args = parser.parse_args(["platform", *(sys.argv[1:] if argv is None else argv)])
    return int(args.handler(args))


if __name__ == "__main__":
    sys.exit(main())
