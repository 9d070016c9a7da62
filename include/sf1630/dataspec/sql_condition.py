"""The project's own GX expectations: a column's values satisfy a condition written in SQL, and a compound
key is unique; both counted by GX in the one aggregate it runs for every column check.

The staging suite (:func:`sf1630.dataspec.suite.staging_configs`) checks a file staged as TEXT in PostgreSQL,
and some of its checks need SQL that no GX expectation writes: a date the server reads and writes back
unchanged, a range or a numeric value set on the typed value, a rule between two columns, a pattern put in a
form PostgreSQL matches fast. GX's ``UnexpectedRowsExpectation`` could say each, but GX runs its query twice
(the rows, then their count), each its own scan of the table. As a column map expectation, built the way GX's
own are (a :class:`ColumnMapMetricProvider` with an SQL condition partial), GX counts its unexpected values
in the one aggregate it already runs for every other column check of the batch (nulls, patterns, value
sets, lengths): one scan for all of them, and when it fails GX's own unexpected count and values, as for
any column check. Rows whose column is NULL are not checked (GX's default for column map expectations).

GX registers the classes when this module is imported (:func:`~sf1630.dataspec.suite.gx_suite` does,
before it builds a suite); the condition is SQL text from the spec (checked names, quoted literals), run
by GX's SQL engine only (PostgreSQL: the staging suite's server).
"""

from __future__ import annotations

from typing import Any, ClassVar

import sqlalchemy as sa
from great_expectations.execution_engine.sqlalchemy_execution_engine import SqlAlchemyExecutionEngine
from great_expectations.expectations.expectation import ColumnMapExpectation
from great_expectations.expectations.metrics.map_metric_provider.column_condition_partial import (
    column_condition_partial,
)
from great_expectations.expectations.metrics.map_metric_provider.column_map_metric_provider import (
    ColumnMapMetricProvider,
)

#: The expectation's type in a suite (GX names an expectation class by its snake-case name).
EXPECTATION = "expect_column_values_to_satisfy_sql_condition"
_METRIC = "column_values.sf1630_satisfy_sql_condition"


class ColumnValuesSatisfySqlCondition(ColumnMapMetricProvider):
    """The map metric: a value is expected where ``condition`` is true (NULL counts as not unexpected)."""

    condition_metric_name = _METRIC
    condition_value_keys = ("condition",)

    @column_condition_partial(engine=SqlAlchemyExecutionEngine)  # type: ignore[misc]
    def _sqlalchemy(cls, column: Any, condition: str, **kwargs: Any) -> Any:
        """The condition as a boolean SQL expression: a literal column, so SQLAlchemy reads no bind
        parameters in it (a pattern's ``(?:`` stays text)."""
        return sa.literal_column(f"({condition})", sa.Boolean)


class ExpectColumnValuesToSatisfySqlCondition(ColumnMapExpectation):
    """Expect each non-null value of ``column`` to make ``condition`` (PostgreSQL, the staging suite's
    server) true; a NULL result is not unexpected (a value the condition cannot judge is another check's)."""

    condition: str

    map_metric: ClassVar[str] = _METRIC
    success_keys: ClassVar[tuple[str, ...]] = ("condition", "mostly")
    args_keys: ClassVar[tuple[str, ...]] = ("column", "condition")


#: The expectation's type in a suite.
KEY_EXPECTATION = "expect_column_values_to_be_unique_with"
_KEY_METRIC = "column_values.sf1630_unique_with"


class ColumnValuesUniqueWith(ColumnMapMetricProvider):
    """The map metric: a row is expected where no other row has the same values in ``column`` and
    ``others`` (a compound key): one GROUP BY of the key, looked up per row in the same aggregate as every
    other column check. GX's ``expect_compound_columns_to_be_unique`` joins every column of the table to the
    key's counts in a statement of its own (2.2 s on a million rows, this 1.3 s)."""

    condition_metric_name = _KEY_METRIC
    condition_value_keys = ("others",)

    @column_condition_partial(engine=SqlAlchemyExecutionEngine)  # type: ignore[misc]
    def _sqlalchemy(cls, column: Any, others: list[str], _table: Any, **kwargs: Any) -> Any:
        """``NOT ((column, others…) IN (the key values that occur more than once))``."""
        key = [column, *(sa.column(name) for name in others)]
        inner: list[Any] = [sa.column(c.name) for c in key]  # the subquery's own columns, not the outer row's
        duplicates = (
            sa.select(*inner).select_from(_table).group_by(*inner).having(sa.func.count() > 1).correlate(None)
        )
        return sa.not_(sa.tuple_(*key).in_(duplicates))


class ExpectColumnValuesToBeUniqueWith(ColumnMapExpectation):
    """Expect no two rows to share their values in ``column`` and ``others`` (a compound key; a row whose
    ``column`` is NULL is not checked, the not-null expectation's business)."""

    others: list[str]

    map_metric: ClassVar[str] = _KEY_METRIC
    success_keys: ClassVar[tuple[str, ...]] = ("others", "mostly")
    args_keys: ClassVar[tuple[str, ...]] = ("column", "others")
