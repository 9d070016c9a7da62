"""The one strict YAML loader: durations, duplicate keys, and errors that name file, line and entry."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from pydantic import model_validator
from sf1630.config import (
    ConfigError,
    Duration,
    Invalid,
    Model,
    format_duration,
    load_model,
    parse_duration,
)


class _Example(Model):
    name: str
    wait: Duration


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("30s", timedelta(seconds=30)),
        ("5m", timedelta(minutes=5)),
        ("6h", timedelta(hours=6)),
        ("2d", timedelta(days=2)),
    ],
)
def test_durations(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected
    assert format_duration(expected) == text


@pytest.mark.parametrize("text", ["", "5", "5 minutes", "-5m", "1.5h", 30])
def test_bad_durations(text: object) -> None:
    with pytest.raises(ValueError, match=r"is not a duration like 30s"):
        parse_duration(text)


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "example.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_model_loads(tmp_path: Path) -> None:
    loaded = load_model(_write(tmp_path, "name: a\nwait: 5m\n"), _Example)
    assert (loaded.name, loaded.wait) == ("a", timedelta(minutes=5))


def test_duplicate_key_is_refused_with_its_line(tmp_path: Path) -> None:
    """YAML lets a second key replace the first; a second ``routes:`` would silently drop every route."""
    path = _write(tmp_path, "name: a\nwait: 5m\nname: b\n")
    with pytest.raises(ConfigError) as caught:
        load_model(path, _Example)
    assert (caught.value.file, caught.value.line) == (path, 3)
    assert "duplicate key 'name'" in caught.value.problem
    assert str(caught.value).startswith(f"{path}:3: document: ")


def test_error_names_file_line_and_entry(tmp_path: Path) -> None:
    path = _write(tmp_path, "name: a\n# a comment\nwait: soon\n")
    with pytest.raises(ConfigError) as caught:
        load_model(path, _Example)
    assert str(caught.value) == f"{path}:3: wait: 'soon' is not a duration like 30s, 5m, 6h or 2d"


def test_unknown_and_missing_keys(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r":2: colour: unknown key$"):
        load_model(_write(tmp_path, "name: a\ncolour: blue\nwait: 1s\n"), _Example)
    with pytest.raises(ConfigError, match=r":1: wait: missing key$"):
        load_model(_write(tmp_path, "name: a\n"), _Example)


def test_unreadable_and_invalid_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"missing\.yaml:1: file: cannot read"):
        load_model(tmp_path / "missing.yaml", _Example)
    with pytest.raises(ConfigError, match=r":2: document: not valid YAML"):
        load_model(_write(tmp_path, "name: a\n  wait: [\n"), _Example)


class _Window(Model):
    opens: Duration
    closes: Duration


class _Windows(Model):
    windows: tuple[_Window, ...]

    @model_validator(mode="after")
    def _ordered(self) -> _Windows:
        for index, window in enumerate(self.windows):
            if window.opens >= window.closes:
                raise Invalid("opens must be before closes", "windows", index, "opens")
        return self


def test_a_validator_names_the_key_at_fault(tmp_path: Path) -> None:
    """A check across keys (made once the model is whole) still names the key's own line and path."""
    text = "windows:\n  - opens: 1m\n    closes: 2m\n  - closes: 1m\n    opens: 5m\n"
    with pytest.raises(ConfigError) as caught:
        load_model(_write(tmp_path, text), _Windows)
    assert str(caught.value).endswith(":5: windows[1].opens: opens must be before closes")
