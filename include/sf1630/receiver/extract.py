"""The data spec as the receiver uses it: validate a delivered file with GX, and hand over its typed rows.

Validation is the spec's GX suite plus what only the receiver knows (every row belongs to the kommune and
month the file name claims, since a snapshot load replaces exactly that kommune's month), run by a
:class:`~sf1630.dataspec.validation.Validator` the validate step keeps for all files of a run, on the file
staged in the warehouse (:meth:`SpecExtract.validate_staged`). The load step promotes the staging table
with the typed SQL of :meth:`SpecExtract.staged_columns`. :meth:`SpecExtract.check` (GX's pandas engine on
the file in memory, typed rows as Arrow) is the way without a warehouse, for tests and samples.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

from sf1630.database import Database, quoted
from sf1630.dataspec import DataSpec, load_spec
from sf1630.dataspec.ddl import (
    LINEAGE_FILE_TRANSFER_UUID,
    LINEAGE_KOMMUNE,
    LINEAGE_LOADED_AT,
    LINEAGE_PERIOD,
    Calendar,
    create_table,
    key_sql,
    typed_value,
)
from sf1630.protocol import Period
from sf1630.settings import dataspec_dir

if TYPE_CHECKING:
    import polars as pl
    import pyarrow as pa

    from sf1630.dataspec.suite import Expectation
    from sf1630.dataspec.validation import Validated, Validator
    from sf1630.warehouse.staging import StagedFile


def delivery_expectations(spec: DataSpec, *, cvr: str, period: Period) -> list[Expectation]:
    """What only the receiver knows, as GX expectations joining the suite for one file: every row belongs
    to the kommune (CVR) and month the file name claims, since a snapshot load replaces exactly that scope."""
    expectations: list[Expectation] = [
        ("expect_column_values_to_be_in_set", {"column": spec.kommune_column, "value_set": [cvr]})
    ]
    if spec.column(spec.period_column).type == "date":
        first = period.first_day.date()
        last = period.next().first_day.date() - timedelta(days=1)
        bounds = {"min_value": first, "max_value": last}
        expectations.append(("expect_column_values_to_be_between", {"column": spec.period_column, **bounds}))
    else:
        in_period = {"column": spec.period_column, "value_set": [str(period)]}
        expectations.append(("expect_column_values_to_be_in_set", in_period))
    return expectations


def staging_delivery_expectations(
    spec: DataSpec, *, cvr: str, period: Period, calendar: Calendar = Calendar.PATTERN
) -> list[Expectation]:
    """:func:`delivery_expectations` for a file staged as text: a date period compares typed values (dates
    checked by ``calendar``)."""
    from sf1630.dataspec.suite import range_check

    expectations = delivery_expectations(spec, cvr=cvr, period=period)
    column = spec.column(spec.period_column)
    if column.type != "date":
        return expectations
    bounds = expectations[-1][1]
    low, high = bounds["min_value"].isoformat(), bounds["max_value"].isoformat()
    return [*expectations[:-1], range_check(column, spec, low, high, calendar)]


@dataclass(frozen=True)
class SpecExtract:
    """One data spec bound to the receiver's needs (validation, warehouse shape)."""

    spec: DataSpec

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def table(self) -> str:
        return self.spec.warehouse_table

    @property
    def snapshot(self) -> bool:
        return self.spec.load == "snapshot"

    def read(self, path: Path) -> pl.DataFrame:
        """The typed frame of a file already known to be valid (benchmark floor, manual re-loads)."""
        from sf1630.dataspec.schema import read_typed

        return read_typed(path, self.spec)

    def validate(
        self, validator: Validator, data: bytes, *, name: str, cvr: str, period: Period
    ) -> Validated:
        """GX's verdict on file content ``data``: the spec's suite plus :func:`delivery_expectations`."""
        extra = delivery_expectations(self.spec, cvr=cvr, period=period)
        return validator.validate_bytes(data, self.spec, name=name, extra=extra)

    def validate_staged(
        self, validator: Validator, db: Database, staged: StagedFile, *, name: str, cvr: str, period: Period
    ) -> Validated:
        """GX's verdict on a file staged in the warehouse (:mod:`sf1630.warehouse.staging`): the spec's
        staging suite plus :func:`staging_delivery_expectations`, run in PostgreSQL; the parse verdict
        alone when staging refused the file."""
        from sf1630.dataspec.report import ValidationReport
        from sf1630.dataspec.validation import Validated

        if not staged.ok:
            return Validated(ValidationReport(self.name, name, None, staged.parse))
        extra = staging_delivery_expectations(self.spec, cvr=cvr, period=period, calendar=staged.calendar)
        return validator.validate_staged(
            db,
            staged.table,
            self.spec,
            name=name,
            rows=staged.rows,
            parse_results=staged.parse,
            extra=extra,
            calendar=staged.calendar,
        )

    def staged_columns(self) -> tuple[tuple[str, str], ...]:
        """(warehouse column, SQL over the staging table's text) for every spec column: the promotion of a
        staging table the suite passed (unguarded casts)."""
        dialect = self.spec.dialect
        return tuple(
            (c.name, typed_value(c, dialect, quoted(c.name), validated=True)) for c in self.spec.columns
        )

    def check(self, path: Path, *, cvr: str, period: Period) -> tuple[Validated, pa.Table | None]:
        """Validate the file at ``path`` with this process's validator; its typed rows when valid."""
        from sf1630.dataspec.parsing import read_regular_file
        from sf1630.dataspec.validation import default_validator

        data = read_regular_file(path)
        validated = self.validate(default_validator(), data, name=path.name, cvr=cvr, period=period)
        return validated, self.rows(data) if validated.success else None

    def rows(self, data: bytes) -> pa.Table:
        """The typed rows of a validated file as Arrow, polars' own buffers (DuckDB scans them directly)."""
        import polars as pl

        from sf1630.dataspec.schema import read_options, typed_frame, utf8_bytes

        utf8 = utf8_bytes(data, self.spec.dialect)  # the spec's encoding, as validation read it
        frame = typed_frame(pl.read_csv(utf8, **read_options(self.spec)), self.spec)
        return frame.to_arrow(compat_level=pl.CompatLevel.newest())

    def create_sql(self, schema: str) -> list[str]:
        """The spec's warehouse DDL (PostgreSQL) in ``schema``."""
        return create_table(self.spec, "postgres", schema)

    def table_sql(self, schema: str) -> tuple[list[str], list[str]]:
        """The warehouse table without its key and index, and the statements that add them: for a load that
        creates the table, which fills it first and builds the key from a sort (the first load of a 1M-row
        file into a keyed table spent most of its time updating the key row by row)."""
        return create_table(self.spec, "postgres", schema, keyed=False), key_sql(self.spec, schema)

    def lineage(
        self, *, file_transfer_uuid: str, cvr: str, period: Period, loaded_at: datetime
    ) -> tuple[tuple[tuple[str, object], ...], tuple[tuple[str, object], ...]]:
        """The lineage values every row gets, and the snapshot scope to replace (empty when appending);
        the period as the warehouse's ``YYYY-MM`` text."""
        month = str(period)
        constants: tuple[tuple[str, object], ...] = (
            (LINEAGE_FILE_TRANSFER_UUID, file_transfer_uuid),
            (LINEAGE_KOMMUNE, cvr),
            (LINEAGE_PERIOD, month),
            (LINEAGE_LOADED_AT, loaded_at),
        )
        scope: tuple[tuple[str, object], ...] = (
            ((LINEAGE_KOMMUNE, cvr), (LINEAGE_PERIOD, month)) if self.snapshot else ()
        )
        return constants, scope


@cache
def spec_for(name: str) -> SpecExtract:
    """The receiver's view of data spec ``name`` (loaded once per process)."""
    return SpecExtract(load_spec(name, dataspec_dir()))
