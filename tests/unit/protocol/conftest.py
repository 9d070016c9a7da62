"""Shared sample documents for the protocol tests, and the location of KOMBIT's published schema.

The samples cover every optional part of the contract (with and without routing info, route parameters,
recipient it-system, senders file id, foreign content, several recipients and errors), so round-trip and
conformance tests exercise the whole writer.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from sf1630.protocol import (
    INF_REF_SF1630,
    ROUTING_RECIPIENT,
    Document,
    FileContentDescriptor,
    FileDescriptor,
    FileMetadata,
    ReceiptError,
    RoutingInfo,
    TechnicalReceipt,
    Trigger,
)

from tests.support.kombit import kombit_reference_schema

REPO_ROOT = Path(__file__).resolve().parents[3]
CORPUS_DIR = Path(__file__).resolve().parent / "corpus"

DATA_FILE = "KY_LIS_11111111_M03_20180402134858.csv"
CPH = timezone(timedelta(hours=1))


def routing(**changes: object) -> RoutingInfo:
    """A complete SFTPDynamicRoutingInfo; keyword arguments replace fields."""
    fields: dict[str, object] = {
        "inf_ref": INF_REF_SF1630,
        "sender_it_system": uuid.UUID("5170e7ca-7eac-4d6a-bcaa-8588b586d0c3"),
        "sender_authority": "urn:oio:cvr-nr:12345678",
        "transaction_id": uuid.UUID("0f6f4c3e-2d3b-4b6e-9a59-1f7b8a0c9d11"),
        "sender_timestamp": datetime(2026, 11, 2, 8, 30, 0, tzinfo=CPH),
        "recipient_authority": "urn:oio:cvr-nr:11111111",
        "recipient_it_system": uuid.UUID("a3c1e9f0-5b7d-4c2e-8f1a-6d9b0e2c4f88"),
        "route_parameters": (("RouteSelectionValueDate", "2026-10-31"),),
    }
    fields.update(changes)
    return RoutingInfo(**fields)  # type: ignore[arg-type]


def file_descriptor(**changes: object) -> FileDescriptor:
    """A FileDescriptor for the standard sample data file; keyword arguments replace fields."""
    fields: dict[str, object] = {
        "file_name": DATA_FILE,
        "size_in_bytes": 1024,
        "sender": "KY",
        "recipients": (ROUTING_RECIPIENT,),
        "senders_file_id": "KY-2026-03-0101",
    }
    fields.update(changes)
    return FileDescriptor(**fields)  # type: ignore[arg-type]


def sample_documents() -> dict[str, Document]:
    """One document per shape the writer must support, by a readable id."""
    minimal_routing = routing(recipient_it_system=None, route_parameters=())
    foreign = Trigger.simple(DATA_FILE, 1024, sender="KY", recipient="LIS_KOMMUNE_0101").content
    undeclared = FileContentDescriptor(other=(("{urn:example:other}Note", "x"),))
    return {
        "trigger-full": Trigger(file_descriptor(), FileContentDescriptor(routing=routing())),
        "trigger-minimal-routing": Trigger(
            file_descriptor(senders_file_id=None), FileContentDescriptor(routing=minimal_routing)
        ),
        "trigger-no-content": Trigger(file_descriptor(recipients=("LIS_KOMMUNE_0101", "LIS_KOMMUNE_0202"))),
        "trigger-utc-microseconds": Trigger(
            file_descriptor(),
            FileContentDescriptor(
                routing=routing(sender_timestamp=datetime(2026, 3, 31, 23, 59, 59, 123456, tzinfo=UTC))
            ),
        ),
        "trigger-namespaced-route-parameter": Trigger(
            file_descriptor(),
            FileContentDescriptor(
                routing=routing(
                    route_parameters=(
                        ("RouteSelectionValueDate", "2026-10-31"),
                        (
                            "{http://serviceplatformen.dk/xml/wsdl/soap11/SFTP/1/types}RouteSelectionValueDate",
                            "2026-11-01",
                        ),
                    )
                )
            ),
        ),
        "trigger-foreign-content": Trigger(file_descriptor(), foreign),
        "trigger-simple": Trigger.simple(
            DATA_FILE, 1024, sender="KY", recipient="LIS_KOMMUNE_0101", senders_file_id="KY-2026-03-0101"
        ),
        "trigger-undeclared-foreign-content": Trigger(file_descriptor(), undeclared),
        "metadata-routing": FileMetadata(
            "6c1b7a52-34f4-4f6f-9d0e-3d1c2b3a4f5e",
            file_descriptor(),
            FileContentDescriptor(routing=routing()),
        ),
        "metadata-no-content": FileMetadata("transfer-1", file_descriptor(senders_file_id=None)),
        "metadata-foreign-content": FileMetadata("transfer-2", file_descriptor(), foreign),
        "receipt-success": TechnicalReceipt.success(
            "6c1b7a52-34f4-4f6f-9d0e-3d1c2b3a4f5e", "KY-2026-03-0101"
        ),
        "receipt-success-no-id": TechnicalReceipt.success("6c1b7a52-34f4-4f6f-9d0e-3d1c2b3a4f5e"),
        "receipt-failure": TechnicalReceipt.failure(
            "6c1b7a52-34f4-4f6f-9d0e-3d1c2b3a4f5e",
            [
                ReceiptError(1001, "SIZE_MISMATCH", "Data file is 10 bytes, trigger says 1024"),
                ReceiptError(-7, "NO_ROUTE", "Ingen rute for afsender/modtager (æøå)"),
            ],
            senders_file_id="KY-2026-03-0101",
        ),
    }


@pytest.fixture(scope="session")
def kombit_schema() -> object:
    """KOMBIT's published schema, when the shared reference folder sits beside the checkout."""
    return kombit_reference_schema(with_file_content=False)


@pytest.fixture(scope="session")
def kombit_schema_with_file_content() -> object:
    """KOMBIT's schema with the project's ``urn:sf1630:file-content:1`` declarations beside it."""
    return kombit_reference_schema(with_file_content=True)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Parametrize any test that takes ``sample_id`` over every sample document."""
    if "sample_id" in metafunc.fixturenames:
        metafunc.parametrize("sample_id", sorted(sample_documents()))


@pytest.fixture
def sample(sample_id: str) -> Document:
    """The sample document called ``sample_id``."""
    return sample_documents()[sample_id]


@pytest.fixture
def samples() -> dict[str, Document]:
    """All sample documents by id."""
    return sample_documents()


@pytest.fixture
def make_routing() -> Callable[..., RoutingInfo]:
    """The :func:`routing` builder, for tests that vary one field."""
    return routing


@pytest.fixture
def make_file_descriptor() -> Callable[..., FileDescriptor]:
    """The :func:`file_descriptor` builder, for tests that vary one field."""
    return file_descriptor


@pytest.fixture
def corpus_dir() -> Path:
    """Folder of hostile and malformed documents; each name starts with the expected error reason."""
    return CORPUS_DIR
