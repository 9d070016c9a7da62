"""Which extracts a LIS system expects for a month, which have been loaded, and whom to chase for the rest.

Every accepted sender delivers one file per kommune per LIS system each month, so the expectation is a plain
cross product; the loaded set comes from the warehouse ledger. Kept free of Airflow so that the monthly
check and the deadline alert's callback share one tested definition of "missing" and of "too late".
The messages on-call receives about a LIS system are built here too: a failed receiver run (every refused
delivery with its reason and the sender's contact), a missed completeness deadline, a receiver run past its
``run_deadline``, and the RESOLVED note when a deadline fires for a month that is complete by then.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from sf1630.alert import Alert, Kind, RunRef, assemble, count
from sf1630.config import format_duration
from sf1630.database import Database
from sf1630.protocol import DataFileName, Period, ProtocolError
from sf1630.receiver.config import Receiver
from sf1630.receiver.held import Hold, held_lines, held_since
from sf1630.warehouse import LoadEntry, loaded_extracts, refused_since

#: The completeness check runs at this hour (local time) on the 1st; the deadline falls at the same hour.
CHECK_HOUR = 6


@dataclass(frozen=True)
class MissingExtract:
    """One sender's extract not (yet) loaded for the month, with whom to contact about it."""

    sender: str
    kommune: str
    cvr: str
    contact: str


@dataclass(frozen=True)
class MonthCheck:
    """The verdict on one month: what is missing, a readable text, and whether the deadline has passed."""

    missing: tuple[MissingExtract, ...]
    text: str
    overdue: bool

    @property
    def complete(self) -> bool:
        """Every expected extract is loaded."""
        return not self.missing


def expected_extracts(receiver: Receiver) -> set[tuple[str, str]]:
    """(sender code, kommune CVR) for every accepted sender: one file each per month."""
    return {(sender.code, receiver.kommune.cvr) for sender in receiver.accepted}


def missing_extracts(receiver: Receiver, loaded: Iterable[tuple[str, str]]) -> tuple[MissingExtract, ...]:
    """The expected extracts not in ``loaded``, in the configured sender order."""
    have = set(loaded)
    kommune = receiver.kommune
    return tuple(
        MissingExtract(sender.code, kommune.name, kommune.cvr, receiver.contact(sender.code))
        for sender in receiver.accepted
        if (sender.code, kommune.cvr) not in have
    )


def describe_missing(receiver: Receiver, period: Period, missing: Iterable[MissingExtract]) -> str:
    """A few lines for a log or an alert: what is missing for ``period`` and whom to contact."""
    items = list(missing)
    if not items:
        return f"{receiver.sftp_user}: all {len(receiver.accepted)} extracts for {period} are loaded"
    lines = [
        f"{receiver.sftp_user} ({receiver.kommune.name}): {len(items)} extract(s) for {period} not loaded:"
    ]
    lines += [f"  - {m.sender} for {m.kommune} (CVR {m.cvr}): contact {m.contact}" for m in items]
    return "\n".join(lines)


def deadline_of(receiver: Receiver, period: Period) -> datetime:
    """When ``period`` must be complete: ``deadline_day`` of the month after, at the check's hour, local."""
    after = period.next()
    zone = ZoneInfo(receiver.settings.timezone)
    return datetime(after.year, after.month, receiver.settings.deadline_day, CHECK_HOUR, tzinfo=zone)


def not_loaded(receiver: Receiver, db: Database, period: Period) -> tuple[MissingExtract, ...]:
    """The extracts not loaded for ``period`` by the warehouse ledger in ``db``."""
    return missing_extracts(receiver, loaded_extracts(db, period))


def check_month(receiver: Receiver, period: Period, db: Database, *, now: datetime) -> MonthCheck:
    """The verdict on ``period`` from the ledger in ``db`` at ``now`` (timezone-aware)."""
    missing = not_loaded(receiver, db, period)
    text = describe_missing(receiver, period, missing)
    return MonthCheck(missing, text, overdue=bool(missing) and now >= deadline_of(receiver, period))


# --- what on-call is sent --------------------------------------------------------------------------------

#: Lines of a refusal's detail (a validation summary can be long) quoted in a message.
DETAIL_LINES = 12


@dataclass(frozen=True)
class Refusal:
    """One delivery a receiver run refused (quarantined): what, from whom, why, and whom to contact."""

    file_name: str
    sender: str
    kommune: str
    lis: str
    period: Period | None  # None when only the quarantine knows of it (its metadata was not trusted)
    reason: str
    contact: str
    folder: str = ""


def _sender_of(file_name: str) -> str:
    try:
        return DataFileName.parse(file_name).sender
    except ProtocolError:
        return "unknown sender"


