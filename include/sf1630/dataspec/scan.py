"""The file-level checks of a delivered CSV file, made in one pass over a stream, block by block.

What :mod:`sf1630.dataspec.parsing` checks on a file held whole in memory (empty file, byte-order mark,
encoding, NUL bytes, CR-only line endings, the header, ragged records, what Python's csv module refuses),
checked here while the file streams through: :class:`FileScan` reads the file in blocks of whole lines,
hands each block on as UTF-8 (for PostgreSQL's ``COPY``) and keeps only counters, so memory stays flat
whatever the file's size. After the first fault nothing more is handed on, but the rest of the file is
still read so that the ``parse.*`` entry counts every NUL byte and every ragged record, as the in-memory
checks do. Blocks without the quote character are counted with numpy; from the first block with one (or
for a file not in UTF-8) records are counted by Python's csv reader, which knows quoted line breaks.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
from collections.abc import Iterator
from typing import IO

import numpy as np

from sf1630.dataspec.parsing import OTHER_SEPARATORS, fields_per_line, first_line
from sf1630.dataspec.report import SAMPLE_SIZE, CheckResult
from sf1630.dataspec.spec import DataSpec

BLOCK_BYTES = 8 << 20


class FileScan:
    """One pass over a delivered file: the UTF-8 blocks to load, then the verdict of the file checks.

    Iterate :meth:`blocks` to the end, then read :attr:`failure` (the first ``parse.*`` entry that failed,
    None when the file is fine), :attr:`header`, :attr:`records` (data records), :attr:`checksum`
    (SHA-256 of the bytes as delivered) and :meth:`passed` (the entries that held).
    """

    def __init__(self, source: IO[bytes], spec: DataSpec, block_bytes: int = BLOCK_BYTES) -> None:
        self.source = source
        self.spec = spec
        self.block_bytes = block_bytes
        self.failure: CheckResult | None = None
        self.header: list[str] = []
        self.records = 0
        self.size = 0
        self._sha = hashlib.sha256()
        self._lines = 0  # complete lines before the current block
        self._nul = 0
        self._nul_at = ""
        self._ragged = 0
        self._ragged_sample: list[str] = []
        self._seen_cr = self._seen_lf = False
        self._csv_mode = spec.dialect.encoding not in ("utf-8", "utf-8-sig")
        self._out: list[bytes] = []

    @property
    def checksum(self) -> str:
        return self._sha.hexdigest()

    def passed(self) -> list[CheckResult]:
        """The file checks that held (what the report lists before GX's results)."""
        return [CheckResult(name, True) for name in ("parse.encoding", "parse.header", "parse.rows")]

    def _fail(self, result: CheckResult) -> None:
        if self.failure is None:
            self.failure = result

    # --- reading ----------------------------------------------------------------------------------------

    def _raw_blocks(self) -> Iterator[bytes]:
        """The file in blocks of whole lines (the last may lack its newline); the checksum on the way."""
        tail = b""
        while True:
            chunk = self.source.read(self.block_bytes)
            if not chunk:
                break
            self._sha.update(chunk)
            self.size += len(chunk)
            self._seen_cr = self._seen_cr or b"\r" in chunk
            self._seen_lf = self._seen_lf or b"\n" in chunk
            data = tail + chunk
            end = data.rfind(b"\n") + 1
            tail = data[end:]
            if end:
                yield data[:end]
        if tail:
            yield tail

    def _decoded(self) -> Iterator[tuple[bytes, str | None]]:
        """Blocks as (raw bytes, text when the file is not UTF-8), the BOM, encoding and NUL checked."""
        encoding = self.spec.dialect.encoding
        codec = "utf-8" if encoding == "utf-8-sig" else encoding
        decoder = codecs.getincrementaldecoder(codec)(errors="strict")
        first = True
        offset = 0
        raw = self._raw_blocks()
        for block in raw:
            if first:
                first = False
                if block.startswith(codecs.BOM_UTF8):
                    if encoding != "utf-8-sig":
                        detail = f"the file starts with a UTF-8 byte-order mark; spec says {encoding}"
                        self._fail(CheckResult("parse.bom", False, detail=detail))
                        _drain(raw)  # the checksum is of the whole file
                        return
                    block = block[len(codecs.BOM_UTF8) :]
                    offset += len(codecs.BOM_UTF8)
            try:
                text = decoder.decode(block)
            except UnicodeDecodeError as exc:
                line = self._lines + block.count(b"\n", 0, max(exc.start, 0)) + 1
                detail = f"line {line}, byte {offset + exc.start}: not valid {encoding} ({exc.reason})"
                sample = (repr(block[exc.start : exc.start + 4]),)
                self._fail(CheckResult("parse.encoding", False, sample=sample, detail=detail))
                _drain(raw)
                return
            nul = block.count(b"\x00")
            if nul:
                if not self._nul:
                    at = block.find(b"\x00")
                    line = self._lines + block.count(b"\n", 0, at) + 1
                    self._nul_at = f"line {line}, byte {offset + at}"
                self._nul += nul
            yield block, (None if codec == "utf-8" else text)
            offset += len(block)

    # --- checking ---------------------------------------------------------------------------------------

    def blocks(self) -> Iterator[bytes]:
        """UTF-8 blocks of the file (header first) while no check has failed; read it to the end."""
        for raw, text in self._decoded():
            utf8 = raw if text is None else text.encode("utf-8")
            if not self.header:
                self._read_header(utf8)
                if self.failure is not None:
                    continue
            self._count(utf8)
            if self.failure is None and not self._nul:
                yield utf8
            self._lines += raw.count(b"\n")
        self._finish()

    def _read_header(self, block: bytes) -> None:
        d = self.spec.dialect
        end = block.find(b"\n")
        first = (block if end < 0 else block[:end]).decode("utf-8").rstrip("\r")
        try:
            header = next(csv.reader([first], delimiter=d.separator, quotechar=d.quote), [])
        except csv.Error as exc:
            self._fail(CheckResult("parse.read", False, detail=f"header: {first_line(exc)}"))
            return
        if len(header) == 1 and len(self.spec.columns) > 1:
            other = [s for s in OTHER_SEPARATORS if s != d.separator and s in first]
            hint = f"; it looks separated by {other[0]!r}" if other else ""
            detail = f"the header has no {d.separator!r} separator{hint}"
            self._fail(CheckResult("parse.separator", False, sample=(first[:80],), detail=detail))
            return
        too_long = any(len(name.encode("utf-8")) > 63 for name in header)
        if len(set(header)) != len(header) or not all(header) or too_long:
            detail = "blank, repeated or over-long (63 bytes) names"
            self._fail(CheckResult("parse.header", False, sample=(first[:80],), detail=detail))
            return
        self.header = header

    def _count(self, block: bytes) -> None:
        """Records and their field counts; a ragged record is counted, never handed on."""
        d = self.spec.dialect
        width = len(self.header)
        if not self._csv_mode and (d.quote.encode() in block or b"\x1f" in block):
            self._csv_mode = True
        if self._csv_mode:
            self._count_csv(block, width)
            return
        fields = fields_per_line(block, d.separator.encode())
        bad = np.flatnonzero(fields != width)
        for index in bad[: SAMPLE_SIZE - len(self._ragged_sample)]:
            self._ragged_sample.append(f"line {self._lines + int(index) + 1}: {int(fields[index])} fields")
        self._ragged += len(bad)
        self.records += len(fields)

    def _count_csv(self, block: bytes, width: int) -> None:
        d = self.spec.dialect
        lines = block.decode("utf-8").split("\n")
        if lines and lines[-1] == "":
            lines.pop()
        reader = csv.reader(lines, delimiter=d.separator, quotechar=d.quote)
        try:
            for record in reader:
                self.records += 1
                if len(record) != width:
                    self._ragged += 1
                    if len(self._ragged_sample) < SAMPLE_SIZE:
                        line = self._lines + reader.line_num
                        self._ragged_sample.append(f"line {line}: {len(record)} fields")
        except csv.Error as exc:
            where = f"line {self._lines + reader.line_num}"
            self._fail(CheckResult("parse.read", False, detail=f"{where}: {first_line(exc)}"))

    def _finish(self) -> None:
        """The faults only the whole file shows: empty, CR-only, NUL and ragged counts."""
        self.records = max(self.records - 1, 0) if self.header else 0  # the header is a record too
        if self.size == 0:
            self.failure = CheckResult("parse.empty", False, detail="the file is empty (0 bytes)")
        elif self._seen_cr and not self._seen_lf:
            detail = "the file uses CR-only line endings; the spec's dialect needs LF or CRLF"
            self.failure = CheckResult("parse.line_endings", False, detail=detail)
        elif self._nul and self.failure is None:
            detail = f"{self._nul_at}: a NUL byte, which PostgreSQL cannot store as text"
            at = (self._nul_at,)
            self._fail(CheckResult("parse.nul", False, unexpected_count=self._nul, sample=at, detail=detail))
        elif self._ragged and self.failure is None:
            detail = f"{self._ragged} ragged record(s): the header has {len(self.header)} fields"
            lines = tuple(self._ragged_sample)
            self._fail(
                CheckResult("parse.rows", False, unexpected_count=self._ragged, sample=lines, detail=detail)
            )


def _drain(blocks: Iterator[bytes]) -> None:
    """Read the rest of the file (it counts towards size and checksum), checking nothing more."""
    for _ in blocks:
        pass
