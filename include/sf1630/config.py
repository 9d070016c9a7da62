"""Reading the project's YAML files strictly: one loader, one error type, one duration type.

Every configuration file (kommuner, senders, receivers, the emulator's registry, the data specs) is read
here. A typo must stop the start with the file, the line and the entry named, never silently change
behaviour a month later: unknown keys, missing keys, wrong types and *duplicate keys* (YAML itself lets a
second ``routes:`` replace the first) are all refused. The registry's and the receivers' typed models are
pydantic models validated from the document (:func:`load_model` turns pydantic's error locations back into
line numbers); the emulator's registry (:mod:`sf1630.platform.config`) and the data specs
(:mod:`sf1630.dataspec.spec`) are still built from the same loader's documents by their own readers.
"""

from __future__ import annotations

import re
import stat
from collections.abc import Hashable, Mapping, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, TypeVar

import yaml
from pydantic import BaseModel, BeforeValidator, ConfigDict, PlainSerializer, ValidationError

_DURATION = re.compile(r"([0-9]+)([smhd])")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


class ConfigError(ValueError):
    """A configuration problem, located by file, line and entry: ``FILE:LINE: ENTRY: PROBLEM``."""

    def __init__(self, file: Path | str, line: int, entry: str, problem: str) -> None:
        self.file, self.line, self.entry, self.problem = Path(file), line, entry, problem
        super().__init__(f"{file}:{line}: {entry}: {problem}")


def parse_duration(value: object) -> timedelta:
    """``"30s"``, ``"5m"``, ``"6h"`` or ``"2d"`` as a timedelta; anything else raises ValueError.

    Only strings with a unit: a bare number would leave the reader guessing seconds or minutes.
    """
    match = _DURATION.fullmatch(value.strip()) if isinstance(value, str) else None
    if match is None:
        raise ValueError(f"{value!r} is not a duration like 30s, 5m, 6h or 2d")
    return timedelta(**{_UNITS[match[2]]: int(match[1])})


def format_duration(value: timedelta) -> str:
    """The inverse of :func:`parse_duration` (largest whole unit), for writing configuration back."""
    seconds = int(value.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def _duration(value: object) -> timedelta:
    """A duration from a file (a string, see :func:`parse_duration`) or from code (a timedelta)."""
    return value if isinstance(value, timedelta) else parse_duration(value)


#: A duration in a configuration file: ``<integer><s|m|h|d>``.
Duration = Annotated[timedelta, BeforeValidator(_duration), PlainSerializer(format_duration, return_type=str)]


class Model(BaseModel):
    """Base of every configuration model: immutable, unknown keys refused."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class _Located:
    """Line numbers of a document's mappings and sequences, keyed by their path of keys and indexes."""

    def __init__(self) -> None:
        self.lines: dict[tuple[Hashable, ...], int] = {}

    def line(self, path: Sequence[Hashable]) -> int:
        """The line of the deepest known node on ``path`` (1 when nothing is known)."""
        for end in range(len(path), -1, -1):
            found = self.lines.get(tuple(path[:end]))
            if found is not None:
                return found
        return 1


try:
    from yaml import CSafeLoader as _SafeLoader
except ImportError:  # a PyYAML built without libyaml
    from yaml import SafeLoader as _SafeLoader  # type: ignore[assignment]


class _StrictLoader(_SafeLoader):
    """A SafeLoader that refuses duplicate keys instead of letting the last one win. On libyaml's parser
    when PyYAML has it: the pure-Python one takes most of a DAG file's parse time on ``kommuner.yaml``."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Hashable, Any]:
        seen: set[Hashable] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r}", key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def _regular_text(path: Path) -> str:
    try:
        mode = path.stat().st_mode
        if not stat.S_ISREG(mode):
            raise ConfigError(path, 1, "file", "is not a regular file")
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(path, 1, "file", f"cannot read: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise ConfigError(path, 1, "file", "is not UTF-8") from None


def _parse(path: Path) -> tuple[yaml.Node | None, Any]:
    """The node tree and the plain value of ``path``; constructing the value refuses duplicate keys."""
    text = _regular_text(path)
    try:
        node = yaml.compose(text, Loader=_StrictLoader)
        return node, (_StrictLoader("").construct_document(node) if node is not None else None)
    except yaml.YAMLError as exc:
        raise _yaml_error(path, exc) from None


def compose(path: Path) -> yaml.Node | None:
    """The YAML node tree of ``path``, for readers that walk nodes (the data specs); strict as above."""
    return _parse(path)[0]


def _yaml_error(path: Path, exc: yaml.YAMLError) -> ConfigError:
    mark = getattr(exc, "problem_mark", None)
    line = mark.line + 1 if mark is not None else 1
    problem = getattr(exc, "problem", None) or str(exc)
    return ConfigError(path, line, "document", f"not valid YAML: {problem}")


def _record(node: yaml.Node, path: tuple[Hashable, ...], where: _Located) -> None:
    where.lines.setdefault(path, node.start_mark.line + 1)  # a key's own line, not its value's
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key = key_node.value if isinstance(key_node, yaml.ScalarNode) else str(key_node)
            where.lines[(*path, key)] = key_node.start_mark.line + 1
            _record(value_node, (*path, key), where)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _record(item, (*path, index), where)


def read_yaml(path: Path) -> tuple[Any, _Located]:
    """The document in ``path`` as plain values, and where each of its nodes is; raises ConfigError."""
    node, value = _parse(Path(path))
    where = _Located()
    if node is not None:
        _record(node, (), where)
    return value, where


def entry_name(loc: Sequence[Hashable]) -> str:
    """``senders[2].retry_delay`` for pydantic's location ``("senders", 2, "retry_delay")``."""
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "document"


def _problem(error: Mapping[str, Any]) -> str:
    message = str(error.get("msg", "invalid"))
    for prefix in ("Value error, ", "Assertion failed, "):
        message = message.removeprefix(prefix)
    if error.get("type") == "extra_forbidden":
        return "unknown key"
    if error.get("type") == "missing":
        return "missing key"
    return message


M = TypeVar("M", bound=BaseModel)


def validate(
    model: type[M], raw: Any, path: Path, where: _Located | None = None, prefix: tuple[Hashable, ...] = ()
) -> M:
    """``raw`` (found at ``prefix`` in the document) validated as ``model``; ConfigError with its line.

    Validators get the file's folder as ``info.context["folder"]``: a path a file names (such as a sender's
    ``extract_sql``) is relative to the folder the file is in, whichever folder that is.
    """
    try:
        return model.model_validate(raw, context={"folder": Path(path).parent})
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = (*prefix, *(part for part in first["loc"] if not str(part).startswith("function-")))
        line = where.line(loc) if where is not None else 1
        raise ConfigError(path, line, entry_name(loc), _problem(first)) from None


def load_model(path: Path, model: type[M]) -> M:
    """Read ``path`` strictly and validate it as ``model``; every problem is a :class:`ConfigError`."""
    raw, where = read_yaml(path)
    return validate(model, raw, Path(path), where)
