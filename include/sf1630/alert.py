"""What on-call is sent: one message per failed DAG run, per missed deadline, or per resolved deadline.

The texts are built here and in the sender's and receiver's plain modules (:mod:`sf1630.sender.summary`,
:mod:`sf1630.receiver.completeness`) from the ledgers, never from task logs, so a unit test can read each
kind of message and a message says the same thing whichever process (the DAG processor for failure
callbacks, the triggerer for Deadline Alerts) builds it. The Airflow face (:mod:`sf1630.airflow.notify`)
only gathers the run's facts into a :class:`RunRef`, reads the ledgers and hands the :class:`Alert` to
Airflow's notifiers (SMTP, Slack). Nothing secret goes into a message: file names, kommuner, receipt codes,
validation summaries and contacts from the configuration.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from urllib.parse import quote


class Kind(StrEnum):
    """What happened; it heads the subject so a mail filter or a person can sort by it."""

    FAILED = "FAILED"
    DEADLINE_MISSED = "DEADLINE MISSED"
    RESOLVED = "RESOLVED"


@dataclass(frozen=True)
class RunRef:
    """The DAG run a message is about, as the callback's context describes it."""

    dag_id: str
    run_id: str
    url: str
    state: str = ""
    queued_at: str = ""
    reason: str = ""


@dataclass(frozen=True)
class Alert:
    """One message: a subject line and a plain-text body (the HTML form is derived from it)."""

    kind: Kind
    subject: str
    body: str

    def text(self) -> str:
        """Subject and body as one text, for a log line or a chat message."""
        return f"{self.subject}\n\n{self.body}"

    def html(self) -> str:
        """The body as HTML (Airflow's SMTP notifier sends HTML): escaped, preformatted, nothing templated."""
        return f'<pre style="font-family: monospace">{html.escape(self.body)}</pre>'


def run_url(base_url: str, dag_id: str, run_id: str) -> str:
    """The run's page in the Airflow UI (``<base>/dags/<dag>/runs/<run>``), the run id URL-quoted.

    Run ids hold ``+`` and ``:`` (``scheduled__2026-11-01T05:00:00+00:00``); unquoted, a ``+`` would be read
    as a space by the UI's router.
    """
    base = (base_url or "").rstrip("/")
    return f"{base}/dags/{quote(dag_id, safe='')}/runs/{quote(run_id, safe='')}"


def count(n: int, one: str, many: str) -> str:
    """``1 delivery``, ``2 deliveries``: a person reads these messages."""
    return f"{n} {one if n == 1 else many}"


def subject(kind: Kind, what: str) -> str:
    """``SF1630 <KIND>: <what>``, one line, at most 200 characters."""
    line = f"SF1630 {kind.value}: {' '.join(what.split())}"
    return line if len(line) <= 200 else line[:199] + "…"


def footer(run: RunRef) -> list[str]:
    """The lines that end every message: which run, its state, and where to look."""
    lines = ["", f"Run: {run.dag_id} / {run.run_id}" + (f" (state {run.state})" if run.state else "")]
    if run.queued_at:
        lines.append(f"Queued at: {run.queued_at}")
    if run.reason:
        lines.append(f"Airflow's reason: {run.reason}")
    lines.append(f"Open in Airflow: {run.url}")
    return lines


def assemble(kind: Kind, what: str, lines: Sequence[str], run: RunRef) -> Alert:
    """One message of ``kind``: the subject says ``what``, the body is ``lines`` and the run's footer."""
    return Alert(kind, subject(kind, what), "\n".join([*lines, *footer(run)]))


def fallback_alert(kind: Kind, who: str, run: RunRef, problem: str) -> Alert:
    """The message when the facts behind a message cannot be read (a ledger down): say so, still page."""
    lines = [
        f"{kind.value} for {who}: the details could not be read ({problem}).",
        "Open the run for the task instances and their logs.",
    ]
    return assemble(kind, f"{who} ({run.dag_id}), details unavailable", lines, run)
