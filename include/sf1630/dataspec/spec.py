"""The data-spec model and its YAML loader.

One YAML file per extract is the single source for the polars schema, the GX suite, the warehouse DDL, the
export SQL and the synthetic data, so the loader is strict: an unknown key, a bad type or a rule that
contradicts itself is refused with ``file:line: entry: problem``, since a silently ignored typo would
otherwise weaken every derived artefact at once. The file is read like every configuration file
(:mod:`sf1630.config`): pydantic models over the strict loader, each problem located by its key's line.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BeforeValidator,
    Field,
    StrictBool,
    StrictInt,
    StrictStr,
    StringConstraints,
    ValidationInfo,
    field_validator,
    model_validator,
)

from sf1630 import INCLUDE_DIR
from sf1630.config import ConfigError, Invalid, Model, read_yaml, validate

#: Where the project's specs live unless a caller names another directory.
DEFAULT_SPEC_DIR = INCLUDE_DIR / "dataspecs"

SENDERS = frozenset({"KY", "KSD", "DUBU", "AULA", "KP"})
RECIPIENTS = frozenset({"LIS"})
ColumnType = Literal["string", "integer", "decimal", "date", "timestamp", "boolean"]
COLUMN_TYPES: tuple[str, ...] = ("string", "integer", "decimal", "date", "timestamp", "boolean")
LoadMode = Literal["snapshot", "append"]
Comparison = Literal["ge", "gt"]
Scalar = int | Decimal | str | bool

_NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
_ENCODINGS = frozenset({"utf-8", "utf-8-sig", "windows-1252", "iso-8859-1"})
#: Moments that a date or timestamp format must write and read back unchanged.
_PROBES = {"date_format": datetime(2001, 2, 3), "timestamp_format": datetime(2001, 2, 3, 4, 5, 6)}


def _identifier(value: str) -> str:
    if not _NAME.match(value):
        raise ValueError(f"{value!r} is not a lower-case SQL identifier")
    return value


def _one_of(allowed: frozenset[str]) -> Callable[[str], str]:
    def check(value: str) -> str:
        if value not in allowed:
            raise ValueError(f"{value!r} is not one of {sorted(allowed)}")
        return value

    return check


def _scalar_text(value: object) -> str:
    """A version as text, whether the file quotes it (``"1.0"``) or not (``1.0``)."""
    if isinstance(value, dict | list) or value is None:
        raise ValueError(f"expected a single value, got {value!r}")
    return str(value)


def _one_character(value: str) -> str:
    if len(value) != 1:
        raise ValueError("must be exactly one character")
    return value


def _decimal_mark(value: str) -> str:
    if value not in (".", ","):
        raise ValueError("must be '.' or ','")
    return value


def _header(value: bool) -> bool:
    if not value:
        raise ValueError("files without a header row are not supported")
    return value


def _round_trips(value: str, info: ValidationInfo) -> str:
    """A date or timestamp format that reads back what it writes, so no part of a value is lost."""
    probe = _PROBES[str(info.field_name)]
    try:
        parsed = datetime.strptime(probe.strftime(value), value)
    except ValueError as exc:
        raise ValueError(f"{value!r} does not round-trip: {exc}") from None
    if parsed != probe:
        raise ValueError(f"{value!r} loses part of the value")
    return value


def _column_type(value: object) -> object:
    if value not in COLUMN_TYPES:
        raise ValueError(f"unknown type {value!r} (use one of {', '.join(COLUMN_TYPES)})")
    return value


def _pattern(value: str) -> str:
    try:
        re.compile(value)
    except re.error as exc:
        raise ValueError(f"pattern {value!r} does not compile: {exc}") from None
    if value.startswith("^") or value.endswith("$"):
        raise ValueError("pattern must not carry ^ or $ (it always matches the whole value)")
    return value


NonEmpty = Annotated[StrictStr, StringConstraints(min_length=1)]
Identifier = Annotated[StrictStr, AfterValidator(_identifier)]
Character = Annotated[NonEmpty, AfterValidator(_one_character)]
Format = Annotated[NonEmpty, AfterValidator(_round_trips)]


def _value(kind: str, scale: int | None, raw: object) -> Scalar:
    """``raw`` from the file as a value of a ``kind`` column (a bound or an allowed value)."""
    if kind == "string":
        if not isinstance(raw, str):
            raise ValueError(f"expected a string, got {raw!r} (quote it)")
        return raw
    if kind == "integer":
        if not isinstance(raw, int) or isinstance(raw, bool):
            raise ValueError(f"expected an integer, got {raw!r}")
        return raw
    try:
        value = Decimal(str(raw))
    except ArithmeticError:
        raise ValueError(f"expected a number, got {raw!r}") from None
    exponent = value.as_tuple().exponent
    if isinstance(raw, bool) or not isinstance(exponent, int) or -exponent > (scale or 0):
        raise ValueError(f"{raw!r} is not a decimal with scale {scale}")
    return value


class Extract(Model):
    """Who sends the extract to whom, and which edition of the specification it follows."""

    sender: Annotated[NonEmpty, AfterValidator(_one_of(SENDERS))]
    recipient: Annotated[NonEmpty, AfterValidator(_one_of(RECIPIENTS))]
    title: NonEmpty
    version: Annotated[str, BeforeValidator(_scalar_text)]


class Dialect(Model):
    """How the CSV file is written: everything a reader must know without guessing."""

    separator: Character = ";"
    quote: Character = '"'
    encoding: Annotated[NonEmpty, AfterValidator(_one_of(_ENCODINGS))] = "utf-8"
    header: Annotated[StrictBool, AfterValidator(_header)] = True
    decimal: Annotated[Character, AfterValidator(_decimal_mark)] = ","
    date_format: Format = "%Y-%m-%d"
    timestamp_format: Format = "%Y-%m-%dT%H:%M:%S"
    null: StrictStr = ""
    true_value: NonEmpty = "true"
    false_value: NonEmpty = "false"

    @model_validator(mode="before")
    @classmethod
    def _null_key(cls, raw: object) -> object:
        """YAML reads the key ``null:`` as no value at all; here it is the key's name."""
        if isinstance(raw, dict) and None in raw:
            return {("null" if key is None else key): value for key, value in raw.items()}
        return raw

    @model_validator(mode="after")
    def _distinct_marks(self) -> Dialect:
        if self.separator in (self.quote, self.decimal):
            raise Invalid("clashes with the quote or decimal character", "separator")
        if self.true_value == self.false_value:
            raise Invalid("must differ from false_value", "true_value")
        return self


