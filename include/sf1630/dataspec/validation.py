"""Validating a delivered file against its spec: parse checks, then every expectation of the spec's suite.

Where the time goes in GX's default path (profiled with cProfile on 1,000,000 KY rows): importing GX (about
3 s on the 2-core machine, scipy and pydantic models included), hashing the whole pandas frame for batch
markers (``hash_pandas_dataframe``), then one pandas pass per row-level expectation with object-dtype strings,
plus building ``unexpected_index`` lists. The project's engine therefore

* reads the file once with polars (text columns, no inference) and casts with the spec's exact formats;
* evaluates every expectation of the same suite (:func:`sf1630.dataspec.suite.expectation_configs`, the
  configurations :func:`~sf1630.dataspec.suite.build_suite` turns into the GX ExpectationSuite) in polars with
  GX's semantics: nulls ignored except by ``not_be_null``; duplicates count every occurrence; regexes are
  searched, and the suite anchors them; column lists compared in order or as sets; row counts inclusive.
  GX itself is never imported on this path, which is most of a receiver task's start-up time.

``engine="gx"`` runs the whole suite through GX (the reference); ``tests/unit/dataspec/test_validation.py``
checks that both engines agree expectation by expectation on every corruption class of every spec.
A file that cannot be parsed gets the same report shape with ``parse.*`` entries instead of a traceback:
that includes what Python's csv module refuses (a field over its 131072-character limit, CR-only line
endings), so the receiver quarantines such a file like any other invalid one. A NUL byte anywhere is refused
(``parse.nul``): DuckDB would store it but PostgreSQL cannot, and validation accepts only what every
supported warehouse can hold.
:func:`check_bytes` also hands back the typed frame, so a loader does not read the file twice.
"""

from __future__ import annotations

import codecs
import csv
import errno
import io
import os
import stat
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from sf1630.dataspec.report import SAMPLE_SIZE, CheckResult, ValidationReport
from sf1630.dataspec.schema import lexical_pattern, parse_expression, read_options
from sf1630.dataspec.spec import DataSpec
from sf1630.dataspec.suite import build_suite, expectation_configs, gx_context

#: Table-level expectations: evaluated on the frame's shape, never on every value.
TABLE_LEVEL = frozenset(
    {
        "expect_table_columns_to_match_ordered_list",
        "expect_table_columns_to_match_set",
        "expect_table_row_count_to_be_between",
    }
)
_OTHER_SEPARATORS = (",", ";", "\t", "|")


class ParseFailure(Exception):
    """The file cannot be turned into a frame; carries the report entry that says why."""

    def __init__(self, result: CheckResult) -> None:
        super().__init__(result.detail)
        self.result = result


@dataclass(frozen=True)
class CheckedFile:
    """A file's report and, when it parsed, its typed frame.

    Spec columns are cast, a column with any bad value stays text; ``frame`` is what a loader inserts once
    ``report.success`` holds (then every column has its spec type).
    """

    report: ValidationReport
    frame: pl.DataFrame | None


#: A check only the caller knows (e.g. "every row belongs to the delivery"), run on the typed frame.
ExtraCheck = Callable[[pl.DataFrame], CheckResult]


def read_regular_file(path: Path) -> bytes:
    """The bytes of ``path``, which must be a regular file: a FIFO or device would block or never end.

    The file is opened without blocking and checked on the open descriptor, so swapping the path for a FIFO
    after a check cannot make the read hang; raises OSError (``EINVAL``, "not a regular file") otherwise.
    """
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    with os.fdopen(fd, "rb") as file:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(errno.EINVAL, "not a regular file", str(path))
        return file.read()


def validate_file(path: Path, spec: DataSpec, *, engine: str = "project") -> ValidationReport:
    """Validate ``path`` against ``spec``; ``engine="gx"`` runs every expectation through GX (reference path).

    Raises OSError only when the file cannot be read at all (or is not a regular file).
    """

    def source() -> bytes:
        return read_regular_file(path)

    return _check(source, spec, name=path.name, engine=engine, extra=(), keep_frame=False).report


