"""XML of the SFTP service contract: one writer and one hardened reader for untrusted documents.

Triggers arrive from any SFTP user, so the reader treats every byte as hostile, in this order: size cap
before parsing, UTF-8 only, no DOCTYPE (hence no entities, no external DTDs), a parser that never resolves
entities or touches the network, no processing instructions, XInclude or ``xsi:`` attributes, then the
project's own schema, and only then a typed model. Each step fails with its own
:class:`~sf1630.protocol.errors.ProtocolError` subclass, with line and element path where known.

The writer produces exactly the contract's shape (root-only ``ns:`` prefix, unqualified children, contract
order, lowercase UUIDs, UTF-8) and checks its own output against the same schema. The project's own
triggers always carry a timestamp offset; a timestamp read without one (as KOMBIT's schema allows) stays
naive and is written back as read.

lxml parsers are not thread-safe and a validator's error log is shared state, so both are kept per thread
and built once; this module sits on the platform's routing hot path.
"""

from __future__ import annotations

import re
import threading
import uuid
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from lxml import etree

from sf1630.protocol.errors import (
    DocumentTooLarge,
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
    MAX_DOCUMENT_BYTES,
    NAMESPACE,
    Document,
    FileContentDescriptor,
    FileDescriptor,
    FileMetadata,
    ReceiptError,
    RoutingInfo,
    TechnicalReceipt,
    Trigger,
)
from sf1630.protocol.names import check_data_file_name, check_safe_name

SCHEMA_PATH = Path(__file__).resolve().parent / "schema" / "sf1630-sftp.xsd"

TRIGGER, METADATA, RECEIPT = "Trigger", "FileMetadata", "TechnicalReceipt"
_KINDS = (TRIGGER, METADATA, RECEIPT)

_XINCLUDE_NAMESPACES = frozenset({"http://www.w3.org/2001/XInclude", "http://www.w3.org/2003/XInclude"})
_XSI_NAMESPACE = "http://www.w3.org/2001/XMLSchema-instance"
_XML_DECLARATION = b'<?xml version="1.0" encoding="UTF-8"?>\n'
_NON_UTF8_STARTS = (b"\xff\xfe", b"\xfe\xff", b"\x00\x00\xfe\xff", b"\x00", b"\x4c\x6f\xa7\x94")
_DECLARED_ENCODING = re.compile(rb"\A(?:\xef\xbb\xbf)?<\?xml[^>]*?\sencoding\s*=\s*[\"']([^\"']*)[\"']")
_DTD_MARKUP = re.compile(r"<!\s*(DOCTYPE|ENTITY|ELEMENT|ATTLIST|NOTATION)", re.IGNORECASE)
_PREFIX = re.compile(r"/[^/\[\]:]+:")

_local = threading.local()
#: libxml2 initialises its schema types on the first schema compiled in the process; threads compiling at the
#: same moment leave the process unable to compile any schema ("Document is not valid XML Schema").
_SCHEMA_COMPILE = threading.Lock()


# --------------------------------------------------------------------------------------------- parser, schema


def xml_parser() -> Any:
    """This thread's lxml parser: no entity substitution, no DTD loading, no network, no huge trees.

    Not safe on its own: libxml2 still opens a local file named as a DOCTYPE's external subset or as a
    parameter entity, so untrusted bytes reach it only through the readers, which refuse DTD markup first.
    """
    parser = getattr(_local, "parser", None)
    if parser is None:
        parser = etree.XMLParser(
            encoding="utf-8",
            resolve_entities=False,
            no_network=True,
            load_dtd=False,
            dtd_validation=False,
            huge_tree=False,
            remove_comments=True,
            remove_pis=False,
            collect_ids=False,
        )
        _local.parser = parser
    return parser


def xml_schema() -> Any:
    """This thread's validator for the project's own schema (``schema/sf1630-sftp.xsd``).

    One per thread because a compiled ``XMLSchema`` must not validate in two threads at once; compiled one
    thread at a time because libxml2's schema initialisation is not thread-safe.
    """
    schema = getattr(_local, "schema", None)
    if schema is None:
        with _SCHEMA_COMPILE:
            schema_parser = etree.XMLParser(no_network=True, resolve_entities=False)
            schema = etree.XMLSchema(etree.parse(str(SCHEMA_PATH), schema_parser))
        _local.schema = schema
    return schema


