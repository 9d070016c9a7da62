"""The Great Expectations suite derived from a spec, built in code (GX Core, no YAML or JSON stores).

The suite is the contract: every check the project makes on a value is a GX expectation here, and GX runs
them (:mod:`sf1630.dataspec.validation`). Type checks are ``expect_column_values_to_be_of_type`` on the frame
:func:`~sf1630.dataspec.validation.gx_frame` builds, in which a column holds typed values only when every text
parsed; otherwise its unparsed texts are the expectation's unexpected values. ``sf1630 dataspec suite NAME``
writes the suite the receiver runs as GX's JSON (:func:`staging_suite_json`): the same checks for a file
staged as text in PostgreSQL (:func:`staging_configs`), where a type check is a pattern or the server's own
input and a range compares typed values.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from sf1630.database import quoted
from sf1630.dataspec.ddl import Calendar, input_match, sql_literal, typed_value
from sf1630.dataspec.report import STANDS_FOR
from sf1630.dataspec.schema import lexical_pattern
from sf1630.dataspec.spec import Column, DataSpec

if TYPE_CHECKING:
    import great_expectations as gx

#: One expectation as (GX expectation type, kwargs), the form the suite is derived in.
Expectation = tuple[str, dict[str, Any]]

#: The Python type name GX reports for each spec type's values (pyarrow-backed pandas columns).
GX_VALUE_TYPES = {
    "string": "str",
    "integer": "int",
    "decimal": "Decimal",
    "date": "date",
    "timestamp": "datetime",
    "boolean": "bool",
}


def expectation_configs(spec: DataSpec) -> list[tuple[str, dict[str, Any]]]:
    """(GX expectation type, kwargs) for every check the spec implies, table-level first then per column."""
    configs: list[tuple[str, dict[str, Any]]] = [
        ("expect_table_columns_to_match_ordered_list", {"column_list": spec.column_names}),
        ("expect_table_columns_to_match_set", {"column_set": spec.column_names, "exact_match": True}),
    ]
    if spec.min_rows is not None or spec.max_rows is not None:
        configs.append(
            ("expect_table_row_count_to_be_between", {"min_value": spec.min_rows, "max_value": spec.max_rows})
        )
    for column in spec.columns:
        configs.extend(_column_configs(column))
    if len(spec.primary_key) == 1:
        if not spec.column(spec.primary_key[0]).unique:
            configs.append(("expect_column_values_to_be_unique", {"column": spec.primary_key[0]}))
    else:
        configs.append(("expect_compound_columns_to_be_unique", {"column_list": list(spec.primary_key)}))
    for rule in spec.rules:
        configs.append(
            (
                "expect_column_pair_values_a_to_be_greater_than_b",
                {
                    "column_A": rule.column,
                    "column_B": rule.other,
                    "or_equal": rule.op == "ge",
                    "ignore_row_if": "either_value_is_missing",
                },
            )
        )
    return configs


def _column_configs(column: Column) -> list[tuple[str, dict[str, Any]]]:
    name = column.name
    out: list[tuple[str, dict[str, Any]]] = [
        ("expect_column_values_to_be_of_type", {"column": name, "type_": GX_VALUE_TYPES[column.type]})
    ]
    if column.required:
        out.append(("expect_column_values_to_not_be_null", {"column": name}))
    if column.unique:
        out.append(("expect_column_values_to_be_unique", {"column": name}))
    if column.pattern is not None:
        out.append(
            (
                "expect_column_values_to_match_regex",
                {"column": name, "regex": f"^(?:{_non_capturing(column.pattern)})$"},
            )
        )
    if column.allowed is not None:
        out.append(("expect_column_values_to_be_in_set", {"column": name, "value_set": list(column.allowed)}))
    if column.min is not None or column.max is not None:
        out.append(
            (
                "expect_column_values_to_be_between",
                {"column": name, "min_value": column.min, "max_value": column.max},
            )
        )
    if column.max_length is not None:
        out.append(
            ("expect_column_value_lengths_to_be_between", {"column": name, "max_value": column.max_length})
        )
    return out


def _non_capturing(pattern: str) -> str:
    """Groups become non-capturing: same matches, and pandas stops warning about unused match groups."""
    return re.sub(r"(?<!\\)\((?!\?)", "(?:", pattern)


def gx_context() -> Any:
    """An ephemeral GX context with analytics and progress bars off (one per process, reused)."""
    global _CONTEXT
    if _CONTEXT is None:
        os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
        import great_expectations as gx
        from great_expectations.data_context.types.base import ProgressBarsConfig

        _CONTEXT = gx.get_context(mode="ephemeral")
        _CONTEXT.variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)
    return _CONTEXT


_CONTEXT: Any = None


def build_suite(
    spec: DataSpec, *, extra: Sequence[Expectation] = (), name: str | None = None
) -> gx.ExpectationSuite:
    """The spec's ExpectationSuite (named ``sf1630.<spec>`` unless ``name``), GX expectations in config order.

    ``extra`` are appended (the receiver's "every row belongs to this delivery" for one file).
    """
    return gx_suite(name or f"sf1630.{spec.name}", [*expectation_configs(spec), *extra])


def gx_suite(name: str, configs: Sequence[Expectation]) -> gx.ExpectationSuite:
    """An ExpectationSuite of these (type, kwargs), not yet in any store.

    The expectations go to the constructor, not ``add_expectation`` one by one: on a suite whose name the
    context already knows (the previous file's), GX persists the whole suite after every single one.
    """
    import great_expectations as gx
    from great_expectations.expectations.registry import get_expectation_impl

    import sf1630.dataspec.sql_condition  # noqa: F401 -- registers the staging suite's own expectations

    gx_context()
    expectations = [get_expectation_impl(kind)(**kwargs) for kind, kwargs in configs]
    return gx.ExpectationSuite(name=name, expectations=expectations)


# --- the suite on a text staging table (PostgreSQL) ------------------------------------------------------

OF_TYPE = "expect_column_values_to_be_of_type"
MATCH_REGEX = "expect_column_values_to_match_regex"

#: The PostgreSQL range type a typed value is looked up in (one evaluation of the cast per value).
_RANGE_TYPES = {"integer": "int8range", "decimal": "numrange", "date": "daterange", "timestamp": "tsrange"}

#: A pattern of literal text around ONE character class repeated a fixed number of times (``KY[0-9]{10}``,
#: ``[0-9a-f]{32}``): PostgreSQL's regular expressions pay for every counted repetition on every value
#: (``^[0-9a-f]{32}$`` 0.98 s on a million values, ``^[0-9a-f]*$`` with a length check 0.19 s).
_ONE_RUN = re.compile(
    r"(?P<pre>[A-Za-z0-9_-]*)(?P<run>\[[^\]\\]+\]|\\d)\{(?P<n>[0-9]+)\}(?P<post>[A-Za-z0-9_-]*)"
)


def staging_configs(
    spec: DataSpec, extra: Sequence[Expectation] = (), *, calendar: Calendar = Calendar.PATTERN
) -> list[Expectation]:
    """The spec's suite for a file staged as text in PostgreSQL (plus ``extra``, the delivery's own
    expectations), which is what the receiver runs; ``calendar`` is how the server checks dates and times
    (:class:`~sf1630.dataspec.ddl.Calendar`: a pattern on any server, its own input from PostgreSQL 16).

    GX's SQL engine checks a column's declared type only, and a staging column is TEXT, so: a type check
    is the type's lexical pattern (:func:`~sf1630.dataspec.schema.lexical_pattern`; for dates and
    timestamps the calendar itself, or with :attr:`Calendar.INPUT` the server reading the text as a date or
    time and writing it back unchanged); a range, a numeric value set and a column-pair rule compare typed
    values (:func:`~sf1630.dataspec.ddl.typed_value`). What needs SQL of its own is an
    ``expect_column_values_to_satisfy_sql_condition`` (:mod:`sf1630.dataspec.sql_condition`), which GX counts
    in the same single aggregate as every other column check; its ``meta`` names the expectation it stands
    for (``stands_for``), so the report reads as for the typed suite. Everything else (columns, row count,
    nulls, uniqueness, other patterns, string sets, lengths) is the same GX expectation on the text.
    """
    configs = [c for c in expectation_configs(spec) if c[0].startswith("expect_table_")]
    for column in spec.columns:
        configs.extend(_staging_column_configs(column, spec, calendar))
    if len(spec.primary_key) == 1:
        if not spec.column(spec.primary_key[0]).unique:
            configs.append(("expect_column_values_to_be_unique", {"column": spec.primary_key[0]}))
    else:
        configs.append(key_check(spec.primary_key))
    for rule in spec.rules:
        column, other = spec.column(rule.column), spec.column(rule.other)
        a, b = (typed_value(c, spec.dialect, quoted(c.name), calendar=calendar) for c in (column, other))
        description = f"{rule.column} {'>=' if rule.op == 'ge' else '>'} {rule.other}"
        stands_for = "expect_column_pair_values_a_to_be_greater_than_b"
        configs.append(
            sql_check(rule.column, f"{a} {'>=' if rule.op == 'ge' else '>'} {b}", description, stands_for)
        )
    return [*configs, *extra]


def sql_check(column: str, condition: str, description: str, stands_for: str) -> Expectation:
    """An ``expect_column_values_to_satisfy_sql_condition``: each non-null value of ``column`` makes
    ``condition`` (SQL) true, or is unexpected; NULL (a value the condition cannot judge) is not."""
    from sf1630.dataspec.sql_condition import EXPECTATION

    meta = {STANDS_FOR: stands_for}
    return (EXPECTATION, {"column": column, "condition": condition, "description": description, "meta": meta})


def key_check(key: Sequence[str]) -> Expectation:
    """A compound key unique, counted in GX's one aggregate (:mod:`sf1630.dataspec.sql_condition`); the
    report names it ``expect_compound_columns_to_be_unique`` and samples the key's first column."""
    from sf1630.dataspec.sql_condition import KEY_EXPECTATION

    meta = {STANDS_FOR: "expect_compound_columns_to_be_unique"}
    description = f"({', '.join(key)}) unique"
    return (
        KEY_EXPECTATION,
        {"column": key[0], "others": list(key[1:]), "description": description, "meta": meta},
    )


