"""``sf1630 sender export``: the file a sender DAG would send for one kommune and month, written locally.

A vendor runs it before the first month to look at the file and check it with ``sf1630 dataspec check``.
It reads the same configuration (``SF1630_CONFIG_DIR``) and the same Airflow connections as the DAGs
(``AIRFLOW_CONN_*`` and any secrets backend, through Airflow's own lookup) and writes through the same
function as the DAG's ``deliver`` task (:func:`sf1630.airflow.extract.export_for`). It lives in the Airflow
face because it resolves Airflow connections. Exit codes: 0 written, 1 the extract failed (connection,
SQL, spec mismatch), 2 usage error (unknown sender or kommune, bad period, bad configuration).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any


def register(subparsers: Any) -> None:
    """Add the ``sender`` group and its ``export`` command."""
    group = subparsers.add_parser("sender", help="a sender system's extract, without the platform")
    commands = group.add_subparsers(dest="command", required=True, metavar="COMMAND")
    export = commands.add_parser("export", help="write the file the sender DAG would send")
    export.add_argument("sender", help="sender code, e.g. KY")
    export.add_argument("--kommune", required=True, help="kommunekode, CVR or name")
    export.add_argument("--period", required=True, help="YYYY-MM")
    export.add_argument("--out", type=Path, default=None, help="file to write (default: the delivery's name)")
    export.set_defaults(handler=_export)


def _fail(message: str, status: int) -> int:
    print(f"sf1630 sender export: {message}", file=sys.stderr)
    return status


def _export(args: argparse.Namespace) -> int:
    from airflow.sdk.exceptions import AirflowNotFoundException

    from sf1630.airflow.extract import export_for
    from sf1630.config import ConfigError
    from sf1630.protocol import Period
    from sf1630.registry import load_registry
    from sf1630.sender.export import ExportError, SourceError

    try:
        registry = load_registry()
        sender = registry.sender(args.sender.upper())
        kommune = registry.kommune(args.kommune)
        period = Period.parse(args.period)
    except (ConfigError, ValueError) as exc:
        return _fail(str(exc), 2)
    except KeyError as exc:
        return _fail(str(exc.args[0]), 2)
    folder, name = (args.out.parent, args.out.name) if args.out else (Path(), None)
    try:
        path = export_for(sender, kommune, period, folder, file_name=name)
    except (ExportError, OSError) as exc:
        return _fail(str(exc), 1)
    except AirflowNotFoundException as exc:
        return _fail(str(exc), 1)
    except SourceError as exc:
        return _fail(f"the extract failed on {sender.source_conn_id}: {exc}", 1)
    print(path)
    return 0
