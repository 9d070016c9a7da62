"""The simple pattern in the router: Recipients names SFTP users, a simple route allows each, nothing else.

The four ways a trigger can name its recipients wrongly each get their own code, and none delivers to
anyone; a correct simple trigger is delivered exactly like a routed one (hard link, metadata, receipt,
journal, audit), and its metadata carries the trigger's FilType/SF content unchanged.
"""

from __future__ import annotations

import json
import os
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sf1630.config import ConfigError
from sf1630.platform.audit import AuditLog
from sf1630.platform.config import PlatformConfig
from sf1630.platform.errorcodes import ErrorCode
from sf1630.platform.folders import IN, OUT, PlatformHome
from sf1630.platform.journal import Journal
from sf1630.platform.router import Router
from sf1630.protocol import (
    FILE_CONTENT_NAMESPACE,
    INF_REF_SF1630,
    RECEIPT_SUFFIX,
    ROUTING_RECIPIENT,
    FileContentDescriptor,
    FileDescriptor,
    RoutingInfo,
    Trigger,
    read_metadata,
    read_receipt,
    to_xml,
)

from tests.support.platform import HERNING, HERNING_CVR, IKAST, IKAST2, KY_SYSTEM, SENDER, load_test_config

DATA = b"x;y\n1;2\n"
NAME = "KY_LIS_65700000_M03_20260402134858.csv"


@pytest.fixture
def simple_config(tmp_path: Path) -> PlatformConfig:
    return load_test_config(
        tmp_path,
        simple_routes=[{"sender": SENDER, "recipient": HERNING}, {"sender": SENDER, "recipient": IKAST}],
    )


@pytest.fixture
def simple_home(tmp_path: Path, simple_config: PlatformConfig) -> PlatformHome:
    home = PlatformHome(tmp_path / "home")
    home.prepare(simple_config)
    return home


def _run(config: PlatformConfig, home: PlatformHome, trigger: Trigger) -> Router:
    (home.folder(SENDER, OUT) / NAME).write_bytes(DATA)
    (home.folder(SENDER, OUT) / f"{NAME}.trigger").write_bytes(to_xml(trigger))
    router = Router(config, home, Journal(home.journal), AuditLog(home.audit_log))
    assert router.claim(SENDER, f"{NAME}.trigger")
    router.process(SENDER, f"{NAME}.trigger")
    return router


def _receipt_codes(home: PlatformHome) -> list[int]:
    receipt = read_receipt((home.folder(SENDER, IN) / (NAME + RECEIPT_SUFFIX)).read_bytes())
    return [error.code for error in receipt.errors]


def _nothing_delivered(home: PlatformHome) -> None:
    for user in (IKAST, IKAST2, HERNING):
        assert os.listdir(home.folder(user, IN)) == [], user
    assert sorted(os.listdir(home.folder(SENDER, OUT))) == [NAME], "the data file is left for the sender"


def test_simple_trigger_is_delivered_with_metadata_receipt_and_audit(
    simple_config: PlatformConfig, simple_home: PlatformHome
) -> None:
    trigger = Trigger.simple(NAME, len(DATA), sender=SENDER, recipient=HERNING, senders_file_id="id-1")
    _run(simple_config, simple_home, trigger)
    assert sorted(os.listdir(simple_home.folder(HERNING, IN))) == [NAME, f"{NAME}.metadata"]
    assert os.listdir(simple_home.folder(IKAST, IN)) == [], "only the named recipient"
    assert os.listdir(simple_home.folder(SENDER, OUT)) == []
    receipt = read_receipt((simple_home.folder(SENDER, IN) / (NAME + RECEIPT_SUFFIX)).read_bytes())
    assert receipt.ok and receipt.senders_file_id == "id-1"
    metadata = read_metadata((simple_home.folder(HERNING, IN) / f"{NAME}.metadata").read_bytes())
    assert metadata.file_transfer_uuid == receipt.file_transfer_uuid
    assert metadata.file.recipients == (HERNING,) and metadata.file.sender == SENDER
    assert metadata.content == trigger.content
    assert dict(metadata.content.other) == {
        f"{{{FILE_CONTENT_NAMESPACE}}}FilType": "LIS",
        f"{{{FILE_CONTENT_NAMESPACE}}}SF": "1630",
    }
    audit = [json.loads(line) for line in simple_home.audit_log.read_text().splitlines()]
    transfer = next(a for a in audit if a.get("event") == "transfer")
    assert transfer["recipients"] == [HERNING] and transfer["outcome"] == "success"
    journal = Journal(simple_home.journal)
    try:
        assert journal.unfinished() == []
    finally:
        journal.close()


