"""The one safety check for outside names, the SF1630 data file name convention, and authority URNs."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sf1630.protocol import (
    DataFileName,
    InvalidFileName,
    InvalidValue,
    ProtocolError,
    UnsafeFileName,
    check_safe_name,
    cvr_number,
    cvr_urn,
)

# ------------------------------------------------------------------------------------------ check_safe_name


@pytest.mark.parametrize(
    "name",
    [
        "KY_LIS_11111111_M03_20180402134858.csv",
        "KY_LIS_11111111_M03_20180402134858.csv.sftpreceipt",
        "KY_LIS_11111111_M03_20180402134858.csv.metadata",
        "Ærø kommune – udtræk.csv",
        "a",
        "...csv",
        ".hidden",
        "trigger",
        "x.trigger.bak",
        "ROUTING_V1_0_0",
        "a" * 255,
        "æ" * 127,
    ],
)
def test_safe_names_pass_unchanged(name: str) -> None:
    assert check_safe_name(name) is name


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("", "empty"),
        (".", "refers to a folder"),
        ("..", "refers to a folder"),
        ("../x", "path separator"),
        ("/etc/passwd", "path separator"),
        ("a/b", "path separator"),
        ("a\\b", "path separator"),
        ("..\\..\\windows", "path separator"),
        ("a\x00b", "control character"),
        ("a\nb", "control character"),
        ("a\rb", "control character"),
        ("a\tb", "control character"),
        ("a\x1bb", "control character"),
        ("a\x7fb", "control character"),
        ("a\x85b", "control character"),
        ("a\u2028b", "control character"),
        ("．．／x", "NFKC"),
        ("．．", "NFKC"),
        ("a／b", "NFKC"),
        ("ﬁle.csv", "NFKC"),
        ("A\u030a.csv", "NFKC"),  # "A" + combining ring composes to "Å" under NFKC
        ("a" * 256, "255 UTF-8 bytes"),
        ("æ" * 128, "255 UTF-8 bytes"),
        ("x.trigger", ".trigger"),
        ("x.TRIGGER", ".trigger"),
        ("KY_LIS_11111111_M03_20180402134858.csv.Trigger", ".trigger"),
        (".trigger", ".trigger"),
    ],
)
def test_unsafe_names_are_refused(name: str, why: str) -> None:
    with pytest.raises(UnsafeFileName, match=why.replace(".", r"\.")) as caught:
        check_safe_name(name)
    assert caught.value.reason == "unsafe-name"
    assert isinstance(caught.value, ValueError)
    assert isinstance(caught.value, ProtocolError)


def test_surrogates_from_undecodable_listings_are_refused() -> None:
    with pytest.raises(UnsafeFileName, match="control character"):
        check_safe_name(b"a\xffb.csv".decode("utf-8", "surrogateescape"))


def test_non_string_is_refused() -> None:
    with pytest.raises(UnsafeFileName):
        check_safe_name(None)  # type: ignore[arg-type]


# --------------------------------------------------------------------------------------------- DataFileName


EXAMPLE = "KY_LIS_11111111_M03_20180402134858.csv"


def test_parses_the_integration_description_example() -> None:
    name = DataFileName.parse(EXAMPLE)
    assert name == DataFileName("KY", "LIS", "11111111", "M03", datetime(2018, 4, 2, 13, 48, 58))
    assert str(name) == EXAMPLE


def test_builds_names_and_related_file_names() -> None:
    name = DataFileName("KSD", "FLIS", "29189129", "M12", datetime(2026, 12, 31, 23, 59, 59))
    assert str(name) == "KSD_FLIS_29189129_M12_20261231235959.csv"
    assert name.trigger_name == "KSD_FLIS_29189129_M12_20261231235959.csv.trigger"
    assert name.receipt_name == "KSD_FLIS_29189129_M12_20261231235959.csv.sftpreceipt"
    assert name.metadata_name == "KSD_FLIS_29189129_M12_20261231235959.csv.metadata"
    assert DataFileName.parse(str(name)) == name


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("KY_LIS_11111111_M03.csv", "does not follow"),
        ("KY_LIS_11111111_M03_20180402134858_extra.csv", "does not follow"),
        ("KY_LIS_11111111_M03_20180402134858.CSV", "does not follow"),
        ("KY_LIS_11111111_M03_20180402134858.txt", "does not follow"),
        ("KY_LIS_11111111_M03_20180402134858", "does not follow"),
        ("KY__11111111_M03_20180402134858.csv", "does not follow"),
        ("KY_LIS_1111111_M03_20180402134858.csv", "8-digit CVR"),
        ("KY_LIS_1111111a_M03_20180402134858.csv", "8-digit CVR"),
        ("KY_LIS_11111111_M13_20180402134858.csv", "M01..M12"),
        ("KY_LIS_11111111_M00_20180402134858.csv", "M01..M12"),
        ("KY_LIS_11111111_M3_20180402134858.csv", "M01..M12"),
        ("KY_LIS_11111111_Q1_20180402134858.csv", "M01..M12"),
        ("KY_LIS_11111111_M03_2018040213485.csv", "YYYYMMDDhhmmss"),
        ("KY_LIS_11111111_M03_2018-04-02T1348.csv", "YYYYMMDDhhmmss"),
        ("KY_LIS_11111111_M03_20180230134858.csv", "not a real date"),
        ("KY_LIS_11111111_M03_20180402250000.csv", "not a real date"),
        ("K-Y_LIS_11111111_M03_20180402134858.csv", "letters and digits"),
        ("KY_L.S_11111111_M03_20180402134858.csv", "letters and digits"),
    ],
)
def test_parse_rejects_names_off_the_convention(name: str, why: str) -> None:
    with pytest.raises(InvalidFileName, match=why.replace(".", r"\.")) as caught:
        DataFileName.parse(name)
    assert caught.value.reason == "bad-name"
    assert isinstance(caught.value, ValueError)


@pytest.mark.parametrize(
    "name", ["../KY_LIS_11111111_M03_20180402134858.csv", f"{EXAMPLE}\x00", f"{EXAMPLE}.trigger"]
)
def test_parse_checks_safety_first(name: str) -> None:
    with pytest.raises(UnsafeFileName):
        DataFileName.parse(name)


@pytest.mark.parametrize(
    ("changes", "why"),
    [
        ({"sender": "K_Y"}, "letters and digits"),
        ({"recipient": ""}, "letters and digits"),
        ({"authority": "1234"}, "8-digit CVR"),
        ({"period": "M3"}, "M01..M12"),
        ({"created": datetime(2026, 1, 1, tzinfo=UTC)}, "naive"),
        ({"created": datetime(2026, 1, 1, 0, 0, 0, 1)}, "second precision"),
    ],
)
def test_build_rejects_bad_parts(changes: dict[str, object], why: str) -> None:
    parts: dict[str, object] = {
        "sender": "KY",
        "recipient": "LIS",
        "authority": "11111111",
        "period": "M03",
        "created": datetime(2018, 4, 2, 13, 48, 58),
    }
    parts.update(changes)
    with pytest.raises(InvalidFileName, match=why.replace(".", r"\.")):
        DataFileName(**parts)  # type: ignore[arg-type]


# --------------------------------------------------------------------------------------------------- cvr_urn


@pytest.mark.parametrize(
    ("value", "urn"),
    [
        ("12345678", "urn:oio:cvr-nr:12345678"),
        ("urn:oio:cvr-nr:12345678", "urn:oio:cvr-nr:12345678"),
        (" 29189129\n", "urn:oio:cvr-nr:29189129"),
        ("00000000", "urn:oio:cvr-nr:00000000"),
    ],
)
def test_cvr_urn_accepts_number_or_urn(value: str, urn: str) -> None:
    assert cvr_urn(value) == urn
    assert cvr_number(value) == urn.rsplit(":", 1)[1]


@pytest.mark.parametrize(
    "value",
    [
        "",
        "1234567",
        "123456789",
        "1234567a",
        "12 345 678",
        "urn:oio:cvr-nr:1234567",
        "urn:oio:cvr-nr:123456789",
        "URN:OIO:CVR-NR:12345678",
        "urn:oio:cvr:12345678",
        "DK12345678",
        "１２３４５６７８",
    ],
)
def test_cvr_urn_rejects_anything_else(value: str) -> None:
    with pytest.raises(InvalidValue) as caught:
        cvr_urn(value)
    assert caught.value.reason == "bad-value"
    assert isinstance(caught.value, ProtocolError)
    assert str(caught.value).startswith("bad-value: ")
