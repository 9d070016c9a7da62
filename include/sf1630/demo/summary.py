"""The demo's closing table, read back from where the facts live rather than from what the run believed.

Per sender: deliveries planned, transfers the emulator processed (its audit log), technical receipts the
sender recorded (its ledger: SUCCESS or error), files and rows the LIS systems loaded and files they
quarantined (the warehouse ledger), then every quarantined file with its reason and where its reports are.
Reading the ledgers means the table shows the truth even if a DAG run reported something else.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sf1630.demo.layout import DemoHome
from sf1630.demo.seed import SeedInfo


@dataclass
class SenderLine:
    """One sender's month."""

    code: str
    planned: int = 0
    transfers: int = 0
    receipts_ok: int = 0
    receipts_error: int = 0
    #: Deliveries the sender took back after no receipt came: no receipt at all, neither ok nor error.
    withdrawn: int = 0
    loaded_files: int = 0
    loaded_rows: int = 0
    quarantined: int = 0
    table: str = ""
    routing: str = ""  # simple or dynamic: how the sender names its recipients to the platform


@dataclass(frozen=True)
class QuarantinedFile:
    sftp_user: str
    file_name: str
    reason: str
    detail: str
    folder: Path


@dataclass
class Summary:
    month: str
    senders: list[SenderLine]
    quarantined: list[QuarantinedFile] = field(default_factory=list)
    table_rows: dict[str, int] = field(default_factory=dict)
    #: Waits that went through the triggerer, by task id (from Airflow's metadata, see run.deferred_waits).
    deferred_waits: dict[str, int] = field(default_factory=dict)
    #: Of those, waits still deferred at the end (receiver runs already waiting for the next files).
    still_waiting: int = 0
    #: The scheduler's "state mismatch" events: the upstream defer race (apache/airflow#71580).
    state_mismatches: int = 0
    #: The alert mails the demo's SMTP sink received (file names in the home's mail folder).
    mails: list[str] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        """Every planned delivery is either loaded or the deliberately invalid one, quarantined."""
        return all(s.loaded_files + s.quarantined == s.planned == s.receipts_ok for s in self.senders)

    def totals(self) -> SenderLine:
        total = SenderLine("total")
        for line in self.senders:
            for name in (
                "planned",
                "transfers",
                "receipts_ok",
                "receipts_error",
                "withdrawn",
                "loaded_files",
                "loaded_rows",
                "quarantined",
            ):
                setattr(total, name, getattr(total, name) + getattr(line, name))
        return total


def _transfers(audit_log: Path, users: dict[str, str]) -> Counter[str]:
    """Transfers the emulator finished, by sender code (``users`` maps SFTP user to code)."""
    counts: Counter[str] = Counter()
    if not audit_log.exists():
        return counts
    for line in audit_log.read_text(encoding="utf-8").splitlines():
        record = json.loads(line)
        if record.get("event") == "transfer" and record.get("sender") in users:
            counts[users[record["sender"]]] += 1
    return counts


def _warehouse(dsn: str) -> tuple[dict[tuple[str, str], tuple[int, int]], dict[str, int]]:
    """(sender, outcome) → (files, rows) over every LIS schema's load ledger, and rows per table name."""
    import psycopg

    from sf1630.database import Database
    from sf1630.warehouse.ledger import LEDGER_TABLE, outcome_totals

    loads: Counter[tuple[str, str, str]] = Counter()
    counts: Counter[str] = Counter()
    with psycopg.connect(dsn) as con:
        tables = con.execute(
            "SELECT table_schema, table_name FROM information_schema.tables"
            " WHERE table_schema NOT IN ('pg_catalog', 'information_schema') AND table_type = 'BASE TABLE'"
            " AND table_name NOT LIKE 'sf1630_stage_%%' ORDER BY 1, 2"
        ).fetchall()
        for schema, table in tables:
            if table != LEDGER_TABLE:
                counts[str(table)] += _count(con, str(schema), str(table))
                continue
            for (sender, outcome), (files, rows) in outcome_totals(
                Database.postgres(dsn, str(schema))
            ).items():
                loads[(sender, outcome, "files")] += files
                loads[(sender, outcome, "rows")] += rows
    keys = {(s, o) for s, o, _ in loads}
    return {(s, o): (loads[(s, o, "files")], loads[(s, o, "rows")]) for s, o in keys}, dict(counts)


def _count(con: Any, schema: str, table: str) -> int:
    row = con.execute(f'SELECT count(*) FROM "{schema}"."{table}"').fetchone()  # noqa: S608 -- from the catalog
    return int(row[0]) if row else 0


def _quarantined(root: Path) -> list[QuarantinedFile]:
    found = []
    for reason_file in sorted(root.glob("*/*/reason.json")):
        reason = json.loads(reason_file.read_text(encoding="utf-8"))
        found.append(
            QuarantinedFile(
                sftp_user=reason_file.parent.parent.name,
                file_name=str(reason.get("data_file", reason_file.parent.name)),
                reason=str(reason.get("reason", "")),
                detail=str(reason.get("detail", "")),
                folder=reason_file.parent,
            )
        )
    return found


