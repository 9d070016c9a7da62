"""Typed, immutable models of the SFTP service contract's documents: trigger, file metadata and receipt.

The platform emulator, the sender and the receiver exchange these objects instead of XML trees, so the
XML shape lives in one place (:mod:`sf1630.protocol.document`). The models check the invariants the schema
cannot express in Python terms (timezone-aware timestamps, one of receipt or errors) at construction.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from sf1630.protocol.errors import InvalidValue
from sf1630.protocol.names import CVR_URN_PATTERN

NAMESPACE = "http://serviceplatformen.dk/xml/wsdl/soap11/SFTP/1/types"
ROUTING_RECIPIENT = "ROUTING_V1_0_0"
#: The project's namespace for the elements a simple-pattern trigger carries in ``FileContentDescriptor``
#: (``FilType``, ``SF``). KOMBIT's schema admits only elements of a namespace other than its own there
#: (``<any namespace="##other">``), and the integration description names none, so the project names one
#: (``docs/protocol.md``) and declares its elements in ``schema/sf1630-file-content.xsd``.
FILE_CONTENT_NAMESPACE = "urn:sf1630:file-content:1"
FILE_TYPE_LIS, SF_NUMBER = "LIS", "1630"
#: The integration description's own form of that content: ``<FilType>LIS</FilType><SF>1630</SF>``,
#: unqualified. KOMBIT's wildcard takes no unqualified element, but the real platform accepts its own
#: documented form, so the project's schema declares exactly these two, in this order.
UNQUALIFIED_CONTENT = ("FilType", "SF")
#: What a simple-pattern trigger carries in ``FileContentDescriptor`` (a sender's ``file_content``):
#: ``unqualified`` as the integration description shows it, ``namespaced`` in :data:`FILE_CONTENT_NAMESPACE`
#: (valid for KOMBIT's schema with the project's declarations beside it), or ``empty`` (valid for both).
FileContentForm = Literal["unqualified", "namespaced", "empty"]
INF_REF_SF1630 = "KommunalLedelseInformationOverfør_1"
SUCCESS = "SUCCESS"
MAX_DOCUMENT_BYTES = 64 * 1024

#: Largest value of xs:unsignedLong, the type of SizeInBytes.
MAX_SIZE_IN_BYTES = 2**64 - 1
#: Range of xs:int, the type of ErrorCode.
MIN_ERROR_CODE, MAX_ERROR_CODE = -(2**31), 2**31 - 1


def _require_urn(label: str, value: str) -> None:
    if not isinstance(value, str) or not CVR_URN_PATTERN.fullmatch(value):
        raise InvalidValue(f"{label} {value!r} is not urn:oio:cvr-nr:NNNNNNNN (use cvr_urn())")


def _require_uuid(label: str, value: object) -> None:
    if not isinstance(value, uuid.UUID):
        raise InvalidValue(f"{label} must be a uuid.UUID, got {type(value).__name__}")


@dataclass(frozen=True)
class RoutingInfo:
    """``SFTPDynamicRoutingInfo``: what the platform routes a transfer on."""

    inf_ref: str
    sender_it_system: uuid.UUID
    sender_authority: str
    transaction_id: uuid.UUID
    sender_timestamp: datetime
    recipient_authority: str
    recipient_it_system: uuid.UUID | None = None
    route_parameters: tuple[tuple[str, str], ...] = ()

    def __post_init__(self) -> None:
        _require_uuid("sender_it_system", self.sender_it_system)
        _require_uuid("transaction_id", self.transaction_id)
        if self.recipient_it_system is not None:
            _require_uuid("recipient_it_system", self.recipient_it_system)
        _require_urn("sender_authority", self.sender_authority)
        _require_urn("recipient_authority", self.recipient_authority)
        # A timestamp read from a document may lack an offset (KOMBIT's schema and the integration
        # description's own example allow it); every writer of the project gives one (Trigger.routed).
        if not isinstance(self.sender_timestamp, datetime):
            raise InvalidValue("sender_timestamp must be a datetime")
        object.__setattr__(self, "route_parameters", tuple(tuple(p) for p in self.route_parameters))


@dataclass(frozen=True)
class FileDescriptor:
    """``FileDescriptor``: the data file a trigger or metadata document is about."""

    file_name: str
    size_in_bytes: int
    sender: str
    recipients: tuple[str, ...]
    senders_file_id: str | None = None

    def __post_init__(self) -> None:
        if isinstance(self.recipients, str):
            raise InvalidValue("recipients must be a sequence of SFTP users, not one string")
        object.__setattr__(self, "recipients", tuple(self.recipients))
        if not self.recipients:
            raise InvalidValue("recipients must name at least one SFTP user")
        size = self.size_in_bytes
        if isinstance(size, bool) or not isinstance(size, int) or not 0 <= size <= MAX_SIZE_IN_BYTES:
            raise InvalidValue(f"size_in_bytes {size!r} is not an unsignedLong")


@dataclass(frozen=True)
class FileContentDescriptor:
    """``FileContentDescriptor``: dynamic routing info, or foreign-namespace elements, or nothing."""

    routing: RoutingInfo | None = None
    other: tuple[tuple[str, str], ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "other", tuple(tuple(item) for item in self.other))
        if self.routing is not None and self.other:
            raise InvalidValue("FileContentDescriptor holds either routing info or other elements, not both")
        names = tuple(name for name, _text in self.other)
        if set(names) & set(UNQUALIFIED_CONTENT) and names != UNQUALIFIED_CONTENT:
            # The schema says so too, but libxml2 admits foreign elements after the unqualified pair.
            raise InvalidValue(
                f"the unqualified form is exactly {' then '.join(UNQUALIFIED_CONTENT)}, nothing else: {names}"
            )
        for name in names:
            if name in UNQUALIFIED_CONTENT:
                continue
            if not name.startswith("{") or name.startswith(("{}", "{" + NAMESPACE + "}")):
                raise InvalidValue(
                    f"other element {name!r} must be a Clark name in a foreign namespace"
                    f" (or {' then '.join(UNQUALIFIED_CONTENT)} unqualified)"
                )


def _simple_content(form: FileContentForm) -> FileContentDescriptor:
    """``FilType``/``SF`` in the given form, or nothing for ``empty``."""
    values = (FILE_TYPE_LIS, SF_NUMBER)
    if form == "empty":
        return FileContentDescriptor()
    if form == "unqualified":
        return FileContentDescriptor(other=tuple(zip(UNQUALIFIED_CONTENT, values, strict=True)))
    if form == "namespaced":
        names = (f"{{{FILE_CONTENT_NAMESPACE}}}{name}" for name in UNQUALIFIED_CONTENT)
        return FileContentDescriptor(other=tuple(zip(names, values, strict=True)))
    raise InvalidValue(f"file content form {form!r} is not one of unqualified, namespaced, empty")


@dataclass(frozen=True)
class Trigger:
    """``Trigger``: the sender's request to transfer one data file."""

    file: FileDescriptor
    content: FileContentDescriptor = field(default_factory=FileContentDescriptor)

    @classmethod
    def simple(
        cls,
        file_name: str,
        size_in_bytes: int,
        *,
        sender: str,
        recipient: str,
        senders_file_id: str | None = None,
        content: FileContentForm = "namespaced",
    ) -> Trigger:
        """A simple-pattern trigger as SF1630 shows it: ``Recipients`` is the LIS system's SFTP user.

        One file goes to one LIS system, so one recipient; ``FileContentDescriptor`` carries
        ``<FilType>LIS</FilType><SF>1630</SF>`` in the ``content`` form (:data:`FileContentForm`).
        """
        if recipient == ROUTING_RECIPIENT:
            raise InvalidValue(f"{ROUTING_RECIPIENT} is the dynamic-routing marker, not an SFTP user")
        file = FileDescriptor(file_name, size_in_bytes, sender, (recipient,), senders_file_id)
        return cls(file=file, content=_simple_content(content))

    @classmethod
    def routed(
        cls,
        file_name: str,
        size_in_bytes: int,
        *,
        sender: str,
        sender_it_system: uuid.UUID,
        authority: str,
        timestamp: datetime,
        recipient_it_system: uuid.UUID | None = None,
        recipient_authority: str | None = None,
        transaction_id: uuid.UUID | None = None,
        senders_file_id: str | None = None,
        inf_ref: str = INF_REF_SF1630,
        route_parameters: tuple[tuple[str, str], ...] = (),
    ) -> Trigger:
        """A dynamic-routing trigger as SF1630 sends it.

        In SF1630 the kommune whose data it is both sends and receives (``SenderAuthority`` and
        ``RecipientAuthority`` are its CVR URN), so one ``authority`` serves both unless told otherwise;
        ``Recipients`` carries the literal routing marker and the platform resolves the recipients.
        ``timestamp`` must carry its offset: the project always writes one.
        """
        if not isinstance(timestamp, datetime) or timestamp.utcoffset() is None:
            raise InvalidValue("timestamp must be a timezone-aware datetime (the project writes an offset)")
        routing = RoutingInfo(
            inf_ref=inf_ref,
            sender_it_system=sender_it_system,
            sender_authority=authority,
            transaction_id=transaction_id or uuid.uuid4(),
            sender_timestamp=timestamp,
            recipient_authority=recipient_authority or authority,
            recipient_it_system=recipient_it_system,
            route_parameters=route_parameters,
        )
        file = FileDescriptor(file_name, size_in_bytes, sender, (ROUTING_RECIPIENT,), senders_file_id)
        return cls(file=file, content=FileContentDescriptor(routing=routing))


