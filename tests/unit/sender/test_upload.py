"""Uploading one delivery: atomic data file, schema-valid trigger, the remote state of earlier attempts."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sf1630.protocol import (
    FILE_CONTENT_NAMESPACE,
    INF_REF_SF1630,
    ROUTING_RECIPIENT,
    Period,
    TechnicalReceipt,
    UnsafeFileName,
    read_trigger,
    to_xml,
)
from sf1630.registry import Kommune, SenderSystem
from sf1630.sender.plan import Delivery, plan_deliveries
from sf1630.sender.upload import (
    RemoteState,
    build_trigger,
    out_path,
    put_atomically,
    remote_state,
    upload_delivery,
)

from tests.support.streams import FailingStream


@pytest.fixture
def delivery(ky: SenderSystem, kommuner: tuple[Kommune, ...]) -> Delivery:
    return plan_deliveries(ky, kommuner, Period(2026, 10))[2]  # Brøndby LIS02


def test_simple_trigger_names_the_lis_systems_user(ky: SenderSystem, delivery: Delivery) -> None:
    """KY uses no routes (SF1630 §2.1.3): Recipients is the LIS system's SFTP user, FilType/SF the content."""
    assert ky.routing == "simple"
    stamp = datetime(2026, 11, 1, 6, 0, 5, tzinfo=UTC)
    trigger = read_trigger(to_xml(build_trigger(ky, delivery, 1234, stamp)))
    assert trigger.content.routing is None
    assert trigger.file.file_name == delivery.file_name == trigger.file.senders_file_id
    assert trigger.file.size_in_bytes == 1234
    assert trigger.file.sender == "KY_SFTPSIMPEL"
    assert trigger.file.recipients == (delivery.lis.sftp_user,)
    assert trigger.content.other == (
        (f"{{{FILE_CONTENT_NAMESPACE}}}FilType", "LIS"),
        (f"{{{FILE_CONTENT_NAMESPACE}}}SF", "1630"),
    )


@pytest.mark.parametrize(
    ("form", "content"),
    [
        ("unqualified", (("FilType", "LIS"), ("SF", "1630"))),
        (
            "namespaced",
            ((f"{{{FILE_CONTENT_NAMESPACE}}}FilType", "LIS"), (f"{{{FILE_CONTENT_NAMESPACE}}}SF", "1630")),
        ),
        ("empty", ()),
    ],
)
def test_simple_trigger_content_is_the_senders_setting(
    tmp_path: Path, kommuner: tuple[Kommune, ...], form: str, content: tuple[tuple[str, str], ...]
) -> None:
    """``file_content`` in senders.yaml: the integration description's form, the namespaced one, or none."""
    from sf1630.registry import load_registry

    from tests.support.config import write_config

    ky = load_registry(write_config(tmp_path, senders={"file_content": form})).sender("KY")
    assert ky.file_content == form
    delivery = plan_deliveries(ky, kommuner, Period(2026, 10))[0]
    trigger = read_trigger(to_xml(build_trigger(ky, delivery, 1, datetime(2026, 11, 1, tzinfo=UTC))))
    assert trigger.content.other == content and trigger.content.routing is None


def test_dynamic_trigger_routes_to_the_lis_system(ky: SenderSystem, delivery: Delivery) -> None:
    ky = ky.model_copy(update={"routing": "dynamic"})
    stamp = datetime(2026, 11, 1, 6, 0, 5, tzinfo=UTC)
    trigger = read_trigger(to_xml(build_trigger(ky, delivery, 1234, stamp)))
    routing = trigger.content.routing
    assert routing is not None
    assert trigger.file.file_name == delivery.file_name
    assert trigger.file.size_in_bytes == 1234
    assert trigger.file.sender == "KY_SFTPSIMPEL"
    assert trigger.file.recipients == (ROUTING_RECIPIENT,)
    assert routing.sender_timestamp == stamp
    assert routing.inf_ref == INF_REF_SF1630
    assert routing.sender_authority == routing.recipient_authority == "urn:oio:cvr-nr:15300000"
    assert routing.sender_it_system == ky.it_system
    assert routing.recipient_it_system == delivery.lis.it_system
    assert routing.transaction_id == delivery.transaction_id


def test_upload_puts_data_then_trigger(
    folder: Any, tmp_path: Path, ky: SenderSystem, delivery: Delivery
) -> None:
    data = tmp_path / delivery.file_name
    data.write_bytes(b"a;b\r\n1;2\r\n")
    xml = to_xml(build_trigger(ky, delivery, data.stat().st_size, datetime.now(UTC)))
    upload_delivery(folder, data, xml, delivery)
    out = folder.root / "OUT"
    assert sorted(p.name for p in out.iterdir()) == [delivery.file_name, delivery.file_name + ".trigger"]
    assert (out / delivery.file_name).read_bytes() == data.read_bytes()
    assert (out / (delivery.file_name + ".trigger")).read_bytes() == xml
    assert remote_state(folder, delivery.file_name) is RemoteState.TRIGGERED


def test_broken_upload_leaves_nothing_under_the_final_name(folder: Any) -> None:
    final = out_path("KY_LIS_10100000_M10_20261101000000.csv")
    broken = FailingStream(b"x" * 100, ConnectionResetError("connection lost"))  # dropped mid-upload
    with pytest.raises(ConnectionResetError):
        put_atomically(folder, broken, final, chunk_size=10)
    assert not (folder.root / final).exists()
    assert (folder.root / (final + ".part")).stat().st_size == 10
    assert put_atomically(folder, io.BytesIO(b"y" * 100), final, chunk_size=10) == 100
    assert (folder.root / final).read_bytes() == b"y" * 100
    assert not (folder.root / (final + ".part")).exists()


def test_remote_state(folder: Any, delivery: Delivery) -> None:
    name = delivery.file_name
    assert remote_state(folder, name) is RemoteState.ABSENT
    (folder.root / "OUT" / name).write_bytes(b"data without trigger")
    assert remote_state(folder, name) is RemoteState.ABSENT
    (folder.root / "OUT" / (name + ".trigger")).write_bytes(b"<x/>")
    assert remote_state(folder, name) is RemoteState.TRIGGERED
    (folder.root / "IN" / (name + ".sftpreceipt")).write_bytes(to_xml(TechnicalReceipt.success("t-1", name)))
    assert remote_state(folder, name) is RemoteState.ANSWERED


@pytest.mark.parametrize("name", ["../etc/passwd", "a/b.csv", "", "x.trigger"])
def test_unsafe_names_never_become_paths(name: str) -> None:
    with pytest.raises(UnsafeFileName):
        out_path(name)