# --------------------------------------------------------------------------------------------------- reading


def read_trigger(data: bytes, *, max_bytes: int = MAX_DOCUMENT_BYTES) -> Trigger:
    """Read an untrusted ``.trigger`` document."""
    document = _read(data, max_bytes, expected=TRIGGER)
    assert isinstance(document, Trigger)
    return document


def read_metadata(data: bytes, *, max_bytes: int = MAX_DOCUMENT_BYTES) -> FileMetadata:
    """Read an untrusted ``.metadata`` document; a ``Trigger`` root with ``FileTransferUUID`` also counts."""
    document = _read(data, max_bytes, expected=METADATA)
    assert isinstance(document, FileMetadata)
    return document


def read_receipt(data: bytes, *, max_bytes: int = MAX_DOCUMENT_BYTES) -> TechnicalReceipt:
    """Read an untrusted ``.sftpreceipt`` document."""
    document = _read(data, max_bytes, expected=RECEIPT)
    assert isinstance(document, TechnicalReceipt)
    return document


def read_document(data: bytes, *, max_bytes: int = MAX_DOCUMENT_BYTES) -> Document:
    """Read any of the three documents, chosen by its root element."""
    return _read(data, max_bytes, expected=None)


def document_kind(document: Document) -> str:
    """Short kind of a document as the CLI prints it: ``trigger``, ``metadata`` or ``receipt``."""
    if isinstance(document, Trigger):
        return "trigger"
    if isinstance(document, FileMetadata):
        return "metadata"
    return "receipt"


def _read(data: bytes, max_bytes: int, expected: str | None) -> Document:
    if not isinstance(data, bytes | bytearray | memoryview):
        raise TypeError(f"documents are read from bytes, not {type(data).__name__}")
    data = bytes(data)
    if len(data) > max_bytes:
        raise DocumentTooLarge(f"document is {len(data)} bytes, more than the {max_bytes} allowed")
    text = _require_utf8(data)
    _reject_dtd_markup(text)
    root = _parse(data)
    _reject_unsafe_nodes(root)
    kind, lenient = _root_kind(root, expected)
    original_root = etree.QName(root).localname
    if lenient:
        root.tag = f"{{{NAMESPACE}}}{METADATA}"
    _validate(root, rename=(METADATA, original_root) if lenient else None)
    builder: Callable[[Any], Document] = _BUILDERS[kind]
    try:
        return builder(root)
    except ProtocolError as exc:
        if lenient and exc.path:
            exc.path = _rename_root(exc.path, (METADATA, original_root))
        raise


def _require_utf8(data: bytes) -> str:
    if data.startswith(_NON_UTF8_STARTS) or b"\x00" in data[:4]:
        raise NotUTF8("document is UTF-16, UTF-32 or EBCDIC; only UTF-8 is accepted", line=1)
    match = _DECLARED_ENCODING.match(data)
    if match and match.group(1).strip().lower() != b"utf-8":
        declared = match.group(1).decode("ascii", "replace")
        raise NotUTF8(f"document declares encoding {declared!r}; only UTF-8 is accepted", line=1)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise NotUTF8(f"invalid UTF-8 byte sequence at byte {exc.start}", line=line) from None


def _reject_dtd_markup(text: str) -> None:
    match = _DTD_MARKUP.search(text)
    if match:
        line = text.count("\n", 0, match.start()) + 1
        raise UnsafeXML(
            f"document contains a <!{match.group(1).upper()} declaration; DTDs are refused", line=line
        )


def _parse(data: bytes) -> Any:
    try:
        root = etree.fromstring(data, xml_parser())
    except etree.XMLSyntaxError as exc:
        line = exc.position[0] if exc.position else exc.lineno
        raise MalformedXML(str(exc.msg), line=line or None) from None
    if root is None:
        raise MalformedXML("document has no root element")
    docinfo = root.getroottree().docinfo
    if docinfo.doctype or docinfo.internalDTD is not None or docinfo.externalDTD is not None:
        raise UnsafeXML("document has a DOCTYPE; DTDs are refused", line=1)
    return root