def validate_bytes(data: bytes, spec: DataSpec, *, name: str, engine: str = "project") -> ValidationReport:
    """Validate file content already in memory (see :func:`validate_file`)."""
    return check_bytes(data, spec, name=name, engine=engine, keep_frame=False).report


def check_file(
    path: Path,
    spec: DataSpec,
    *,
    extra: tuple[ExtraCheck, ...] = (),
    keep_frame: bool = True,
    engine: str = "project",
) -> CheckedFile:
    """:func:`check_bytes` for a file on disk (the receiver's staged download).

    The bytes are read inside, so no caller holds them and they are freed as soon as polars has parsed
    them, before the typed frame is built: the file's size is paid once, during the parse only.
    """

    def source() -> bytes:
        return read_regular_file(path)

    return _check(source, spec, name=path.name, engine=engine, extra=extra, keep_frame=keep_frame)


def check_bytes(
    data: bytes,
    spec: DataSpec,
    *,
    name: str,
    engine: str = "project",
    extra: tuple[ExtraCheck, ...] = (),
    keep_frame: bool = True,
) -> CheckedFile:
    """Validate ``data`` and keep the typed frame (unless ``keep_frame`` is false) for loading.

    ``extra`` checks run on the typed frame after the suite and join the report (same shape), e.g. the
    receiver's "every row belongs to this delivery".
    """
    return _check(lambda: data, spec, name=name, engine=engine, extra=extra, keep_frame=keep_frame)


def _check(
    source: Callable[[], bytes],
    spec: DataSpec,
    *,
    name: str,
    engine: str,
    extra: tuple[ExtraCheck, ...],
    keep_frame: bool,
) -> CheckedFile:
    if engine not in ("project", "gx"):
        raise ValueError(f"engine must be 'project' or 'gx', not {engine!r}")
    try:
        raw, parse_results = parse(source(), spec)
    except ParseFailure as failure:
        report = ValidationReport(spec=spec.name, file=name, rows=None, results=(failure.result,))
        return CheckedFile(report, None)
    except (csv.Error, UnicodeError, pl.exceptions.PolarsError) as exc:
        # Whatever a reader refuses that no parse check names: still the normal report, never a traceback.
        refused = CheckResult("parse.read", False, detail=f"{type(exc).__name__}: {_first_line(exc)}")
        report = ValidationReport(spec=spec.name, file=name, rows=None, results=(refused,))
        return CheckedFile(report, None)
    rows = raw.height
    typed = cast_frame(raw, spec)
    del raw  # the text columns of typed columns go; only the typed frame is kept
    if engine == "gx":
        results = run_gx(typed.frame, spec)
    else:
        results = run_table(typed.frame, spec) + run_polars(typed, spec)
    results += [check(typed.frame) for check in extra]
    report = ValidationReport(spec=spec.name, file=name, rows=rows, results=tuple(parse_results + results))
    return CheckedFile(report, typed.frame if keep_frame else None)


def _first_line(exc: BaseException) -> str:
    return (str(exc).splitlines() or [""])[0][:200]


def parse(data: bytes, spec: DataSpec) -> tuple[pl.DataFrame, list[CheckResult]]:
    """Decode strictly, check the header and row shape, then read every column as text."""
    d = spec.dialect
    if not data:
        raise ParseFailure(CheckResult("parse.empty", False, detail="the file is empty (0 bytes)"))
    _check_line_endings(data)
    if data.startswith(codecs.BOM_UTF8):
        if d.encoding != "utf-8-sig":
            raise ParseFailure(
                CheckResult(
                    "parse.bom",
                    False,
                    detail=f"the file starts with a UTF-8 byte-order mark; spec says {d.encoding}",
                )
            )
        data = data[len(codecs.BOM_UTF8) :]
    text = _decode(data, d.encoding)
    _check_no_nul(data)
    header = _header(data, text, spec)
    _check_rows(data, text, spec, len(header))
    utf8 = data if text is None else text.encode("utf-8")
    del text
    try:
        raw = pl.read_csv(utf8, **read_options(spec, header))
    except pl.exceptions.PolarsError as exc:
        raise ParseFailure(CheckResult("parse.read", False, detail=str(exc).splitlines()[0])) from exc
    ok = [CheckResult(name, True) for name in ("parse.encoding", "parse.header", "parse.rows")]
    return raw, ok


