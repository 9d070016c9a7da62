"""The data-spec model and its YAML loader.

One YAML file per extract is the single source for the polars schema, the GX suite, the warehouse DDL, the
export SQL and the synthetic data, so the loader is strict: an unknown key, a bad type or a rule that
contradicts itself is refused with ``file:line: problem``, since a silently ignored typo would otherwise
weaken every derived artefact at once.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

import yaml

from sf1630 import INCLUDE_DIR
from sf1630.config import ConfigError, compose

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


@dataclass(frozen=True)
class Extract:
    """Who sends the extract to whom, and which edition of the specification it follows."""

    sender: str
    recipient: str
    title: str
    version: str


@dataclass(frozen=True)
class Dialect:
    """How the CSV file is written: everything a reader must know without guessing."""

    separator: str = ";"
    quote: str = '"'
    encoding: str = "utf-8"
    header: bool = True
    decimal: str = ","
    date_format: str = "%Y-%m-%d"
    timestamp_format: str = "%Y-%m-%dT%H:%M:%S"
    null: str = ""
    true_value: str = "true"
    false_value: str = "false"


@dataclass(frozen=True)
class Column:
    """One column of the file, in file order, with every constraint the data must meet."""

    name: str
    type: ColumnType
    description: str
    required: bool = False
    unique: bool = False
    pattern: str | None = None
    allowed: tuple[Scalar, ...] | None = None
    min: int | Decimal | None = None
    max: int | Decimal | None = None
    max_length: int | None = None
    precision: int | None = None
    scale: int | None = None
    line: int = 0


@dataclass(frozen=True)
class Rule:
    """A cross-column rule: ``column`` must be ≥ (``ge``) or > (``gt``) ``other`` where both are present."""

    column: str
    op: Comparison
    other: str
    line: int = 0


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
    return _Builder(path).spec(compose(path))


def _display(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(INCLUDE_DIR.parent))
    except ValueError:
        return str(path)


class _Builder:
    """Walks the composed YAML nodes, so every error can point at the line that caused it."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def fail(self, node: yaml.Node | None, message: str) -> ConfigError:
        """``message`` is ``"entry: problem"``, located at ``node``'s line."""
        line = node.start_mark.line + 1 if node is not None else 1
        entry, _, problem = message.partition(": ")
        return ConfigError(_display(self.path), line, entry, problem or entry)

    def mapping(
        self, node: yaml.Node | None, where: str, required: set[str], optional: set[str]
    ) -> dict[str, yaml.Node]:
        if not isinstance(node, yaml.MappingNode):
            raise self.fail(node, f"{where}: expected a mapping")
        out: dict[str, yaml.Node] = {}
        for key_node, value_node in node.value:
            key = key_node.value
            if key not in required | optional:
                raise self.fail(key_node, f"{where}: unknown key {key!r}")
            if key in out:
                raise self.fail(key_node, f"{where}: duplicate key {key!r}")
            out[key] = value_node
        missing = sorted(required - out.keys())
        if missing:
            raise self.fail(node, f"{where}: missing key(s) {', '.join(missing)}")
        return out

    def scalar(self, node: yaml.Node, where: str) -> Any:
        if not isinstance(node, yaml.ScalarNode):
            raise self.fail(node, f"{where}: expected a single value")
        return yaml.safe_load(yaml.serialize(node)) if node.tag != "tag:yaml.org,2002:str" else node.value

    def text(self, node: yaml.Node, where: str, *, allow_empty: bool = False) -> str:
        value = self.scalar(node, where)
        if not isinstance(value, str) or (not value and not allow_empty):
            raise self.fail(node, f"{where}: expected a non-empty string, got {value!r}")
        return value

    def boolean(self, node: yaml.Node, where: str) -> bool:
        value = self.scalar(node, where)
        if not isinstance(value, bool):
            raise self.fail(node, f"{where}: expected true or false, got {value!r}")
        return value

    def integer(self, node: yaml.Node, where: str, *, minimum: int = 0) -> int:
        value = self.scalar(node, where)
        if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
            raise self.fail(node, f"{where}: expected an integer ≥ {minimum}, got {value!r}")
        return value

    def identifier(self, node: yaml.Node, where: str) -> str:
        value = self.text(node, where)
        if not _NAME.match(value):
            raise self.fail(node, f"{where}: {value!r} is not a lower-case SQL identifier")
        return value

    def sequence(self, node: yaml.Node, where: str) -> list[yaml.Node]:
        if not isinstance(node, yaml.SequenceNode) or not node.value:
            raise self.fail(node, f"{where}: expected a non-empty list")
        return list(node.value)

    def spec(self, root: yaml.Node | None) -> DataSpec:
        top = self.mapping(
            root,
            "spec",
            {"extract", "file", "columns", "primary_key", "load", "kommune_column", "period_column"},
            {"source", "warehouse", "row_count", "rules"},
        )
        columns = tuple(self.column(n, i) for i, n in enumerate(self.sequence(top["columns"], "columns")))
        names = [c.name for c in columns]
        for col, node in zip(columns, top["columns"].value, strict=True):
            if names.count(col.name) > 1:
                raise self.fail(node, f"column {col.name!r}: defined more than once")
        pk = tuple(
            self.identifier(n, "primary_key") for n in self.sequence(top["primary_key"], "primary_key")
        )
        for key_node, key in zip(top["primary_key"].value, pk, strict=True):
            if key not in names:
                raise self.fail(key_node, f"primary_key: no column called {key!r}")
        kommune = self.placement(top["kommune_column"], "kommune_column", columns, {"string"})
        period = self.placement(top["period_column"], "period_column", columns, {"string", "date"})
        load = self.text(top["load"], "load")
        if load not in ("snapshot", "append"):
            raise self.fail(top["load"], f"load: expected snapshot or append, got {load!r}")
        extract = self.extract(top["extract"])
        name = self.path.stem
        source = self.mapping(top["source"], "source", {"table"}, set()) if "source" in top else {}
        warehouse = (
            self.mapping(top["warehouse"], "warehouse", {"table"}, set()) if "warehouse" in top else {}
        )
        min_rows, max_rows = self.row_count(top.get("row_count"))
        rules = tuple(self.rule(n, columns) for n in (top["rules"].value if "rules" in top else []))
        return DataSpec(
            name=name,
            path=self.path,
            extract=extract,
            dialect=self.dialect(top["file"]),
            columns=columns,
            primary_key=pk,
            load="snapshot" if load == "snapshot" else "append",
            kommune_column=kommune,
            period_column=period,
            source_table=self.identifier(source["table"], "source.table") if source else name,
            warehouse_table=(
                self.identifier(warehouse["table"], "warehouse.table") if warehouse else f"lis_{name}"
            ),
            min_rows=min_rows,
            max_rows=max_rows,
            rules=rules,
        )

    def placement(self, node: yaml.Node, where: str, columns: tuple[Column, ...], types: set[str]) -> str:
        value = self.identifier(node, where)
        match = [c for c in columns if c.name == value]
        if not match:
            raise self.fail(node, f"{where}: no column called {value!r}")
        if match[0].type not in types or not match[0].required:
            raise self.fail(
                node, f"{where}: column {value!r} must be a required {' or '.join(sorted(types))}"
            )
        return value

    def extract(self, node: yaml.Node) -> Extract:
        m = self.mapping(node, "extract", {"sender", "recipient", "title", "version"}, set())
        sender = self.text(m["sender"], "extract.sender")
        if sender not in SENDERS:
            raise self.fail(m["sender"], f"extract.sender: {sender!r} is not one of {sorted(SENDERS)}")
        recipient = self.text(m["recipient"], "extract.recipient")
        if recipient not in RECIPIENTS:
            raise self.fail(
                m["recipient"], f"extract.recipient: {recipient!r} is not one of {sorted(RECIPIENTS)}"
            )
        return Extract(
            sender,
            recipient,
            self.text(m["title"], "extract.title"),
            str(self.scalar(m["version"], "extract.version")),
        )

    def dialect(self, node: yaml.Node) -> Dialect:
        keys = set(Dialect.__dataclass_fields__)
        m = self.mapping(node, "file", set(), keys)
        values: dict[str, Any] = {}
        for key, value_node in m.items():
            where = f"file.{key}"
            if key == "header":
                values[key] = self.boolean(value_node, where)
            else:
                values[key] = self.text(value_node, where, allow_empty=key == "null")
        dialect = Dialect(**values)
        for key in ("separator", "quote", "decimal"):
            if len(getattr(dialect, key)) != 1:
                raise self.fail(m.get(key, node), f"file.{key}: must be exactly one character")
        if dialect.separator in (dialect.quote, dialect.decimal):
            raise self.fail(
                m.get("separator", node), "file.separator: clashes with the quote or decimal character"
            )
        if dialect.decimal not in (".", ","):
            raise self.fail(m["decimal"], "file.decimal: must be '.' or ','")
        if dialect.encoding not in _ENCODINGS:
            raise self.fail(
                m["encoding"], f"file.encoding: {dialect.encoding!r} is not one of {sorted(_ENCODINGS)}"
            )
        if not dialect.header:
            raise self.fail(m["header"], "file.header: files without a header row are not supported")
        for key, probe in (
            ("date_format", datetime(2001, 2, 3)),
            ("timestamp_format", datetime(2001, 2, 3, 4, 5, 6)),
        ):
            fmt = getattr(dialect, key)
            try:
                parsed = datetime.strptime(probe.strftime(fmt), fmt)
            except ValueError as exc:
                raise self.fail(m.get(key, node), f"file.{key}: {fmt!r} does not round-trip: {exc}") from exc
            if parsed != probe:
                raise self.fail(m.get(key, node), f"file.{key}: {fmt!r} loses part of the value")
        if dialect.true_value == dialect.false_value:
            raise self.fail(m.get("true_value", node), "file.true_value: must differ from false_value")
        return dialect

    def column(self, node: yaml.Node, index: int) -> Column:
        where = f"columns[{index}]"
        if isinstance(node, yaml.MappingNode):
            named = [v.value for k, v in node.value if k.value == "name" and isinstance(v, yaml.ScalarNode)]
            where = f"column {named[0]!r}" if named else where
        m = self.mapping(
            node,
            where,
            {"name", "type", "description"},
            {"required", "unique", "pattern", "allowed", "min", "max", "max_length", "precision", "scale"},
        )
        name = self.identifier(m["name"], f"{where}.name")
        where = f"column {name!r}"
        kind = self.text(m["type"], f"{where}: type")
        if kind not in COLUMN_TYPES:
            raise self.fail(
                m["type"], f"{where}: unknown type {kind!r} (use one of {', '.join(COLUMN_TYPES)})"
            )
        col = Column(
            name=name,
            type=kind,  # type: ignore[arg-type]
            description=self.text(m["description"], f"{where}: description"),
            required=self.boolean(m["required"], f"{where}: required") if "required" in m else False,
            unique=self.boolean(m["unique"], f"{where}: unique") if "unique" in m else False,
            pattern=self.pattern(m["pattern"], where) if "pattern" in m else None,
            max_length=self.integer(m["max_length"], f"{where}: max_length", minimum=1)
            if "max_length" in m
            else None,
            precision=self.integer(m["precision"], f"{where}: precision", minimum=1)
            if "precision" in m
            else None,
            scale=self.integer(m["scale"], f"{where}: scale") if "scale" in m else None,
            line=node.start_mark.line + 1,
        )
        return self.column_values(col, m, where)

    def column_values(self, col: Column, m: dict[str, yaml.Node], where: str) -> Column:
        string_only = [k for k in ("pattern", "max_length") if k in m and col.type != "string"]
        if string_only:
            raise self.fail(m[string_only[0]], f"{where}: {string_only[0]} applies to string columns only")
        numeric_only = [k for k in ("min", "max") if k in m and col.type not in ("integer", "decimal")]
        if numeric_only:
            raise self.fail(m[numeric_only[0]], f"{where}: {numeric_only[0]} applies to numeric columns only")
        decimal_only = [k for k in ("precision", "scale") if k in m and col.type != "decimal"]
        if decimal_only:
            raise self.fail(m[decimal_only[0]], f"{where}: {decimal_only[0]} applies to decimal columns only")
        if col.type == "decimal":
            if col.precision is None or col.scale is None:
                raise self.fail(m["type"], f"{where}: a decimal needs precision and scale")
            if col.scale > col.precision or col.precision > 38:
                raise self.fail(m["scale"], f"{where}: scale must be ≤ precision ≤ 38")
        convert = self.converter(col)
        low = convert(m["min"], f"{where}: min") if "min" in m else None
        high = convert(m["max"], f"{where}: max") if "max" in m else None
        if low is not None and high is not None and low > high:  # type: ignore[operator]
            raise self.fail(m["min"], f"{where}: min {low} is greater than max {high}")
        allowed = None
        if "allowed" in m:
            if col.type in ("date", "timestamp", "boolean"):
                raise self.fail(m["allowed"], f"{where}: allowed applies to string and numeric columns only")
            allowed = tuple(
                convert(n, f"{where}: allowed") for n in self.sequence(m["allowed"], f"{where}: allowed")
            )
            for value_node, value in zip(m["allowed"].value, allowed, strict=True):
                self.check_allowed(value_node, where, col, value, low, high)
        if col.unique and allowed is not None:
            raise self.fail(m["unique"], f"{where}: a unique column cannot also have a fixed value set")
        return Column(**{**col.__dict__, "min": low, "max": high, "allowed": allowed})  # type: ignore[arg-type]

    def check_allowed(
        self, node: yaml.Node, where: str, col: Column, value: Scalar, low: Any, high: Any
    ) -> None:
        if isinstance(value, str):
            if col.max_length is not None and len(value) > col.max_length:
                raise self.fail(node, f"{where}: allowed value {value!r} is longer than max_length")
            if col.pattern is not None and not re.fullmatch(col.pattern, value):
                raise self.fail(node, f"{where}: allowed value {value!r} does not match the pattern")
        elif (low is not None and value < low) or (high is not None and value > high):
            raise self.fail(node, f"{where}: allowed value {value} is outside min/max")

    def converter(self, col: Column) -> Callable[[yaml.Node, str], Any]:
        def convert(node: yaml.Node, where: str) -> Any:
            raw = self.scalar(node, where)
            if col.type == "string":
                if not isinstance(raw, str):
                    raise self.fail(node, f"{where}: expected a string, got {raw!r} (quote it)")
                return raw
            if col.type == "integer":
                if not isinstance(raw, int) or isinstance(raw, bool):
                    raise self.fail(node, f"{where}: expected an integer, got {raw!r}")
                return raw
            try:
                value = Decimal(str(raw))
            except ArithmeticError as exc:
                raise self.fail(node, f"{where}: expected a number, got {raw!r}") from exc
            exponent = value.as_tuple().exponent
            if isinstance(raw, bool) or not isinstance(exponent, int) or -exponent > (col.scale or 0):
                raise self.fail(node, f"{where}: {raw!r} is not a decimal with scale {col.scale}")
            return value

        return convert

    def pattern(self, node: yaml.Node, where: str) -> str:
        value = self.text(node, f"{where}: pattern")
        try:
            re.compile(value)
        except re.error as exc:
            raise self.fail(node, f"{where}: pattern {value!r} does not compile: {exc}") from exc
        if value.startswith("^") or value.endswith("$"):
            raise self.fail(
                node, f"{where}: pattern must not carry ^ or $ (it always matches the whole value)"
            )
        return value

    def row_count(self, node: yaml.Node | None) -> tuple[int | None, int | None]:
        if node is None:
            return None, None
        m = self.mapping(node, "row_count", set(), {"min", "max"})
        low = self.integer(m["min"], "row_count.min") if "min" in m else None
        high = self.integer(m["max"], "row_count.max", minimum=1) if "max" in m else None
        if low is not None and high is not None and low > high:
            raise self.fail(node, f"row_count: min {low} is greater than max {high}")
        return low, high

    def rule(self, node: yaml.Node, columns: tuple[Column, ...]) -> Rule:
        m = self.mapping(node, "rule", {"column"}, {"ge", "gt"})
        ops = [k for k in ("ge", "gt") if k in m]
        if len(ops) != 1:
            raise self.fail(node, "rule: give exactly one of ge or gt")
        by_name = {c.name: c for c in columns}
        left = self.identifier(m["column"], "rule.column")
        right = self.identifier(m[ops[0]], f"rule.{ops[0]}")
        for ref, ref_node in ((left, m["column"]), (right, m[ops[0]])):
            if ref not in by_name:
                raise self.fail(ref_node, f"rule: no column called {ref!r}")
        if left == right:
            raise self.fail(node, "rule: a column cannot be compared with itself")
        kinds = {by_name[left].type, by_name[right].type}
        if len(kinds) != 1 or kinds & {"string", "boolean"}:
            raise self.fail(
                node, f"rule: {left!r} and {right!r} must share a numeric, date or timestamp type"
            )
        return Rule(left, "ge" if ops[0] == "ge" else "gt", right, node.start_mark.line + 1)
