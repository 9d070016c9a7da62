"""The Great Expectations suite derived from a spec, built in code (GX Core, no YAML or JSON stores).

The suite is the contract: every check the project makes on a value is a GX expectation here, and GX runs
them (:mod:`sf1630.dataspec.validation`). Type checks are ``expect_column_values_to_be_of_type`` on the frame
:func:`~sf1630.dataspec.validation.gx_frame` builds, in which a column holds typed values only when every text
parsed; otherwise its unparsed texts are the expectation's unexpected values. ``sf1630 dataspec suite NAME``
writes the suite as GX's JSON (:func:`suite_json`).
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

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


def suite_json(spec: DataSpec) -> str:
    """The spec's suite as GX writes an ExpectationSuite to JSON (what a GX user opens or imports)."""
    import json

    return json.dumps(build_suite(spec).to_json_dict(), ensure_ascii=False, indent=2, default=str)