def _check_no_nul(data: bytes) -> None:
    """Refuse NUL bytes: PostgreSQL text cannot hold U+0000, so such a file could not be loaded everywhere."""
    at = data.find(b"\x00")
    if at >= 0:
        line = data.count(b"\n", 0, at) + 1
        raise ParseFailure(
            CheckResult(
                "parse.nul",
                False,
                unexpected_count=data.count(b"\x00"),
                sample=(f"line {line}, byte {at}",),
                detail=f"line {line}, byte {at}: a NUL byte, which no supported warehouse can store as text",
            )
        )


def _check_line_endings(data: bytes) -> None:
    """Refuse CR-only line endings (old Mac style): readers disagree on them, so the rows are ambiguous.

    A CR counts as a line ending when no LF follows it; a CR inside a quoted field is read by the CSV
    checks below, which refuse an unquoted one.
    """
    if b"\r" in data and b"\n" not in data:
        raise ParseFailure(
            CheckResult(
                "parse.line_endings",
                False,
                sample=(repr(data[:40]),),
                detail="the file uses CR-only line endings; the spec's dialect needs LF or CRLF",
            )
        )


def _csv_failure(exc: csv.Error, where: str) -> ParseFailure:
    """A csv module refusal (field over 131072 characters, bare CR in a field, ...) as a parse result."""
    return ParseFailure(CheckResult("parse.read", False, detail=f"{where}: {_first_line(exc)}"))


def _decode(data: bytes, encoding: str) -> str | None:
    """Check the encoding strictly; returns the text only when it is not UTF-8 (polars reads UTF-8 bytes)."""
    codec = "utf-8" if encoding == "utf-8-sig" else encoding
    if codec == "utf-8" and _valid_utf8(data):
        return None
    try:
        return data.decode(codec)
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise ParseFailure(
            CheckResult(
                "parse.encoding",
                False,
                sample=(repr(data[exc.start : exc.start + 4]),),
                detail=f"line {line}, byte {exc.start}: not valid {encoding} ({exc.reason})",
            )
        ) from exc


def _valid_utf8(data: bytes) -> bool:
    """pyarrow's vectorised UTF-8 check: no 185 MB Python string just to learn the bytes are fine."""
    import pyarrow as pa

    offsets = pa.py_buffer(np.array([0, len(data)], dtype=np.int64).tobytes())
    array = pa.Array.from_buffers(pa.large_binary(), 1, [None, offsets, pa.py_buffer(data)])
    try:
        array.cast(pa.large_string()).validate(full=True)
    except pa.ArrowInvalid:
        return False
    return True


def _header(data: bytes, text: str | None, spec: DataSpec) -> list[str]:
    d = spec.dialect
    end = data.find(b"\n")
    first_bytes = data if end < 0 else data[:end]
    first = (first_bytes.decode("utf-8") if text is None else text.split("\n", 1)[0]).rstrip("\r")
    try:
        header = next(csv.reader([first], delimiter=d.separator, quotechar=d.quote), [])
    except csv.Error as exc:
        raise _csv_failure(exc, "header") from exc
    if len(header) == 1 and len(spec.columns) > 1:
        other = [s for s in _OTHER_SEPARATORS if s != d.separator and s in first]
        hint = f"; it looks separated by {other[0]!r}" if other else ""
        raise ParseFailure(
            CheckResult(
                "parse.separator",
                False,
                sample=(first[:80],),
                detail=f"the header has no {d.separator!r} separator{hint}",
            )
        )
    if len(set(header)) != len(header) or not all(header):
        raise ParseFailure(
            CheckResult("parse.header", False, sample=(first[:80],), detail="blank or repeated names")
        )
    return header


