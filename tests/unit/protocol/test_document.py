"""The writer produces the contract's exact shape, the reader returns the same model, both schemas agree."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from lxml import etree
from sf1630.protocol import (
    FILE_CONTENT_NAMESPACE,
    INF_REF_SF1630,
    MAX_DOCUMENT_BYTES,
    NAMESPACE,
    ROUTING_RECIPIENT,
    SUCCESS,
    Document,
    DocumentTooLarge,
    FileContentDescriptor,
    FileDescriptor,
    FileMetadata,
    InvalidValue,
    ReceiptError,
    RoutingInfo,
    SchemaViolation,
    TechnicalReceipt,
    Trigger,
    UnsafeFileName,
    WrongDocumentKind,
    read_document,
    read_metadata,
    read_receipt,
    read_trigger,
    to_xml,
)
from sf1630.protocol.document import SCHEMA_PATH, document_kind, xml_schema

CONTRACT_ORDER = {
    "Trigger": ["FileDescriptor", "FileContentDescriptor"],
    "FileMetadata": ["FileTransferUUID", "FileDescriptor", "FileContentDescriptor"],
    "FileDescriptor": ["FileName", "SizeInBytes", "Sender", "SendersFileId", "Recipients"],
    "SFTPDynamicRoutingInfo": [
        "InfRef",
        "SenderIt-system",
        "SenderAuthority",
        "TransactionId",
        "SenderTimestamp",
        "RecipientIt-system",
        "RecipientAuthority",
        "RouteParameterList",
    ],
    "TechnicalReceipt": ["FileTransferUUID", "SendersFileId", "Receipt", "ErrorMessage"],
    "ErrorMessage": ["ErrorCode", "ErrorCodeDescription", "ErrorDescription"],
}

READERS: dict[type, Callable[[bytes], Document]] = {
    Trigger: read_trigger,
    FileMetadata: read_metadata,
    TechnicalReceipt: read_receipt,
}


def _tree(data: bytes) -> Any:
    return etree.fromstring(data)


# ------------------------------------------------------------------------------------------- round trips


def test_round_trip_through_the_specific_reader(sample: Document) -> None:
    assert READERS[type(sample)](to_xml(sample)) == sample


def test_round_trip_through_read_document(sample: Document) -> None:
    assert read_document(to_xml(sample)) == sample


def test_writing_is_deterministic(sample: Document) -> None:
    assert to_xml(sample) == to_xml(READERS[type(sample)](to_xml(sample)))


def test_document_kind_names(samples: dict[str, Document]) -> None:
    kinds = {document_kind(doc) for doc in samples.values()}
    assert kinds == {"trigger", "metadata", "receipt"}
    assert document_kind(samples["receipt-failure"]) == "receipt"


# ----------------------------------------------------------------------------------------------- shape


def test_declaration_and_utf8_bytes(sample: Document) -> None:
    data = to_xml(sample)
    assert data.startswith(b'<?xml version="1.0" encoding="UTF-8"?>\n')
    data.decode("utf-8")
    assert b"&#" not in data


def test_non_ascii_is_written_as_utf8_not_references(samples: dict[str, Document]) -> None:
    assert "KommunalLedelseInformationOverfør_1".encode() in to_xml(samples["trigger-full"])
    assert "(æøå)".encode() in to_xml(samples["receipt-failure"])


def test_only_the_root_is_namespace_qualified(sample: Document) -> None:
    data = to_xml(sample)
    root = _tree(data)
    assert root.prefix == "ns"
    assert etree.QName(root).namespace == NAMESPACE
    assert data.count(f'xmlns:ns="{NAMESPACE}"'.encode()) == 1
    assert b"<ns:" + etree.QName(root).localname.encode() + b" xmlns:ns=" in data
    contract_elements = [
        node
        for node in root.iter()
        if node is not root
        and isinstance(node.tag, str)
        and etree.QName(node).namespace not in {FILE_CONTENT_NAMESPACE, "urn:example:other"}
    ]
    assert contract_elements
    for node in contract_elements:
        name = etree.QName(node)
        if name.localname == "RouteSelectionValueDate" and name.namespace == NAMESPACE:
            continue  # written namespaced on purpose by the sample that asks for it
        assert name.namespace is None, node.tag
        assert node.prefix is None


def test_children_follow_contract_order(sample: Document) -> None:
    root = _tree(to_xml(sample))
    for node in root.iter():
        if not isinstance(node.tag, str):
            continue
        order = CONTRACT_ORDER.get(etree.QName(node).localname)
        if order is None:
            continue
        positions = [order.index(etree.QName(child).localname) for child in node]
        assert positions == sorted(positions), etree.QName(node).localname


def test_uuids_are_written_lowercase(make_routing: Callable[..., RoutingInfo]) -> None:
    upper = uuid.UUID("5170E7CA-7EAC-4D6A-BCAA-8588B586D0C3")
    doc = Trigger(
        FileDescriptor("a.csv", 1, "KY", ("ROUTING_V1_0_0",)),
        FileContentDescriptor(routing=make_routing(sender_it_system=upper, recipient_it_system=upper)),
    )
    data = to_xml(doc)
    assert data.count(b"5170e7ca-7eac-4d6a-bcaa-8588b586d0c3") == 2
    assert b"5170E7CA" not in data


@pytest.mark.parametrize(
    ("moment", "written"),
    [
        (datetime(2026, 1, 15, 9, 0, tzinfo=ZoneInfo("Europe/Copenhagen")), "2026-01-15T09:00:00+01:00"),
        (datetime(2026, 7, 15, 9, 0, tzinfo=ZoneInfo("Europe/Copenhagen")), "2026-07-15T09:00:00+02:00"),
        (datetime(2026, 7, 15, 9, 0, tzinfo=UTC), "2026-07-15T09:00:00+00:00"),
        (
            datetime(2026, 7, 15, 9, 0, 0, 500, tzinfo=timezone(timedelta(hours=-3))),
            "2026-07-15T09:00:00.000500-03:00",
        ),
    ],
)
def test_timestamps_carry_their_offset(
    make_routing: Callable[..., RoutingInfo], moment: datetime, written: str
) -> None:
    doc = Trigger(
        FileDescriptor("a.csv", 1, "KY", ("ROUTING_V1_0_0",)),
        FileContentDescriptor(routing=make_routing(sender_timestamp=moment)),
    )
    data = to_xml(doc)
    assert f"<SenderTimestamp>{written}</SenderTimestamp>".encode() in data
    read_back = read_trigger(data).content.routing
    assert read_back is not None
    assert read_back.sender_timestamp == moment
    assert read_back.sender_timestamp.utcoffset() == moment.utcoffset()


def test_success_receipt_says_success() -> None:
    receipt = TechnicalReceipt.success("t-1")
    assert receipt.ok
    assert receipt.message == SUCCESS
    assert b"<Receipt>\n    <Message>SUCCESS</Message>\n  </Receipt>" in to_xml(receipt)


def test_failure_receipt_is_not_ok() -> None:
    receipt = TechnicalReceipt.failure("t-1", [ReceiptError(3, "X", "y")], senders_file_id="s")
    assert not receipt.ok
    assert receipt.message is None
    assert read_receipt(to_xml(receipt)).errors == (ReceiptError(3, "X", "y"),)


# ---------------------------------------------------------------------------------------------- schemas


def test_own_schema_is_shipped_inside_the_package() -> None:
    package_dir = Path(__file__).resolve().parents[3] / "include" / "sf1630" / "protocol"
    assert SCHEMA_PATH.is_file()
    assert SCHEMA_PATH.resolve().is_relative_to(package_dir.resolve())
    assert (SCHEMA_PATH.parent / "sf1630-route-parameters.xsd").is_file()


def test_written_documents_validate_against_own_schema(sample: Document) -> None:
    schema = xml_schema()
    assert schema.validate(etree.fromstring(to_xml(sample))), schema.error_log


def _undeclared_foreign(sample: Document) -> bool:
    if isinstance(sample, TechnicalReceipt):
        return False
    return any(not name.startswith(f"{{{FILE_CONTENT_NAMESPACE}}}") for name, _ in sample.content.other)


def test_written_documents_validate_against_kombit_schema(
    sample: Document, kombit_schema_with_file_content: Any
) -> None:
    """Every document the writer produces is valid for KOMBIT's schema with the project's namespace beside it.

    Only foreign elements of a namespace nobody declared fail, as KOMBIT's strict ``##other`` wildcard wants.
    """
    schema = kombit_schema_with_file_content
    valid = schema.validate(etree.fromstring(to_xml(sample)))
    if _undeclared_foreign(sample):
        assert not valid
        assert "strict wildcard" in str(schema.error_log)
    else:
        assert valid, schema.error_log


def test_simple_content_needs_its_namespace_declared_for_kombits_strict_wildcard(
    samples: dict[str, Document], kombit_schema: Any
) -> None:
    """KOMBIT's files alone declare no FilType/SF: why the project ships sf1630-file-content.xsd."""
    assert not kombit_schema.validate(etree.fromstring(to_xml(samples["trigger-simple"])))
    assert "strict wildcard" in str(kombit_schema.error_log)