def refusals_from_ledger(receiver: Receiver, entries: Iterable[LoadEntry]) -> list[Refusal]:
    """The warehouse ledger's quarantined rows as :class:`Refusal` (kommune by name, the sender's contact)."""
    kommune = receiver.kommune
    return [
        Refusal(
            file_name=entry.file_name,
            sender=entry.sender,
            kommune=kommune.name if entry.cvr == kommune.cvr else f"CVR {entry.cvr}",
            lis=receiver.lis.name,
            period=entry.period,
            reason=entry.detail,
            contact=receiver.contact(entry.sender),
        )
        for entry in entries
    ]


def quarantined_since(receiver: Receiver, root: Path, since: datetime) -> list[Refusal]:
    """Refusals from the quarantine's ``reason.json`` files written at or after ``since``.

    The quarantine also holds deliveries whose metadata could not be trusted (they have no ledger row);
    a folder that cannot be read is skipped, as the ledger still speaks for the others.
    """
    found = []
    for reason_file in sorted(root.glob("*/reason.json")) if root.is_dir() else []:
        try:
            reason = json.loads(reason_file.read_text(encoding="utf-8"))
            when = datetime.fromisoformat(str(reason["quarantined_at"]))
        except (OSError, ValueError, KeyError, TypeError):
            continue
        if when.tzinfo is None or when < since:
            continue
        name = str(reason.get("data_file", reason_file.parent.name))
        sender = _sender_of(name)
        found.append(
            Refusal(
                file_name=name,
                sender=sender,
                kommune=receiver.kommune.name,
                lis=receiver.lis.name,
                period=None,
                reason=f"{reason.get('reason', '')}: {reason.get('detail', '')}".strip(": "),
                contact=str(reason.get("contact") or receiver.contact(sender)),
                folder=str(reason_file.parent),
            )
        )
    return found


def merge_refusals(from_ledger: Sequence[Refusal], from_quarantine: Sequence[Refusal]) -> list[Refusal]:
    """One entry per file: the ledger's (it names the period), with the quarantine folder when known."""
    folders = {r.file_name: r.folder for r in from_quarantine}
    merged = [Refusal(**{**r.__dict__, "folder": folders.get(r.file_name, r.folder)}) for r in from_ledger]
    known = {r.file_name for r in from_ledger}
    return merged + [r for r in from_quarantine if r.file_name not in known]


def _quote(text: str, indent: str = "      ") -> list[str]:
    lines = [line for line in text.splitlines() if line.strip()] or ["(no detail recorded)"]
    shown = [indent + line for line in lines[:DETAIL_LINES]]
    if len(lines) > DETAIL_LINES:
        shown.append(f"{indent}… {len(lines) - DETAIL_LINES} more line(s) in the quarantine's reason.json")
    return shown


def _who(receiver: Receiver) -> str:
    return f"{receiver.sftp_user} ({receiver.kommune.name} {receiver.lis.name})"


def failed_run_alert(
    receiver: Receiver,
    refusals: Sequence[Refusal],
    run: RunRef,
    problems: Sequence[str] = (),
    held: Sequence[Hold] = (),
) -> Alert:
    """The one message for a failed receiver run: every refused delivery, why, and the sender's contact;
    every delivery held in IN/ because its data spec cannot be used, and which spec to fix.

    ``problems`` are facts the callback could not establish (a ledger it could not read), said plainly so
    that a message never claims more than is known.
    """
    lines = [f"The receiver run {run.run_id} of {run.dag_id} failed.", ""]
    counts = [f"{count(len(refusals), 'delivery', 'deliveries')} refused"] if refusals else []
    counts += [f"{count(len(held), 'delivery', 'deliveries')} held (data spec unusable)"] if held else []
    told = ", ".join(counts) if counts else "receiver run failed, no delivery refused"
    what = f"{_who(receiver)}: {told} ({run.dag_id})"
    if refusals:
        lines.append("Refused and quarantined (sender → kommune LIS system period (file): reason):")
        for r in refusals:
            period = f" {r.period}" if r.period else ""
            lines.append(f"  - {r.sender} → {r.kommune} {r.lis}{period} ({r.file_name}):")
            lines += _quote(r.reason)
            lines.append(f"      Contact: {r.contact}")
            if r.folder:
                lines.append(f"      Files and reports kept in {r.folder}")
        lines += ["", "Nothing of a refused file was loaded; the sender fixes it and delivers again."]
        lines += [""] if held else []
    lines += held_lines(held)
    if not counts:
        lines.append(
            "No delivery was refused in this run: a task failed for another reason (the SFTP server, the "
            "warehouse, or a task error); the run's failed task instances and their logs say which."
        )
    lines += [f"Note: {problem}" for problem in problems]
    return assemble(Kind.FAILED, what, lines, run)


