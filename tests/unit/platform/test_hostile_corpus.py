"""The emulator's hostile trigger corpus, run through the real router: every case ends in one error receipt.

Cases are grouped by class (names, sizes, documents). Each is a trigger, usually a valid one with one
hostile change made in its bytes (so the project's own writer, which refuses such values, is bypassed as an
attacker would). Every case must end in exactly one receipt with the expected code, nothing delivered to
any recipient, the data file left for its sender, no lock held, and the journal finished.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from sf1630.platform.audit import AuditLog
from sf1630.platform.config import PlatformConfig
from sf1630.platform.errorcodes import ErrorCode
from sf1630.platform.folders import IN, OUT, PlatformHome
from sf1630.platform.journal import DONE, Journal
from sf1630.platform.router import Router
from sf1630.protocol import read_receipt

from tests.support.platform import HERNING, IKAST, IKAST2, IKAST_CVR, SENDER, make_trigger

DATA = b"x;y\n1;2\n"
NAME = "KY_LIS_75600000_M03_20260402134858.csv"
TRIGGER = "hostile.trigger"
NS = b"http://serviceplatformen.dk/xml/wsdl/soap11/SFTP/1/types"


def _valid() -> bytes:
    return make_trigger(NAME, len(DATA), authority=IKAST_CVR)


def _name(value: str) -> bytes:
    return _valid().replace(f"<FileName>{NAME}</FileName>".encode(), f"<FileName>{value}</FileName>".encode())


def _size(value: str) -> bytes:
    return _valid().replace(
        f"<SizeInBytes>{len(DATA)}</SizeInBytes>".encode(), f"<SizeInBytes>{value}</SizeInBytes>".encode()
    )


def _sender(value: str) -> bytes:
    return _valid().replace(f"<Sender>{SENDER}</Sender>".encode(), f"<Sender>{value}</Sender>".encode())


def _nested(depth: int) -> bytes:
    body = b"<a>" * depth + b"</a>" * depth
    return b'<ns:Trigger xmlns:ns="' + NS + b'">' + body + b"</ns:Trigger>"


LAUGHS = (
    b'<?xml version="1.0"?><!DOCTYPE t [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;">'
    b'<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;">]><ns:Trigger xmlns:ns="' + NS + b'">&c;</ns:Trigger>'
)


@dataclass(frozen=True)
class Case:
    kind: str
    trigger: bytes
    code: ErrorCode


UNSAFE, SCHEMA = ErrorCode.FILE_NAME_UNSAFE, ErrorCode.XML_SCHEMA
CASES: dict[str, Case] = {
    # ------------------------------------------------------------------ names
    "traversal": Case("names", _name("../../IKAST_LIS01/IN/x.csv"), UNSAFE),
    "dot-dot": Case("names", _name(".."), UNSAFE),
    "dot": Case("names", _name("."), UNSAFE),
    "slash": Case("names", _name("a/b.csv"), UNSAFE),
    "backslash": Case("names", _name("a\\b.csv"), UNSAFE),
    "absolute": Case("names", _name("/etc/passwd"), UNSAFE),
    "nel-control": Case("names", _name("a\u0085b.csv"), UNSAFE),
    "line-separator": Case("names", _name("a\u2028b.csv"), UNSAFE),
    "rtl-override": Case("names", _name("KY_LIS_\u202evsc.exe"), UNSAFE),
    "zero-width-space": Case("names", _name("KY\u200b.csv"), UNSAFE),
    "bom-in-name": Case("names", _name("\ufeffKY.csv"), UNSAFE),
    "ligature": Case("names", _name("\ufb01le.csv"), UNSAFE),
    "fullwidth-dots": Case("names", _name("\uff0e\uff0e"), UNSAFE),
    "fullwidth-slash": Case("names", _name("a\uff0fb.csv"), UNSAFE),
    "256-characters": Case("names", _name("a" * 252 + ".csv"), SCHEMA),
    "receipt-too-long": Case("names", _name("a" * 240 + ".csv"), UNSAFE),
    "multibyte-256": Case("names", _name("æ" * 126 + ".csv"), UNSAFE),
    "trigger-suffix": Case("names", _name("x.csv.trigger"), UNSAFE),
    "trigger-upper": Case("names", _name("x.TRIGGER"), UNSAFE),
    "trigger-trailing-dot": Case("names", _name("x.trigger."), UNSAFE),
    "metadata-suffix": Case("names", _name(NAME + ".metadata"), UNSAFE),
    "receipt-suffix": Case("names", _name(NAME + ".sftpreceipt"), UNSAFE),
    "metadata-mixed-case": Case("names", _name("x.MetaData"), UNSAFE),
    "receipt-trailing-space": Case("names", _name("x.sftpreceipt "), UNSAFE),
    "metadata-nbsp": Case("names", _name("x.metadata\u00a0"), UNSAFE),
    "percent-encoded": Case("names", _name("%2e%2e%2fx.csv"), ErrorCode.FILE_MISSING),
    "folder-name": Case("names", _name("IN"), ErrorCode.FILE_MISSING),
    "sender-traversal": Case("names", _sender("../HERNING_LIS01"), ErrorCode.SENDER_NOT_UPLOADER),
    "sender-other-user": Case("names", _sender(HERNING), ErrorCode.SENDER_NOT_UPLOADER),
    "control-char-reference": Case("names", _name("a&#x7;b.csv"), ErrorCode.XML_MALFORMED),
    # ------------------------------------------------------------------ sizes
    "size-max-int64": Case("sizes", _size(str(2**63 - 1)), ErrorCode.FILE_SIZE_MISMATCH),
    "size-2-63": Case("sizes", _size(str(2**63)), ErrorCode.FILE_SIZE_MISMATCH),
    "size-max-unsigned-long": Case("sizes", _size(str(2**64 - 1)), ErrorCode.FILE_SIZE_MISMATCH),
    "size-2-64": Case("sizes", _size(str(2**64)), SCHEMA),
    "size-negative": Case("sizes", _size("-1"), SCHEMA),
    "size-decimal": Case("sizes", _size("8.0"), SCHEMA),
    "size-exponent": Case("sizes", _size("8e0"), SCHEMA),
    "size-empty": Case("sizes", _size(""), SCHEMA),
    "size-hex": Case("sizes", _size("0x8"), SCHEMA),
    "size-one-more": Case("sizes", _size(str(len(DATA) + 1)), ErrorCode.FILE_SIZE_MISMATCH),
    "size-zero": Case("sizes", _size("0"), ErrorCode.FILE_SIZE_MISMATCH),
    "size-40-digits": Case("sizes", _size("9" * 40), SCHEMA),
    # ------------------------------------------------------------------ documents
    "billion-laughs": Case("documents", LAUGHS, ErrorCode.XML_UNSAFE),
    "external-dtd": Case(
        "documents",
        b'<!DOCTYPE t SYSTEM "http://127.0.0.1:9/x.dtd"><ns:Trigger xmlns:ns="' + NS + b'"/>',
        ErrorCode.XML_UNSAFE,
    ),
    "processing-instruction": Case(
        "documents", _valid().replace(b"?>", b"?><?evil x?>", 1), ErrorCode.XML_UNSAFE
    ),
    "deep-nesting": Case("documents", _nested(5000), ErrorCode.XML_MALFORMED),
    "wrong-namespace": Case("documents", _valid().replace(NS, b"urn:other"), ErrorCode.XML_WRONG_DOCUMENT),
    "utf-16": Case(
        "documents",
        _valid().replace(b'encoding="UTF-8"', b'encoding="UTF-16"').decode().encode("utf-16"),
        ErrorCode.XML_NOT_UTF8,
    ),
    "latin-1-declared": Case(
        "documents", _valid().replace(b'encoding="UTF-8"', b'encoding="ISO-8859-1"'), ErrorCode.XML_NOT_UTF8
    ),
    "not-xml": Case("documents", b"\x00\x01\x02binary", ErrorCode.XML_NOT_UTF8),
    "not-xml-ascii": Case("documents", b"kommunekode;antal\n0756;12\n", ErrorCode.XML_MALFORMED),
    "empty": Case("documents", b"", ErrorCode.XML_MALFORMED),
    "exactly-too-large": Case("documents", b" " * (64 * 1024 + 1), ErrorCode.XML_TOO_LARGE),
    "duplicate-descriptor": Case(
        "documents",
        _valid().replace(b"</FileDescriptor>", b"</FileDescriptor><FileDescriptor/>", 1),
        SCHEMA,
    ),
}


@pytest.fixture
def router(config: PlatformConfig, home: PlatformHome) -> Router:
    return Router(config, home, Journal(home.journal), AuditLog(home.audit_log))


@pytest.mark.parametrize("name", sorted(CASES))
def test_hostile_trigger_ends_in_one_error_receipt(name: str, router: Router, home: PlatformHome) -> None:
    case = CASES[name]
    out = home.folder(SENDER, OUT)
    (out / NAME).write_bytes(DATA)
    (out / TRIGGER).write_bytes(case.trigger)
    assert router.claim(SENDER, TRIGGER)
    record = router.process(SENDER, TRIGGER)
    assert record is not None and record.outcome == "failure"
    receipts = os.listdir(home.folder(SENDER, IN))
    assert receipts == [record.receipt_name], receipts
    receipt = read_receipt((home.folder(SENDER, IN) / record.receipt_name).read_bytes())
    codes = [error.code for error in receipt.errors]
    assert int(case.code) in codes, (codes, [e.description for e in receipt.errors])
    for recipient in (IKAST, IKAST2, HERNING):
        assert os.listdir(home.folder(recipient, IN)) == []
    assert os.listdir(out) == [NAME] and (out / NAME).read_bytes() == DATA
    assert not router.is_locked(SENDER, TRIGGER) and not router.is_locked(SENDER, NAME)
    assert router.journal.count() == router.journal.count(DONE) == 1


def _symlink(out: Path, home: PlatformHome) -> None:
    (home.folder(IKAST, IN) / "theirs.csv").write_bytes(DATA)
    os.symlink(home.folder(IKAST, IN) / "theirs.csv", out / NAME)


def _hard_link(out: Path, home: PlatformHome) -> None:
    (out / "other.csv").write_bytes(DATA)
    os.link(out / "other.csv", out / NAME)


def _fifo(out: Path, home: PlatformHome) -> None:
    os.mkfifo(out / NAME)


def _folder(out: Path, home: PlatformHome) -> None:
    (out / NAME).mkdir()


#: Data files that are not one regular file with one name (the SFTP server cannot make them; an operator
#: or a compromised host could): refused before anything is linked.
NOT_ONE_FILE: dict[str, tuple[Callable[[Path, PlatformHome], None], ErrorCode]] = {
    "symlink-to-another-users-file": (_symlink, ErrorCode.FILE_NOT_REGULAR),
    "hard-link-with-a-second-name": (_hard_link, ErrorCode.FILE_HAS_LINKS),
    "fifo": (_fifo, ErrorCode.FILE_NOT_REGULAR),
    "folder": (_folder, ErrorCode.FILE_NOT_REGULAR),
}


@pytest.mark.parametrize("name", sorted(NOT_ONE_FILE))
def test_a_data_file_that_is_not_one_regular_file_is_refused(
    name: str, router: Router, home: PlatformHome
) -> None:
    make, code = NOT_ONE_FILE[name]
    out = home.folder(SENDER, OUT)
    make(out, home)
    (out / TRIGGER).write_bytes(_valid())
    assert router.claim(SENDER, TRIGGER)
    record = router.process(SENDER, TRIGGER)
    assert record is not None and record.error_codes == [int(code)]
    for recipient in (IKAST, IKAST2):
        assert [n for n in os.listdir(home.folder(recipient, IN)) if n != "theirs.csv"] == []
