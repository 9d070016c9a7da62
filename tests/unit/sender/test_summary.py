"""The month's summary sorts planned deliveries by what the ledger recorded."""

from __future__ import annotations

from sf1630.protocol import ReceiptError
from sf1630.sender.config import Kommune, SenderSystem
from sf1630.sender.ledger import ACCEPTED, REJECTED, LedgerEntry
from sf1630.sender.plan import Period, plan_deliveries
from sf1630.sender.summary import summarize


def test_summary(ky: SenderSystem, kommuner: tuple[Kommune, ...]) -> None:
    a, b, c, d = plan_deliveries(ky, kommuner, Period(2026, 10))
    entries = {
        a.file_name: LedgerEntry(a.file_name, ACCEPTED, "t1", (), "x"),
        b.file_name: LedgerEntry(b.file_name, REJECTED, "t2", (ReceiptError(401, "No route", "none"),), "x"),
        d.file_name: LedgerEntry(d.file_name, ACCEPTED, "t3", (), "x"),
    }
    summary = summarize("KY", "2026-10", [a, b, c, d], entries, ["stale.csv"])
    assert not summary.complete
    assert len(summary.delivered) == 2
    assert summary.failed == ((f"{b.label} ({b.file_name})", "code 401 (No route): none"),)
    assert summary.waiting == (f"{c.label} ({c.file_name})",)
    text = summary.render()
    assert text.splitlines()[0] == "KY 2026-10: 2 of 4 delivered, 1 failed, 1 still waiting"
    assert "FAILED  153 Brøndby → LIS01" in text and "WAITING 153 Brøndby → LIS02" in text
    assert "REMOVED from OUT/ (no trigger): stale.csv" in text
    as_dict = summary.as_dict()
    assert as_dict["delivered"] == 2 and as_dict["housekeeping_removed"] == ["stale.csv"]


def test_complete_summary(ky: SenderSystem, kommuner: tuple[Kommune, ...]) -> None:
    deliveries = plan_deliveries(ky, kommuner, Period(2026, 10))
    entries = {x.file_name: LedgerEntry(x.file_name, ACCEPTED, "t", (), "x") for x in deliveries}
    assert summarize("KY", "2026-10", deliveries, entries).complete
