"""``sf1630 protocol``: check protocol documents and write a trigger by hand, without any other part running.

Operators debugging a stuck transfer need to ask "is this file valid, and what is it?" and to produce a
correct trigger for a data file; both use exactly the reader and writer the platform and DAGs use.
lxml is imported inside the handlers so ``sf1630 --help`` stays fast.
"""

from __future__ import annotations

import argparse
import errno
import os
import re
import stat
import sys
import uuid
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, get_args

from sf1630.protocol.errors import DocumentTooLarge, ProtocolError
from sf1630.protocol.models import MAX_DOCUMENT_BYTES, FileContentForm
from sf1630.protocol.names import check_safe_name, cvr_urn

if TYPE_CHECKING:
    from sf1630.protocol.models import Trigger

EXIT_OK, EXIT_REJECTED, EXIT_USAGE = 0, 1, 2
ROUTE_DATE_PARAMETER = "RouteSelectionValueDate"
_UUID_TEXT = re.compile(r"[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}")


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``protocol`` command group and its ``validate`` and ``trigger`` commands."""
    group = subparsers.add_parser("protocol", help="SFTP protocol documents (trigger, metadata, receipt)")
    commands = group.add_subparsers(dest="command", required=True, metavar="COMMAND")

    validate = commands.add_parser("validate", help="check documents with the hardened reader")
    validate.add_argument("files", nargs="+", type=Path, metavar="FILE")
    validate.add_argument("--max-bytes", type=int, default=MAX_DOCUMENT_BYTES, help="size cap per document")
    validate.set_defaults(handler=validate_command)

    trigger = commands.add_parser(
        "trigger",
        help="print the trigger XML for a data file",
        description="Simple pattern: --recipient-user. Dynamic routing: the it-system and authority options.",
    )
    trigger.add_argument("datafile", type=Path, metavar="DATAFILE")
    trigger.add_argument("--sender", required=True, type=_safe_name, help="sender's SFTP user")
    trigger.add_argument(
        "--recipient-user", type=_recipient_user, metavar="USER", help="simple pattern: recipient's SFTP user"
    )
    trigger.add_argument("--sender-it-system", type=_uuid, metavar="UUID", help="dynamic routing")
    trigger.add_argument("--sender-authority", type=_cvr, metavar="CVR", help="dynamic routing")
    trigger.add_argument("--recipient-it-system", type=_uuid, metavar="UUID", help="dynamic routing")
    trigger.add_argument("--recipient-authority", type=_cvr, metavar="CVR", help="dynamic routing")
    trigger.add_argument(
        "--file-content",
        choices=get_args(FileContentForm),
        help="simple pattern: FilType/SF unqualified (as the integration description shows them), namespaced"
        " (urn:sf1630:file-content:1, the default) or empty",
    )
    trigger.add_argument("--senders-file-id", metavar="ID", type=_senders_file_id)
    trigger.add_argument("--route-date", type=_route_date, metavar="YYYY-MM-DD", help=ROUTE_DATE_PARAMETER)
    trigger.set_defaults(handler=trigger_command)


def validate_command(args: argparse.Namespace) -> int:
    """Print ``<file>: <kind>`` or ``<file>: <reason>`` for every file; exit 1 if any was rejected."""
    from sf1630.protocol.document import document_kind, read_document

    status = EXIT_OK
    for path in args.files:
        try:
            size, data = _read_regular(path, args.max_bytes + 1)
        except OSError as exc:
            print(f"{path}: unreadable: {exc.strerror or exc}", file=sys.stderr)
            status = max(status, EXIT_USAGE)
            continue
        try:
            if len(data) > args.max_bytes:
                raise DocumentTooLarge(f"document is {size} bytes, more than the {args.max_bytes} allowed")
            document = read_document(data, max_bytes=args.max_bytes)
        except ProtocolError as exc:
            print(f"{path}: {exc}")
            status = max(status, EXIT_REJECTED)
            continue
        print(f"{path}: {document_kind(document)}")
    return status


def _read_regular(path: Path, limit: int) -> tuple[int, bytes]:
    """Size and first ``limit`` bytes of a regular file; a FIFO or device is refused, never waited on.

    Opened without blocking and checked on the descriptor, so a FIFO swapped in after a check cannot hang.
    """
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    with os.fdopen(fd, "rb") as handle:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise OSError(errno.EINVAL, "not a regular file", str(path))
        return info.st_size, handle.read(limit)


_DYNAMIC_OPTIONS = ("sender_it_system", "sender_authority", "recipient_it_system", "recipient_authority")


def _pattern_problem(args: argparse.Namespace) -> str | None:
    """Why the options name neither pattern or both; None when they name exactly one."""
    given = [name for name in _DYNAMIC_OPTIONS if getattr(args, name) is not None]
    flags = ", ".join("--" + name.replace("_", "-") for name in _DYNAMIC_OPTIONS)
    if args.recipient_user is not None:
        if given or args.route_date is not None:
            return "--recipient-user (simple pattern) cannot be combined with dynamic-routing options"
        return None
    if args.file_content is not None:
        return "--file-content is for the simple pattern (--recipient-user)"
    missing = [name for name in _DYNAMIC_OPTIONS if name not in given]
    if missing:
        return f"give --recipient-user USER (simple pattern) or all of {flags} (dynamic routing)"
    return None


def trigger_command(args: argparse.Namespace) -> int:
    """Write the trigger for ``DATAFILE`` to stdout, simple pattern or dynamic routing."""
    from sf1630.protocol.document import to_xml
    from sf1630.protocol.models import Trigger

    problem = _pattern_problem(args)
    if problem is not None:
        print(f"sf1630 protocol trigger: {problem}", file=sys.stderr)
        return EXIT_USAGE
    path: Path = args.datafile
    try:
        file_name = check_safe_name(path.name)
        size = path.stat().st_size
        if not path.is_file():
            raise IsADirectoryError(f"{path} is not a regular file")
    except ProtocolError as exc:
        print(f"sf1630 protocol trigger: {path}: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except OSError as exc:
        print(f"sf1630 protocol trigger: {path}: {exc.strerror or exc}", file=sys.stderr)
        return EXIT_USAGE
    if args.recipient_user is not None:
        document = Trigger.simple(
            file_name,
            size,
            sender=args.sender,
            recipient=args.recipient_user,
            senders_file_id=args.senders_file_id,
            content=args.file_content or "namespaced",
        )
    else:
        document = _routed(args, file_name, size)
    try:
        xml = to_xml(document)
    except ProtocolError as exc:
        print(f"sf1630 protocol trigger: {exc}", file=sys.stderr)
        return EXIT_USAGE
    sys.stdout.write(xml.decode("utf-8"))
    sys.stdout.flush()
    return EXIT_OK


def _routed(args: argparse.Namespace, file_name: str, size: int) -> Trigger:
    from sf1630.protocol.models import Trigger

    return Trigger.routed(
        file_name,
        size,
        sender=args.sender,
        sender_it_system=args.sender_it_system,
        authority=args.sender_authority,
        recipient_authority=args.recipient_authority,
        recipient_it_system=args.recipient_it_system,
        timestamp=datetime.now().astimezone().replace(microsecond=0),
        senders_file_id=args.senders_file_id,
        route_parameters=((ROUTE_DATE_PARAMETER, args.route_date.isoformat()),) if args.route_date else (),
    )


def _safe_name(value: str) -> str:
    try:
        return check_safe_name(value)
    except ProtocolError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _recipient_user(value: str) -> str:
    from sf1630.protocol.models import ROUTING_RECIPIENT

    if value == ROUTING_RECIPIENT:
        raise argparse.ArgumentTypeError(f"{ROUTING_RECIPIENT} is the dynamic-routing marker, not a user")
    return _safe_name(value)


def _uuid(value: str) -> uuid.UUID:
    if not re.fullmatch(
        r"[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}", value
    ):
        raise argparse.ArgumentTypeError(f"{value!r} is not a UUID (8-4-4-4-12 hex digits)")
    return uuid.UUID(value)


def _cvr(value: str) -> str:
    try:
        return cvr_urn(value)
    except ProtocolError as exc:
        raise argparse.ArgumentTypeError(exc.detail) from None


def _senders_file_id(value: str) -> str:
    if len(value) > 255:
        raise argparse.ArgumentTypeError("a SendersFileId has at most 255 characters")
    return value


def _route_date(value: str) -> date:
    if not re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", value):
        raise argparse.ArgumentTypeError(f"{value!r} is not YYYY-MM-DD")
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{value!r} is not a real date") from exc
