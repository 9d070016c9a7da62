"""The month's summary sorts planned deliveries by what the ledger recorded."""

from __future__ import annotations

from sf1630.alert import Kind, RunRef
from sf1630.protocol import Period, ReceiptError
from sf1630.registry import Kommune, SenderSystem
from sf1630.sender.ledger import ACCEPTED, REJECTED, WITHDRAWN, ReceiptEntry
from sf1630.sender.plan import plan_deliveries
from sf1630.sender.summary import deadline_alert, failed_run_alert, resend_command, summarize


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


def test_withdrawn_deliveries_are_reported_with_what_was_removed(
    ky: SenderSystem, kommuner: tuple[Kommune, ...]
) -> None:
    a, b, c, d = plan_deliveries(ky, kommuner, Period(2026, 10))
    entries = {
        a.file_name: ReceiptEntry(a.file_name, ACCEPTED, "t1", (), "x"),
        b.file_name: ReceiptEntry(b.file_name, WITHDRAWN, "", (), "x"),
    }
    summary = summarize("KY", Period(2026, 10), [a, b, c, d], entries)
    removed = f"OUT/{b.file_name}, OUT/{b.file_name}.trigger"
    assert summary.withdrawn == ((f"{b.label} ({b.file_name})", removed),)
    assert not summary.complete and summary.missing == 3
    assert ("153", "LIS01") in summary.missing_keys
    text = summary.render()
    assert text.splitlines()[0].endswith(", 1 withdrawn without a receipt")
    assert f"WITHDRAWN {b.label} ({b.file_name}): no receipt; removed {removed}" in text
    assert summary.as_dict()["withdrawn"] == [{"delivery": f"{b.label} ({b.file_name})", "removed": removed}]
    alert = failed_run_alert(summary, RUN, CONTACT)
    assert f"{b.label} ({b.file_name}): removed {removed}" in alert.body
    assert '"recipient": ["LIS01", "LIS02"]' in alert.body  # re-send includes the withdrawn one


RUN = RunRef(
    "sf1630_sender_ky",
    "manual__2026-11-01T05:00:00+00:00",
    "http://airflow.example/dags/sf1630_sender_ky/runs/manual__2026-11-01T05%3A00%3A00%2B00%3A00",
    state="failed",
)
CONTACT = "KY drift <drift@ky.example>"


def _month(ky: SenderSystem, kommuner: tuple[Kommune, ...], accepted: int, rejected: int) -> object:
    deliveries = plan_deliveries(ky, kommuner, Period(2026, 10))
    entries = {}
    for d in deliveries[:accepted]:
        entries[d.file_name] = ReceiptEntry(d.file_name, ACCEPTED, "t", (), "x")
    for d in deliveries[accepted : accepted + rejected]:
        error = ReceiptError(401, "No route matches", f"no route to {d.lis.sftp_user}")
        entries[d.file_name] = ReceiptEntry(d.file_name, REJECTED, "t", (error,), "x")
    return summarize("KY", Period(2026, 10), deliveries, entries)


def test_failed_run_message_lists_every_delivery_not_accepted(
    ky: SenderSystem, kommuner: tuple[Kommune, ...]
) -> None:
    account = _month(ky, kommuner, accepted=2, rejected=1)  # København, Brøndby LIS01 / LIS02, Aalborg
    alert = failed_run_alert(account, RUN, CONTACT)  # type: ignore[arg-type]
    assert alert.kind is Kind.FAILED
    assert alert.subject == "SF1630 FAILED: KY 2026-10: 2 of 4 deliveries not accepted (sf1630_sender_ky)"
    body = alert.body
    assert body.startswith("The sender run manual__2026-11-01T05:00:00+00:00 of sf1630_sender_ky failed.")
    assert "KY 2026-10: 2 of 4 delivered, 1 failed, 1 without a receipt" in body
    assert (
        "  - KY → Brøndby LIS02 2026-10 (KY_LIS_15300000_M10_20261101000001.csv): "
        "code 401 (No route matches): no route to BRO_LIS02"
    ) in body
    assert "  - KY → Aalborg LIS01 2026-10 (KY_LIS_85100000_M10_20261101000000.csv)" in body
    assert f"Contact about KY's deliveries: {CONTACT}" in body
    resend = """airflow dags trigger sf1630_sender_ky --conf '{"kommune": ["153", "851"], """
    assert resend + """"recipient": ["LIS01", "LIS02"], "period": "2026-10"}'""" in body
    assert body.endswith(f"Open in Airflow: {RUN.url}")


def test_failed_run_with_every_delivery_accepted_says_so(
    ky: SenderSystem, kommuner: tuple[Kommune, ...]
) -> None:
    alert = failed_run_alert(_month(ky, kommuner, accepted=4, rejected=0), RUN, CONTACT)  # type: ignore[arg-type]
    assert (
        alert.subject == "SF1630 FAILED: KY 2026-10: run sf1630_sender_ky failed, every delivery is accepted"
    )
    assert "Re-send" not in alert.body


def test_missed_deadline_message(ky: SenderSystem, kommuner: tuple[Kommune, ...]) -> None:
    account = _month(ky, kommuner, accepted=1, rejected=1)
    alert = deadline_alert(account, RUN, ky.deadline, CONTACT)  # type: ignore[arg-type]
    assert alert.kind is Kind.DEADLINE_MISSED
    assert alert.subject == "SF1630 DEADLINE MISSED: KY 2026-10: 3 deliveries missing 2d after queueing"
    assert alert.body.startswith(
        "Run manual__2026-11-01T05:00:00+00:00 of sf1630_sender_ky has not succeeded 2d"
    )
    assert "code 401 (No route matches)" in alert.body and CONTACT in alert.body
    assert "No receipt recorded" in alert.body and "KY → Aalborg LIS01 2026-10" in alert.body


def test_deadline_of_a_month_completed_by_a_rerun_is_a_resolved_note(
    ky: SenderSystem, kommuner: tuple[Kommune, ...]
) -> None:
    """apache/airflow#60927: the failed run's deadline fires although a later run re-sent everything."""
    alert = deadline_alert(_month(ky, kommuner, accepted=4, rejected=0), RUN, ky.deadline, CONTACT)  # type: ignore[arg-type]
    assert alert.kind is Kind.RESOLVED
    assert alert.subject == "SF1630 RESOLVED: KY 2026-10: all 4 deliveries accepted"
    assert "Nothing is left to do" in alert.body and "apache/airflow#60927" in alert.body
    assert "Re-send" not in alert.body and RUN.url in alert.body


def test_resend_command_narrows_to_what_is_missing(ky: SenderSystem, kommuner: tuple[Kommune, ...]) -> None:
    account = _month(ky, kommuner, accepted=3, rejected=0)
    assert resend_command(account, "sf1630_sender_ky") == (  # type: ignore[arg-type]
        """airflow dags trigger sf1630_sender_ky --conf '{"kommune": ["851"], "recipient": ["LIS01"], """
        """"period": "2026-10"}'"""
    )


def test_complete_summary(ky: SenderSystem, kommuner: tuple[Kommune, ...]) -> None:
    deliveries = plan_deliveries(ky, kommuner, Period(2026, 10))
    entries = {x.file_name: ReceiptEntry(x.file_name, ACCEPTED, "t", (), "x") for x in deliveries}
    assert summarize("KY", Period(2026, 10), deliveries, entries).complete
