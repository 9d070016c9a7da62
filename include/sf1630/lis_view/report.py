"""Where a delivery's validation report is, and what it says in a few lines.

Two homes, newest first: the warehouse ledger's ``report`` column (the URI of the delivery's report
folder in object storage: ``validation.json``, a GX ValidationResult, and a Data Docs page), and, for
ledgers without that column, the receiver's quarantine folder (``reason.json``, ``validation.json``,
``validation.html``). Either way the answer is a folder URI (``file://`` for the quarantine), read by the
Airflow face through ``ObjectStoragePath``; nothing here opens files by itself.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sf1630.lis_view.ledgers import LoadRow
from sf1630.protocol import ProtocolError, check_safe_name

#: Files a report folder may hold, in the order the page offers them.
REPORT_FILES = ("validation.html", "index.html", "validation.json", "reason.json")


@dataclass(frozen=True)
class ReportFolder:
    """A delivery's report folder and where it was found."""

    uri: str
    source: str  # "object storage" or "quarantine"


def quarantine_folder_of(root: Path, file_name: str) -> Path | None:
    """The newest quarantine folder of ``file_name`` (the quarantine adds ``.2``, ``.3``… to repeats)."""
    try:
        base = check_safe_name(file_name)
    except ProtocolError:
        return None
    found: list[tuple[int, Path]] = []
    if (root / base).is_dir():
        found.append((1, root / base))
    for candidate in root.glob(f"{base}.*"):
        suffix = candidate.name[len(base) + 1 :]
        if suffix.isdigit() and candidate.is_dir():
            found.append((int(suffix), candidate))
    return max(found)[1] if found else None


def locate_report(row: LoadRow, quarantine_root: Path) -> ReportFolder | None:
    """The report folder of the delivery in ``row``: the ledger's URI, else its quarantine folder."""
    if row.report:
        return ReportFolder(row.report.rstrip("/"), "object storage")
    folder = quarantine_folder_of(quarantine_root, row.file_name)
    if folder is None:
        return None
    return ReportFolder(folder.resolve().as_uri(), "quarantine")


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
    """The few facts of a validation.json; ValueError when it is not JSON of either shape."""
    try:
        body: Any = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ValueError(f"validation.json is not JSON: {err}") from err
    if not isinstance(body, dict) or not isinstance(body.get("results"), list):
        raise ValueError("validation.json has no results list")
    findings: list[Finding] = []
    for result in body["results"]:
        if not isinstance(result, dict) or result.get("success", True):
            continue
        config = result.get("expectation_config")
        if isinstance(config, dict):  # GX ValidationResult
            kwargs = config.get("kwargs") or {}
            outcome = result.get("result") or {}
            findings.append(
                Finding(
                    str(config.get("type") or config.get("expectation_type") or "?"),
                    str(kwargs.get("column") or ""),
                    int(outcome.get("unexpected_count") or 0),
                    json.dumps(
                        outcome.get("partial_unexpected_list", [])[:5], ensure_ascii=False, default=str
                    ),
                )
            )
        else:  # the project's report
            findings.append(
                Finding(
                    str(result.get("expectation") or "?"),
                    str(result.get("column") or ""),
                    int(result.get("unexpected_count") or 0),
                    str(result.get("detail") or ""),
                )
            )
    success = body.get("success")
    return Summary(success if isinstance(success, bool) else None, len(body["results"]), tuple(findings))