#: Corpus documents our schema rejects on purpose although KOMBIT's accepts them (stricter by design).
STRICTER_THAN_KOMBIT = {
    "schema--empty-sender.xml",  # an SFTP user is never empty
    "schema--route-parameter-bad-date.xml",  # KOMBIT skips route parameter content
}


def test_our_schema_is_at_least_as_strict_as_kombits(corpus_dir: Path, kombit_schema: Any) -> None:
    own = xml_schema()
    checked = 0
    for path in sorted(corpus_dir.glob("schema--*.xml")):
        tree = etree.fromstring(path.read_bytes())
        assert not own.validate(tree), path.name
        assert kombit_schema.validate(tree) == (path.name in STRICTER_THAN_KOMBIT), path.name
        checked += 1
    assert checked >= 30


# ------------------------------------------------------------------------------------- readers, leniency


def test_metadata_reader_accepts_a_trigger_root_with_transfer_uuid(samples: dict[str, Document]) -> None:
    metadata = samples["metadata-routing"]
    data = to_xml(metadata).replace(b"ns:FileMetadata", b"ns:Trigger")
    assert read_metadata(data) == metadata
    assert read_document(data) == metadata


def test_lenient_metadata_errors_name_the_real_root(samples: dict[str, Document]) -> None:
    data = to_xml(samples["metadata-routing"]).replace(b"ns:FileMetadata", b"ns:Trigger")
    with pytest.raises(SchemaViolation) as caught:
        read_metadata(data.replace(b"<SizeInBytes>1024", b"<SizeInBytes>-1"))
    assert caught.value.path == "/Trigger/FileDescriptor/SizeInBytes"
    assert caught.value.line == 6


