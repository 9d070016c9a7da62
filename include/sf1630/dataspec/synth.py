"""Synthetic extract data: deterministic for a seed, valid by construction, for one kommune and period.

Rows are generated column-wise with numpy (a million rows take seconds, not minutes), and string patterns are
turned into values by walking the regular expression's parse tree, so a spec edit never needs a matching
generator edit. Keys are re-drawn until unique, which is what makes "valid by construction" hold.
"""

from __future__ import annotations

import calendar
import re
from datetime import date, datetime, timedelta
from decimal import Decimal
from re import _constants as sre_constants  # type: ignore[attr-defined]  # sre_* moved here in 3.11
from re import _parser as sre_parse  # type: ignore[attr-defined]
from typing import Any

import numpy as np
import polars as pl

from sf1630.dataspec.schema import polars_dtype
from sf1630.dataspec.spec import Column, DataSpec
from sf1630.protocol.period import Period

_AUTHORITY = re.compile(r"^[0-9]{8}$")
_FREE_TEXT = (
    "Jobcenter Øst",
    "Ydelsesteam Nord",
    "Børne- og familieafdelingen",
    "Sygedagpengeteam Århus",
    "Team Ærø",
    "Skoleafdelingen",
)
_NULL_SHARE = 0.05


class SynthError(ValueError):
    """The request cannot be met (bad authority or period, or a key space too small for the rows)."""


def period_bounds(period: Period) -> tuple[date, date]:
    """First and last day of ``period``."""
    year, month = period.year, period.month
    return date(year, month, 1), date(year, month, calendar.monthrange(year, month)[1])


def synthesize(spec: DataSpec, rows: int, authority: str, period: Period, seed: int) -> pl.DataFrame:
    """A typed frame of ``rows`` valid rows for kommune ``authority`` (8-digit CVR) and ``period``."""
    if not _AUTHORITY.match(authority):
        raise SynthError(f"authority {authority!r} is not an 8-digit CVR number")
    if rows < 0:
        raise SynthError("rows must be ≥ 0")
    first, last = period_bounds(period)
    rng = np.random.default_rng(seed)
    data: dict[str, pl.Series] = {}
    for column in spec.columns:
        if column.name == spec.kommune_column:
            data[column.name] = pl.Series(column.name, [authority] * rows, pl.String)
        elif column.name == spec.period_column and column.type == "string":
            data[column.name] = pl.Series(column.name, [str(period)] * rows, pl.String)
        elif column.name == spec.period_column:
            data[column.name] = _dates(rng, rows, first, last).alias(column.name)
        else:
            data[column.name] = _values(rng, column, rows, first, last).alias(column.name)
    frame = pl.DataFrame(data)
    frame = _apply_rules(spec, frame)
    frame = _make_unique(spec, frame, rng, first, last)
    return frame.select(pl.col(c.name).cast(polars_dtype(c)) for c in spec.columns)


def _values(rng: np.random.Generator, column: Column, rows: int, first: date, last: date) -> pl.Series:
    series = _draw(rng, column, rows, first, last)
    if not column.required and not column.unique and rows:
        mask = pl.Series(rng.random(rows) < _NULL_SHARE)
        series = pl.select(pl.when(mask).then(None).otherwise(series)).to_series()
    return series


def _draw(rng: np.random.Generator, column: Column, rows: int, first: date, last: date) -> pl.Series:
    if column.allowed is not None:
        choice = rng.integers(0, len(column.allowed), rows)
        values = list(column.allowed)
        return pl.Series([values[i] for i in choice.tolist()], dtype=polars_dtype(column))
    if column.type == "string":
        if column.pattern is not None:
            return _from_pattern(rng, column.pattern, rows)
        texts = [t[: column.max_length] if column.max_length else t for t in _FREE_TEXT]
        return pl.Series([texts[i] for i in rng.integers(0, len(texts), rows).tolist()], dtype=pl.String)
    if column.type == "integer":
        low = int(column.min) if column.min is not None else 0
        high = int(column.max) if column.max is not None else 1_000_000
        return pl.Series(rng.integers(low, high + 1, rows, dtype=np.int64))
    if column.type == "decimal":
        return _decimals(rng, column, rows)
    if column.type == "date":
        return _dates(rng, rows, first - timedelta(days=3 * 365), last)
    if column.type == "timestamp":
        base = datetime.combine(last, datetime.min.time())
        seconds = rng.integers(0, 86_400 * 3, rows).tolist()
        return pl.Series([base + timedelta(seconds=s) for s in seconds], dtype=pl.Datetime("us"))
    return pl.Series(rng.random(rows) < 0.5)


def _decimals(rng: np.random.Generator, column: Column, rows: int) -> pl.Series:
    scale = column.scale or 0
    limit = Decimal(10) ** ((column.precision or 1) - scale) - Decimal(1).scaleb(-scale)
    low = column.min if column.min is not None else -limit
    high = column.max if column.max is not None else limit
    unit = 10**scale
    cents = rng.integers(int(Decimal(low) * unit), int(Decimal(high) * unit) + 1, rows, dtype=np.int64)
    values: pl.Series = pl.Series(cents).cast(pl.Decimal(38, scale)) / unit
    return values


