"""The error-code table is stable data, and the documentation shows exactly the same table."""

from __future__ import annotations

from pathlib import Path

import pytest
from sf1630.platform.errorcodes import ERROR_TABLE, ErrorCode, markdown_table, receipt_error

REPO = Path(__file__).resolve().parents[3]


def test_every_code_has_one_entry_in_its_group() -> None:
    assert [entry.code for entry in ERROR_TABLE] == list(ErrorCode)
    groups: dict[int, tuple[str, ...]] = {
        1: ("XML_",),
        2: ("SENDER_",),
        3: ("FILE_",),
        4: ("INF_REF_", "NO_ROUTE", "NO_ROUTING_", "SIMPLE_", "ROUTING_"),
        5: ("RECIPIENT_", "DELIVERY_", "INTERNAL_"),
    }
    for code in ErrorCode:
        assert code.name.startswith(groups[code // 100]), code


def test_published_codes_keep_their_numbers() -> None:
    assert int(ErrorCode.XML_UNSAFE) == 101
    assert int(ErrorCode.SENDER_NOT_UPLOADER) == 200
    assert int(ErrorCode.FILE_SIZE_MISMATCH) == 302
    assert int(ErrorCode.NO_ROUTE) == 401
    assert int(ErrorCode.RECIPIENT_HOLDS_FILE) == 500
    assert int(ErrorCode.NO_ROUTING_INFO) == 402  # retired, never reused
    simple = [ErrorCode.SIMPLE_RECIPIENT_UNKNOWN, ErrorCode.SIMPLE_RECIPIENT_NOT_PERMITTED]
    marker = [ErrorCode.ROUTING_MARKER_MIXED, ErrorCode.ROUTING_MARKER_WITHOUT_INFO]
    assert [int(code) for code in [*simple, *marker, ErrorCode.ROUTING_INFO_WITHOUT_MARKER]] == [
        403,
        404,
        405,
        406,
        407,
    ]


@pytest.mark.parametrize("document", ["docs/emulator.md", "README.md"])
def test_documentation_table_equals_the_code_table(document: str) -> None:
    text = (REPO / document).read_text(encoding="utf-8")
    start = text.index("| Code |")
    end = text.find("\n\n", start)
    assert text[start : end if end != -1 else None].strip() == markdown_table()


def test_receipt_error_uses_the_fixed_description() -> None:
    error = receipt_error(ErrorCode.NO_ROUTE, "detail")
    assert (error.code, error.code_description, error.description) == (401, "No route matches", "detail")