def test_trigger_reader_does_not_take_a_trigger_root_with_transfer_uuid(samples: dict[str, Document]) -> None:
    data = to_xml(samples["metadata-routing"]).replace(b"ns:FileMetadata", b"ns:Trigger")
    with pytest.raises(SchemaViolation) as caught:
        read_trigger(data)
    assert caught.value.path == "/Trigger/FileTransferUUID"


def test_metadata_reader_rejects_a_plain_trigger(samples: dict[str, Document]) -> None:
    with pytest.raises(WrongDocumentKind, match="expected a FileMetadata document, got Trigger"):
        read_metadata(to_xml(samples["trigger-full"]))


@pytest.mark.parametrize(
    ("reader", "sample_name", "expected"),
    [
        (read_trigger, "receipt-success", "expected a Trigger document, got TechnicalReceipt"),
        (read_receipt, "metadata-routing", "expected a TechnicalReceipt document, got FileMetadata"),
        (read_metadata, "receipt-failure", "expected a FileMetadata document, got TechnicalReceipt"),
    ],
)
def test_specific_readers_reject_other_kinds(
    samples: dict[str, Document], reader: Callable[[bytes], Document], sample_name: str, expected: str
) -> None:
    with pytest.raises(WrongDocumentKind) as caught:
        reader(to_xml(samples[sample_name]))
    assert caught.value.reason == "wrong-root"
    assert caught.value.detail == expected
    assert caught.value.line == 2


