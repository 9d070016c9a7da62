"""Data file names may not end in a suffix of the platform's own files, nor hide invisible characters.

Issue 11 item 4: a data file named ``<x>.metadata`` or ``<x>.sftpreceipt`` was delivered and read as a
document the platform wrote. Every spelling a tool might treat as that suffix is refused.
"""

from __future__ import annotations

import pytest
from sf1630.protocol import UnsafeFileName, check_data_file_name, check_safe_name
from sf1630.protocol.names import reserved_suffix

RESERVED = [
    "x.metadata",
    "x.sftpreceipt",
    "x.trigger",
    "x.METADATA",
    "x.SftpReceipt",
    "x.metadata.",
    "x.metadata ",
    "x.metadata. . ",
    "x.sftpreceipt\u00a0",
    "x.sftpreceipt\u3000",
    "KY_LIS_11111111_M03_20180402134858.csv.metadata",
]


@pytest.mark.parametrize("name", RESERVED)
def test_reserved_suffixes_are_refused_for_data_files(name: str) -> None:
    assert reserved_suffix(name) is not None
    with pytest.raises(UnsafeFileName):
        check_data_file_name(name)


@pytest.mark.parametrize("name", ["x.metadata\u200b", "x.metadata\ufeff", "KY\u202evsc.exe", "a\u2060b"])
def test_invisible_format_characters_are_refused_everywhere(name: str) -> None:
    with pytest.raises(UnsafeFileName, match="invisible"):
        check_safe_name(name)


@pytest.mark.parametrize(
    "name", ["KY_LIS_11111111_M03_20180402134858.csv", "metadata.csv", "x.metadata.csv", "x.sftpreceipts"]
)
def test_ordinary_names_pass(name: str) -> None:
    assert reserved_suffix(name) is None
    assert check_data_file_name(name) == name


def test_the_platforms_own_names_still_pass_the_general_check() -> None:
    """Receipts and metadata files themselves are served to users, so only data file names are limited."""
    assert check_safe_name("x.csv.sftpreceipt") == "x.csv.sftpreceipt"
    assert check_safe_name("x.csv.metadata") == "x.csv.metadata"
