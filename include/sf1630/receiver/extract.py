"""The data spec as the receiver uses it: check a delivered file once, and hand over its typed rows.

``sf1630.dataspec.validation.check_file`` validates and keeps the typed frame, so the file is read and cast
once; this adapter adds what only the receiver knows (every row belongs to the kommune and month the file
name claims, since a snapshot load replaces exactly that kommune's month) and hands the rows over as Arrow
without copying them (polars' string views; DuckDB scans them directly).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

from sf1630.dataspec import DataSpec, load_spec
from sf1630.dataspec.ddl import (
    LINEAGE_FILE_TRANSFER_UUID,
    LINEAGE_KOMMUNE,
    LINEAGE_LOADED_AT,
    LINEAGE_PERIOD,
    create_table,
    table_key,
)
from sf1630.settings import dataspec_dir

if TYPE_CHECKING:
    import polars as pl
    import pyarrow as pa

    from sf1630.dataspec.report import CheckResult, ValidationReport

BELONGS_TO_DELIVERY = "sf1630.rows_belong_to_delivery"


@dataclass(frozen=True)
class SpecVerdict:
    """The data spec's report on one file, in the shape :mod:`sf1630.receiver.delivery` expects."""

    report: ValidationReport

    @property
    def ok(self) -> bool:
        return self.report.success

    @property
    def rows(self) -> int:
        return self.report.rows or 0

    @property
    def summary(self) -> str:
        return "\n".join(self.report.summary_lines())

    def report_json(self) -> bytes:
        return self.report.to_json().encode("utf-8")

    def report_html(self) -> bytes:
        return self.report.to_html().encode("utf-8")


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

    def check(
        self, path: Path, *, kommune: str, period: str, engine: str = "project"
    ) -> tuple[SpecVerdict, pa.Table | None]:
        """Validate ``path``; the typed rows as Arrow when the file is valid, else None."""
        import polars as pl

        from sf1630.dataspec.validation import check_file

        belongs = (lambda frame: self._belongs(frame, kommune, period),)
        checked = check_file(path, self.spec, extra=belongs, engine=engine)
        verdict = SpecVerdict(checked.report)
        if not checked.report.success or checked.frame is None:
            return verdict, None
        return verdict, checked.frame.to_arrow(compat_level=pl.CompatLevel.newest())

    def _belongs(self, frame: pl.DataFrame, kommune: str, period: str) -> CheckResult:
        """Every row's kommune and period columns equal the file name's CVR and month."""
        import polars as pl

        from sf1630.dataspec.report import CheckResult

        spec = self.spec
        columns = (spec.kommune_column, spec.period_column)
        if any(c not in frame.columns for c in columns):
            return CheckResult(BELONGS_TO_DELIVERY, False, detail="kommune or period column missing")
        period_col = pl.col(spec.period_column)
        month = (
            period_col if frame.schema[spec.period_column] == pl.String else period_col.dt.strftime("%Y-%m")
        )
        wrong = frame.filter((pl.col(spec.kommune_column) != kommune) | (month != period))
        sample = tuple(f"{row[0]} {row[1]}" for row in wrong.select(columns).head(5).iter_rows())
        return CheckResult(
            BELONGS_TO_DELIVERY,
            wrong.height == 0,
            column=spec.kommune_column,
            unexpected_count=wrong.height,
            sample=sample,
            detail="" if wrong.height == 0 else f"rows not for kommune {kommune}, period {period}",
        )

    def create_sql(self, kind: str, schema: str) -> list[str]:
        """The spec's DDL; in DuckDB without the index upkeep a load cannot need.

        DuckDB maintains every index (ART) row by row during a bulk insert, several times the insert's own
        cost. The lineage index is dropped (DuckDB's per-block min/max serves lineage lookups). A snapshot
        spec's table also goes without the PRIMARY KEY constraint in DuckDB, because a load cannot violate
        it: the key is (kommune, period, spec key), the load deletes that kommune's period and inserts only
        rows carrying it in the same transaction, and validation has proved the spec key unique within the
        file (``expect_column_values_to_be_unique`` / ``expect_compound_columns_to_be_unique``). Append
        specs keep it (a key may repeat across files); PostgreSQL keeps both (only DuckDB is benchmarked).
        """
        if kind != "duckdb":
            return create_table(self.spec, "postgres", schema)
        statements = [
            s for s in create_table(self.spec, "duckdb", schema) if not s.startswith("CREATE INDEX")
        ]
        if not self.snapshot:
            return statements
        key_clause = f",\n    PRIMARY KEY ({', '.join(table_key(self.spec))})"
        if key_clause not in statements[0]:
            raise AssertionError(f"{self.spec.name}: DDL changed shape, key clause not found")
        return [statements[0].replace(key_clause, ""), *statements[1:]]

    def lineage(
        self, *, file_transfer_uuid: str, kommune: str, period: str, loaded_at: datetime
    ) -> tuple[tuple[tuple[str, object], ...], tuple[tuple[str, object], ...]]:
        """The lineage values every row gets, and the snapshot scope to replace (empty when appending)."""
        constants: tuple[tuple[str, object], ...] = (
            (LINEAGE_FILE_TRANSFER_UUID, file_transfer_uuid),
            (LINEAGE_KOMMUNE, kommune),
            (LINEAGE_PERIOD, period),
            (LINEAGE_LOADED_AT, loaded_at),
        )
        scope: tuple[tuple[str, object], ...] = (
            ((LINEAGE_KOMMUNE, kommune), (LINEAGE_PERIOD, period)) if self.snapshot else ()
        )
        return constants, scope


@cache
def spec_for(name: str) -> SpecExtract:
    """The receiver's view of data spec ``name`` (loaded once per process)."""
    return SpecExtract(load_spec(name, dataspec_dir()))