def collect(home: DemoHome, warehouse: str) -> Summary:
    """Read the summary from the emulator's audit log, the sender ledger, the warehouse (``warehouse`` is
    its libpq connection string) and the quarantine."""
    from sf1630.database import Database
    from sf1630.dataspec import load_spec
    from sf1630.protocol import Period
    from sf1630.registry import load_registry
    from sf1630.sender.ledger import ACCEPTED, REJECTED, WITHDRAWN, Ledger
    from sf1630.sender.plan import plan_deliveries

    info = SeedInfo.load(home.seed_info)
    registry = load_registry(home.config_dir)
    senders, kommuner = registry.senders, registry.kommuner
    transfers = _transfers(home.platform_home / "audit.log", {s.sftp_user: s.code for s in senders})
    loads, table_rows = _warehouse(warehouse)
    ledger = Ledger(Database.sqlite(home.sender_ledger)) if home.sender_ledger.exists() else None
    lines = []
    for sender in senders:
        planned = plan_deliveries(sender, kommuner, Period.parse(info.month))
        entries = ledger.entries(sender.code, [d.file_name for d in planned]) if ledger else {}
        statuses = [e.status for e in entries.values()]
        lines.append(
            SenderLine(
                code=sender.code,
                planned=len(planned),
                transfers=transfers[sender.code],
                receipts_ok=statuses.count(ACCEPTED),
                receipts_error=statuses.count(REJECTED),
                withdrawn=statuses.count(WITHDRAWN),
                loaded_files=loads.get((sender.code, "loaded"), (0, 0))[0],
                loaded_rows=loads.get((sender.code, "loaded"), (0, 0))[1],
                quarantined=loads.get((sender.code, "quarantined"), (0, 0))[0],
                table=load_spec(sender.dataspec).warehouse_table,
                routing=sender.routing,
            )
        )
    return Summary(info.month, lines, _quarantined(home.quarantine), table_rows)


def _example_schema(summary: Summary) -> str:
    from sf1630.demo.environment import warehouse_schema

    return (
        warehouse_schema(summary.quarantined[0].sftp_user)
        if summary.quarantined
        else "koebenhavn_lis01_simpel"
    )


def _waits(waits: dict[str, int]) -> str:
    total = sum(waits.values())
    detail = ", ".join(f"{task} {count}" for task, count in sorted(waits.items()))
    return f"{total} waits went through the triggerer" + (f" ({detail})" if detail else "")


def render(
    summary: Summary, home: DemoHome, wall_seconds: float | None = None, *, ui: str | None = None
) -> str:
    """The closing text: the table, the quarantined files and where everything is."""
    from sf1630.warehouse.ledger import LEDGER_TABLE

    header = (
        "sender",
        "pattern",
        "planned",
        "sent",
        "receipts ok",
        "receipts err",
        "withdrawn",
        "loaded",
        "rows loaded",
        "quarantined",
        "warehouse table",
    )
    rows = [
        (
            s.code,
            s.routing,
            s.planned,
            s.transfers,
            s.receipts_ok,
            s.receipts_error,
            s.withdrawn,
            s.loaded_files,
            s.loaded_rows,
            s.quarantined,
            s.table,
        )
        for s in [*summary.senders, summary.totals()]
    ]
    texts = [tuple(str(v) for v in header), *(tuple(str(v) for v in row) for row in rows)]
    widths = [max(len(r[i]) for r in texts) for i in range(len(header))]

    def line(cells: tuple[str, ...]) -> str:
        return "  ".join(
            c.ljust(w) if i in (0, 9) else c.rjust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        ).rstrip()

    out = [f"SF1630 demo, month {summary.month}", "", line(texts[0]), line(tuple("-" * w for w in widths))]
    out += [line(t) for t in texts[1:-1]]
    out += [line(tuple("-" * w for w in widths)), line(texts[-1]), ""]
    if summary.quarantined:
        out.append("quarantined:")
        for q in summary.quarantined:
            lines = [line.strip() for line in q.detail.strip().splitlines()]
            out.append(f"  {q.sftp_user}: {q.file_name}: {q.reason}: {lines[0] if lines else ''}")
            out += [f"    {line}" for line in lines[1:] if line.startswith("FAIL")][:5]
            out.append(f"    reports: {q.folder} (validation.html, validation.json, reason.json)")
    else:
        out.append("quarantined: nothing")
    out += [
        "",
        f"warehouse:  PostgreSQL database sf1630 in {home.postgres} (one schema per LIS system, e.g."
        f" {_example_schema(summary)}.lis_ky_ydelser; load ledger <schema>.{LEDGER_TABLE})",
        f"quarantine: {home.quarantine}",
        f"task logs:  in the Airflow UI (files under {home.airflow_home / 'logs'});"
        f" the components' and the emulator's logs in {home.logs};"
        f" platform audit: {home.platform_home / 'audit.log'}",
        f"deferred:   {_waits(summary.deferred_waits)}; still waiting {summary.still_waiting},"
        f" defer-race state mismatches {summary.state_mismatches} (Airflow's event log)",
        f"alert mail: {len(summary.mails)} message(s) in {home.mail}"
        + (
            f" ({', '.join(summary.mails[:5])}{', ...' if len(summary.mails) > 5 else ''})"
            if summary.mails
            else ""
        ),
        f"state:      {home.root}",
    ]
    if ui:
        out.append(ui)
    verdict = (
        "every delivery loaded except the deliberately invalid one" if summary.complete else "INCOMPLETE"
    )
    timing = f" in {wall_seconds / 60:.1f} min ({wall_seconds:.0f} s)" if wall_seconds is not None else ""
    out.append(f"result:     {verdict}{timing}")
    return "\n".join(out)
