"""Hostile and malformed documents are rejected with their specific error, before they can do harm.

The corpus files carry their expected reason in the name; the tests here add what files cannot: a canary
file that must never be read, an HTTP server on 127.0.0.1 that must never be asked, and size limits.
"""

from __future__ import annotations

import os
import threading
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from lxml import etree
from sf1630.protocol import (
    MAX_DOCUMENT_BYTES,
    NAMESPACE,
    DocumentTooLarge,
    InvalidValue,
    MalformedXML,
    NotUTF8,
    ProtocolError,
    SchemaViolation,
    UnsafeFileName,
    UnsafeXML,
    WrongDocumentKind,
    read_document,
    read_metadata,
    read_receipt,
    read_trigger,
)
from sf1630.protocol.document import xml_parser

CORPUS = Path(__file__).resolve().parent / "corpus"

ERROR_CLASSES: dict[str, type[ProtocolError]] = {
    "unsafe-xml": UnsafeXML,
    "not-utf8": NotUTF8,
    "malformed": MalformedXML,
    "wrong-root": WrongDocumentKind,
    "schema": SchemaViolation,
    "unsafe-name": UnsafeFileName,
    "bad-value": InvalidValue,
}

ROUTING = "/Trigger/FileContentDescriptor/SFTPDynamicRoutingInfo"
PARAMETER = ROUTING + "/RouteParameterList/RouteParameter"