def _dates(rng: np.random.Generator, rows: int, first: date, last: date) -> pl.Series:
    offsets = rng.integers(0, (last - first).days + 1, rows)
    return (pl.Series(offsets).cast(pl.Int32) + (first - date(1970, 1, 1)).days).cast(pl.Date)


def _apply_rules(spec: DataSpec, frame: pl.DataFrame) -> pl.DataFrame:
    for rule in spec.rules:
        a, b = pl.col(rule.column), pl.col(rule.other)
        bumped = pl.max_horizontal(a, b)
        if rule.op == "gt":
            bumped = pl.when(a > b).then(a).otherwise(b + _step(spec.column(rule.column)))
        frame = frame.with_columns(pl.when(a.is_null()).then(None).otherwise(bumped).alias(rule.column))
    return frame


def _step(column: Column) -> Any:
    if column.type in ("date", "timestamp"):
        return timedelta(days=1)
    return Decimal(1).scaleb(-(column.scale or 0)) if column.type == "decimal" else 1


def _make_unique(
    spec: DataSpec, frame: pl.DataFrame, rng: np.random.Generator, first: date, last: date
) -> pl.DataFrame:
    """Re-draw the non-fixed columns of every unique key until no two rows share a key."""
    fixed = {spec.kommune_column} | (
        {spec.period_column} if spec.column(spec.period_column).type == "string" else set()
    )
    keys = [[c.name] for c in spec.columns if c.unique] + [list(spec.primary_key)]
    for key in keys:
        movable = [k for k in key if k not in fixed]
        for _ in range(50):
            duplicated = frame.select(pl.struct(key).is_duplicated()).to_series()
            count = int(duplicated.sum())
            if count == 0:
                break
            index: np.ndarray[Any, Any] = np.flatnonzero(duplicated.to_numpy())[1:]
            if not movable or len(index) == 0:
                raise SynthError(f"key {key} of spec {spec.name} cannot be made unique")
            for name in movable:
                fresh = _draw(rng, spec.column(name), len(index), first, last)
                column = frame[name].to_list()
                for position, value in zip(index.tolist(), fresh.to_list(), strict=True):
                    column[position] = value
                frame = frame.with_columns(pl.Series(name, column, dtype=frame[name].dtype))
        else:
            raise SynthError(
                f"key {key} of spec {spec.name}: too few distinct values for {frame.height} rows"
            )
    return frame


def _from_pattern(rng: np.random.Generator, pattern: str, rows: int) -> pl.Series:
    """Random strings matching ``pattern`` (literals, classes, bounded repeats, groups and alternations)."""
    parsed = sre_parse.parse(pattern)
    return _sequence(rng, list(parsed), rows)


def _sequence(rng: np.random.Generator, items: list[Any], rows: int) -> pl.Series:
    parts = [_item(rng, op, arg, rows) for op, arg in items]
    if not parts:
        return pl.Series([""] * rows, dtype=pl.String)
    return pl.select(pl.concat_str(parts)).to_series()


def _item(rng: np.random.Generator, op: Any, arg: Any, rows: int) -> pl.Series:
    if op is sre_constants.LITERAL:
        return pl.Series([chr(arg)] * rows, dtype=pl.String)
    if op is sre_constants.IN:
        alphabet = _alphabet(arg)
        return pl.Series(np.array(alphabet)[rng.integers(0, len(alphabet), rows)], dtype=pl.String)
    if op is sre_constants.MAX_REPEAT or op is sre_constants.MIN_REPEAT:
        low, high, sub = arg
        high = min(high, low + 8) if high is not sre_constants.MAXREPEAT else low + 8
        lengths = rng.integers(low, high + 1, rows)
        parts = []
        for i in range(high):
            piece = _sequence(rng, list(sub), rows)
            parts.append(
                pl.select(pl.when(pl.Series(lengths > i)).then(piece).otherwise(pl.lit(""))).to_series()
            )
        return (
            pl.select(pl.concat_str(parts)).to_series() if parts else pl.Series([""] * rows, dtype=pl.String)
        )
    if op is sre_constants.SUBPATTERN:
        return _sequence(rng, list(arg[-1]), rows)
    if op is sre_constants.BRANCH:
        branches = [_sequence(rng, list(b), rows) for b in arg[1]]
        pick = rng.integers(0, len(branches), rows)
        out = branches[0]
        for i, branch in enumerate(branches[1:], start=1):
            out = pl.select(pl.when(pl.Series(pick == i)).then(branch).otherwise(out)).to_series()
        return out
    raise SynthError(f"pattern element {op} is not supported by the generator")


def _alphabet(items: list[Any]) -> list[str]:
    chars: list[str] = []
    for op, arg in items:
        if op is sre_constants.LITERAL:
            chars.append(chr(arg))
        elif op is sre_constants.RANGE:
            chars.extend(chr(c) for c in range(arg[0], arg[1] + 1))
        elif op is sre_constants.CATEGORY and arg is sre_constants.CATEGORY_DIGIT:
            chars.extend("0123456789")
        else:
            raise SynthError(f"character class element {op} is not supported by the generator")
    return chars