def test_comments_cdata_bom_and_missing_declaration_are_fine(samples: dict[str, Document]) -> None:
    trigger = samples["trigger-full"]
    data = to_xml(trigger)
    body = data.split(b"\n", 1)[1]
    variants = [
        b"\xef\xbb\xbf" + data,
        body,
        b'<?xml version="1.0" encoding="utf-8"?>\n<!-- made by hand -->\n' + body,
        data.replace(b"<Sender>KY</Sender>", b"<Sender><![CDATA[KY]]></Sender><!-- who -->"),
        data.replace(b"<SizeInBytes>1024</SizeInBytes>", b"<SizeInBytes> 1024\n</SizeInBytes>"),
        data.replace(b'xmlns:ns="', b'xmlns:other="urn:unused" xmlns:ns="'),
    ]
    for variant in variants:
        assert read_trigger(variant) == trigger


def test_route_parameters_keep_namespace_as_clark_name(samples: dict[str, Document]) -> None:
    routing = read_trigger(to_xml(samples["trigger-namespaced-route-parameter"])).content.routing
    assert routing is not None
    assert routing.route_parameters == (
        ("RouteSelectionValueDate", "2026-10-31"),
        (f"{{{NAMESPACE}}}RouteSelectionValueDate", "2026-11-01"),
    )


def test_size_cap_is_checked_first_and_is_adjustable(samples: dict[str, Document]) -> None:
    data = to_xml(samples["trigger-full"])
    with pytest.raises(DocumentTooLarge) as caught:
        read_trigger(data, max_bytes=len(data) - 1)
    assert caught.value.reason == "too-large"
    assert read_trigger(data, max_bytes=len(data)) == samples["trigger-full"]


def test_document_of_exactly_the_default_cap_is_read(samples: dict[str, Document]) -> None:
    data = to_xml(samples["trigger-full"])
    padded = data.replace(
        b"<FileDescriptor>",
        b"<!--" + b"x" * (MAX_DOCUMENT_BYTES - len(data) - 8) + b"-->\n<FileDescriptor>",
        1,
    )
    assert len(padded) == MAX_DOCUMENT_BYTES
    assert read_trigger(padded) == samples["trigger-full"]
    with pytest.raises(DocumentTooLarge):
        read_trigger(padded + b"\n")


def test_reader_takes_bytes_only(samples: dict[str, Document]) -> None:
    with pytest.raises(TypeError):
        read_document(to_xml(samples["trigger-full"]).decode())  # type: ignore[arg-type]


def test_concurrent_reads_keep_their_own_errors(samples: dict[str, Document]) -> None:
    good = to_xml(samples["trigger-full"])
    bad = good.replace(b"<SizeInBytes>1024", b"<SizeInBytes>-1")
    worse = good.replace(b"5170e7ca", b"5170E7CA")

    def read(index: int) -> str:
        data = (good, bad, worse)[index % 3]
        try:
            read_trigger(data)
        except SchemaViolation as exc:
            return exc.path or ""
        return "ok"

    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(read, range(300)))
    expected = [
        "ok",
        "/Trigger/FileDescriptor/SizeInBytes",
        "/Trigger/FileContentDescriptor/SFTPDynamicRoutingInfo/SenderIt-system",
    ]
    assert results == [expected[index % 3] for index in range(300)]


# ------------------------------------------------------------------------------------------ model rules


def test_model_keeps_a_naive_timestamp_read_from_a_document(make_routing: Callable[..., RoutingInfo]) -> None:
    assert make_routing(sender_timestamp=datetime(2026, 1, 1, 12, 0)).sender_timestamp.tzinfo is None


def test_routed_trigger_is_always_written_with_an_offset() -> None:
    with pytest.raises(InvalidValue, match="timezone-aware"):
        Trigger.routed(
            "KY_LIS_11111111_M03_20180402134858.csv",
            1,
            sender="KY",
            sender_it_system=uuid.uuid4(),
            authority="urn:oio:cvr-nr:12345678",
            timestamp=datetime(2026, 1, 1, 12, 0),
        )


