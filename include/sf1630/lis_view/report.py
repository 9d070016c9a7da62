"""Where a delivery's validation report is, and what it says in a few lines.

Two homes, newest first: the warehouse ledger's ``report`` column (the delivery's report folder in the
receiver's object store: ``validation.json``, a GX ValidationResult, and a Data Docs page), and, for
ledgers without that column, the receiver's quarantine folder (``reason.json``, ``validation.json``,
``validation.html``). A ledger value is never opened as it stands: it must name a folder of THIS LIS
system's share of the configured store (``reports/<user>/…`` or ``quarantine/<user>/…`` below the store's
own URL, same scheme), and the answer is that folder as checked names below the store, which the Airflow
face opens from the configured store itself (without following links on a local disk). Nothing here opens
files by itself.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sf1630.dataspec.report import STANDS_FOR
from sf1630.protocol import ProtocolError, check_safe_name
from sf1630.warehouse.ledger import LoadRow

#: Files a report folder may hold, in the order the page offers them.
REPORT_FILES = ("validation.html", "index.html", "validation.json", "reason.json")
#: The folders of a LIS system's share of the store that hold reports (``<area>/<user>/<delivery>``).
REPORT_AREAS = ("reports", "quarantine")
#: A count larger than this in a validation.json is not a count of rows (a file has fewer).
MAX_COUNT = 10**12


@dataclass(frozen=True)
class ReportFolder:
    """A delivery's report folder, as checked names below the receiver's store, and where it was found."""

    parts: tuple[str, ...]  # (area, LIS user, delivery folder), each a safe single name
    source: str  # "object storage" or "quarantine"

    def shown(self, store: str) -> str:
        """Where the folder is, for people (the store's URL and the names below it)."""
        return "/".join((store.rstrip("/"), *self.parts))


def quarantine_folder_of(root: Path, file_name: str) -> str | None:
    """The name of the newest quarantine folder of ``file_name`` in ``root`` (the quarantine adds ``.2``,
    ``.3``… to repeats); links are not folders of the quarantine. Names are compared, never globbed: a
    file name may hold ``*``, ``?`` or ``[``."""
    try:
        base = check_safe_name(file_name)
        entries = list(os.scandir(root))
    except (ProtocolError, OSError):
        return None
    found: list[tuple[int, str]] = []
    for entry in entries:
        if entry.name == base:
            rank = 1
        elif entry.name.startswith(base + ".") and entry.name[len(base) + 1 :].isdecimal():
            rank = int(entry.name[len(base) + 1 :])
        else:
            continue
        if entry.is_dir(follow_symlinks=False):
            found.append((rank, entry.name))
    return max(found)[1] if found else None


def parts_below(uri: str, store: str, user: str) -> tuple[str, ...] | None:
    """The names of ``uri`` below ``store`` if it is a report folder of ``user``'s (else None).

    ``uri`` is what the receiver wrote: ``str()`` of the store path, so it starts with the store's own URL
    (same scheme, same host or bucket) and is not percent-encoded. Every name below is checked (no ``..``,
    no empty name, no control character), so the folder cannot be outside the LIS system's share.
    """
    root = store.rstrip("/") + "/"
    if not uri.startswith(root):
        return None
    parts = tuple(uri[len(root) :].rstrip("/").split("/"))
    if len(parts) != 3 or parts[0] not in REPORT_AREAS or parts[1] != user:
        return None
    try:
        for part in parts:
            check_safe_name(part)
    except ProtocolError:
        return None
    return parts


def locate_report(row: LoadRow, store: str, quarantine_root: Path, user: str) -> ReportFolder | None:
    """The report folder of the delivery in ``row``: the ledger's ``report`` location if it is in ``user``'s
    share of ``store`` (the store's URL), else its folder in the local quarantine ``quarantine_root``."""
    if row.report:
        parts = parts_below(row.report, store, user)
        return ReportFolder(parts, "object storage") if parts else None
    folder = quarantine_folder_of(quarantine_root, row.file_name)
    if folder is None:
        return None
    return ReportFolder(("quarantine", user, folder), "quarantine")


@dataclass(frozen=True)
class Finding:
    """One failed expectation, as the report page lists it."""

    expectation: str
    column: str
    unexpected: int
    detail: str


@dataclass(frozen=True)
class Summary:
    """What a validation.json says, whichever writer made it (GX ValidationResult or the project's own)."""

    success: bool | None
    evaluated: int
    failed: tuple[Finding, ...]


def summarize_validation(raw: bytes) -> Summary:
    """The few facts of a validation.json; ValueError when it is not JSON of either shape.

    The file comes from the store, so any value may be anything: a count that is not a plain number of
    rows is shown as unknown (-1), a part of the wrong type as empty, never an error of the page.
    """
    try:
        body: Any = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError, ValueError) as err:
        raise ValueError(f"validation.json is not JSON: {str(err)[:200]}") from None
    if not isinstance(body, dict) or not isinstance(body.get("results"), list):
        raise ValueError("validation.json has no results list")
    results = body["results"]
    findings = [_finding(r) for r in results if isinstance(r, dict) and not r.get("success", True)]
    success = body.get("success")
    return Summary(success if isinstance(success, bool) else None, len(results), tuple(findings))


def _finding(result: dict[str, Any]) -> Finding:
    config = _dict(result.get("expectation_config"))
    if config:  # GX ValidationResult
        kwargs, outcome = _dict(config.get("kwargs")), _dict(result.get("result"))
        sample = outcome.get("partial_unexpected_list")
        sample = sample[:5] if isinstance(sample, list) else []
        named = _dict(config.get("meta")).get(STANDS_FOR)  # the check a staging expectation stands for
        return Finding(
            _short(named or config.get("type") or config.get("expectation_type") or "?"),
            _short(kwargs.get("column") or ""),
            _count(outcome.get("unexpected_count")),
            _short(json.dumps(sample, ensure_ascii=False, default=str)),
        )
    return Finding(  # the project's report
        _short(result.get("expectation") or "?"),
        _short(result.get("column") or ""),
        _count(result.get("unexpected_count")),
        _short(result.get("detail") or ""),
    )


def _dict(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _short(value: object, limit: int = 1000) -> str:
    """A value as text for the page, cut short (a report may carry anything in any size)."""
    try:
        text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    except (ValueError, RecursionError):
        text = "?"
    return text[:limit]


def _count(value: object) -> int:
    """A number of rows, 0 when absent, -1 (unknown) when it is not a plausible count."""
    if value is None:
        return 0
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= MAX_COUNT:
        return value
    return -1