def pattern_check(column: str, pattern: str, stands_for: str) -> Expectation:
    """``pattern`` (the whole value) as PostgreSQL matches it fastest: a one-run pattern (:data:`_ONE_RUN`)
    as its fixed length and the run left uncounted (the same texts match), any other as GX's
    ``expect_column_values_to_match_regex``."""
    ref = quoted(column)
    run = _ONE_RUN.fullmatch(pattern)
    if run is None:
        regex = f"^(?:{_non_capturing(pattern)})$"
        return (MATCH_REGEX, {"column": column, "regex": regex, "meta": {STANDS_FOR: stands_for}})
    width = len(run["pre"]) + int(run["n"]) + len(run["post"])
    uncounted = sql_literal(f"^{run['pre']}{run['run']}*{run['post']}$")
    return sql_check(
        column, f"length({ref}) = {width} AND {ref} ~ {uncounted}", f"{column} matches {pattern}", stands_for
    )


def _sql_value(column: Column, value: object) -> str:
    if column.type in ("integer", "decimal"):
        return str(value)
    return sql_literal(str(value))


def _staging_column_configs(column: Column, spec: DataSpec, calendar: Calendar) -> list[Expectation]:
    name, dialect = column.name, spec.dialect
    ref = quoted(name)
    out: list[Expectation] = []
    lexical = lexical_pattern(column, dialect)
    server_input = input_match(column, dialect, ref) if calendar is Calendar.INPUT else None
    if server_input is not None:
        out.append(sql_check(name, server_input, f"{name} is a {column.type}", OF_TYPE))
    elif lexical is not None:
        out.append(pattern_check(name, lexical, OF_TYPE))
    for kind, kwargs in _column_configs(column):
        if kind in (OF_TYPE, "expect_column_values_to_be_between"):
            continue
        if kind == MATCH_REGEX and column.pattern is not None:
            out.append(pattern_check(name, column.pattern, MATCH_REGEX))
            continue
        if kind == "expect_column_values_to_be_in_set" and column.type != "string":
            values = ", ".join(_sql_value(column, v) for v in column.allowed or ())
            condition = f"{typed_value(column, dialect, ref, calendar=calendar)} IN ({values})"
            out.append(sql_check(name, condition, f"{name} in {{{values}}}", kind))
            continue
        out.append((kind, kwargs))
    if column.min is not None or column.max is not None:
        out.append(range_check(column, spec, column.min, column.max, calendar))
    return out