DESCRIPTION_TIMESTAMP = "2019-01-31T14:03:27.123"  # YYYY-MM-DDThh:mm:ss.sss, the description's own format


def test_description_timestamp_without_offset_is_read(
    kombit_schema: Any,
    make_file_descriptor: Callable[..., FileDescriptor],
    make_routing: Callable[..., RoutingInfo],
) -> None:
    """The description writes SenderTimestamp without offset; both schemas and the reader accept it."""
    xml = to_xml(Trigger(make_file_descriptor(), FileContentDescriptor(routing=make_routing())))
    text = re.sub(rb"<SenderTimestamp>[^<]*<", f"<SenderTimestamp>{DESCRIPTION_TIMESTAMP}<".encode(), xml)
    assert kombit_schema.validate(etree.fromstring(text)), kombit_schema.error_log
    assert xml_schema().validate(etree.fromstring(text))
    read = read_trigger(text)
    assert read.content.routing is not None
    assert read.content.routing.sender_timestamp == datetime(2019, 1, 31, 14, 3, 27, 123000)
    echoed = to_xml(FileMetadata("t-1", read.file, read.content))
    assert b"<SenderTimestamp>2019-01-31T14:03:27.123000</SenderTimestamp>" in echoed


@pytest.mark.parametrize("field", ["sender_authority", "recipient_authority"])
def test_model_rejects_authority_that_is_not_an_urn(
    make_routing: Callable[..., RoutingInfo], field: str
) -> None:
    with pytest.raises(InvalidValue, match="cvr_urn"):
        make_routing(**{field: "12345678"})


def test_model_rejects_uuid_given_as_text(make_routing: Callable[..., RoutingInfo]) -> None:
    with pytest.raises(InvalidValue, match=r"uuid\.UUID"):
        make_routing(transaction_id="0f6f4c3e-2d3b-4b6e-9a59-1f7b8a0c9d11")


@pytest.mark.parametrize("size", [-1, 2**64, True, 1.5])
def test_model_rejects_size_outside_unsigned_long(
    make_file_descriptor: Callable[..., FileDescriptor], size: object
) -> None:
    with pytest.raises(InvalidValue, match="unsignedLong"):
        make_file_descriptor(size_in_bytes=size)


def test_model_accepts_largest_unsigned_long(make_file_descriptor: Callable[..., FileDescriptor]) -> None:
    doc = Trigger(make_file_descriptor(size_in_bytes=2**64 - 1))
    assert read_trigger(to_xml(doc)).file.size_in_bytes == 2**64 - 1


@pytest.mark.parametrize("recipients", [(), "LIS"])
def test_model_rejects_bad_recipients(
    make_file_descriptor: Callable[..., FileDescriptor], recipients: object
) -> None:
    with pytest.raises(InvalidValue, match="recipients"):
        make_file_descriptor(recipients=recipients)


def test_model_freezes_recipients_list(make_file_descriptor: Callable[..., FileDescriptor]) -> None:
    assert make_file_descriptor(recipients=["A", "B"]).recipients == ("A", "B")


def test_content_holds_routing_or_other_not_both(make_routing: Callable[..., RoutingInfo]) -> None:
    with pytest.raises(InvalidValue, match="not both"):
        FileContentDescriptor(routing=make_routing(), other=(("{urn:x}A", "1"),))


@pytest.mark.parametrize("name", ["Kommune", "{}FilType", f"{{{NAMESPACE}}}FilType"])
def test_other_elements_must_be_in_a_foreign_namespace(name: str) -> None:
    with pytest.raises(InvalidValue, match="foreign namespace"):
        FileContentDescriptor(other=((name, "LIS"),))


@pytest.mark.parametrize(
    "names", [("FilType",), ("SF", "FilType"), ("FilType", "SF", "{urn:x}A"), ("{urn:x}A", "FilType", "SF")]
)
def test_the_unqualified_form_is_exactly_filtype_then_sf(names: tuple[str, ...]) -> None:
    with pytest.raises(InvalidValue, match="exactly FilType then SF"):
        FileContentDescriptor(other=tuple((name, "x") for name in names))