class Column(Model):
    """One column of the file, in file order, with every constraint the data must meet."""

    name: Identifier
    type: Annotated[ColumnType, BeforeValidator(_column_type)]
    description: NonEmpty
    required: StrictBool = False
    unique: StrictBool = False
    pattern: Annotated[NonEmpty, AfterValidator(_pattern)] | None = None
    max_length: Annotated[StrictInt, Field(ge=1)] | None = None
    precision: Annotated[StrictInt, Field(ge=1)] | None = None
    scale: Annotated[StrictInt, Field(ge=0)] | None = None
    min: int | Decimal | None = None
    max: int | Decimal | None = None
    allowed: Annotated[tuple[Scalar, ...], Field(min_length=1)] | None = None

    @field_validator("min", "max", mode="before")
    @classmethod
    def _bound(cls, raw: object, info: ValidationInfo) -> object:
        """A bound as the column's own kind of number (the type and scale are read before it)."""
        kind = info.data.get("type")
        if kind is None or raw is None:
            return raw
        if kind not in ("integer", "decimal"):
            raise ValueError(f"{info.field_name} applies to numeric columns only")
        return _value(kind, info.data.get("scale"), raw)

    @field_validator("allowed", mode="before")
    @classmethod
    def _allowed_values(cls, raw: object, info: ValidationInfo) -> object:
        kind = info.data.get("type")
        if kind is None or raw is None:
            return raw
        if kind in ("date", "timestamp", "boolean"):
            raise ValueError("allowed applies to string and numeric columns only")
        if not isinstance(raw, list):
            return raw  # the list type refuses it
        values = []
        for index, item in enumerate(raw):
            try:
                values.append(_value(kind, info.data.get("scale"), item))
            except ValueError as exc:
                raise Invalid(str(exc), index) from None
        return tuple(values)

    @model_validator(mode="after")
    def _consistent(self) -> Column:
        for key, kinds, what in (
            ("pattern", ("string",), "string"),
            ("max_length", ("string",), "string"),
            ("precision", ("decimal",), "decimal"),
            ("scale", ("decimal",), "decimal"),
        ):
            if getattr(self, key) is not None and self.type not in kinds:
                raise Invalid(f"{key} applies to {what} columns only", key)
        if self.type == "decimal":
            if self.precision is None or self.scale is None:
                raise Invalid("a decimal needs precision and scale", "type")
            if self.scale > self.precision or self.precision > 38:
                raise Invalid("scale must be ≤ precision ≤ 38", "scale")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise Invalid(f"min {self.min} is greater than max {self.max}", "min")
        for index, value in enumerate(self.allowed or ()):
            self._check_allowed(value, index)
        if self.unique and self.allowed is not None:
            raise Invalid("a unique column cannot also have a fixed value set", "unique")
        return self

    def _check_allowed(self, value: Scalar, index: int) -> None:
        """An allowed value must itself meet the column's other constraints."""
        if isinstance(value, str):
            if self.max_length is not None and len(value) > self.max_length:
                raise Invalid(f"allowed value {value!r} is longer than max_length", "allowed", index)
            if self.pattern is not None and not re.fullmatch(self.pattern, value):
                raise Invalid(f"allowed value {value!r} does not match the pattern", "allowed", index)
        elif (self.min is not None and value < self.min) or (self.max is not None and value > self.max):
            raise Invalid(f"allowed value {value} is outside min/max", "allowed", index)