def _reject_unsafe_nodes(root: Any) -> None:
    siblings = [*root.itersiblings(preceding=True), *root.itersiblings()]
    for node in [*siblings, *root.iter()]:
        if isinstance(node, etree._ProcessingInstruction):
            raise UnsafeXML(f"processing instruction <?{node.target} ...?> is refused", line=node.sourceline)
        if isinstance(node, etree._Entity):
            raise UnsafeXML(f"entity reference &{node.name}; is refused", line=node.sourceline)
        if not isinstance(node.tag, str):
            continue
        if etree.QName(node).namespace in _XINCLUDE_NAMESPACES:
            raise UnsafeXML("XInclude elements are refused", line=node.sourceline, path=_path(node))
        for attribute in node.attrib:
            if etree.QName(attribute).namespace == _XSI_NAMESPACE:
                raise UnsafeXML(
                    f"schema-instance attribute {etree.QName(attribute).localname!r} is refused",
                    line=node.sourceline,
                    path=_path(node),
                )


def _root_kind(root: Any, expected: str | None) -> tuple[str, bool]:
    """Return the document kind of ``root`` and whether it is the lenient ``Trigger``-rooted metadata."""
    name = etree.QName(root)
    if name.namespace != NAMESPACE:
        where = f"namespace {name.namespace!r}" if name.namespace else "no namespace"
        raise WrongDocumentKind(
            f"root element {name.localname!r} is in {where}, not {NAMESPACE!r}", line=root.sourceline
        )
    kind = name.localname
    if kind not in _KINDS:
        raise WrongDocumentKind(
            f"root element {kind!r} is not a Trigger, FileMetadata or TechnicalReceipt", line=root.sourceline
        )
    lenient = kind == TRIGGER and expected in {METADATA, None} and _has_transfer_uuid(root)
    if lenient:
        kind = METADATA
    if expected is not None and kind != expected:
        raise WrongDocumentKind(f"expected a {expected} document, got {kind}", line=root.sourceline)
    return kind, lenient


def _has_transfer_uuid(root: Any) -> bool:
    first = next((child for child in root if isinstance(child.tag, str)), None)
    return first is not None and etree.QName(first).localname == "FileTransferUUID"


def _validate(root: Any, rename: tuple[str, str] | None = None) -> None:
    schema = xml_schema()
    try:
        schema.assertValid(root)
    except etree.DocumentInvalid as exc:
        entries = list(exc.error_log) or list(schema.error_log)
        if not entries:
            raise SchemaViolation(str(exc)) from None
        entry = entries[0]
        path = _error_path(root, entry.path) if entry.path else None
        if path and rename:
            path = _rename_root(path, rename)
        raise SchemaViolation(entry.message, line=entry.line or None, path=path) from None


def _path(node: Any) -> str:
    """Element path by local names, e.g. ``/Trigger/FileDescriptor/Recipients[2]``."""
    steps: list[str] = []
    while node is not None:
        name = etree.QName(node).localname
        parent = node.getparent()
        same = [] if parent is None else [s for s in parent if isinstance(s.tag, str) and s.tag == node.tag]
        steps.append(f"{name}[{same.index(node) + 1}]" if len(same) > 1 else name)
        node = parent
    return "/" + "/".join(reversed(steps))


def _error_path(root: Any, libxml2_path: str) -> str:
    """Turn libxml2's path (document prefixes, ``*`` for default-namespace steps) into a local-name path."""
    namespaces = {
        prefix: uri
        for node in root.iter()
        if isinstance(node.tag, str)
        for prefix, uri in node.nsmap.items()
        if prefix
    }
    try:
        found = root.getroottree().xpath(libxml2_path, namespaces=namespaces)
    except etree.XPathError:
        found = []
    if isinstance(found, list) and len(found) == 1 and isinstance(getattr(found[0], "tag", None), str):
        return _path(found[0])
    return _PREFIX.sub("/", libxml2_path)


def _rename_root(path: str, rename: tuple[str, str]) -> str:
    current, original = rename
    prefix = f"/{current}"
    return f"/{original}{path[len(prefix) :]}" if path.startswith(prefix) else path


# ------------------------------------------------------------------------------------------- tree → models


def _child(parent: Any, name: str) -> Any:
    return parent.find(name)


def _text(node: Any) -> str:
    return str(node.text or "")


def _bad(node: Any, detail: str) -> InvalidValue:
    return InvalidValue(detail, line=node.sourceline, path=_path(node))


