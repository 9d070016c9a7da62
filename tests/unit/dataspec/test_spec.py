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


#: (case, spec text, line, "entry: problem" as the message starts after ``FILE:LINE: ``)
BROKEN = [
    (
        "unknown key",
        MINIMAL.replace("    min: 0\n", "    min: 0\n    maxlen: 3\n"),
        27,
        "columns[3].maxlen: unknown key",
    ),
    (
        "missing key",
        MINIMAL.replace("    description: case\n", ""),
        18,
        "columns[2].description: missing key",
    ),
    (
        "bad type",
        MINIMAL.replace("type: decimal", "type: money"),
        23,
        "columns[3].type: unknown type 'money'",
    ),
    (
        "min above max",
        MINIMAL.replace("min: 0", "min: 500"),
        26,
        "columns[3].min: min 500 is greater than max 100",
    ),
    (
        "bad pattern",
        MINIMAL.replace('"[0-9]{8}"', '"[0-9"'),
        12,
        "columns[0].pattern: pattern '[0-9' does not compile",
    ),
    (
        "key names missing column",
        MINIMAL.replace("[sag]", "[sagid]"),
        7,
        "primary_key[0]: no column called 'sagid'",
    ),
    ("unknown top key", MINIMAL + "colour: red\n", 29, "colour: unknown key"),
    (
        "pattern on integer",
        MINIMAL.replace("type: decimal\n    precision: 10\n    scale: 2", 'type: integer\n    pattern: "1"'),
        24,
        "columns[3].pattern: pattern applies to string columns only",
    ),
    ("bad sender", MINIMAL.replace("sender: KY", "sender: XX"), 1, "extract.sender: 'XX' is not one of"),
    (
        "column twice",
        MINIMAL.replace("name: sag", "name: periode"),
        18,
        "columns[2].name: column 'periode' is defined more than once",
    ),
    (
        "scale above precision",
        MINIMAL.replace("scale: 2", "scale: 12"),
        25,
        "columns[3].scale: scale must be ≤",
    ),
    (
        "bound on a string",
        MINIMAL.replace("description: period", "min: 1\n    description: period"),
        17,
        "columns[1].min: min applies to numeric columns only",
    ),
    (
        "bound finer than scale",
        MINIMAL.replace("max: 100", "max: 100.125"),
        27,
        "columns[3].max: 100.125 is not a",
    ),
    (
        "allowed value outside the bounds",
        MINIMAL.replace("max: 100\n", "max: 100\n    allowed: [1, 200]\n"),
        28,
        "columns[3].allowed[1]: allowed value 200 is outside min/max",
    ),
    (
        "kommune column not required",
        MINIMAL.replace("required: true\n    pattern", "required: false\n    pattern"),
        5,
        "kommune_column: column 'cvr' must be a required string",
    ),
    (
        "load",
        MINIMAL.replace("load: snapshot", "load: weekly"),
        4,
        "load: Input should be 'snapshot' or 'append'",
    ),
    (
        "separator",
        MINIMAL.replace('separator: ";"', 'separator: ";;"'),
        3,
        "file.separator: must be exactly one",
    ),
    (
        "no header",
        MINIMAL.replace('separator: ";"', "header: false"),
        3,
        "file.header: files without a header",
    ),
    (
        "rule across types",
        MINIMAL + "rules:\n  - {column: beloeb, ge: sag}\n",
        30,
        "rules[0]: 'beloeb' and 'sag' must share a numeric, date or timestamp type",
    ),
    (
        "rule on no column",
        MINIMAL + "rules:\n  - {column: beloeb, gt: nope}\n",
        30,
        "rules[0].gt: no column called",
    ),
    (
        "rule with two",
        MINIMAL + "rules:\n  - {column: beloeb, gt: a, ge: b}\n",
        30,
        "rules[0]: give exactly one",
    ),
    (
        "row counts crossed",
        MINIMAL + "row_count: {min: 5, max: 2}\n",
        29,
        "row_count.min: min 5 is greater than max 2",
    ),
]


@pytest.mark.parametrize(("case", "text", "line", "problem"), BROKEN, ids=[b[0] for b in BROKEN])
def test_broken_spec_names_file_line_entry_and_problem(
    tmp_path: Path, case: str, text: str, line: int, problem: str
) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_spec_file(path)
    message = str(info.value)
    assert message.startswith(f"{path}:{line}: {problem}"), message


def test_the_dialect_key_null_is_read_as_its_name(tmp_path: Path) -> None:
    """YAML reads a bare ``null:`` key as no value; the dialect takes it as the key ``null``."""
    path = tmp_path / "mini.yaml"
    path.write_text(MINIMAL.replace('  separator: ";"', '  separator: ";"\n  null: "NA"'), encoding="utf-8")
    assert load_spec_file(path).dialect.null == "NA"


def test_unknown_spec_name() -> None:
    with pytest.raises(ConfigError, match="no spec called"):
        load_spec("nope")