class Rule(Model):
    """A cross-column rule: ``column`` must be ≥ (``ge``) or > (``gt``) another where both are present."""

    column: Identifier
    ge: Identifier | None = None
    gt: Identifier | None = None

    @model_validator(mode="after")
    def _one_comparison(self) -> Rule:
        if (self.ge is None) == (self.gt is None):
            raise Invalid("give exactly one of ge or gt")
        return self

    @property
    def op(self) -> Comparison:
        """``ge`` or ``gt``: whichever the rule gives."""
        return "ge" if self.ge is not None else "gt"

    @property
    def other(self) -> str:
        """The column compared with."""
        return self.ge or self.gt or ""


class _Table(Model):
    table: Identifier


class _RowCount(Model):
    min: Annotated[StrictInt, Field(ge=0)] | None = None
    max: Annotated[StrictInt, Field(ge=1)] | None = None

    @model_validator(mode="after")
    def _ordered(self) -> _RowCount:
        if self.min is not None and self.max is not None and self.min > self.max:
            raise Invalid(f"min {self.min} is greater than max {self.max}", "min")
        return self


class _SpecFile(Model):
    """The file as written; the references between its entries (columns named by keys, placements and
    rules) are checked here, each at the line of the reference."""

    extract: Extract
    file: Dialect
    columns: Annotated[tuple[Column, ...], Field(min_length=1)]
    primary_key: Annotated[tuple[Identifier, ...], Field(min_length=1)]
    load: LoadMode
    kommune_column: Identifier
    period_column: Identifier
    source: _Table | None = None
    warehouse: _Table | None = None
    row_count: _RowCount = _RowCount()
    rules: tuple[Rule, ...] = ()

    @model_validator(mode="after")
    def _references(self) -> _SpecFile:
        names = [c.name for c in self.columns]
        for index, name in enumerate(names):
            if name in names[:index]:
                raise Invalid(f"column {name!r} is defined more than once", "columns", index, "name")
        for index, key in enumerate(self.primary_key):
            if key not in names:
                raise Invalid(f"no column called {key!r}", "primary_key", index)
        self._placement("kommune_column", {"string"})
        self._placement("period_column", {"string", "date"})
        for index, rule in enumerate(self.rules):
            self._rule(rule, index)
        return self

    def _column(self, name: str) -> Column | None:
        return next((c for c in self.columns if c.name == name), None)

    def _placement(self, key: str, types: set[str]) -> None:
        """The kommune or period column: a required column of one of ``types``."""
        name = getattr(self, key)
        column = self._column(name)
        if column is None:
            raise Invalid(f"no column called {name!r}", key)
        if column.type not in types or not column.required:
            raise Invalid(f"column {name!r} must be a required {' or '.join(sorted(types))}", key)

    def _rule(self, rule: Rule, index: int) -> None:
        for key, name in (("column", rule.column), (rule.op, rule.other)):
            if self._column(name) is None:
                raise Invalid(f"no column called {name!r}", "rules", index, key)
        if rule.column == rule.other:
            raise Invalid("a column cannot be compared with itself", "rules", index)
        kinds = {c.type for c in self.columns if c.name in (rule.column, rule.other)}
        if len(kinds) != 1 or kinds & {"string", "boolean"}:
            problem = f"{rule.column!r} and {rule.other!r} must share a numeric, date or timestamp type"
            raise Invalid(problem, "rules", index)


