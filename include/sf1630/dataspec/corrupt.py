"""The corruptor: turns a valid synthetic frame into each class of bad file a LIS must refuse.

Each class names the check that must catch it, so tests can assert *why* a file was rejected, not merely that
it was; a validator that rejects everything for the wrong reason would otherwise look perfect.
"""

from __future__ import annotations

import codecs
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

import polars as pl

from sf1630.dataspec.schema import csv_text
from sf1630.dataspec.spec import Column, DataSpec


class CorruptionError(ValueError):
    """The spec has no column that the corruption class could be applied to."""


@dataclass(frozen=True)
class Corruption:
    """One class of bad file: how to make it and which check (expectation or parse step) catches it."""

    name: str
    caught_by: str
    make: Callable[[pl.DataFrame, DataSpec], bytes]


def _text(frame: pl.DataFrame, spec: DataSpec) -> str:
    return csv_text(frame, spec)


def _encoded(frame: pl.DataFrame, spec: DataSpec) -> bytes:
    return _text(frame, spec).encode("utf-8")


def _set_text(frame: pl.DataFrame, spec: DataSpec, column: str, value: str | None, row: int = 0) -> bytes:
    """Serialise, then overwrite one cell's text (so the value need not be of the column's type)."""
    lines = _text(frame, spec).split("\n")
    header = lines[0].split(spec.dialect.separator)
    fields = lines[row + 1].split(spec.dialect.separator)
    fields[header.index(column)] = value or spec.dialect.null
    lines[row + 1] = spec.dialect.separator.join(fields)
    return "\n".join(lines).encode("utf-8")


def _pick(spec: DataSpec, test: Callable[[Column], bool], what: str) -> Column:
    placement = {spec.kommune_column, spec.period_column}
    for column in spec.columns:
        if column.name not in placement and test(column):
            return column
    raise CorruptionError(f"spec {spec.name} has no {what}")


def _wrong_type(frame: pl.DataFrame, spec: DataSpec) -> bytes:
    column = _pick(spec, lambda c: c.type in ("integer", "decimal", "date"), "typed column")
    return _set_text(frame, spec, column.name, "ikke-et-tal")


def _null_required(frame: pl.DataFrame, spec: DataSpec) -> bytes:
    key = set(spec.primary_key) | {n for r in spec.rules for n in (r.column, r.other)}
    column = _pick(spec, lambda c: c.required and c.name not in key and c.type == "string", "required column")
    return _set_text(frame, spec, column.name, None, row=1)


def _duplicate_key(frame: pl.DataFrame, spec: DataSpec) -> bytes:
    second_row = pl.int_range(pl.len()) == 1
    copied = frame.with_columns(
        pl.when(second_row).then(pl.lit(frame[c][0], dtype=frame[c].dtype)).otherwise(pl.col(c)).alias(c)
        for c in spec.primary_key
    )
    return _encoded(copied, spec)


def _outside_set(frame: pl.DataFrame, spec: DataSpec) -> bytes:
    column = _pick(spec, lambda c: c.allowed is not None and c.type == "string", "column with a value set")
    return _set_text(frame, spec, column.name, "UKENDT")


def _pattern(frame: pl.DataFrame, spec: DataSpec) -> bytes:
    column = _pick(
        spec, lambda c: c.pattern is not None and c.name not in spec.primary_key, "patterned column"
    )
    return _set_text(frame, spec, column.name, "XYZ")


def _out_of_range(frame: pl.DataFrame, spec: DataSpec) -> bytes:
    column = _pick(spec, lambda c: c.max is not None, "column with a maximum")
    above = Decimal(column.max or 0) + 1
    text = str(above).replace(".", spec.dialect.decimal)
    return _set_text(frame, spec, column.name, text)


def _missing_column(frame: pl.DataFrame, spec: DataSpec) -> bytes:
    column = _pick(spec, lambda c: True, "column to drop")
    return _encoded_columns(frame, spec, [n for n in spec.column_names if n != column.name])


def _extra_column(frame: pl.DataFrame, spec: DataSpec) -> bytes:
    return _encoded_columns(frame, spec, [*spec.column_names, "ekstra_kolonne"])