def test_simple_trigger_with_several_users_delivers_to_each(
    simple_config: PlatformConfig, simple_home: PlatformHome
) -> None:
    descriptor = FileDescriptor(NAME, len(DATA), SENDER, (HERNING, IKAST, HERNING))
    _run(simple_config, simple_home, Trigger(descriptor))  # an empty FileContentDescriptor is valid
    for user in (HERNING, IKAST):
        assert sorted(os.listdir(simple_home.folder(user, IN))) == [NAME, f"{NAME}.metadata"]
    assert _receipt_codes(simple_home) == []


def _routing() -> RoutingInfo:
    return RoutingInfo(INF_REF_SF1630, KY_SYSTEM, HERNING_CVR, uuid.uuid4(), datetime.now(UTC), HERNING_CVR)


CASES = {
    "unknown user": (
        Trigger(FileDescriptor(NAME, len(DATA), SENDER, (HERNING, "NOBODY_LIS01"))),
        [ErrorCode.SIMPLE_RECIPIENT_UNKNOWN],
    ),
    "not permitted": (
        Trigger(FileDescriptor(NAME, len(DATA), SENDER, (HERNING, IKAST2))),
        [ErrorCode.SIMPLE_RECIPIENT_NOT_PERMITTED],
    ),
    "marker mixed with users": (
        Trigger(
            FileDescriptor(NAME, len(DATA), SENDER, (ROUTING_RECIPIENT, HERNING)),
            FileContentDescriptor(routing=_routing()),
        ),
        [ErrorCode.ROUTING_MARKER_MIXED],
    ),
    "marker without routing info": (
        Trigger(FileDescriptor(NAME, len(DATA), SENDER, (ROUTING_RECIPIENT,))),
        [ErrorCode.ROUTING_MARKER_WITHOUT_INFO],
    ),
    "routing info without marker": (
        Trigger(
            FileDescriptor(NAME, len(DATA), SENDER, (HERNING,)), FileContentDescriptor(routing=_routing())
        ),
        [ErrorCode.ROUTING_INFO_WITHOUT_MARKER],
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_each_wrong_recipient_naming_has_its_code_and_delivers_nothing(
    simple_config: PlatformConfig, simple_home: PlatformHome, case: str
) -> None:
    trigger, codes = CASES[case]
    router = _run(simple_config, simple_home, trigger)
    assert _receipt_codes(simple_home) == [int(code) for code in codes]
    _nothing_delivered(simple_home)
    assert not router.is_locked(SENDER, NAME)


def test_a_dynamic_sender_without_simple_route_may_not_name_users(
    config: PlatformConfig, home: PlatformHome
) -> None:
    """The shared fixture has routes for KY but no simple routes for it: naming a user is refused (404)."""
    _run(config, home, Trigger.simple(NAME, len(DATA), sender=SENDER, recipient=HERNING))
    assert _receipt_codes(home) == [int(ErrorCode.SIMPLE_RECIPIENT_NOT_PERMITTED)]
    _nothing_delivered(home)


def test_both_patterns_share_one_platform(simple_config: PlatformConfig, simple_home: PlatformHome) -> None:
    now = datetime.now(UTC)
    routed = Trigger.routed(
        NAME, len(DATA), sender=SENDER, sender_it_system=KY_SYSTEM, authority=HERNING_CVR, timestamp=now
    )
    _run(simple_config, simple_home, routed)
    assert sorted(os.listdir(simple_home.folder(HERNING, IN))) == [NAME, f"{NAME}.metadata"]
    metadata = read_metadata((simple_home.folder(HERNING, IN) / f"{NAME}.metadata").read_bytes())
    assert metadata.file.recipients == (HERNING,) and metadata.content.routing is not None


@pytest.mark.parametrize(
    ("entry", "name", "problem"),
    [
        ({"sender": SENDER, "recipient": "NOBODY"}, "recipient", "'NOBODY' is not a configured user"),
        ({"sender": "NOBODY", "recipient": HERNING}, "sender", "'NOBODY' is not a configured user"),
        ({"sender": SENDER, "recipient": SENDER}, "recipient", "cannot deliver to itself"),
        ({"sender": SENDER}, "recipient", "missing key"),
        ({"sender": SENDER, "recipient": HERNING, "via": "x"}, "via", "unknown key"),
    ],
)
def test_bad_simple_routes_stop_the_start_with_the_entry_named(
    tmp_path: Path, entry: dict[str, str], name: str, problem: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        load_test_config(tmp_path, simple_routes=[{"sender": SENDER, "recipient": IKAST}, entry])
    assert caught.value.entry == f"simple_routes[1].{name}" and problem in caught.value.problem


def test_duplicate_simple_route_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="duplicate simple route"):
        load_test_config(tmp_path, simple_routes=[{"sender": SENDER, "recipient": IKAST}] * 2)


def _vendor_trigger(content: str) -> bytes:
    """A simple trigger as a vendor following the integration description to the letter writes it."""
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<ns:Trigger xmlns:ns="http://serviceplatformen.dk/xml/wsdl/soap11/SFTP/1/types">
  <FileDescriptor>
    <FileName>{NAME}</FileName>
    <SizeInBytes>{len(DATA)}</SizeInBytes>
    <Sender>{SENDER}</Sender>
    <Recipients>{HERNING}</Recipients>
  </FileDescriptor>
  <FileContentDescriptor>{content}</FileContentDescriptor>
</ns:Trigger>
""".encode()


def _run_raw(config: PlatformConfig, home: PlatformHome, trigger: bytes) -> list[int]:
    (home.folder(SENDER, OUT) / NAME).write_bytes(DATA)
    (home.folder(SENDER, OUT) / f"{NAME}.trigger").write_bytes(trigger)
    router = Router(config, home, Journal(home.journal), AuditLog(home.audit_log))
    assert router.claim(SENDER, f"{NAME}.trigger")
    router.process(SENDER, f"{NAME}.trigger")
    return _receipt_codes(home)


def test_the_integration_descriptions_unqualified_content_is_delivered(
    simple_config: PlatformConfig, simple_home: PlatformHome
) -> None:
    codes = _run_raw(simple_config, simple_home, _vendor_trigger("<FilType>LIS</FilType><SF>1630</SF>"))
    assert codes == []
    metadata_file = simple_home.folder(HERNING, IN) / f"{NAME}.metadata"
    assert sorted(os.listdir(simple_home.folder(HERNING, IN))) == [NAME, metadata_file.name]
    assert read_metadata(metadata_file.read_bytes()).content.other == (("FilType", "LIS"), ("SF", "1630"))
    assert b"<FilType>LIS</FilType>" in metadata_file.read_bytes(), "carried unchanged, unqualified"


@pytest.mark.parametrize(
    ("content", "code"),
    [
        ("<SF>1630</SF><FilType>LIS</FilType>", 102),
        ("<FilType>LIS</FilType>", 102),
        ("<FilType/><SF>1630</SF>", 102),
        ("<FilType>LIS</FilType><SF>1630</SF><Kommune>101</Kommune>", 102),
        ('<FilType>LIS</FilType><SF>1630</SF><o:X xmlns:o="urn:x">1</o:X>', 106),
        ("<ns:FilType>LIS</ns:FilType>", 102),
    ],
)
def test_malformed_unqualified_content_is_still_refused(
    simple_config: PlatformConfig, simple_home: PlatformHome, content: str, code: int
) -> None:
    assert _run_raw(simple_config, simple_home, _vendor_trigger(content)) == [code]
    _nothing_delivered(simple_home)
