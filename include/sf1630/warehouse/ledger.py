"""The ledger: one row per delivery (FileTransferUUID), written in the same transaction as its rows.

The platform may deliver a file twice (a crash after our commit but before we deleted it from the server,
or a re-delivery), so "has this FileTransferUUID been handled" must be answered by the warehouse itself,
atomically with the load; the ledger's primary key does that, and it doubles as the audit trail the
completeness check reads. ``report`` is the URI of the delivery's report folder in the receiver's object
store (``<base>/reports/<lis user>/<data file>/`` when loaded, its quarantine folder when quarantined, ""
when there is none): ``validation.json`` (GX's ValidationResult) and ``datadocs/index.html`` (its GX Data
Docs page) are inside (docs/receiver.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

LEDGER_TABLE = "sf1630_ledger"


class Outcome(StrEnum):
    LOADED = "loaded"
    QUARANTINED = "quarantined"


@dataclass(frozen=True)
class LoadEntry:
    """The ledger row of one delivery: what was loaded (or quarantined), from where and when.

    Named apart from the sender's ledger entry (a delivery handed to the platform), which is another fact.
    """

    file_transfer_uuid: str
    file_name: str
    sender: str
    kommune: str
    period: str
    rows: int
    checksum: str
    outcome: Outcome
    received_at: datetime
    finished_at: datetime
    detail: str = ""
    report: str = ""

    def values(self) -> tuple[object, ...]:
        """The row in :data:`LEDGER_COLUMNS` order, as bound parameters."""
        return (
            self.file_transfer_uuid,
            self.file_name,
            self.sender,
            self.kommune,
            self.period,
            self.rows,
            self.checksum,
            str(self.outcome),
            self.detail,
            self.received_at,
            self.finished_at,
            self.report,
        )


LEDGER_COLUMNS = (
    "file_transfer_uuid",
    "file_name",
    "sender",
    "kommune",
    "period",
    "rows",
    "checksum",
    "outcome",
    "detail",
    "received_at",
    "finished_at",
    "report",
)


#: Added after the first release: the FileTransferUUID of the later delivery of the same sender, kommune
#: and period that replaced this one (NULL while the row is current). Added to older tables in place.
SUPERSEDED_BY = "superseded_by"


def ledger_migrations(schema: str) -> list[str]:
    """Statements that bring an older ledger table up to date (each idempotent)."""
    return [f"ALTER TABLE {schema}.{LEDGER_TABLE} ADD COLUMN IF NOT EXISTS {SUPERSEDED_BY} VARCHAR(255)"]


def ledger_ddl(schema: str) -> str:
    """``CREATE TABLE IF NOT EXISTS`` for the ledger."""
    return f"""
        CREATE TABLE IF NOT EXISTS {schema}.{LEDGER_TABLE} (
            file_transfer_uuid VARCHAR(255) PRIMARY KEY,
            file_name VARCHAR(255) NOT NULL,
            sender VARCHAR(32) NOT NULL,
            kommune VARCHAR(8) NOT NULL,
            period VARCHAR(7) NOT NULL,
            rows BIGINT NOT NULL,
            checksum VARCHAR(64) NOT NULL,
            outcome VARCHAR(16) NOT NULL,
            detail TEXT NOT NULL,
            received_at TIMESTAMP WITH TIME ZONE NOT NULL,
            finished_at TIMESTAMP WITH TIME ZONE NOT NULL,
            report TEXT NOT NULL DEFAULT ''
        )"""


def ledger_upgrade(schema: str) -> str:
    """Add ``report`` to a ledger created before that column existed."""
    return (
        f"ALTER TABLE {schema}.{LEDGER_TABLE} ADD COLUMN report TEXT DEFAULT ''"  # DuckDB: no NOT NULL here
    )


#: Ask before altering: PostgreSQL takes a table lock for ALTER TABLE even when the column exists.
REPORT_COLUMN_QUERY = (
    "SELECT 1 FROM information_schema.columns WHERE table_schema = {p} AND table_name = {p} "
    "AND column_name = 'report'"
)