@dataclass(frozen=True)
class FileMetadata:
    """``FileMetadata``: the ``.metadata`` document the platform writes beside a routed data file."""

    file_transfer_uuid: str
    file: FileDescriptor
    content: FileContentDescriptor = field(default_factory=FileContentDescriptor)


@dataclass(frozen=True)
class ReceiptError:
    """One ``ErrorMessage`` of a technical receipt."""

    code: int
    code_description: str
    description: str

    def __post_init__(self) -> None:
        code = self.code
        if (
            isinstance(code, bool)
            or not isinstance(code, int)
            or not MIN_ERROR_CODE <= code <= MAX_ERROR_CODE
        ):
            raise InvalidValue(f"error code {code!r} is not an xs:int")


@dataclass(frozen=True)
class TechnicalReceipt:
    """``TechnicalReceipt``: the platform's answer to a trigger, success or a list of errors."""

    file_transfer_uuid: str
    senders_file_id: str | None = None
    message: str | None = None
    errors: tuple[ReceiptError, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "errors", tuple(self.errors))
        if (self.message is None) == (not self.errors):
            raise InvalidValue("a receipt has either a message or at least one error, not both or neither")

    @property
    def ok(self) -> bool:
        """True when the receipt carries no errors (the trigger was accepted)."""
        return not self.errors

    @classmethod
    def success(cls, file_transfer_uuid: str, senders_file_id: str | None = None) -> TechnicalReceipt:
        """The receipt the platform writes when it accepts a trigger."""
        return cls(file_transfer_uuid=file_transfer_uuid, senders_file_id=senders_file_id, message=SUCCESS)

    @classmethod
    def failure(
        cls,
        file_transfer_uuid: str,
        errors: Sequence[ReceiptError],
        senders_file_id: str | None = None,
    ) -> TechnicalReceipt:
        """The receipt the platform writes when it rejects a trigger."""
        return cls(
            file_transfer_uuid=file_transfer_uuid, senders_file_id=senders_file_id, errors=tuple(errors)
        )


Document = Trigger | FileMetadata | TechnicalReceipt
