"""The period of an extract: a month, its text, its neighbours and its ``M<mm>`` code."""

from __future__ import annotations

from datetime import datetime

import pytest
from sf1630.protocol import DataFileName, Period


def test_period_text_and_neighbours() -> None:
    assert str(Period.parse("2026-01")) == "2026-01"
    assert Period(2026, 1).previous() == Period(2025, 12)
    assert Period(2026, 12).next() == Period(2027, 1)
    assert Period(2026, 2).code == "M02"
    assert Period.of(datetime(2026, 10, 31, 23, 59)) == Period(2026, 10)
    with pytest.raises(ValueError, match="must be YYYY-MM"):
        Period.parse("2026-13")


def test_period_of_a_december_file_made_in_january() -> None:
    name = DataFileName.parse("KY_LIS_10100000_M12_20270101000000.csv")
    assert name.month == Period(2026, 12)