def _reordered(frame: pl.DataFrame, spec: DataSpec) -> bytes:
    names = spec.column_names
    return _encoded_columns(frame, spec, [names[1], names[0], *names[2:]])


def _encoded_columns(frame: pl.DataFrame, spec: DataSpec, order: list[str]) -> bytes:
    """Re-arrange the serialised fields (synthetic values never contain the separator or quotes)."""
    d = spec.dialect
    lines = _text(frame.select(spec.column_names), spec).split("\n")
    index = {n: i for i, n in enumerate(spec.column_names)}
    out = []
    for number, line in enumerate(line for line in lines if line):
        fields = line.split(d.separator)
        filler = "ekstra_kolonne" if number == 0 else "x"
        out.append(d.separator.join(fields[index[n]] if n in index else filler for n in order))
    return ("\n".join(out) + "\n").encode("utf-8")


def _wrong_separator(frame: pl.DataFrame, spec: DataSpec) -> bytes:
    other = "," if spec.dialect.separator != "," else ";"
    return csv_text(frame, spec).replace(spec.dialect.separator, other).encode("utf-8")


def _windows_1252(frame: pl.DataFrame, spec: DataSpec) -> bytes:
    free_text = _pick(
        spec, lambda c: c.type == "string" and c.pattern is None and c.allowed is None, "free text"
    )
    return _set_text(frame, spec, free_text.name, "Sagsbehandler Ærø").decode("utf-8").encode("windows-1252")


def _ragged(frame: pl.DataFrame, spec: DataSpec) -> bytes:
    lines = _text(frame, spec).split("\n")
    lines[2] = lines[2].rsplit(spec.dialect.separator, 1)[0]
    return "\n".join(lines).encode("utf-8")


def _empty(frame: pl.DataFrame, spec: DataSpec) -> bytes:
    return b""


def _header_only(frame: pl.DataFrame, spec: DataSpec) -> bytes:
    return _encoded(frame.head(0), spec)


def _bom(frame: pl.DataFrame, spec: DataSpec) -> bytes:
    return codecs.BOM_UTF8 + _encoded(frame, spec)


CORRUPTIONS: dict[str, Corruption] = {
    c.name: c
    for c in (
        Corruption("wrong_type", "expect_column_values_to_be_of_type", _wrong_type),
        Corruption("null_in_required", "expect_column_values_to_not_be_null", _null_required),
        Corruption("duplicate_key", "key", _duplicate_key),
        Corruption("outside_value_set", "expect_column_values_to_be_in_set", _outside_set),
        Corruption("pattern_mismatch", "expect_column_values_to_match_regex", _pattern),
        Corruption("out_of_range", "expect_column_values_to_be_between", _out_of_range),
        Corruption("missing_column", "expect_table_columns_to_match_set", _missing_column),
        Corruption("extra_column", "expect_table_columns_to_match_set", _extra_column),
        Corruption("reordered_columns", "expect_table_columns_to_match_ordered_list", _reordered),
        Corruption("wrong_separator", "parse.separator", _wrong_separator),
        Corruption("windows_1252", "parse.encoding", _windows_1252),
        Corruption("ragged_rows", "parse.rows", _ragged),
        Corruption("empty_file", "parse.empty", _empty),
        Corruption("header_only", "expect_table_row_count_to_be_between", _header_only),
        Corruption("byte_order_mark", "parse.bom", _bom),
    )
}


def key_expectation(spec: DataSpec) -> str:
    """The expectation that catches a duplicate primary key for this spec."""
    if len(spec.primary_key) == 1:
        return "expect_column_values_to_be_unique"
    return "expect_compound_columns_to_be_unique"


def corrupt(frame: pl.DataFrame, spec: DataSpec, kind: str) -> bytes:
    """The bytes of a file of class ``kind`` made from the valid frame ``frame`` (needs ≥ 3 rows)."""
    if frame.height < 3:
        raise CorruptionError("the corruptor needs a frame of at least 3 rows")
    return CORRUPTIONS[kind].make(frame, spec)


def caught_by(spec: DataSpec, kind: str) -> str:
    """Name of the check that must reject a file of class ``kind``."""
    name = CORRUPTIONS[kind].caught_by
    return key_expectation(spec) if name == "key" else name
