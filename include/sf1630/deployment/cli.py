"""``sf1630 init sender DIR`` and ``sf1630 init receiver DIR``: write a starter deployment (see
:mod:`sf1630.deployment.starter`). Exit codes: 0 written, 1 a file exists already (nothing written).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from sf1630.deployment.starter import CONFIG_FOLDER, SIDES, StarterExists, write_starter

_NEXT = {
    "sender": "fill in senders.yaml, sql/*.sql and sf1630.env",
    "receiver": "fill in receivers.yaml and sf1630.env",
}


def register(subparsers: Any) -> None:
    """Add the ``init`` command."""
    parser = subparsers.add_parser(
        "init",
        help="write a starter deployment of one side (sender: a vendor; receiver: a LIS team)",
        description="Write the DAG file(s), the configuration folder and the connection template of one "
        "side into an Airflow project folder (Astro layout). Refuses to overwrite any file.",
    )
    parser.add_argument("side", choices=SIDES, help="sender (a fagsystem vendor) or receiver (a LIS team)")
    parser.add_argument("dir", type=Path, help="the Airflow project folder (created when missing)")
    parser.set_defaults(handler=_init)


def _init(args: argparse.Namespace) -> int:
    try:
        written = write_starter(args.side, args.dir)
    except StarterExists as exc:
        print(f"sf1630 init: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"sf1630 init: cannot write into {args.dir}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    for path in written:
        print(f"wrote {path}")
    print(
        f"next: {_NEXT[args.side]} (every FILL IN, see docs/deploy.md), then "
        f"`SF1630_CONFIG_DIR={(args.dir / CONFIG_FOLDER).resolve()} sf1630 preflight`"
    )
    return 0
