"""The validation report: one shape for parse failures and expectation results, as text, JSON and HTML.

A task log needs a few lines, an operator needs a page to open, and a machine needs JSON; all three come from
the same :class:`ValidationReport`, so they can never disagree. It is the short form: the parse checks and
one entry per GX expectation result; GX's own ValidationResult and Data Docs are kept beside it
(:func:`sf1630.dataspec.validation.write_reports`).

Values from a file reach the HTML page, which people open in a browser and sometimes in a spreadsheet
(Excel and LibreOffice open HTML tables). A text starting with ``=``, ``+``, ``-``, ``@``, a tab or a
carriage return is a formula there, so every cell of the page goes through :func:`for_people`, which puts
a ``'`` in front of such a text (the spreadsheet convention for "this is text"), and every cell is marked
as text (``mso-number-format``). The JSON report is for machines and keeps values exactly as they were;
the data files themselves are never changed (what is stored must be what the file says).
"""

from __future__ import annotations

import html
import json
from dataclasses import asdict, dataclass, field
from typing import Any

SAMPLE_SIZE = 5
#: In a GX expectation's ``meta``: the expectation a check stands for, by which every report names it (the
#: staging suite checks a type on text as a pattern or an SQL condition; :mod:`sf1630.dataspec.suite`).
STANDS_FOR = "stands_for"
#: First characters that make a spreadsheet evaluate a cell (OWASP's CSV injection list, fullwidth forms).
FORMULA_STARTS = frozenset("=+-@\t\r\uff1d\uff0b\uff0d\uff20")


def for_people(text: str) -> str:
    """``text`` made inert for a spreadsheet: a leading ``'`` when it would start a formula.

    Any table or CSV the project writes for people passes its cells through here; the ``'`` shows the
    reader that the value was neutralised, and the original is in the JSON report.
    """
    return f"'{text}" if text[:1] in FORMULA_STARTS else text


@dataclass(frozen=True)
class CheckResult:
    """One check: a GX expectation (by its type) or a parse check (``parse.<what>``)."""

    expectation: str
    success: bool
    column: str | None = None
    unexpected_count: int = 0
    sample: tuple[str, ...] = ()
    detail: str = ""
    kwargs: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ValidationReport:
    """Everything known about one file checked against one spec."""

    spec: str
    file: str
    rows: int | None
    results: tuple[CheckResult, ...]

    @property
    def success(self) -> bool:
        """True when every check passed."""
        return all(r.success for r in self.results)

    @property
    def failures(self) -> list[CheckResult]:
        """The checks that did not pass."""
        return [r for r in self.results if not r.success]

    def summary_lines(self, limit: int = 10) -> list[str]:
        """A few lines for a task log: verdict, then one line per failed check."""
        verdict = "VALID" if self.success else "INVALID"
        rows = "unparsed" if self.rows is None else f"{self.rows} rows"
        failed = self.failures
        lines = [
            f"{verdict}: {self.file} against spec {self.spec}"
            f" ({rows}, {len(failed)}/{len(self.results)} failed)"
        ]
        for r in failed[:limit]:
            where = f" [{r.column}]" if r.column else ""
            count = f" {r.unexpected_count} unexpected" if r.unexpected_count else ""
            sample = f" e.g. {', '.join(repr(s) for s in r.sample[:3])}" if r.sample else ""
            detail = f": {r.detail}" if r.detail else ""
            lines.append(f"  FAIL {r.expectation}{where}{count}{sample}{detail}")
        if len(failed) > limit:
            lines.append(f"  … and {len(failed) - limit} more")
        return lines

    def to_json(self) -> str:
        """The report as JSON (kwargs are stringified where JSON cannot hold them)."""
        body: dict[str, Any] = {
            "spec": self.spec,
            "file": self.file,
            "rows": self.rows,
            "success": self.success,
        }
        body["results"] = [asdict(r) for r in self.results]
        return json.dumps(body, ensure_ascii=False, indent=2, default=str)

    def to_html(self) -> str:
        """A self-contained HTML page a person can open and read."""

        def esc(text: str) -> str:
            return html.escape(for_people(text))

        rows = []
        for r in self.results:
            status = "passed" if r.success else "FAILED"
            sample = esc(", ".join(repr(s) for s in r.sample))
            rows.append(
                f'<tr class="{"ok" if r.success else "bad"}"><td>{status}</td><td>{esc(r.expectation)}</td>'
                f"<td>{esc(r.column or '')}</td><td>{r.unexpected_count}</td><td>{sample}</td>"
                f"<td>{esc(r.detail)}</td></tr>"
            )
        verdict = "valid" if self.success else "invalid"
        return (
            '<!DOCTYPE html><html lang="da"><head><meta charset="utf-8">'
            f"<title>{esc(self.file)}: {verdict}</title><style>"
            "body{font-family:sans-serif}table{border-collapse:collapse}"
            "td,th{border:1px solid #ccc;padding:4px;mso-number-format:'\\@'}"
            ".bad{background:#fdd}.ok{background:#efe}</style></head><body>"
            f"<h1>{esc(self.file)} is {verdict}</h1><p>Spec <b>{esc(self.spec)}</b>, "
            f"{'unparsed' if self.rows is None else f'{self.rows} rows'}, {len(self.failures)} of "
            f"{len(self.results)} checks failed.</p>"
            "<table><tr><th>Result</th><th>Expectation</th><th>Column</th>"
            f"<th>Unexpected</th><th>Sample</th><th>Detail</th></tr>{''.join(rows)}</table></body></html>"
        )