#: Expected (line, element path) of the rejection of every corpus file.
EXPECTED: dict[str, tuple[int | None, str | None]] = {
    "bad-value--foreign-element-content.xml": (10, "/Trigger/FileContentDescriptor/Filter"),
    "bad-value--unqualified-and-namespaced-content.xml": (9, "/Trigger/FileContentDescriptor"),
    "bad-value--route-parameter-element-content.xml": (
        20,
        "/Trigger/FileContentDescriptor/SFTPDynamicRoutingInfo/RouteParameterList/RouteParameter/Window",
    ),
    "bad-value--timestamp-year-10000.xml": (
        15,
        "/Trigger/FileContentDescriptor/SFTPDynamicRoutingInfo/SenderTimestamp",
    ),
    "malformed--empty.xml": (1, None),
    "malformed--mismatched-tags.xml": (6, None),
    "malformed--not-xml.xml": (1, None),
    "malformed--nul-char-reference.xml": (4, None),
    "malformed--too-deep.xml": (10, None),
    "malformed--truncated.xml": (11, None),
    "malformed--two-roots.xml": (21, None),
    "malformed--undeclared-prefix.xml": (2, None),
    "malformed--undefined-entity.xml": (4, None),
    "not-utf8--declared-ascii.xml": (1, None),
    "not-utf8--latin1-declared.xml": (1, None),
    "not-utf8--latin1-undeclared-bytes.xml": (11, None),
    "not-utf8--overlong-slash.xml": (4, None),
    "not-utf8--utf16-bom.xml": (1, None),
    "not-utf8--utf16le-no-bom.xml": (1, None),
    "schema--bad-cvr-urn.xml": (13, "/Trigger/FileContentDescriptor/SFTPDynamicRoutingInfo/SenderAuthority"),
    "schema--braced-uuid.xml": (12, "/Trigger/FileContentDescriptor/SFTPDynamicRoutingInfo/SenderIt-system"),
    "schema--contract-namespace-as-other.xml": (10, "/Trigger/FileContentDescriptor/FilType"),
    "schema--cvr-without-urn.xml": (
        17,
        "/Trigger/FileContentDescriptor/SFTPDynamicRoutingInfo/RecipientAuthority",
    ),
    "schema--default-namespace-children.xml": (3, "/Trigger/FileDescriptor"),
    "schema--empty-sender.xml": (6, "/Trigger/FileDescriptor/Sender"),
    "schema--file-name-256-chars.xml": (4, "/Trigger/FileDescriptor/FileName"),
    "schema--missing-content-descriptor.xml": (2, "/Trigger"),
    "schema--missing-file-name.xml": (4, "/Trigger/FileDescriptor/SizeInBytes"),
    "schema--missing-recipient-authority.xml": (10, "/Trigger/FileContentDescriptor/SFTPDynamicRoutingInfo"),
    "schema--missing-recipients.xml": (3, "/Trigger/FileDescriptor"),
    "schema--negative-size.xml": (5, "/Trigger/FileDescriptor/SizeInBytes"),
    "schema--prefixed-children.xml": (3, "/Trigger/FileDescriptor"),
    "schema--receipt-and-errors.xml": (7, "/TechnicalReceipt/ErrorMessage"),
    "schema--receipt-error-code-overflow.xml": (5, "/TechnicalReceipt/ErrorMessage/ErrorCode"),
    "schema--receipt-two-messages.xml": (6, "/TechnicalReceipt/Receipt/Message[2]"),
    "schema--receipt-without-outcome.xml": (2, "/TechnicalReceipt"),
    "schema--repeated-file-descriptor.xml": (9, "/Trigger/FileDescriptor[2]"),
    "schema--repeated-file-name.xml": (5, "/Trigger/FileDescriptor/FileName[2]"),
    "schema--repeated-senders-file-id.xml": (8, "/Trigger/FileDescriptor/SendersFileId[2]"),
    "schema--route-parameter-bad-date.xml": (
        20,
        "/Trigger/FileContentDescriptor/SFTPDynamicRoutingInfo/RouteParameterList/RouteParameter/RouteSelectionValueDate",
    ),
    "schema--route-parameter-empty.xml": (
        19,
        "/Trigger/FileContentDescriptor/SFTPDynamicRoutingInfo/RouteParameterList/RouteParameter",
    ),
    "schema--route-parameter-list-empty.xml": (
        18,
        "/Trigger/FileContentDescriptor/SFTPDynamicRoutingInfo/RouteParameterList",
    ),
    "schema--route-parameter-two-elements.xml": (
        21,
        "/Trigger/FileContentDescriptor/SFTPDynamicRoutingInfo/RouteParameterList/RouteParameter/B",
    ),
    "schema--routing-and-other.xml": (19, "/Trigger/FileContentDescriptor/FilType"),
    "schema--size-above-unsigned-long.xml": (5, "/Trigger/FileDescriptor/SizeInBytes"),
    "schema--size-not-a-number.xml": (5, "/Trigger/FileDescriptor/SizeInBytes"),
    "schema--text-in-root.xml": (2, "/Trigger"),
    "schema--timestamp-not-a-date.xml": (
        15,
        "/Trigger/FileContentDescriptor/SFTPDynamicRoutingInfo/SenderTimestamp",
    ),
    "schema--unknown-attribute.xml": (5, "/Trigger/FileDescriptor/SizeInBytes"),
    "schema--unqualified-foreign-element.xml": (10, "/Trigger/FileContentDescriptor/Kommune"),
    "schema--unqualified-content-element-value.xml": (10, "/Trigger/FileContentDescriptor/FilType"),
    "schema--unqualified-content-empty-value.xml": (10, "/Trigger/FileContentDescriptor/FilType"),
    "schema--unqualified-content-reversed.xml": (10, "/Trigger/FileContentDescriptor/SF"),
    "schema--unqualified-content-without-sf.xml": (9, "/Trigger/FileContentDescriptor"),
    "schema--uppercase-uuid.xml": (
        12,
        "/Trigger/FileContentDescriptor/SFTPDynamicRoutingInfo/SenderIt-system",
    ),
    "schema--wrong-order-file.xml": (5, "/Trigger/FileDescriptor/Sender"),
    "schema--wrong-order-routing.xml": (
        11,
        "/Trigger/FileContentDescriptor/SFTPDynamicRoutingInfo/SenderIt-system",
    ),
    "schema--wrong-order-top.xml": (3, "/Trigger/FileContentDescriptor"),
    "unsafe-name--file-absolute.xml": (4, "/Trigger/FileDescriptor/FileName"),
    "unsafe-name--file-backslash.xml": (4, "/Trigger/FileDescriptor/FileName"),
    "unsafe-name--file-c1-control.xml": (4, "/Trigger/FileDescriptor/FileName"),
    "unsafe-name--file-char-reference-slash.xml": (4, "/Trigger/FileDescriptor/FileName"),
    "unsafe-name--file-delete-char.xml": (4, "/Trigger/FileDescriptor/FileName"),
    "unsafe-name--file-dot-dot-slash.xml": (4, "/Trigger/FileDescriptor/FileName"),
    "unsafe-name--file-dot-dot.xml": (4, "/Trigger/FileDescriptor/FileName"),
    "unsafe-name--file-dot.xml": (4, "/Trigger/FileDescriptor/FileName"),
    "unsafe-name--file-fullwidth-traversal.xml": (4, "/Trigger/FileDescriptor/FileName"),
    "unsafe-name--file-ligature.xml": (4, "/Trigger/FileDescriptor/FileName"),
    "unsafe-name--file-tab.xml": (4, "/Trigger/FileDescriptor/FileName"),
    "unsafe-name--file-too-many-bytes.xml": (4, "/Trigger/FileDescriptor/FileName"),
    "unsafe-name--file-trigger-suffix-upper.xml": (4, "/Trigger/FileDescriptor/FileName"),
    "unsafe-name--file-trigger-suffix.xml": (4, "/Trigger/FileDescriptor/FileName"),
    "unsafe-name--recipient-absolute.xml": (8, "/Trigger/FileDescriptor/Recipients[2]"),
    "unsafe-name--sender-traversal.xml": (6, "/Trigger/FileDescriptor/Sender"),
    "unsafe-xml--billion-laughs.xml": (2, None),
    "unsafe-xml--doctype-lowercase.xml": (2, None),
    "unsafe-xml--doctype-no-decl.xml": (1, None),
    "unsafe-xml--external-dtd.xml": (2, None),
    "unsafe-xml--external-entity-file.xml": (2, None),
    "unsafe-xml--internal-entity.xml": (2, None),
    "unsafe-xml--parameter-entities.xml": (2, None),
    "unsafe-xml--pi-inside.xml": (7, None),
    "unsafe-xml--public-dtd.xml": (2, None),
    "unsafe-xml--stylesheet-pi.xml": (2, None),
    "unsafe-xml--xinclude-2003.xml": (10, "/Trigger/FileContentDescriptor/include"),
    "unsafe-xml--xinclude.xml": (10, "/Trigger/FileContentDescriptor/include"),
    "unsafe-xml--xsi-schema-location.xml": (2, "/Trigger"),
    "unsafe-xml--xsi-type.xml": (4, "/Trigger/FileDescriptor/FileName"),
    "wrong-root--business-receipt.xml": (2, None),
    "wrong-root--html.xml": (1, None),
    "wrong-root--no-namespace.xml": (2, None),
    "wrong-root--wrong-namespace.xml": (2, None),
}

