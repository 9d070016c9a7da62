"""Spec loading: the shipped specs load, and malformed specs are refused with file:line and the problem."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from sf1630.config import ConfigError
from sf1630.dataspec import list_specs, load_spec, load_spec_file

SPEC_DIR = Path(__file__).resolve().parents[3] / "include" / "dataspecs"

MINIMAL = """\
extract: {sender: KY, recipient: LIS, title: t, version: "1"}
file:
  separator: ";"
load: snapshot
kommune_column: cvr
period_column: periode
primary_key: [sag]
columns:
  - name: cvr
    type: string
    required: true
    pattern: "[0-9]{8}"
    description: kommune
  - name: periode
    type: string
    required: true
    description: period
  - name: sag
    type: string
    required: true
    description: case
  - name: beloeb
    type: decimal
    precision: 10
    scale: 2
    min: 0
    max: 100
    description: amount
"""


def test_shipped_specs_load() -> None:
    assert list_specs() == ["aula", "dubu", "kp", "ksd", "ky"]
    for name in list_specs():
        spec = load_spec(name)
        assert spec.extract.recipient == "LIS"
        assert "illustrative" in spec.path.read_text(encoding="utf-8").lower()
        assert spec.kommune_column in spec.column_names


def test_no_cpr_like_values_in_specs() -> None:
    cpr = re.compile(r"\b[0-3][0-9][01][0-9]{3}-?[0-9]{4}\b")
    for path in SPEC_DIR.glob("*.yaml"):
        assert not cpr.search(path.read_text(encoding="utf-8")), path


def test_minimal_spec_loads(tmp_path: Path) -> None:
    path = tmp_path / "mini.yaml"
    path.write_text(MINIMAL, encoding="utf-8")
    spec = load_spec_file(path)
    assert spec.column_names == ["cvr", "periode", "sag", "beloeb"]
    assert spec.warehouse_table == "lis_mini"


BROKEN = [
    (
        "unknown key",
        MINIMAL.replace("    min: 0\n", "    min: 0\n    maxlen: 3\n"),
        27,
        "column 'beloeb': unknown key 'maxlen'",
    ),
    ("bad type", MINIMAL.replace("type: decimal", "type: money"), 23, "unknown type 'money'"),
    ("min above max", MINIMAL.replace("min: 0", "min: 500"), 26, "min 500 is greater than max 100"),
    ("bad pattern", MINIMAL.replace('"[0-9]{8}"', '"[0-9"'), 12, "does not compile"),
    ("key names missing column", MINIMAL.replace("[sag]", "[sagid]"), 7, "no column called 'sagid'"),
    ("unknown top key", MINIMAL + "colour: red\n", 29, "unknown key 'colour'"),
    (
        "pattern on integer",
        MINIMAL.replace("type: decimal\n    precision: 10\n    scale: 2", 'type: integer\n    pattern: "1"'),
        24,
        "pattern applies to string columns only",
    ),
    ("bad sender", MINIMAL.replace("sender: KY", "sender: XX"), 1, "'XX' is not one of"),
]


@pytest.mark.parametrize(("case", "text", "line", "problem"), BROKEN, ids=[b[0] for b in BROKEN])
def test_broken_spec_names_file_line_and_problem(
    tmp_path: Path, case: str, text: str, line: int, problem: str
) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_spec_file(path)
    message = str(info.value)
    assert message.startswith(f"{path}:{line}: "), message
    assert problem in message


def test_unknown_spec_name() -> None:
    with pytest.raises(ConfigError, match="no spec called"):
        load_spec("nope")
