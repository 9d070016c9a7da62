"""Kommune and period from the file name, else from the data's first row; a clear reason when neither."""

from __future__ import annotations

import pytest
from sf1630.dataspec import load_spec
from sf1630.protocol import Period
from sf1630.receiver.claims import FROM_DATA, FROM_NAME, Unclaimed, from_data, from_name

KY = load_spec("ky")
AULA = load_spec("aula")
KY_HEADER = ";".join(column.name for column in KY.columns)
AULA_HEADER = ";".join(column.name for column in AULA.columns)


def _ky(cvr: str = "65700000", period: str = "2019-01") -> bytes:
    row = [cvr, period, "KY0000000001", "0123456789ABCDEF", "a" * 32, "KONTANTHJAELP", "1234", "AKTIV"]
    row += ["2019-01-01", "", "100,00", "31", "N", "", "2019-01-02T10:00:00"]
    return f"{KY_HEADER}\r\n{';'.join(row)}\r\n".encode()


def test_a_name_following_the_pattern_gives_both() -> None:
    claimed = from_name("KY_LIS_65700000_M03_20190402134858.csv")
    assert claimed is not None
    assert (claimed.sender, claimed.authority, claimed.month, claimed.source) == (
        "KY",
        "65700000",
        Period(2019, 3),
        FROM_NAME,
    )


@pytest.mark.parametrize(
    "name",
    [
        "KY_LIS-DATA_201901.csv",
        "KY_LIS-DATA_201601.csv",
        "KY_LIS_65700000_M13_20190402134858.csv",
        "data.csv",
    ],
)
def test_other_names_give_nothing(name: str) -> None:
    assert from_name(name) is None


def test_the_descriptions_example_takes_kommune_and_period_from_the_first_row() -> None:
    claimed = from_data(_ky(), KY, "KY_LIS-DATA_201901.csv")
    assert (claimed.authority, claimed.month, claimed.source, claimed.sender) == (
        "65700000",
        Period(2019, 1),
        FROM_DATA,
        None,
    )


def test_a_date_period_column_gives_its_month() -> None:
    row = "65700000;123456;" + "b" * 32 + ";3;2019-02-14;SYG;2,0;;;2019-02-14T08:00:00"
    claimed = from_data(f"{AULA_HEADER}\n{row}\n".encode(), AULA, "AULA_FRAVAER.csv")
    assert (claimed.authority, claimed.month) == ("65700000", Period(2019, 2))


def test_a_head_cut_inside_a_character_still_reads() -> None:
    data = _ky() + "æ".encode() * 10
    assert from_data(data[:-1], KY, "x.csv").month == Period(2019, 1)


@pytest.mark.parametrize(
    ("head", "detail"),
    [
        (b"", "no data row"),
        (KY_HEADER.encode() + b"\n", "no data row"),
        (_ky().replace(b"myndighed_cvr", b"cvr"), "its header has no column 'myndighed_cvr'"),
        (_ky(cvr="6570000X"), "'myndighed_cvr' holds '6570000X', not an 8-digit CVR number"),
        (_ky(period="januar"), "'udtraeksperiode' holds 'januar', not a month"),
        (_ky(cvr="", period=""), "not an 8-digit CVR number; column 'udtraeksperiode'"),
        (b"\xff\xfe" + _ky(), "it is not utf-8"),
    ],
)
def test_neither_name_nor_data_says_why(head: bytes, detail: str) -> None:
    with pytest.raises(Unclaimed) as caught:
        from_data(head, KY, "KY_LIS-DATA_201901.csv")
    message = str(caught.value)
    assert message.startswith("'KY_LIS-DATA_201901.csv' does not follow <Afsender>_<Modtager>_")
    assert detail in message
