"""The ``sf1630`` command: one entry point whose sub-commands live beside the domain they drive.

Each domain package (``protocol``, ``platform``, ``dataspec``, ``demo``; ``sender`` from the Airflow
face) exposes ``register(subparsers)`` in its own ``cli`` module, so this file only assembles them and
never imports heavy libraries itself.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from importlib import import_module

#: Sub-command groups, by name, and the module whose ``register`` adds them.
GROUPS: dict[str, str] = {
    "protocol": "sf1630.protocol.cli",
    "platform": "sf1630.platform.cli",
    "dataspec": "sf1630.dataspec.cli",
    "demo": "sf1630.demo.cli",
    "init": "sf1630.deployment.cli",
    "preflight": "sf1630.airflow.cli",
    "sender": "sf1630.airflow.sender_cli",  # resolves Airflow connections: in the Airflow face
}


def build_parser() -> argparse.ArgumentParser:
    """Build the full argument parser from every group's ``register`` function."""
    parser = argparse.ArgumentParser(prog="sf1630", description=__doc__.splitlines()[0] if __doc__ else None)
    groups = parser.add_subparsers(dest="group", required=True, metavar="GROUP")
    for module in GROUPS.values():
        import_module(module).register(groups)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line and return its exit code (0 ok, 1 rejected input, 2 usage error)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    handler: Callable[[argparse.Namespace], int] = args.handler
    return handler(args)


if __name__ == "__main__":
    sys.exit(main())