def _safe_name(node: Any) -> str:
    try:
        return check_safe_name(_text(node))
    except UnsafeFileName as exc:
        raise UnsafeFileName(exc.detail, line=node.sourceline, path=_path(node)) from None


def _data_file_name(node: Any) -> str:
    try:
        return check_data_file_name(_text(node))
    except UnsafeFileName as exc:
        raise UnsafeFileName(exc.detail, line=node.sourceline, path=_path(node)) from None


def _uuid(node: Any) -> uuid.UUID:
    return uuid.UUID(_text(node))


def _timestamp(node: Any) -> datetime:
    try:
        value = datetime.fromisoformat(_text(node).strip())
    except ValueError:
        raise _bad(node, f"timestamp {_text(node)!r} cannot be represented") from None
    return value  # without an offset it stays naive: the sender's local time, as xs:dateTime allows


def _leaf_items(nodes: list[Any], what: str) -> tuple[tuple[str, str], ...]:
    items: list[tuple[str, str]] = []
    for node in nodes:
        name = etree.QName(node)
        if any(isinstance(child.tag, str) for child in node):
            raise _bad(node, f"{what} {name.localname!r} has element content; only text is supported")
        items.append((name.text if name.namespace else name.localname, _text(node)))
    return tuple(items)


def _file_descriptor(node: Any) -> FileDescriptor:
    senders_file_id = _child(node, "SendersFileId")
    return FileDescriptor(
        file_name=_data_file_name(_child(node, "FileName")),
        size_in_bytes=int(_text(_child(node, "SizeInBytes")).strip()),
        sender=_safe_name(_child(node, "Sender")),
        recipients=tuple(_safe_name(recipient) for recipient in node.findall("Recipients")),
        senders_file_id=None if senders_file_id is None else _text(senders_file_id),
    )


def _routing(node: Any) -> RoutingInfo:
    recipient_it_system = _child(node, "RecipientIt-system")
    parameters = [
        next(child for child in parameter if isinstance(child.tag, str))
        for parameter in node.findall("RouteParameterList/RouteParameter")
    ]
    return RoutingInfo(
        inf_ref=_text(_child(node, "InfRef")),
        sender_it_system=_uuid(_child(node, "SenderIt-system")),
        sender_authority=_text(_child(node, "SenderAuthority")),
        transaction_id=_uuid(_child(node, "TransactionId")),
        sender_timestamp=_timestamp(_child(node, "SenderTimestamp")),
        recipient_authority=_text(_child(node, "RecipientAuthority")),
        recipient_it_system=None if recipient_it_system is None else _uuid(recipient_it_system),
        route_parameters=_leaf_items(parameters, "route parameter"),
    )


def _content(node: Any) -> FileContentDescriptor:
    routing = _child(node, "SFTPDynamicRoutingInfo")
    if routing is not None:
        return FileContentDescriptor(routing=_routing(routing))
    other = _leaf_items([c for c in node if isinstance(c.tag, str)], "element")
    try:
        return FileContentDescriptor(other=other)
    except InvalidValue as exc:
        raise _bad(node, exc.detail) from None


def _trigger(root: Any) -> Trigger:
    return Trigger(
        file=_file_descriptor(_child(root, "FileDescriptor")),
        content=_content(_child(root, "FileContentDescriptor")),
    )


def _metadata(root: Any) -> FileMetadata:
    return FileMetadata(
        file_transfer_uuid=_text(_child(root, "FileTransferUUID")),
        file=_file_descriptor(_child(root, "FileDescriptor")),
        content=_content(_child(root, "FileContentDescriptor")),
    )


def _receipt(root: Any) -> TechnicalReceipt:
    senders_file_id = _child(root, "SendersFileId")
    receipt = _child(root, "Receipt")
    return TechnicalReceipt(
        file_transfer_uuid=_text(_child(root, "FileTransferUUID")),
        senders_file_id=None if senders_file_id is None else _text(senders_file_id),
        message=None if receipt is None else _text(_child(receipt, "Message")),
        errors=tuple(
            ReceiptError(
                code=int(_text(_child(error, "ErrorCode")).strip()),
                code_description=_text(_child(error, "ErrorCodeDescription")),
                description=_text(_child(error, "ErrorDescription")),
            )
            for error in root.findall("ErrorMessage")
        ),
    )


_BUILDERS: dict[str, Callable[[Any], Document]] = {TRIGGER: _trigger, METADATA: _metadata, RECEIPT: _receipt}


