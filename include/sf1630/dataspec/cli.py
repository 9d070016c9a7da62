"""``sf1630 dataspec``: list and show specs, make synthetic files, and check a file against a spec.

Heavy libraries (polars, Great Expectations) are imported inside the handlers so ``sf1630 --help`` stays fast.
Exit codes: 0 valid / done, 1 the file is invalid, 2 usage error or a file that cannot be read.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path
from typing import Any

from sf1630.config import ConfigError
from sf1630.dataspec.spec import list_specs, load_spec

_CVR = re.compile(r"^[0-9]{8}$")
_PERIOD = re.compile(r"^[0-9]{4}-(0[1-9]|1[0-2])$")


def register(subparsers: Any) -> None:
    """Add the ``dataspec`` group and its commands."""
    group = subparsers.add_parser("dataspec", help="data specs: list, show, synth, check")
    group.add_argument("--spec-dir", type=Path, default=None, help="directory of spec YAML files")
    commands = group.add_subparsers(dest="command", required=True, metavar="COMMAND")

    listing = commands.add_parser("list", help="one spec name per line")
    listing.set_defaults(handler=_list)

    show = commands.add_parser("show", help="print a spec's columns, key and derived suite size")
    show.add_argument("name")
    show.set_defaults(handler=_show)

    synth = commands.add_parser("synth", help="write a valid synthetic file")
    synth.add_argument("name")
    synth.add_argument("--rows", type=int, required=True)
    synth.add_argument("--authority", required=True, help="kommune CVR, 8 digits")
    synth.add_argument("--period", required=True, help="YYYY-MM")
    synth.add_argument("--seed", type=int, default=0)
    synth.add_argument("--out", type=Path, required=True)
    synth.set_defaults(handler=_synth)

    check = commands.add_parser("check", help="validate FILE against a spec")
    check.add_argument("file", type=Path)
    check.add_argument("--spec", required=True)
    check.add_argument("--report-dir", type=Path, default=None)
    check.add_argument(
        "--engine",
        choices=("project", "gx"),
        default="project",
        help="project: the suite evaluated in polars (default); gx: the suite run by GX Core itself",
    )
    check.set_defaults(handler=_check)


def _usage(message: str) -> int:
    print(f"sf1630 dataspec: {message}", file=sys.stderr)
    return 2


def _list(args: argparse.Namespace) -> int:
    for name in list_specs(args.spec_dir):
        print(name)
    return 0


def _show(args: argparse.Namespace) -> int:
    from sf1630.dataspec.suite import expectation_configs

    try:
        spec = load_spec(args.name, args.spec_dir)
    except ConfigError as exc:
        return _usage(str(exc))
    e = spec.extract
    print(f"{spec.name}: {e.title} ({e.sender} → {e.recipient}, version {e.version}), load {spec.load}")
    print(f"key: {', '.join(spec.primary_key)}; kommune: {spec.kommune_column}; period: {spec.period_column}")
    print(f"source table: {spec.source_table}; warehouse table: {spec.warehouse_table}")
    for c in spec.columns:
        flags = [f for f, on in (("required", c.required), ("unique", c.unique)) if on]
        kind = f"decimal({c.precision},{c.scale})" if c.type == "decimal" else c.type
        print(f"  {c.name:<24} {kind:<16} {' '.join(flags):<16} {c.description}")
    print(f"expectations: {len(expectation_configs(spec))}")
    return 0


def _synth(args: argparse.Namespace) -> int:
    from sf1630.dataspec.schema import write_csv
    from sf1630.dataspec.synth import SynthError, synthesize

    if not _CVR.match(args.authority) or not _PERIOD.match(args.period) or args.rows < 0:
        return _usage("--authority must be 8 digits, --period YYYY-MM and --rows ≥ 0")
    try:
        spec = load_spec(args.name, args.spec_dir)
        frame = synthesize(spec, args.rows, args.authority, args.period, args.seed)
    except (ConfigError, SynthError) as exc:
        return _usage(str(exc))
    write_csv(frame, spec, args.out)
    print(args.out)
    return 0


def _check(args: argparse.Namespace) -> int:
    from sf1630.dataspec.validation import validate_file

    try:
        spec = load_spec(args.spec, args.spec_dir)
    except ConfigError as exc:
        return _usage(str(exc))
    try:
        report = validate_file(args.file, spec, engine=args.engine)
    except OSError as exc:
        return _usage(f"cannot read {args.file}: {exc.strerror or exc}")
    print("\n".join(report.summary_lines()))
    if args.report_dir is not None:
        for path in report.write(args.report_dir):
            print(f"report: {path}")
    return 0 if report.success else 1