def _check_rows(data: bytes, text: str | None, spec: DataSpec, width: int) -> None:
    """Every record must have as many fields as the header (polars would pad short rows with nulls)."""
    d = spec.dialect
    if d.quote.encode() in data or b"\x1f" in data or text is not None:
        source = text if text is not None else data.decode("utf-8")
        reader = csv.reader(io.StringIO(source), delimiter=d.separator, quotechar=d.quote)
        try:
            counts = [len(r) for r in reader]
        except csv.Error as exc:
            raise _csv_failure(exc, f"line {reader.line_num}") from exc
        bad = [(i + 1, n) for i, n in enumerate(counts) if n != width]
        total = len(bad)
    else:
        fields = _fields_per_line(data, d.separator.encode())
        index = np.flatnonzero(fields != width)
        total = len(index)
        bad = [(int(i) + 1, int(fields[i])) for i in index[:SAMPLE_SIZE]]
    if total:
        raise ParseFailure(
            CheckResult(
                "parse.rows",
                False,
                unexpected_count=total,
                sample=tuple(f"line {line}: {count} fields" for line, count in bad[:SAMPLE_SIZE]),
                detail=f"{total} ragged record(s): the header has {width} fields",
            )
        )


def _fields_per_line(data: bytes, separator: bytes, chunk: int = 1 << 24) -> np.ndarray[Any, Any]:
    """Fields on each line of unquoted CSV, counted in chunks so memory stays small beside the file."""
    view = np.frombuffer(data, dtype=np.uint8)
    sep, newline = separator[0], ord("\n")
    counts: list[np.ndarray[Any, Any]] = []
    carry = 0
    for start in range(0, len(view), chunk):
        part = view[start : start + chunk]
        seps = np.flatnonzero(part == sep)
        ends = np.flatnonzero(part == newline)
        before = np.searchsorted(seps, ends)
        line_counts = np.diff(before, prepend=0)
        if len(line_counts):
            line_counts[0] += carry
            carry = len(seps) - int(before[-1])
        else:
            carry += len(seps)
        counts.append(line_counts + 1)
    if len(view) and view[-1] != newline:
        counts.append(np.array([carry + 1]))
    return np.concatenate(counts) if counts else np.zeros(0, dtype=np.int64)


class TypedFrame:
    """The frame the expectations see plus the per-column type verdicts (bad texts of each failing column)."""

    def __init__(self, frame: pl.DataFrame, bad_types: dict[str, pl.Series]) -> None:
        self.frame = frame
        self.bad_types = bad_types


def cast_frame(raw: pl.DataFrame, spec: DataSpec) -> TypedFrame:
    """Cast every spec column found; a column with any unparseable text stays text (its type check fails)."""
    present = [c for c in spec.columns if c.name in raw.columns]
    typed = [c for c in present if lexical_pattern(c, spec.dialect) is not None]
    parsed = raw.select(parse_expression(c, spec.dialect) for c in typed)
    counts = (
        pl.concat([raw.select(c.name for c in typed).rename(lambda n: f"raw:{n}"), parsed], how="horizontal")
        .select((pl.col(f"raw:{c.name}").is_not_null() & pl.col(c.name).is_null()).sum() for c in typed)
        .row(0)
        if typed
        else ()
    )
    bad_types = {
        c.name: raw[c.name].filter(raw[c.name].is_not_null() & parsed[c.name].is_null())
        for c, n in zip(typed, counts, strict=True)
        if n
    }
    frame = raw.with_columns(parsed[c.name] for c in typed if c.name not in bad_types)
    return TypedFrame(frame, bad_types)


def run_gx(frame: pl.DataFrame, spec: DataSpec) -> list[CheckResult]:
    """Validate ``frame`` with the whole GX suite in one ``validate`` call (the reference engine)."""
    context = gx_context()
    suite = build_suite(spec)
    source = context.data_sources.add_or_update_pandas(f"sf1630_{spec.name}")
    asset = source.add_dataframe_asset(f"file_{len(source.assets)}")
    batch_definition = asset.add_batch_definition_whole_dataframe("whole")
    pdf = frame.to_pandas(use_pyarrow_extension_array=True)
    result = batch_definition.get_batch(batch_parameters={"dataframe": pdf}).validate(
        suite, result_format={"result_format": "SUMMARY", "partial_unexpected_count": SAMPLE_SIZE}
    )
    return [_from_gx(r) for r in result.results]


