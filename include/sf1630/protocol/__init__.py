"""SF1630's side of Serviceplatformen's SFTP service contract: documents, names and a hardened XML reader.

Everything the sender, the platform emulator and the receiver know about triggers, metadata and receipts
comes from here, so the contract's shape and the safety rules for untrusted input live in one package.
The XML functions import lxml on first use (``sf1630 --help`` and DAG parsing stay fast); the models,
errors and name rules are plain Python.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from sf1630.protocol.errors import (
    DocumentTooLarge,
    InvalidFileName,
    InvalidValue,
    MalformedXML,
    NotUTF8,
    ProtocolError,
    SchemaViolation,
    UnsafeFileName,
    UnsafeXML,
    WrongDocumentKind,
)
from sf1630.protocol.models import (
    FILE_CONTENT_NAMESPACE,
    INF_REF_SF1630,
    MAX_DOCUMENT_BYTES,
    NAMESPACE,
    ROUTING_RECIPIENT,
    SUCCESS,
    UNQUALIFIED_CONTENT,
    Document,
    FileContentDescriptor,
    FileContentForm,
    FileDescriptor,
    FileMetadata,
    ReceiptError,
    RoutingInfo,
    TechnicalReceipt,
    Trigger,
)
from sf1630.protocol.names import (
    CVR_URN_PREFIX,
    IN,
    METADATA_SUFFIX,
    OUT,
    RECEIPT_SUFFIX,
    TRIGGER_SUFFIX,
    DataFileName,
    check_data_file_name,
    check_safe_name,
    cvr_number,
    cvr_urn,
)
from sf1630.protocol.period import Period

if TYPE_CHECKING:
    from sf1630.protocol.document import (
        SCHEMA_PATH,
        document_kind,
        read_document,
        read_metadata,
        read_receipt,
        read_trigger,
        to_xml,
    )

_LAZY = frozenset(
    {
        "SCHEMA_PATH",
        "document_kind",
        "read_document",
        "read_metadata",
        "read_receipt",
        "read_trigger",
        "to_xml",
    }
)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module("sf1630.protocol.document"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "CVR_URN_PREFIX",
    "FILE_CONTENT_NAMESPACE",
    "IN",
    "INF_REF_SF1630",
    "MAX_DOCUMENT_BYTES",
    "METADATA_SUFFIX",
    "NAMESPACE",
    "OUT",
    "RECEIPT_SUFFIX",
    "ROUTING_RECIPIENT",
    "SCHEMA_PATH",
    "SUCCESS",
    "TRIGGER_SUFFIX",
    "UNQUALIFIED_CONTENT",
    "DataFileName",
    "Document",
    "DocumentTooLarge",
    "FileContentDescriptor",
    "FileContentForm",
    "FileDescriptor",
    "FileMetadata",
    "InvalidFileName",
    "InvalidValue",
    "MalformedXML",
    "NotUTF8",
    "Period",
    "ProtocolError",
    "ReceiptError",
    "RoutingInfo",
    "SchemaViolation",
    "TechnicalReceipt",
    "Trigger",
    "UnsafeFileName",
    "UnsafeXML",
    "WrongDocumentKind",
    "check_data_file_name",
    "check_safe_name",
    "cvr_number",
    "cvr_urn",
    "document_kind",
    "read_document",
    "read_metadata",
    "read_receipt",
    "read_trigger",
    "to_xml",
]