@pytest.mark.parametrize(
    ("message", "errors"), [(None, ()), ("SUCCESS", (ReceiptError(1, "a", "b"),))], ids=["neither", "both"]
)
def test_receipt_has_message_or_errors(message: str | None, errors: tuple[ReceiptError, ...]) -> None:
    with pytest.raises(InvalidValue, match="either a message or at least one error"):
        TechnicalReceipt("t", message=message, errors=errors)


@pytest.mark.parametrize("code", [2**31, -(2**31) - 1, False])
def test_receipt_error_code_is_an_xs_int(code: int) -> None:
    with pytest.raises(InvalidValue, match="xs:int"):
        ReceiptError(code, "a", "b")


# ---------------------------------------------------------------------------------------- writer errors


def test_writer_rejects_unsafe_file_name(make_file_descriptor: Callable[..., FileDescriptor]) -> None:
    with pytest.raises(UnsafeFileName) as caught:
        to_xml(Trigger(make_file_descriptor(file_name="../etc/passwd")))
    assert caught.value.path == "/Trigger/FileDescriptor/FileName"


def test_writer_rejects_unsafe_recipient(make_file_descriptor: Callable[..., FileDescriptor]) -> None:
    with pytest.raises(UnsafeFileName) as caught:
        to_xml(Trigger(make_file_descriptor(recipients=("LIS", ".."))))
    assert caught.value.path == "/Trigger/FileDescriptor/Recipients[2]"


def test_writer_rejects_what_its_schema_rejects(make_file_descriptor: Callable[..., FileDescriptor]) -> None:
    with pytest.raises(SchemaViolation) as caught:
        to_xml(Trigger(make_file_descriptor(senders_file_id="x" * 256)))
    assert caught.value.path == "/Trigger/FileDescriptor/SendersFileId"
    assert "maxLength" in caught.value.detail


def test_writer_rejects_text_xml_cannot_carry(make_file_descriptor: Callable[..., FileDescriptor]) -> None:
    with pytest.raises(InvalidValue) as caught:
        to_xml(Trigger(make_file_descriptor(senders_file_id="bell\x07")))
    assert caught.value.path == "/Trigger/FileDescriptor/SendersFileId"


def test_writer_rejects_route_parameter_that_is_not_an_element_name(
    make_routing: Callable[..., RoutingInfo], make_file_descriptor: Callable[..., FileDescriptor]
) -> None:
    routing = make_routing(route_parameters=(("2026 date", "x"),))
    with pytest.raises(InvalidValue):
        to_xml(Trigger(make_file_descriptor(), FileContentDescriptor(routing=routing)))


def test_writer_rejects_invalid_route_date(
    make_routing: Callable[..., RoutingInfo], make_file_descriptor: Callable[..., FileDescriptor]
) -> None:
    routing = make_routing(route_parameters=(("RouteSelectionValueDate", "31-10-2026"),))
    with pytest.raises(SchemaViolation, match="xs:date"):
        to_xml(Trigger(make_file_descriptor(), FileContentDescriptor(routing=routing)))


def test_writer_takes_documents_only() -> None:
    with pytest.raises(TypeError):
        to_xml("not a document")  # type: ignore[arg-type]


def test_error_text_names_reason_line_and_path(samples: dict[str, Document]) -> None:
    data = to_xml(samples["trigger-full"]).replace(b"<SizeInBytes>1024", b"<SizeInBytes>-1")
    with pytest.raises(SchemaViolation) as caught:
        read_trigger(data)
    assert str(caught.value) == (
        "schema: Element 'SizeInBytes': '-1' is not a valid value of the atomic type 'xs:unsignedLong'. "
        "(line 5, at /Trigger/FileDescriptor/SizeInBytes)"
    )


