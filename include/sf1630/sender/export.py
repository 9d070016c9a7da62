"""One kommune's month from the sender's source database into a CSV file in the data spec's dialect.

The data spec decides everything a recipient relies on: which table and columns, the column order, how
values are written (separator, decimal comma, date format, J/N). The SQL only filters on the spec's
kommune and period columns with bound parameters and orders by the primary key, so the same month gives
the same bytes on a re-run. Rows go through the spec's typed polars schema, never through inference.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from sf1630.database import Database, quoted
from sf1630.protocol import Period
from sf1630.registry import SenderSystem
from sf1630.sender.plan import Delivery

if TYPE_CHECKING:
    from sf1630.dataspec import DataSpec


def export_query(spec: DataSpec, placeholder: str, cvr: str, period: Period) -> tuple[str, tuple[Any, ...]]:
    """The SQL and parameters selecting one kommune's month, in file order, sorted by the primary key.

    The period column is either the ``YYYY-MM`` text of the extract or a date within it (then the month is
    a half-open date range).
    """
    columns = ", ".join(quoted(name) for name in spec.column_names)
    order = ", ".join(quoted(name) for name in spec.primary_key) or columns
    period_column = quoted(spec.period_column)
    if spec.column(spec.period_column).type in {"date", "timestamp"}:
        in_period = f"{placeholder} <= {period_column} AND {period_column} < {placeholder}"
        params: tuple[Any, ...] = (cvr, period.first_day.date(), period.next().first_day.date())
    else:
        in_period = f"{period_column} = {placeholder}"
        params = (cvr, str(period))
    sql = (
        f"SELECT {columns} FROM {quoted(spec.source_table)}"  # noqa: S608 -- identifiers checked and quoted
        f" WHERE {quoted(spec.kommune_column)} = {placeholder} AND {in_period} ORDER BY {order}"
    )
    return sql, params


def fetch_rows(database: Database, spec: DataSpec, cvr: str, period: Period) -> list[tuple[Any, ...]]:
    """The kommune's rows for ``period`` from the source database, read-only."""
    query, params = export_query(spec, database.placeholder, cvr, period)
    connection = database.connect(read_only=True)
    try:
        cursor = connection.cursor()
        cursor.execute(query, params)
        rows: list[tuple[Any, ...]] = cursor.fetchall()
    finally:
        connection.close()
    return rows


def export_delivery(sender: SenderSystem, delivery: Delivery, database: Database, folder: Path) -> Path:
    """Write ``delivery``'s CSV into ``folder`` under its SF1630 file name; returns the path."""
    import polars as pl

    from sf1630.dataspec import load_spec
    from sf1630.dataspec.schema import polars_schema, write_csv

    spec = load_spec(sender.dataspec)
    rows = fetch_rows(database, spec, delivery.kommune.cvr, delivery.period)
    frame = pl.DataFrame(rows, schema=polars_schema(spec), orient="row")
    return write_csv(frame, spec, folder / delivery.file_name)
