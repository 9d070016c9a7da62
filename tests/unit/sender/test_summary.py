"""The month's summary sorts planned deliveries by what the ledger recorded."""

from __future__ import annotations

from sf1630.protocol import Period, ReceiptError
from sf1630.registry import Kommune, SenderSystem
from sf1630.sender.ledger import ACCEPTED, REJECTED, ReceiptEntry
from sf1630.sender.plan import plan_deliveries
from sf1630.sender.summary import deadline_report, deadline_subject, summarize


def test_summary(ky: SenderSystem, kommuner: tuple[Kommune, ...]) -> None:
    a, b, c, d = plan_deliveries(ky, kommuner, Period(2026, 10))
    entries = {
        a.file_name: ReceiptEntry(a.file_name, ACCEPTED, "t1", (), "x"),
        b.file_name: ReceiptEntry(b.file_name, REJECTED, "t2", (ReceiptError(401, "No route", "none"),), "x"),
        d.file_name: ReceiptEntry(d.file_name, ACCEPTED, "t3", (), "x"),
    }
    summary = summarize("KY", Period(2026, 10), [a, b, c, d], entries, ["stale.csv"])
    assert not summary.complete
    assert len(summary.delivered) == 2
    assert summary.failed == ((f"{b.label} ({b.file_name})", "code 401 (No route): none"),)
    assert summary.waiting == (f"{c.label} ({c.file_name})",)
    text = summary.render()
    assert text.splitlines()[0] == "KY 2026-10: 2 of 4 delivered, 1 failed, 1 still waiting"
    assert "FAILED  KY → Brøndby LIS01 2026-10" in text and "WAITING KY → Brøndby LIS02 2026-10" in text
    assert "REMOVED from OUT/ (no trigger): stale.csv" in text
    as_dict = summary.as_dict()
    assert as_dict["delivered"] == 2 and as_dict["housekeeping_removed"] == ["stale.csv"]
    assert as_dict["period"] == "2026-10" and summary.missing == 2


def test_deadline_report(ky: SenderSystem, kommuner: tuple[Kommune, ...]) -> None:
    deliveries = plan_deliveries(ky, kommuner, Period(2026, 10))
    account = summarize("KY", Period(2026, 10), deliveries, {})
    report = deadline_report(account, ky.deadline)
    assert report.splitlines()[0] == "Deadline missed (2 days, 0:00:00 after the run was queued)."
    assert report.splitlines()[1] == "KY 2026-10: 0 of 4 delivered, 0 failed, 4 still waiting"
    assert deadline_subject(account) == "SF1630 KY 2026-10: 4 deliveries missing"


def test_complete_summary(ky: SenderSystem, kommuner: tuple[Kommune, ...]) -> None:
    deliveries = plan_deliveries(ky, kommuner, Period(2026, 10))
    entries = {x.file_name: ReceiptEntry(x.file_name, ACCEPTED, "t", (), "x") for x in deliveries}
    assert summarize("KY", Period(2026, 10), deliveries, entries).complete
