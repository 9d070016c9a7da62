"""``sf1630 preflight``: the command line of :mod:`sf1630.airflow.preflight`.

Registered with the other groups by :mod:`sf1630.cli`, which imports this module for every ``sf1630``
command: Airflow is imported only when ``preflight`` runs, so ``sf1630 --help`` stays fast.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import Any


def _period(text: str) -> Any:
    from sf1630.protocol import Period

    try:
        return Period.parse(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def register(subparsers: Any) -> None:
    """Add the ``preflight`` command."""
    parser = subparsers.add_parser(
        "preflight",
        help="check this deployment before its first month: configuration, connections, host key, "
        "IN/ and OUT/, warehouse, object store, mail",
        description="Check the deployment configured in the configuration folder through the same Airflow "
        "connections its DAGs use. One line per check; exit status 1 when a check failed. Nothing is "
        "uploaded to the platform.",
    )
    parser.add_argument(
        "--config",
        type=Path,
        default=None,
        help="configuration folder (default: SF1630_CONFIG_DIR, else the package's include/config)",
    )
    parser.add_argument(
        "--kommune", default=None, help="sample kommune for the sender's extract (kode, CVR or name)"
    )
    parser.add_argument(
        "--period", type=_period, default=None, help="sample month YYYY-MM (default: last month)"
    )
    parser.set_defaults(handler=_preflight)


def _preflight(args: argparse.Namespace) -> int:
    from sf1630.deployment.checks import Check, any_failed, checklist, describe
    from sf1630.settings import config_dir

    folder = (args.config or config_dir()).resolve()
    try:
        from sf1630.airflow.preflight import preflight, sides

        # The checklist is the output: Airflow's log handlers would interleave paramiko's and Airflow's
        # INFO and WARNING lines with it on standard output (each check's failure carries its own detail).
        for name in ("", "paramiko", "airflow"):
            logging.getLogger(name).setLevel(logging.ERROR)
        print(f"sf1630 preflight: {folder} (sides: {', '.join(sides(folder)) or 'none'})", flush=True)
        checks = preflight(folder, kommune=args.kommune, period=args.period)
    except Exception as exc:  # a checklist, never a traceback
        checks = [Check("FAIL", "preflight", describe(exc), "report this as a bug of sf1630")]
    print(checklist(checks))
    return 1 if any_failed(checks) else 0