def _from_gx(r: Any) -> CheckResult:
    cfg = r.expectation_config
    res = r.result or {}
    detail = ""
    if r.exception_info and r.exception_info.get("raised_exception"):
        detail = str(r.exception_info.get("exception_message", "")).splitlines()[0][:200]
    elif "observed_value" in res and not r.success:
        detail = f"observed {res['observed_value']!s:.200}"
    column = cfg.kwargs.get("column")
    return CheckResult(
        expectation=cfg.type,
        success=bool(r.success),
        column=column,
        unexpected_count=int(res.get("unexpected_count") or 0),
        sample=tuple(str(v) for v in (res.get("partial_unexpected_list") or [])[:SAMPLE_SIZE]),
        detail=detail,
        kwargs={k: v for k, v in cfg.kwargs.items() if k not in ("column", "batch_id")},
    )


def run_table(frame: pl.DataFrame, spec: DataSpec) -> list[CheckResult]:
    """The table-level expectations of the suite, GX semantics and result shape (``observed`` on failure)."""
    results = []
    for kind, kwargs in expectation_configs(spec):
        if kind not in TABLE_LEVEL:
            continue
        observed: object
        if kind == "expect_table_columns_to_match_ordered_list":
            observed = list(frame.columns)
            ok = observed == list(kwargs["column_list"])
        elif kind == "expect_table_columns_to_match_set":
            observed = list(frame.columns)
            wanted, have = set(kwargs["column_set"]), set(frame.columns)
            ok = have == wanted if kwargs.get("exact_match", True) else wanted <= have
        else:
            observed = frame.height
            low, high = kwargs.get("min_value"), kwargs.get("max_value")
            ok = (low is None or frame.height >= low) and (high is None or frame.height <= high)
        detail = "" if ok else f"observed {observed!s:.200}"
        results.append(CheckResult(kind, ok, detail=detail, kwargs=dict(kwargs)))
    return results


def run_polars(checked: TypedFrame, spec: DataSpec) -> list[CheckResult]:
    """Evaluate the row-level expectations of the suite in polars, GX semantics, same result shape.

    All unexpected-counts come from one ``select`` (polars runs the expressions in parallel); samples are
    gathered only for the expectations that failed.
    """
    planned: list[tuple[str, dict[str, Any], pl.Expr | CheckResult]] = [
        (kind, kwargs, _plan(checked, kind, kwargs))
        for kind, kwargs in expectation_configs(spec)
        if kind not in TABLE_LEVEL
    ]
    masks = {f"m{i}": plan for i, (_, _, plan) in enumerate(planned) if isinstance(plan, pl.Expr)}
    counts = (
        checked.frame.select(m.sum().alias(n) for n, m in masks.items()).row(0, named=True) if masks else {}
    )
    results = []
    for i, (kind, kwargs, plan) in enumerate(planned):
        if isinstance(plan, CheckResult):
            results.append(plan)
            continue
        extra = {k: v for k, v in kwargs.items() if k != "column"}
        count = int(counts[f"m{i}"] or 0)
        sample: tuple[str, ...] = ()
        if count:
            values = checked.frame.filter(plan).select(_sample_expr(kwargs)).to_series().head(SAMPLE_SIZE)
            sample = tuple("∅" if v is None else str(v) for v in values.to_list())
        results.append(CheckResult(kind, count == 0, kwargs.get("column"), count, sample, "", extra))
    return results