# --------------------------------------------------------------------------------------------------- writing


def to_xml(doc: Document) -> bytes:
    """Serialise a document to UTF-8 XML in the contract's exact shape, checked against the project schema."""
    if isinstance(doc, Trigger):
        root = _root(TRIGGER)
        _add_file(root, doc.file)
        _add_content(root, doc.content)
    elif isinstance(doc, FileMetadata):
        root = _root(METADATA)
        _leaf(root, "FileTransferUUID", doc.file_transfer_uuid)
        _add_file(root, doc.file)
        _add_content(root, doc.content)
    elif isinstance(doc, TechnicalReceipt):
        root = _root(RECEIPT)
        _add_receipt(root, doc)
    else:
        raise TypeError(f"not a protocol document: {type(doc).__name__}")
    _validate(root)
    for name_node in root.iterfind("FileDescriptor/*"):
        if name_node.tag == "FileName":
            _data_file_name(name_node)
        elif name_node.tag in {"Sender", "Recipients"}:
            _safe_name(name_node)
    body: bytes = etree.tostring(root, encoding="UTF-8", xml_declaration=False, pretty_print=True)
    return _XML_DECLARATION + body


def _root(kind: str) -> Any:
    return etree.Element(f"{{{NAMESPACE}}}{kind}", nsmap={"ns": NAMESPACE})


def _leaf(parent: Any, tag: str, text: str) -> Any:
    try:
        node = etree.SubElement(parent, tag)
        node.text = text
    except ValueError as exc:
        raise InvalidValue(f"{tag}: {exc}", path=_path(parent) + f"/{tag}") from None
    return node


def _add_file(root: Any, file: FileDescriptor) -> None:
    node = etree.SubElement(root, "FileDescriptor")
    _leaf(node, "FileName", file.file_name)
    _leaf(node, "SizeInBytes", str(file.size_in_bytes))
    _leaf(node, "Sender", file.sender)
    if file.senders_file_id is not None:
        _leaf(node, "SendersFileId", file.senders_file_id)
    for recipient in file.recipients:
        _leaf(node, "Recipients", recipient)


def _add_content(root: Any, content: FileContentDescriptor) -> None:
    foreign = dict.fromkeys(
        namespace for name, _text in content.other if (namespace := etree.QName(name).namespace)
    )
    nsmap = {
        "fc" if namespace == FILE_CONTENT_NAMESPACE else f"ns{index}": namespace
        for index, namespace in enumerate(foreign)
    }
    node = etree.SubElement(root, "FileContentDescriptor", nsmap=nsmap or None)
    if content.routing is not None:
        _add_routing(node, content.routing)
    for name, text in content.other:
        _leaf(node, name, text)


def _add_routing(parent: Any, routing: RoutingInfo) -> None:
    node = etree.SubElement(parent, "SFTPDynamicRoutingInfo")
    _leaf(node, "InfRef", routing.inf_ref)
    _leaf(node, "SenderIt-system", str(routing.sender_it_system))
    _leaf(node, "SenderAuthority", routing.sender_authority)
    _leaf(node, "TransactionId", str(routing.transaction_id))
    _leaf(node, "SenderTimestamp", routing.sender_timestamp.isoformat())
    if routing.recipient_it_system is not None:
        _leaf(node, "RecipientIt-system", str(routing.recipient_it_system))
    _leaf(node, "RecipientAuthority", routing.recipient_authority)
    if routing.route_parameters:
        parameters = etree.SubElement(node, "RouteParameterList")
        for name, text in routing.route_parameters:
            _leaf(etree.SubElement(parameters, "RouteParameter"), name, text)


def _add_receipt(root: Any, receipt: TechnicalReceipt) -> None:
    _leaf(root, "FileTransferUUID", receipt.file_transfer_uuid)
    if receipt.senders_file_id is not None:
        _leaf(root, "SendersFileId", receipt.senders_file_id)
    if receipt.message is not None:
        _leaf(etree.SubElement(root, "Receipt"), "Message", receipt.message)
    for error in receipt.errors:
        node = etree.SubElement(root, "ErrorMessage")
        _leaf(node, "ErrorCode", str(error.code))
        _leaf(node, "ErrorCodeDescription", error.code_description)
        _leaf(node, "ErrorDescription", error.description)
