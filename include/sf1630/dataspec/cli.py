"""``sf1630 dataspec``: list and show specs, write a GX suite, make synthetic files, check a file with GX.

Heavy libraries (polars, Great Expectations) are imported inside the handlers so ``sf1630 --help`` stays fast.
``suite`` writes the suite the receiver runs, in PostgreSQL, on a file staged as text
(:func:`~sf1630.dataspec.suite.staging_configs`; ``--postgres`` the server's major version, which decides
how dates are checked). ``check`` needs no warehouse: it runs the spec's typed
suite through GX Core's pandas engine on the file read into memory (polars, then pandas; peak memory about
8× the file), and with ``--report-dir`` writes the reports the receiver keeps (``validation.json``, GX's
ValidationResult; ``validation.html``; ``summary.txt``; ``datadocs/``, GX Data Docs).
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
from sf1630.protocol.period import Period

_CVR = re.compile(r"^[0-9]{8}$")
_PERIOD = re.compile(r"^[0-9]{4}-(0[1-9]|1[0-2])$")


def register(subparsers: Any) -> None:
    """Add the ``dataspec`` group and its commands."""
    group = subparsers.add_parser("dataspec", help="data specs: list, show, suite, synth, check")
    group.add_argument("--spec-dir", type=Path, default=None, help="directory of spec YAML files")
    commands = group.add_subparsers(dest="command", required=True, metavar="COMMAND")

    listing = commands.add_parser("list", help="one spec name per line")
    listing.set_defaults(handler=_list)

    show = commands.add_parser("show", help="print a spec's columns, key and derived suite size")
    show.add_argument("name")
    show.set_defaults(handler=_show)

    suite = commands.add_parser(
        "suite", help="write the GX suite the receiver runs on a staged file (PostgreSQL) as GX JSON"
    )
    suite.add_argument("name")
    suite.add_argument("--out", type=Path, default=None, help="file to write (default: standard output)")
    suite.add_argument(
        "--postgres",
        type=int,
        default=16,
        metavar="MAJOR",
        help="the warehouse server's major version: 16 or later checks dates with its own input, "
        "earlier ones with the calendar as a pattern (default: 16)",
    )
    suite.set_defaults(handler=_suite)

    synth = commands.add_parser("synth", help="write a valid synthetic file")
    synth.add_argument("name")
    synth.add_argument("--rows", type=int, required=True)
    synth.add_argument("--authority", required=True, help="kommune CVR, 8 digits")
    synth.add_argument("--period", required=True, help="YYYY-MM")
    synth.add_argument("--seed", type=int, default=0)
    synth.add_argument("--out", type=Path, required=True)
    synth.set_defaults(handler=_synth)

    check = commands.add_parser("check", help="validate FILE against a spec with Great Expectations")
    check.add_argument("file", type=Path)
    check.add_argument("--spec", required=True)
    check.add_argument("--report-dir", type=Path, default=None, help="write the reports into this folder")
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


def _suite(args: argparse.Namespace) -> int:
    from sf1630.dataspec.ddl import Calendar
    from sf1630.dataspec.suite import staging_suite_json

    try:
        spec = load_spec(args.name, args.spec_dir)
    except ConfigError as exc:
        return _usage(str(exc))
    text = staging_suite_json(spec, Calendar.of_server(args.postgres * 10000)) + "\n"
    if args.out is None:
        sys.stdout.write(text)
    else:
        args.out.write_text(text, encoding="utf-8")
        print(args.out)
    return 0


def _synth(args: argparse.Namespace) -> int:
    from sf1630.dataspec.schema import write_csv
    from sf1630.dataspec.synth import SynthError, synthesize

    if not _CVR.match(args.authority) or not _PERIOD.match(args.period) or args.rows < 0:
        return _usage("--authority must be 8 digits, --period YYYY-MM and --rows ≥ 0")
    try:
        spec = load_spec(args.name, args.spec_dir)
        frame = synthesize(spec, args.rows, args.authority, Period.parse(args.period), args.seed)
    except (ConfigError, SynthError) as exc:
        return _usage(str(exc))
    write_csv(frame, spec, args.out)
    print(args.out)
    return 0


def _check(args: argparse.Namespace) -> int:
    from sf1630.dataspec.parsing import read_regular_file

    try:
        spec = load_spec(args.spec, args.spec_dir)
    except ConfigError as exc:
        return _usage(str(exc))
    try:
        data = read_regular_file(args.file)
    except OSError as exc:
        return _usage(f"cannot read {args.file}: {exc.strerror or exc}")
    from sf1630.dataspec.validation import Validator, write_reports

    validator = Validator()
    validated = validator.validate_bytes(data, spec, name=args.file.name)
    del data
    print("\n".join(validated.report.summary_lines()))
    if args.report_dir is not None:
        for path in write_reports(validator, validated, args.report_dir):
            print(f"report: {path}")
    return 0 if validated.success else 1
