"""Reading a delivered CSV file into a text frame: the parse-level checks GX cannot make, nothing more.

Great Expectations validates a data frame, so the file has to become one first; what can stop that is
checked here, before GX sees anything, and reported in the normal report shape (``parse.*`` entries) instead
of a traceback: an empty file, a byte-order mark the spec does not allow, an encoding error, NUL bytes
(DuckDB would store them, PostgreSQL cannot), CR-only line endings (readers disagree on them), what Python's
csv module refuses (a field over its 131072-character limit, a bare CR in a field), a header without the
spec's separator or with blank or repeated names, and ragged records (polars would pad short rows with
nulls). Every value is then read as text; whether a value is of its column's type, in range, unique and so
on is for the suite to say (:mod:`sf1630.dataspec.validation`), never decided here.
"""

from __future__ import annotations

import codecs
import csv
import errno
import io
import os
import stat
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from sf1630.dataspec.report import SAMPLE_SIZE, CheckResult
from sf1630.dataspec.schema import read_options
from sf1630.dataspec.spec import DataSpec

OTHER_SEPARATORS = (",", ";", "\t", "|")


class ParseFailure(Exception):
    """The file cannot be turned into a frame; carries the report entry that says why."""

    def __init__(self, result: CheckResult) -> None:
        super().__init__(result.detail)
        self.result = result


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
    return ParseFailure(CheckResult("parse.read", False, detail=f"{where}: {first_line(exc)}"))


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
        other = [s for s in OTHER_SEPARATORS if s != d.separator and s in first]
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
        fields = fields_per_line(data, d.separator.encode())
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


def fields_per_line(data: bytes, separator: bytes, chunk: int = 1 << 24) -> np.ndarray[Any, Any]:
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


def first_line(exc: BaseException) -> str:
    """The first line of an exception's message, at most 200 characters (for a report entry)."""
    return (str(exc).splitlines() or [""])[0][:200]


def read_text_frame(data: bytes, spec: DataSpec) -> tuple[pl.DataFrame, list[CheckResult]]:
    """:func:`parse`; what a reader refuses and no parse check names is a ``parse.read`` failure."""
    try:
        return parse(data, spec)
    except (csv.Error, UnicodeError, pl.exceptions.PolarsError) as exc:
        detail = f"{type(exc).__name__}: {first_line(exc)}"
        raise ParseFailure(CheckResult("parse.read", False, detail=detail)) from exc