def test_routed_trigger_uses_the_kommune_as_both_authorities() -> None:
    system, lis = uuid.uuid4(), uuid.uuid4()
    stamp = datetime(2026, 11, 1, 6, 0, tzinfo=UTC)
    trigger = Trigger.routed(
        "KY_LIS_75600000_M10_20261101060000.csv",
        42,
        sender="KY_SFTPSIMPEL",
        sender_it_system=system,
        authority="urn:oio:cvr-nr:75600000",
        recipient_it_system=lis,
        timestamp=stamp,
    )
    routing = trigger.content.routing
    assert routing is not None
    assert routing.sender_authority == routing.recipient_authority == "urn:oio:cvr-nr:75600000"
    assert (routing.sender_it_system, routing.recipient_it_system) == (system, lis)
    assert routing.inf_ref == INF_REF_SF1630 and routing.transaction_id.version == 4
    assert trigger.file.recipients == (ROUTING_RECIPIENT,)
    assert read_trigger(to_xml(trigger)) == trigger


def test_simple_trigger_names_one_user_and_carries_filtype_and_sf() -> None:
    trigger = Trigger.simple("KY_LIS_75600000_M10_20261101000000.csv", 5, sender="KY", recipient="LIS_A")
    assert trigger.file.recipients == ("LIS_A",) and trigger.content.routing is None
    xml = to_xml(trigger)
    assert b'<FileContentDescriptor xmlns:fc="urn:sf1630:file-content:1">' in xml
    assert b"<fc:FilType>LIS</fc:FilType>" in xml and b"<fc:SF>1630</fc:SF>" in xml
    assert read_trigger(xml) == trigger
    with pytest.raises(InvalidValue, match="dynamic-routing marker"):
        Trigger.simple("a.csv", 1, sender="KY", recipient=ROUTING_RECIPIENT)


DESCRIPTION_FORM = b"""<?xml version="1.0" encoding="UTF-8"?>
<ns:Trigger xmlns:ns="http://serviceplatformen.dk/xml/wsdl/soap11/SFTP/1/types">
  <FileDescriptor>
    <FileName>KY_LIS_75600000_M10_20261101000000.csv</FileName>
    <SizeInBytes>1024</SizeInBytes>
    <Sender>KY_SFTPSIMPEL</Sender>
    <Recipients>IKAST-BRANDE_LIS01_SIMPEL</Recipients>
  </FileDescriptor>
  <FileContentDescriptor><FilType>LIS</FilType><SF>1630</SF></FileContentDescriptor>
</ns:Trigger>
"""


def test_the_integration_descriptions_own_form_is_read(kombit_schema_with_file_content: Any) -> None:
    """SF1630 prescribes unqualified ``<FilType>LIS</FilType><SF>1630</SF>``; the real platform accepts it,
    so the project does, although KOMBIT's ``##other`` wildcard excludes no namespace (XSD 1.0)."""
    trigger = read_trigger(DESCRIPTION_FORM)
    assert trigger.content.other == (("FilType", "LIS"), ("SF", "1630"))
    assert trigger.content.routing is None
    assert read_trigger(to_xml(trigger)) == trigger
    assert not kombit_schema_with_file_content.validate(etree.fromstring(DESCRIPTION_FORM))


@pytest.mark.parametrize(
    ("form", "content"),
    [
        ("unqualified", b"<FileContentDescriptor>\n    <FilType>LIS</FilType>\n    <SF>1630</SF>"),
        ("namespaced", b'<FileContentDescriptor xmlns:fc="urn:sf1630:file-content:1">\n    <fc:FilType>'),
        ("empty", b"<FileContentDescriptor/>"),
    ],
)
def test_simple_trigger_content_forms(
    form: Any, content: bytes, kombit_schema_with_file_content: Any
) -> None:
    trigger = Trigger.simple("a.csv", 1, sender="KY", recipient="LIS_A", content=form)
    xml = to_xml(trigger)
    assert content in xml and read_trigger(xml) == trigger
    kombit_valid = kombit_schema_with_file_content.validate(etree.fromstring(xml))
    assert kombit_valid == (form != "unqualified")  # the description's form is outside KOMBIT's XSD
    with pytest.raises(InvalidValue, match="not one of"):
        Trigger.simple("a.csv", 1, sender="KY", recipient="LIS_A", content="qualified")  # type: ignore[arg-type]