def range_check(
    column: Column, spec: DataSpec, low: object, high: object, calendar: Calendar = Calendar.PATTERN
) -> Expectation:
    """``expect_column_values_to_be_between`` on the column's typed values (a text that is not of the type
    is the type check's business, not this one's: its typed value is NULL): the value looked up in a closed
    range, so its cast is evaluated once (``>= low AND <= high`` would cast it twice)."""
    typed = typed_value(column, spec.dialect, quoted(column.name), calendar=calendar)
    kind = _RANGE_TYPES.get(column.type)
    if kind is not None:
        bounds = ", ".join("NULL" if v is None else _sql_value(column, v) for v in (low, high))
        condition = f"{kind}({bounds}, '[]') @> {typed}"
    else:
        condition = " AND ".join(
            [f"{typed} >= {_sql_value(column, low)}"] * (low is not None)
            + [f"{typed} <= {_sql_value(column, high)}"] * (high is not None)
        )
    description = f"{column.name} between {low} and {high}"
    return sql_check(column.name, condition, description, "expect_column_values_to_be_between")


def staging_suite_json(spec: DataSpec, calendar: Calendar = Calendar.PATTERN) -> str:
    """The staging suite as GX writes an ExpectationSuite to JSON (``sf1630 dataspec suite``)."""
    import json

    suite = gx_suite(f"sf1630.{spec.name}", staging_configs(spec, calendar=calendar))
    return json.dumps(suite.to_json_dict(), ensure_ascii=False, indent=2, default=str)