@dataclass(frozen=True)
class DataSpec:
    """A whole data specification (Dataspecifikation) for one extract."""

    name: str
    path: Path
    extract: Extract
    dialect: Dialect
    columns: tuple[Column, ...]
    primary_key: tuple[str, ...]
    load: LoadMode
    kommune_column: str
    period_column: str
    source_table: str
    warehouse_table: str
    min_rows: int | None = None
    max_rows: int | None = None
    rules: tuple[Rule, ...] = field(default=())

    @property
    def column_names(self) -> list[str]:
        """Column names in file order."""
        return [c.name for c in self.columns]

    def column(self, name: str) -> Column:
        """The column called ``name`` (KeyError if the spec has none)."""
        for col in self.columns:
            if col.name == name:
                return col
        raise KeyError(name)


def spec_dir(directory: Path | None = None) -> Path:
    """The spec directory: ``directory`` when given, else ``include/dataspecs``."""
    return directory if directory is not None else DEFAULT_SPEC_DIR


def list_specs(directory: Path | None = None) -> list[str]:
    """Names (file stems) of every spec in the directory, sorted."""
    return sorted(p.stem for p in spec_dir(directory).glob("*.yaml"))


def load_spec(name: str, directory: Path | None = None) -> DataSpec:
    """Load the spec called ``name`` (``ky``, ``ksd`` …) from the spec directory."""
    if not _NAME.match(name):
        raise ConfigError(name, 1, "spec", f"spec name {name!r} is not a lower-case identifier")
    path = spec_dir(directory) / f"{name}.yaml"
    if not path.is_file():
        raise ConfigError(spec_dir(directory), 1, "spec", f"no spec called {name!r} in {spec_dir(directory)}")
    return load_spec_file(path)


def load_spec_file(path: Path) -> DataSpec:
    """Parse and check one spec file; raises ConfigError naming the file, line and entry."""
    raw, where = read_yaml(path)
    spec = validate(_SpecFile, raw, Path(_display(path)), where)
    name = path.stem
    return DataSpec(
        name=name,
        path=path,
        extract=spec.extract,
        dialect=spec.file,
        columns=spec.columns,
        primary_key=spec.primary_key,
        load=spec.load,
        kommune_column=spec.kommune_column,
        period_column=spec.period_column,
        source_table=spec.source.table if spec.source else name,
        warehouse_table=spec.warehouse.table if spec.warehouse else f"lis_{name}",
        min_rows=spec.row_count.min,
        max_rows=spec.row_count.max,
        rules=spec.rules,
    )


def _display(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(INCLUDE_DIR.parent))
    except ValueError:
        return str(path)