def _plan(checked: TypedFrame, kind: str, kwargs: dict[str, Any]) -> pl.Expr | CheckResult:
    """The boolean "unexpected row" expression of an expectation, or its result when no row needs a look."""
    frame = checked.frame
    names = [kwargs[k] for k in ("column", "column_A", "column_B") if k in kwargs] + kwargs.get(
        "column_list", []
    )
    missing = [n for n in names if n not in frame.columns]
    column = kwargs.get("column")
    extra = {k: v for k, v in kwargs.items() if k != "column"}
    if missing:
        return CheckResult(
            kind, False, column, detail=f"column(s) {', '.join(missing)} not in the file", kwargs=extra
        )
    if kind == "expect_column_values_to_be_of_type":
        bad = checked.bad_types.get(str(column), pl.Series([], dtype=pl.String))
        sample = tuple(str(v) for v in bad.head(SAMPLE_SIZE).to_list())
        detail = f"not of type {kwargs['type_']}" if len(bad) else ""
        return CheckResult(kind, len(bad) == 0, column, len(bad), sample, detail, extra)
    wrong_type = [n for n in names if n in checked.bad_types]
    if wrong_type and kind not in _TEXT_SAFE:
        detail = f"column {wrong_type[0]} holds text of the wrong type"
        return CheckResult(kind, False, column, detail=detail, kwargs=extra)
    return _ROW_CHECKS[kind](kwargs)


def _sample_expr(kwargs: dict[str, Any]) -> pl.Expr:
    if "column" in kwargs:
        return pl.col(kwargs["column"]).cast(pl.String)
    cols = kwargs.get("column_list") or [kwargs["column_A"], kwargs["column_B"]]
    return pl.concat_str([pl.col(c).cast(pl.String).fill_null("∅") for c in cols], separator="|")


def _unique(kw: dict[str, Any]) -> pl.Expr:
    col = pl.col(kw["column"])
    return col.is_duplicated() & col.is_not_null()


def _compound_unique(kw: dict[str, Any]) -> pl.Expr:
    cols = kw["column_list"]
    return pl.struct(cols).is_duplicated() & ~pl.all_horizontal(pl.col(c).is_null() for c in cols)


def _between(kw: dict[str, Any]) -> pl.Expr:
    col = pl.col(kw["column"])
    bad = pl.lit(False)
    if kw.get("min_value") is not None:
        bad = bad | (col < pl.lit(kw["min_value"]))
    if kw.get("max_value") is not None:
        bad = bad | (col > pl.lit(kw["max_value"]))
    return bad.fill_null(False)


def _pair(kw: dict[str, Any]) -> pl.Expr:
    a, b = pl.col(kw["column_A"]), pl.col(kw["column_B"])
    ok = a >= b if kw.get("or_equal") else a > b
    return (~ok).fill_null(False)


def _map(expr: Callable[[pl.Expr, dict[str, Any]], pl.Expr]) -> Callable[[dict[str, Any]], pl.Expr]:
    def check(kw: dict[str, Any]) -> pl.Expr:
        col = pl.col(kw["column"])
        return (col.is_not_null() & ~expr(col, kw)).fill_null(False)

    return check


_ROW_CHECKS: dict[str, Callable[[dict[str, Any]], pl.Expr]] = {
    "expect_column_values_to_not_be_null": lambda kw: pl.col(kw["column"]).is_null(),
    "expect_column_values_to_be_unique": _unique,
    "expect_compound_columns_to_be_unique": _compound_unique,
    "expect_column_values_to_match_regex": _map(lambda c, kw: c.cast(pl.String).str.contains(kw["regex"])),
    "expect_column_values_to_be_in_set": _map(lambda c, kw: c.is_in(kw["value_set"])),
    "expect_column_value_lengths_to_be_between": _map(
        lambda c, kw: c.str.len_chars().is_between(kw.get("min_value") or 0, kw.get("max_value") or 2**31)
    ),
    "expect_column_values_to_be_between": _between,
    "expect_column_pair_values_a_to_be_greater_than_b": _pair,
}
#: Row checks whose meaning holds on text (a wrong-typed column is text in the frame, exactly as GX sees it).
_TEXT_SAFE = frozenset(
    {
        "expect_column_values_to_be_unique",
        "expect_compound_columns_to_be_unique",
        "expect_column_values_to_not_be_null",
    }
)