def refusals_alert(
    receiver: Receiver, db: Database, since: datetime, quarantine: Path, held_root: Path, run: RunRef
) -> Alert:
    """A failed receiver run's message from what was refused since ``since`` (the warehouse ledger in ``db``
    and the local ``quarantine``) and held (notes under ``held_root``); an unreadable ledger is said so."""
    problems = []
    try:
        from_ledger = refusals_from_ledger(receiver, refused_since(db, since))
    except Exception as exc:  # the message must still go out, saying what it could not read
        from_ledger = []
        problems.append(f"the warehouse ledger could not be read ({type(exc).__name__}: {exc})")
    refusals = merge_refusals(from_ledger, quarantined_since(receiver, quarantine, since))
    return failed_run_alert(receiver, refusals, run, problems, held_since(held_root, since))


def _missing_lines(missing: Sequence[MissingExtract]) -> list[str]:
    return [f"  - {m.sender} for {m.kommune} (CVR {m.cvr}): contact {m.contact}" for m in missing]


def completeness_alert(
    receiver: Receiver, period: Period, missing: Sequence[MissingExtract], run: RunRef
) -> Alert:
    """The completeness deadline's message: what is not loaded for ``period`` and whom to call; RESOLVED
    when every extract is loaded by the time the deadline fires."""
    deadline = deadline_of(receiver, period)
    if not missing:
        what = f"{_who(receiver)}: all {len(receiver.accepted)} extracts for {period} are loaded"
        lines = [
            f"The completeness deadline for {period} ({deadline:%Y-%m-%d %H:%M %Z}) has passed and every",
            f"accepted extract ({', '.join(s.code for s in receiver.accepted)}) is loaded by now.",
            "Nothing is left to do; Airflow shows the missed deadline on the run because it prunes a",
            "deadline only when that run succeeds (apache/airflow#60927).",
        ]
        return assemble(Kind.RESOLVED, what, lines, run)
    what = f"{_who(receiver)}: {len(missing)} extract(s) for {period} not loaded"
    lines = [
        f"Deadline {deadline:%Y-%m-%d %H:%M %Z} passed: {len(missing)} of {len(receiver.accepted)} "
        f"extract(s) for {period} are not loaded into {receiver.sftp_user}'s warehouse:",
        *_missing_lines(missing),
        "",
        "Ask the sender to deliver (or re-send); a refused file is in the quarantine with its reports.",
    ]
    return assemble(Kind.DEADLINE_MISSED, what, lines, run)


def receiver_period(run_after: datetime, timezone: str) -> Period:
    """The month a receiver run is collecting: files for month M arrive in M+1, so the local month before."""
    return Period.of(run_after.astimezone(ZoneInfo(timezone))).previous()


def run_deadline_alert(
    receiver: Receiver,
    period: Period,
    missing: Sequence[MissingExtract],
    run: RunRef,
    run_deadline: timedelta,
) -> Alert:
    """The message for a receiver run not finished ``run_deadline`` after it was queued.

    A run still going blocks every later hourly run (one active run per LIS system), so that always pages,
    with the month's missing extracts. A run that has ended by then failed (its failure message went out
    already): if the month is complete as well, only a RESOLVED note follows.
    """
    late = format_duration(run_deadline)
    ended = run.state in {"failed", "success"}
    if ended and not missing:
        what = f"{_who(receiver)}: run ended {run.state}, every extract for {period} is loaded"
        lines = [
            f"The receiver run {run.run_id} did not succeed within {late} of being queued; it has ended",
            f"({run.state}; its failure message went out then) and every extract for {period} is loaded.",
            "Nothing is left to do (Airflow prunes a deadline only when its run succeeds,",
            "apache/airflow#60927).",
        ]
        return assemble(Kind.RESOLVED, what, lines, run)
    state = run.state or "unknown"
    what = f"{_who(receiver)}: receiver run not done {late} after queueing ({state})"
    lines = [f"The receiver run {run.run_id} of {run.dag_id} has not succeeded {late} after it was queued"]
    if not ended:
        lines.append(f"and is still {state}: later hourly runs wait behind it (one active run at a time).")
    else:
        lines.append(f"(it ended {state}).")
    lines.append("")
    if missing:
        lines.append(f"Not loaded for {period} ({len(missing)} of {len(receiver.accepted)}):")
        lines += _missing_lines(missing)
    else:
        lines.append(f"Every extract for {period} is loaded.")
    return assemble(Kind.DEADLINE_MISSED, what, lines, run)