SECRET = "CANARY-7f3a-SHOULD-NEVER-BE-READ"

TRIGGER_BODY = """<ns:Trigger xmlns:ns="{ns}"{extra}>
  <FileDescriptor>
    <FileName>{name}</FileName>
    <SizeInBytes>1</SizeInBytes>
    <Sender>KY</Sender>
    <Recipients>ROUTING_V1_0_0</Recipients>
  </FileDescriptor>
  <FileContentDescriptor>{content}</FileContentDescriptor>
</ns:Trigger>
"""


def _trigger(prolog: str = "", name: str = "a.csv", content: str = "", extra: str = "") -> bytes:
    body = TRIGGER_BODY.format(ns=NAMESPACE, name=name, content=content, extra=extra)
    return f'<?xml version="1.0" encoding="UTF-8"?>\n{prolog}{body}'.encode()


def _corpus_files() -> list[str]:
    return sorted(path.name for path in CORPUS.glob("*.xml"))


# ---------------------------------------------------------------------------------------------- corpus


def test_corpus_is_large_and_fully_described() -> None:
    names = _corpus_files()
    assert len(names) >= 30
    assert set(names) == set(EXPECTED)
    assert {name.split("--")[0] for name in names} == set(ERROR_CLASSES)


@pytest.mark.parametrize("name", _corpus_files())
def test_corpus_document_is_rejected_with_its_specific_error(name: str) -> None:
    reason = name.split("--")[0]
    with pytest.raises(ProtocolError) as caught:
        read_document((CORPUS / name).read_bytes())
    error = caught.value
    assert type(error) is ERROR_CLASSES[reason], repr(error)
    assert error.reason == reason
    assert (error.line, error.path) == EXPECTED[name]
    assert str(error).startswith(f"{reason}: ")


