"""Pure derivations from a spec: polars schema, suite configuration, DDL text, export SQL, synthetic data."""

from __future__ import annotations

from datetime import date

import polars as pl
import pytest
from sf1630.dataspec import DataSpec, load_spec
from sf1630.dataspec.ddl import LINEAGE_COLUMNS, create_table, export_sql, table_key
from sf1630.dataspec.schema import (
    csv_text,
    parse_expression,
    polars_schema,
    read_options,
    read_typed,
    typed_frame,
    write_csv,
)
from sf1630.dataspec.suite import expectation_configs
from sf1630.dataspec.synth import SynthError, synthesize

from tests.support.dataspec import AUTHORITY, PERIOD


def test_schema_types_every_column_from_the_spec(spec: DataSpec) -> None:
    schema = polars_schema(spec)
    assert list(schema) == spec.column_names
    options = read_options(spec)
    assert options["infer_schema"] is False
    assert set(options["schema"].values()) == {pl.String()}
    ky = load_spec("ky")
    assert polars_schema(ky)["beloeb"] == pl.Decimal(12, 2)
    assert polars_schema(ky)["startdato"] == pl.Date()


def test_read_typed_names_every_column_after_the_spec(
    spec: DataSpec, frame: pl.DataFrame, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Boolean columns too: a when/then chain would otherwise be called "literal"."""
    path = write_csv(frame, spec, tmp_path_factory.mktemp("typed") / "file.csv")
    typed = read_typed(path, spec)
    assert typed.columns == spec.column_names
    assert dict(typed.schema) == polars_schema(spec)
    assert typed.equals(frame)
    for column in spec.columns:
        assert parse_expression(column, spec.dialect).meta.output_name() == column.name
        assert parse_expression(column, spec.dialect, "other").meta.output_name() == "other"


def test_kommune_code_keeps_leading_zero() -> None:
    spec = load_spec("aula")
    frame = synthesize(spec, 5, "00101000", PERIOD, seed=1)
    back = typed_frame(pl.read_csv(csv_text(frame, spec).encode(), **read_options(spec)), spec)
    assert back["myndighed_cvr"].to_list() == ["00101000"] * 5


def test_synthetic_data_round_trips_through_csv(spec: DataSpec, frame: pl.DataFrame) -> None:
    back = typed_frame(pl.read_csv(csv_text(frame, spec).encode(), **read_options(spec)), spec)
    assert back.schema == frame.schema
    assert back.equals(frame)


def test_synth_is_deterministic_and_placed(spec: DataSpec) -> None:
    one = synthesize(spec, 40, AUTHORITY, PERIOD, seed=9)
    assert one.equals(synthesize(spec, 40, AUTHORITY, PERIOD, seed=9))
    assert not one.equals(synthesize(spec, 40, AUTHORITY, PERIOD, seed=10))
    assert one[spec.kommune_column].unique().to_list() == [AUTHORITY]
    period = one[spec.period_column]
    if period.dtype == pl.Date:
        assert period.min() >= date(2026, 3, 1) and period.max() <= date(2026, 3, 31)  # type: ignore[operator]
    else:
        assert period.unique().to_list() == [str(PERIOD)]
    assert one.select(spec.primary_key).is_unique().all()


def test_synth_refuses_bad_arguments() -> None:
    spec = load_spec("ky")
    with pytest.raises(SynthError):
        synthesize(spec, 1, "123", PERIOD, seed=1)


def test_suite_covers_every_constraint(spec: DataSpec) -> None:
    kinds = [kind for kind, _ in expectation_configs(spec)]
    assert kinds[:2] == ["expect_table_columns_to_match_ordered_list", "expect_table_columns_to_match_set"]
    assert kinds.count("expect_column_values_to_be_of_type") == len(spec.columns)
    assert kinds.count("expect_column_values_to_not_be_null") == sum(c.required for c in spec.columns)
    assert kinds.count("expect_column_values_to_match_regex") == sum(
        c.pattern is not None for c in spec.columns
    )
    assert kinds.count("expect_column_values_to_be_in_set") == sum(
        c.allowed is not None for c in spec.columns
    )
    assert kinds.count("expect_column_pair_values_a_to_be_greater_than_b") == len(spec.rules)
    assert "expect_table_row_count_to_be_between" in kinds
    key = (
        "expect_compound_columns_to_be_unique"
        if len(spec.primary_key) > 1
        else "expect_column_values_to_be_unique"
    )
    assert key in kinds


def test_ddl_keys_snapshot_tables_by_kommune_and_period() -> None:
    ky, aula = load_spec("ky"), load_spec("aula")
    assert table_key(ky) == ["lineage_kommune", "lineage_period", "sag_id", "ydelse_id"]
    assert table_key(aula) == ["lineage_kommune", "elev_noegle", "dato", "fravaerstype"]
    create = create_table(ky, "postgres", "wh")[0]
    assert create.startswith("CREATE TABLE IF NOT EXISTS wh.lis_ky_ydelser (")
    assert "beloeb NUMERIC(12, 2) NOT NULL" in create
    for column in LINEAGE_COLUMNS:
        assert column in create


def test_export_sql_names_parameters_per_engine() -> None:
    ky, aula = load_spec("ky"), load_spec("aula")
    assert "WHERE myndighed_cvr = $authority AND udtraeksperiode = $period" in export_sql(ky, "duckdb")
    assert "myndighed_cvr = %(authority)s" in export_sql(ky, "postgres")
    assert "dato >= %(period_start)s AND dato < %(period_end)s" in export_sql(aula, "postgres")
    assert export_sql(ky, "duckdb").startswith("SELECT " + ", ".join(ky.column_names))


def test_build_suite_holds_real_gx_expectations() -> None:
    from great_expectations.expectations import Expectation
    from sf1630.dataspec.suite import build_suite

    spec = load_spec("ky")
    suite = build_suite(spec)
    assert suite.name == "sf1630.ky"
    assert all(isinstance(e, Expectation) for e in suite.expectations)
    assert [e.expectation_type for e in suite.expectations] == [k for k, _ in expectation_configs(spec)]
