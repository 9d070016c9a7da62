"""The emulator's receipt error codes: KOMBIT does not publish its own, so this table is the contract.

Senders and tests match on these numbers, so a code never changes meaning once published; new problems get
new codes. The hundreds group the kind of problem: 1xx the trigger document itself, 2xx who may send,
3xx the data file, 4xx routing, 5xx delivery. ``docs/emulator.md`` renders this same table (a test
compares them).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

from sf1630.protocol import ReceiptError


class ErrorCode(IntEnum):
    """Stable receipt error codes."""

    XML_MALFORMED = 100
    XML_UNSAFE = 101
    XML_SCHEMA = 102
    XML_TOO_LARGE = 103
    XML_NOT_UTF8 = 104
    XML_WRONG_DOCUMENT = 105
    XML_BAD_VALUE = 106
    SENDER_NOT_UPLOADER = 200
    SENDER_IT_SYSTEM_UNKNOWN = 201
    SENDER_IT_SYSTEM_NOT_OWNED = 202
    FILE_NAME_UNSAFE = 300
    FILE_MISSING = 301
    FILE_SIZE_MISMATCH = 302
    FILE_NOT_REGULAR = 303
    FILE_IN_USE = 304
    FILE_HAS_LINKS = 305
    INF_REF_UNKNOWN = 400
    NO_ROUTE = 401
    NO_ROUTING_INFO = 402  # retired: a trigger without routing info is a simple transfer (403-407)
    SIMPLE_RECIPIENT_UNKNOWN = 403
    SIMPLE_RECIPIENT_NOT_PERMITTED = 404
    ROUTING_MARKER_MIXED = 405
    ROUTING_MARKER_WITHOUT_INFO = 406
    ROUTING_INFO_WITHOUT_MARKER = 407
    NO_ROUTE_FOR_PARAMETERS = 408
    RECIPIENT_HOLDS_FILE = 500
    DELIVERY_FAILED = 501
    INTERNAL_ERROR = 502


@dataclass(frozen=True)
class ErrorCodeEntry:
    """One row of the table: the code, its short description (ErrorCodeDescription) and when it is used."""

    code: ErrorCode
    description: str
    when: str


ERROR_TABLE: tuple[ErrorCodeEntry, ...] = (
    ErrorCodeEntry(
        ErrorCode.XML_MALFORMED, "Trigger is not well-formed XML", "The trigger cannot be parsed."
    ),
    ErrorCodeEntry(
        ErrorCode.XML_UNSAFE,
        "Trigger uses forbidden XML features",
        "DOCTYPE, entities, processing instructions, XInclude or xsi attributes.",
    ),
    ErrorCodeEntry(
        ErrorCode.XML_SCHEMA, "Trigger violates the schema", "Well-formed but not a valid Trigger document."
    ),
    ErrorCodeEntry(ErrorCode.XML_TOO_LARGE, "Trigger is too large", "The trigger exceeds 64 KiB."),
    ErrorCodeEntry(ErrorCode.XML_NOT_UTF8, "Trigger is not UTF-8", "Another encoding or invalid bytes."),
    ErrorCodeEntry(
        ErrorCode.XML_WRONG_DOCUMENT, "Document is not a Trigger", "The root element is not Trigger."
    ),
    ErrorCodeEntry(
        ErrorCode.XML_BAD_VALUE,
        "Trigger holds an unacceptable value",
        "A value the schema admits but the platform cannot use, e.g. a timestamp after the year 9999.",
    ),
    ErrorCodeEntry(
        ErrorCode.SENDER_NOT_UPLOADER,
        "Sender is not the uploading SFTP user",
        "FileDescriptor/Sender differs from the SFTP user whose OUT/ holds the trigger.",
    ),
    ErrorCodeEntry(
        ErrorCode.SENDER_IT_SYSTEM_UNKNOWN,
        "Sender it-system is unknown",
        "SenderIt-system is not registered with the platform.",
    ),
    ErrorCodeEntry(
        ErrorCode.SENDER_IT_SYSTEM_NOT_OWNED,
        "Sender it-system belongs to another SFTP user",
        "SenderIt-system is registered, but not to the uploading SFTP user.",
    ),
    ErrorCodeEntry(
        ErrorCode.FILE_NAME_UNSAFE,
        "File name is not allowed",
        "FileName is empty, has a path separator, control characters, is . or .., or ends in one of the"
        " platform's own suffixes (.trigger, .metadata, .sftpreceipt; any case, trailing dots or spaces).",
    ),
    ErrorCodeEntry(
        ErrorCode.FILE_MISSING, "Data file not found", "FileName is not present in the sender's OUT/."
    ),
    ErrorCodeEntry(
        ErrorCode.FILE_SIZE_MISMATCH,
        "Data file size differs from SizeInBytes",
        "The data file's size is not SizeInBytes (e.g. an upload that was cut off).",
    ),
    ErrorCodeEntry(
        ErrorCode.FILE_NOT_REGULAR, "Data file is not a regular file", "FileName names a folder or a link."
    ),
    ErrorCodeEntry(
        ErrorCode.FILE_IN_USE,
        "Data file is in use by another transfer",
        "Another trigger for the same data file is being processed.",
    ),
    ErrorCodeEntry(
        ErrorCode.FILE_HAS_LINKS,
        "Data file has more than one name",
        "The data file is a hard link shared with another name; only a file with one name is delivered.",
    ),
    ErrorCodeEntry(ErrorCode.INF_REF_UNKNOWN, "InfRef is unknown", "No route is registered for this InfRef."),
    ErrorCodeEntry(
        ErrorCode.NO_ROUTE,
        "No route matches",
        "No route matches InfRef, sender authority and it-system, recipient authority (and it-system).",
    ),
    ErrorCodeEntry(
        ErrorCode.NO_ROUTING_INFO,
        "Trigger has no dynamic routing information",
        "Retired, no longer written: a trigger without SFTPDynamicRoutingInfo is a simple transfer now"
        " (see 403 to 407).",
    ),
    ErrorCodeEntry(
        ErrorCode.SIMPLE_RECIPIENT_UNKNOWN,
        "Recipient is not a registered SFTP user",
        "Simple pattern: a user named in Recipients is not registered with the platform.",
    ),
    ErrorCodeEntry(
        ErrorCode.SIMPLE_RECIPIENT_NOT_PERMITTED,
        "Sender may not deliver to this recipient",
        "Simple pattern: no simple route lets the uploading SFTP user deliver to a user named in Recipients.",
    ),
    ErrorCodeEntry(
        ErrorCode.ROUTING_MARKER_MIXED,
        "ROUTING_V1_0_0 mixed with SFTP users",
        "Recipients holds the dynamic-routing marker ROUTING_V1_0_0 beside SFTP users.",
    ),
    ErrorCodeEntry(
        ErrorCode.ROUTING_MARKER_WITHOUT_INFO,
        "ROUTING_V1_0_0 without routing information",
        "Recipients is ROUTING_V1_0_0 but FileContentDescriptor holds no SFTPDynamicRoutingInfo.",
    ),
    ErrorCodeEntry(
        ErrorCode.ROUTING_INFO_WITHOUT_MARKER,
        "Routing information without ROUTING_V1_0_0",
        "FileContentDescriptor holds SFTPDynamicRoutingInfo but Recipients names SFTP users, not"
        " ROUTING_V1_0_0: it is unclear which pattern is meant.",
    ),
    ErrorCodeEntry(
        ErrorCode.NO_ROUTE_FOR_PARAMETERS,
        "Route parameters match no route",
        "Routes match InfRef, authorities and it-systems, but each names route parameter values (e.g."
        " RouteSelectionValueDate) that the trigger's RouteParameterList does not carry.",
    ),
    ErrorCodeEntry(
        ErrorCode.RECIPIENT_HOLDS_FILE,
        "Recipient already holds a file of that name",
        "A routed recipient's IN/ already holds the data file or its metadata file; nothing is overwritten.",
    ),
    ErrorCodeEntry(
        ErrorCode.DELIVERY_FAILED,
        "Delivery failed",
        "An internal error while delivering; nothing was delivered.",
    ),
    ErrorCodeEntry(
        ErrorCode.INTERNAL_ERROR,
        "Internal error while reading the trigger",
        "The platform failed unexpectedly while reading the trigger; nothing was delivered.",
    ),
)

_BY_CODE = {entry.code: entry for entry in ERROR_TABLE}


def receipt_error(code: ErrorCode, description: str) -> ReceiptError:
    """An ``ErrorMessage`` with the table's fixed description and a specific ``ErrorDescription``."""
    return ReceiptError(code=int(code), code_description=_BY_CODE[code].description, description=description)


def markdown_table() -> str:
    """The table as Markdown, exactly as ``docs/emulator.md`` shows it."""
    lines = ["| Code | ErrorCodeDescription | When |", "|---:|---|---|"]
    lines += [f"| {int(e.code)} | {e.description} | {e.when} |" for e in ERROR_TABLE]
    return "\n".join(lines)
