"""Reading the project's YAML files strictly: one loader, one engine, one error type, one duration type.

Every configuration file (kommuner, senders, receivers, the emulator's configuration, the data specs) is
read here. A typo must stop the start with the file, the line and the entry named, never silently change
behaviour a month later: unknown keys, missing keys, wrong types and *duplicate keys* (YAML itself lets a
second ``routes:`` replace the first) are all refused. Every file is described by pydantic models (bases
:class:`Model`, and :class:`RunSettings` for what senders and receivers share) validated from the plain
document; :func:`validate` turns pydantic's error locations back into line numbers and entry names, and a
validator that checks one key or item of its model raises :class:`Invalid` to be located there.
"""

from __future__ import annotations

import re
import stat
import uuid
from collections.abc import Hashable, Mapping, Sequence
from datetime import date, timedelta
from pathlib import Path
from typing import Annotated, Any, TypeVar

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    StringConstraints,
    ValidationError,
)

_DURATION = re.compile(r"([0-9]+)([smhd])")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


class ConfigError(ValueError):
    """A configuration problem, located by file, line and entry: ``FILE:LINE: ENTRY: PROBLEM``."""

    def __init__(self, file: Path | str, line: int, entry: str, problem: str) -> None:
        self.file, self.line, self.entry, self.problem = Path(file), line, entry, problem
        super().__init__(f"{file}:{line}: {entry}: {problem}")


class Invalid(ValueError):
    """Raised by a model's validator about one of its keys or items (``at``, relative to the model), so
    the :class:`ConfigError` names that entry's line rather than the model's first line."""

    def __init__(self, problem: str, *at: Hashable) -> None:
        self.at = at
        super().__init__(problem)


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


def _uuid(value: object) -> uuid.UUID:
    """A UUID from a file (its text) or from code; the message names the value, not the parser's state."""
    try:
        return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))
    except ValueError:
        raise ValueError(f"{value!r} is not a UUID") from None


#: An it-system's UUID.
Uuid = Annotated[uuid.UUID, BeforeValidator(_uuid)]
#: A non-empty text (surrounding white space dropped).
Text = Annotated[str, StringConstraints(min_length=1, strip_whitespace=True)]
#: The name of an Airflow connection (``{user}`` may stand for a LIS system's connection slug).
ConnId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_{}]{1,200}$")]


class Model(BaseModel):
    """Base of every configuration model: immutable, unknown keys refused."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class RunSettings(Model):
    """How a DAG runs and whom it alerts: the keys a sender's and a receiver's settings share.

    :func:`sf1630.airflow.runs.dag_arguments` turns them into a DAG's keyword arguments, so the four DAG
    builders schedule, start and retry alike.
    """

    owner: Text
    schedule: Text
    timezone: Text
    start_date: date
    #: Runs for months whose run time has passed since ``start_date`` are made too (the demo's one month).
    catchup: bool = False
    #: No run for a month starting after this day (the demo: its month is the only one).
    end_date: date | None = None
    retries: Annotated[int, Field(ge=0)]
    retry_delay: Duration
    max_retry_delay: Duration
    on_call_email: Text | None = None
    smtp_conn_id: ConnId | None = None
    slack_conn_id: ConnId | None = None


class Located:
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

    def error(self, file: Path | str, loc: Sequence[Hashable], problem: str) -> ConfigError:
        """The :class:`ConfigError` of the entry at ``loc``: its line and its name (``senders[2].code``)."""
        return ConfigError(file, self.line(loc), entry_name(loc), problem)


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


def _yaml_error(path: Path, exc: yaml.YAMLError) -> ConfigError:
    mark = getattr(exc, "problem_mark", None)
    line = mark.line + 1 if mark is not None else 1
    problem = getattr(exc, "problem", None) or str(exc)
    return ConfigError(path, line, "document", f"not valid YAML: {problem}")


def _record(node: yaml.Node, path: tuple[Hashable, ...], where: Located) -> None:
    where.lines.setdefault(path, node.start_mark.line + 1)  # a key's own line, not its value's
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key = key_node.value if isinstance(key_node, yaml.ScalarNode) else str(key_node)
            where.lines[(*path, key)] = key_node.start_mark.line + 1
            _record(value_node, (*path, key), where)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _record(item, (*path, index), where)


def read_yaml(path: Path) -> tuple[Any, Located]:
    """The document in ``path`` as plain values, and where each of its nodes is; raises ConfigError."""
    node, value = _parse(Path(path))
    where = Located()
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
    model: type[M], raw: Any, path: Path, where: Located | None = None, prefix: tuple[Hashable, ...] = ()
) -> M:
    """``raw`` (found at ``prefix`` in the document) validated as ``model``; ConfigError with its line.

    Validators get the file's folder as ``info.context["folder"]``: a path a file names (such as a sender's
    ``extract_sql``) is relative to the folder the file is in, whichever folder that is.
    """
    try:
        return model.model_validate(raw, context={"folder": Path(path).parent})
    except ValidationError as exc:
        first = exc.errors()[0]
        cause = first.get("ctx", {}).get("error")
        at = cause.at if isinstance(cause, Invalid) else ()
        loc = (*prefix, *(part for part in first["loc"] if not str(part).startswith("function-")), *at)
        raise (where or Located()).error(path, loc, _problem(first)) from None


def load_model(path: Path, model: type[M]) -> M:
    """Read ``path`` strictly and validate it as ``model``; every problem is a :class:`ConfigError`."""
    raw, where = read_yaml(path)
    return validate(model, raw, Path(path), where)