@pytest.mark.parametrize("name", [n for n in _corpus_files() if "receipt" not in n])
def test_trigger_and_metadata_readers_reject_the_same_corpus(name: str) -> None:
    data = (CORPUS / name).read_bytes()
    with pytest.raises(ProtocolError):
        read_trigger(data)
    with pytest.raises(ProtocolError):
        read_metadata(data)


@pytest.mark.parametrize("name", [n for n in _corpus_files() if n.startswith("schema--receipt")])
def test_receipt_reader_rejects_the_receipt_corpus(name: str) -> None:
    with pytest.raises(SchemaViolation):
        read_receipt((CORPUS / name).read_bytes())


# ------------------------------------------------------------------------------------ local file canary


@pytest.fixture
def canary(tmp_path: Path) -> Path:
    path = tmp_path / "canary.txt"
    path.write_text(SECRET)
    return path


def _entity_attacks(target: str) -> dict[str, bytes]:
    return {
        "external-entity": _trigger(
            f'<!DOCTYPE ns:Trigger [<!ENTITY xxe SYSTEM "{target}">]>\n', name="&xxe;"
        ),
        "parameter-entity": _trigger(f'<!DOCTYPE ns:Trigger [<!ENTITY % p SYSTEM "{target}"> %p;]>\n'),
        "parameter-entity-wrapped": _trigger(
            f'<!DOCTYPE ns:Trigger [<!ENTITY % f SYSTEM "{target}">'
            "<!ENTITY % w \"<!ENTITY leak '%f;'>\"> %w;]>\n",
            name="&leak;",
        ),
        "external-subset": _trigger(f'<!DOCTYPE ns:Trigger SYSTEM "{target}">\n'),
        "xinclude": _trigger(
            content=f'<xi:include xmlns:xi="http://www.w3.org/2001/XInclude" href="{target}" parse="text"/>'
        ),
    }


@pytest.mark.parametrize("attack", sorted(_entity_attacks("x")))
def test_local_file_is_never_read(canary: Path, attack: str) -> None:
    data = _entity_attacks(canary.as_uri())[attack]
    with pytest.raises(UnsafeXML) as caught:
        read_document(data)
    assert SECRET not in str(caught.value)
    assert SECRET not in repr(caught.value)


@pytest.mark.parametrize("attack", sorted(_entity_attacks("x")))
def test_local_file_is_never_opened(tmp_path: Path, attack: str) -> None:
    # Opening a FIFO for reading blocks until a writer appears, so any attempt to open it hangs the reader.
    fifo = tmp_path / "canary.fifo"
    os.mkfifo(fifo)
    outcome: list[BaseException | None] = []

    def read() -> None:
        try:
            read_document(_entity_attacks(fifo.as_uri())[attack])
        except BaseException as exc:
            outcome.append(exc)
        else:
            outcome.append(None)

    worker = threading.Thread(target=read, daemon=True)
    worker.start()
    worker.join(timeout=60)
    if worker.is_alive():
        os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        pytest.fail("the reader opened the canary FIFO")
    assert isinstance(outcome[0], UnsafeXML)


