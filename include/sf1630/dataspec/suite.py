"""The Great Expectations suite derived from a spec, built in code (GX Core, no YAML or JSON stores).

The suite is the contract: every check the project makes on a value is a GX expectation here, and GX runs
them (:mod:`sf1630.dataspec.validation`). Type checks are ``expect_column_values_to_be_of_type`` on the frame
:func:`~sf1630.dataspec.validation.gx_frame` builds, in which a column holds typed values only when every text
parsed; otherwise its unparsed texts are the expectation's unexpected values. ``sf1630 dataspec suite NAME``
writes the suite the receiver runs as GX's JSON (:func:`staging_suite_json`): the same checks for a file
staged as text in PostgreSQL (:func:`staging_configs`), where a type check is a pattern and a range
compares typed values.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from sf1630.database import quoted
from sf1630.dataspec.ddl import Calendar, input_match, sql_literal, typed_value
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

    gx_context()
    expectations = [get_expectation_impl(kind)(**kwargs) for kind, kwargs in configs]
    return gx.ExpectationSuite(name=name, expectations=expectations)


# --- the suite on a text staging table (PostgreSQL) ------------------------------------------------------

#: The expectation a staging check stands for, in its ``meta``: the report names the check as the typed
#: suite does (a type check on text is a pattern; a range needs a cast, so it is a GX SQL expectation).
STANDS_FOR = "stands_for"
OF_TYPE = "expect_column_values_to_be_of_type"
UNEXPECTED_ROWS = "unexpected_rows_expectation"
#: In a row check's ``meta``: its condition as SQL (what the typed-values check counts).
WHERE = "where"
#: In the typed-values check's ``meta``: the row checks it counts, each as its expectation's kwargs.
PARTS = "parts"

#: The PostgreSQL range type a typed value is looked up in (one evaluation of the cast per value).
_RANGE_TYPES = {"integer": "numrange", "decimal": "numrange", "date": "daterange", "timestamp": "tsrange"}


def staging_configs(
    spec: DataSpec, extra: Sequence[Expectation] = (), *, calendar: Calendar = Calendar.PATTERN
) -> list[Expectation]:
    """The spec's suite for a file staged as text in PostgreSQL (plus ``extra``, the delivery's own
    expectations), which is what the receiver runs; ``calendar`` is how the server checks dates and times
    (:class:`~sf1630.dataspec.ddl.Calendar`: a pattern on any server, its own input from PostgreSQL 16).

    GX's SQL engine checks a column's declared type only, and a staging column is TEXT, so: a type check
    is the type's lexical pattern (:func:`~sf1630.dataspec.schema.lexical_pattern`; for dates and
    timestamps the calendar itself, or with :attr:`Calendar.INPUT` a row check that the server reads the
    text as a date or time and writes it back unchanged); a range, a numeric value set and a column-pair
    rule compare typed values (:func:`~sf1630.dataspec.ddl.typed_value`) in a row check
    (:func:`rows_check`), and all row checks are counted by ONE ``UnexpectedRowsExpectation``
    (:func:`typed_values_check`): GX runs an unexpected-rows query twice (its rows, its count), so one
    aggregate over the table costs two parallel scans where a check per range cost two scans each. Each
    row check names the expectation it stands for in its ``meta`` (``stands_for``), so the report reads as
    for the typed suite once the validator has run the failed typed-values check's parts for their
    details. Everything else (columns, row count, nulls, uniqueness, patterns, string sets, lengths) is
    the same GX expectation on the text, bundled by GX.
    """
    configs = [c for c in expectation_configs(spec) if c[0].startswith("expect_table_")]
    for column in spec.columns:
        configs.extend(_staging_column_configs(column, spec, calendar))
    if len(spec.primary_key) == 1:
        if not spec.column(spec.primary_key[0]).unique:
            configs.append(("expect_column_values_to_be_unique", {"column": spec.primary_key[0]}))
    else:
        configs.append(("expect_compound_columns_to_be_unique", {"column_list": list(spec.primary_key)}))
    for rule in spec.rules:
        column, other = spec.column(rule.column), spec.column(rule.other)
        a, b = (typed_value(c, spec.dialect, quoted(c.name), calendar=calendar) for c in (column, other))
        where = f"{a} {'<' if rule.op == 'ge' else '<='} {b}"
        description = f"{rule.column} {'>=' if rule.op == 'ge' else '>'} {rule.other}"
        meta = {STANDS_FOR: "expect_column_pair_values_a_to_be_greater_than_b", "column": rule.column}
        configs.append(rows_check(where, description, meta))
    configs.extend(extra)
    parts = [kwargs for kind, kwargs in configs if _is_row_check(kind, kwargs)]
    if not parts:
        return configs
    return [*(c for c in configs if not _is_row_check(*c)), typed_values_check(parts)]


def _is_row_check(kind: str, kwargs: dict[str, Any]) -> bool:
    """A :func:`rows_check` (its condition in its ``meta``): a part of the typed-values check."""
    return kind == UNEXPECTED_ROWS and WHERE in kwargs.get("meta", {})


def _escaped(sql: str) -> str:
    """Braces doubled (GX substitutes ``{batch}`` with Python's formatter, and patterns hold ``{8}``),
    colons escaped (GX runs the query as SQLAlchemy ``text()``, where ``(?:000`` would be a bind parameter).
    """
    return sql.replace("{", "{{").replace("}", "}}").replace(":", "\\:")


def rows_check(where: str, description: str, meta: dict[str, Any]) -> Expectation:
    """An ``UnexpectedRowsExpectation``: the rows of the batch for which ``where`` (SQL) is true fail it.

    In the staging suite it is a part of :func:`typed_values_check`, run on its own for its details."""
    query = f"SELECT * FROM {{batch}} WHERE {_escaped(where)}"  # noqa: S608 -- checked names, quoted values
    kwargs = {"unexpected_rows_query": query, "description": description, "meta": {**meta, WHERE: where}}
    return (UNEXPECTED_ROWS, kwargs)


def typed_values_check(parts: Sequence[dict[str, Any]]) -> Expectation:
    """One ``UnexpectedRowsExpectation`` for every row check (``parts``, their kwargs): a single row of
    failing-row counts, one per part, when any part fails; no row when all hold.

    An aggregate, so PostgreSQL scans the staging table in parallel and returns nothing when the file is
    valid (a part's own query returns its failing rows, a scan PostgreSQL does not parallelise).
    """
    counts = ", ".join(
        f"count(*) FILTER (WHERE {p['meta'][WHERE]}) AS check_{n}" for n, p in enumerate(parts)
    )
    failing = " OR ".join(f"check_{n} > 0" for n in range(len(parts)))
    query = f"SELECT * FROM (SELECT {_escaped(counts)} FROM {{batch}}) AS typed_values WHERE {failing}"  # noqa: S608
    description = "typed values: " + "; ".join(str(p["description"]) for p in parts)
    return (
        UNEXPECTED_ROWS,
        {"unexpected_rows_query": query, "description": description, "meta": {PARTS: list(parts)}},
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
    if server_input is not None:  # a part of the typed-values check, like a range
        where = f"{ref} IS NOT NULL AND NOT {server_input}"
        out.append(rows_check(where, f"{name} is a {column.type}", {STANDS_FOR: OF_TYPE, "column": name}))
    elif lexical is not None:
        regex = f"^(?:{_non_capturing(lexical)})$"
        out.append(
            (
                "expect_column_values_to_match_regex",
                {"column": name, "regex": regex, "meta": {STANDS_FOR: OF_TYPE}},
            )
        )
    for kind, kwargs in _column_configs(column):
        if kind in (OF_TYPE, "expect_column_values_to_be_between"):
            continue
        if kind == "expect_column_values_to_be_in_set" and column.type != "string":
            values = ", ".join(_sql_value(column, v) for v in column.allowed or ())
            where = f"{typed_value(column, dialect, ref, calendar=calendar)} NOT IN ({values})"
            out.append(rows_check(where, f"{name} in {{{values}}}", {STANDS_FOR: kind, "column": name}))
            continue
        out.append((kind, kwargs))
    if column.min is not None or column.max is not None:
        out.append(range_check(column, spec, column.min, column.max, calendar))
    return out


def range_check(
    column: Column, spec: DataSpec, low: object, high: object, calendar: Calendar = Calendar.PATTERN
) -> Expectation:
    """``expect_column_values_to_be_between`` on the column's typed values (a text that is not of the type
    is the type check's business, not this one's): the value looked up in a closed range, so its cast is
    evaluated once (``< low OR > high`` would cast it twice)."""
    typed = typed_value(column, spec.dialect, quoted(column.name), calendar=calendar)
    kind = _RANGE_TYPES.get(column.type)
    if kind is not None:
        bounds = ", ".join("NULL" if v is None else _sql_value(column, v) for v in (low, high))
        value = f"({typed})::numeric" if column.type == "integer" else typed
        where = f"NOT ({kind}({bounds}, '[]') @> {value})"
    else:
        where = " OR ".join(
            [f"{typed} < {_sql_value(column, low)}"] * (low is not None)
            + [f"{typed} > {_sql_value(column, high)}"] * (high is not None)
        )
    description = f"{column.name} between {low} and {high}"
    meta = {STANDS_FOR: "expect_column_values_to_be_between", "column": column.name}
    return rows_check(where, description, meta)


def staging_suite_json(spec: DataSpec, calendar: Calendar = Calendar.PATTERN) -> str:
    """The staging suite as GX writes an ExpectationSuite to JSON (``sf1630 dataspec suite``)."""
    import json

    suite = gx_suite(f"sf1630.{spec.name}", staging_configs(spec, calendar=calendar))
    return json.dumps(suite.to_json_dict(), ensure_ascii=False, indent=2, default=str)
