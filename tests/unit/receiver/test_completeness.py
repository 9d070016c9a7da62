"""What a LIS system expects each month and how the missing extracts are described."""

from __future__ import annotations

from datetime import datetime

from sf1630.protocol import DataFileName
from sf1630.receiver.completeness import (
    describe_missing,
    expected_extracts,
    missing_extracts,
    period_of,
    period_of_file,
)
from sf1630.receiver.config import LisSystem


def test_period_of_file_takes_the_year_from_the_creation_time() -> None:
    october = DataFileName.parse("KY_LIS_65700000_M10_20261101060000.csv")
    december = DataFileName.parse("KY_LIS_65700000_M12_20270103060000.csv")
    assert period_of_file(october) == "2026-10"
    assert period_of_file(december) == "2026-12"
    assert period_of(datetime(2026, 10, 1)) == "2026-10"


def test_missing_lists_each_absent_sender_with_its_contact(herning: LisSystem) -> None:
    assert expected_extracts(herning) == {(c, "65700000") for c in ("KY", "KSD", "DUBU", "AULA")}
    missing = missing_extracts(herning, {("KY", "65700000"), ("KSD", "65700000"), ("KY", "10100000")})
    assert [m.sender for m in missing] == ["DUBU", "AULA"]
    text = describe_missing(herning, "2026-10", missing)
    assert "2 extract(s) for 2026-10 not loaded" in text
    assert "DUBU for Herning (CVR 65700000): contact DUBU support <support@dubu.example>" in text
    assert "Aula drift <drift@aula.example>" in text


def test_nothing_missing_says_so(herning: LisSystem) -> None:
    loaded = expected_extracts(herning)
    assert missing_extracts(herning, loaded) == ()
    assert "all 4 extracts for 2026-10 are loaded" in describe_missing(herning, "2026-10", ())