def test_parser_alone_never_substitutes_entities(canary: Path) -> None:
    data = _entity_attacks(canary.as_uri())["external-entity"]
    root = etree.fromstring(data, xml_parser())
    assert SECRET.encode() not in etree.tostring(root)
    assert root.findtext("FileDescriptor/FileName") in ("", None)


def test_parser_alone_does_not_expand_an_entity_bomb() -> None:
    lines = ['<!ENTITY l0 "lol">'] + [f'<!ENTITY l{i} "{f"&l{i - 1};" * 10}">' for i in range(1, 10)]
    data = _trigger(f"<!DOCTYPE ns:Trigger [{''.join(lines)}]>\n", name="&l9;")
    try:
        root = etree.fromstring(data, xml_parser())
    except etree.XMLSyntaxError as exc:
        assert "amplification" in str(exc)
    else:
        assert len(etree.tostring(root)) < 2000
    with pytest.raises(UnsafeXML):
        read_document(data)


# ------------------------------------------------------------------------------------------ no network


class _Recorder(BaseHTTPRequestHandler):
    requests: list[str]

    def do_GET(self) -> None:
        self.server.requests.append(self.path)  # type: ignore[attr-defined]
        body = f'<!ENTITY leak "{SECRET}">'.encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        """Keep test output quiet."""


@pytest.fixture
def http_server() -> Iterator[ThreadingHTTPServer]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    server.requests = []  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def _network_attacks(base: str) -> dict[str, bytes]:
    attacks = _entity_attacks(f"{base}/entity.dtd")
    attacks["schema-location"] = _trigger(
        extra=' xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"'
        f' xsi:schemaLocation="{NAMESPACE} {base}/evil.xsd"'
    )
    attacks["stylesheet"] = _trigger(f'<?xml-stylesheet type="text/xsl" href="{base}/evil.xsl"?>\n')
    return attacks


def test_reader_never_contacts_the_network(http_server: ThreadingHTTPServer) -> None:
    base = f"http://127.0.0.1:{http_server.server_address[1]}"
    for name, data in _network_attacks(base).items():
        with pytest.raises(UnsafeXML):
            read_document(data)
        assert http_server.requests == [], name  # type: ignore[attr-defined]
    with urllib.request.urlopen(f"{base}/control") as response:  # noqa: S310 - our own 127.0.0.1 server
        assert SECRET.encode() in response.read()
    assert http_server.requests == ["/control"]  # type: ignore[attr-defined]


def test_parser_alone_never_contacts_the_network(http_server: ThreadingHTTPServer) -> None:
    base = f"http://127.0.0.1:{http_server.server_address[1]}"
    for name in ("external-entity", "external-subset", "parameter-entity"):
        data = _network_attacks(base)[name]
        try:
            root = etree.fromstring(data, xml_parser())
        except etree.XMLSyntaxError:
            continue
        assert SECRET.encode() not in etree.tostring(root), name
    assert http_server.requests == []  # type: ignore[attr-defined]


# ----------------------------------------------------------------------------------------------- size


def test_oversize_document_is_refused_before_parsing() -> None:
    bomb = _trigger(
        '<!DOCTYPE ns:Trigger [<!ENTITY a "aaaa">]>\n' + "<!--" + "x" * MAX_DOCUMENT_BYTES + "-->"
    )
    with pytest.raises(DocumentTooLarge) as caught:
        read_document(bomb)
    assert caught.value.reason == "too-large"
    assert caught.value.line is None


def test_oversize_garbage_is_refused_before_decoding() -> None:
    with pytest.raises(DocumentTooLarge):
        read_document(b"\xff" * (MAX_DOCUMENT_BYTES + 1))


def test_ten_megabytes_are_refused_by_every_reader() -> None:
    data = b"<" * (10 * 1024 * 1024)
    for reader in (read_document, read_trigger, read_metadata, read_receipt):
        with pytest.raises(DocumentTooLarge, match="more than the 65536 allowed"):
            reader(data)
