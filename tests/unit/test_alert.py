"""The parts every on-call message shares: the run's link, the subject line, the HTML form, the fallback."""

from __future__ import annotations

from sf1630.alert import Alert, Kind, RunRef, fallback_alert, footer, run_url, subject


def test_run_url_quotes_the_run_id_and_takes_any_base() -> None:
    url = run_url("http://airflow.example:8080/", "sf1630_sender_ky", "scheduled__2026-11-01T05:00:00+00:00")
    assert (
        url
        == "http://airflow.example:8080/dags/sf1630_sender_ky/runs/scheduled__2026-11-01T05%3A00%3A00%2B00%3A00"
    )
    assert run_url("http://h/airflow", "d", "manual 1") == "http://h/airflow/dags/d/runs/manual%201"


def test_subject_is_one_bounded_line() -> None:
    assert subject(Kind.FAILED, "KY 2026-10:\n 1 of 4") == "SF1630 FAILED: KY 2026-10: 1 of 4"
    long = subject(Kind.DEADLINE_MISSED, "x" * 500)
    assert len(long) == 200 and long.endswith("…") and "\n" not in long


def test_html_escapes_everything_and_templates_nothing() -> None:
    alert = Alert(Kind.FAILED, "s", "bad <script> & {{ conf }} {% raw %}")
    assert alert.html() == (
        '<pre style="font-family: monospace">bad &lt;script&gt; &amp; {{ conf }} {% raw %}</pre>'
    )
    assert alert.text() == "s\n\nbad <script> & {{ conf }} {% raw %}"


def test_footer_and_fallback_name_the_run_and_the_problem() -> None:
    run = RunRef(
        "sf1630_sender_ky",
        "r1",
        "http://h/dags/sf1630_sender_ky/runs/r1",
        "failed",
        "2026-11-01T05:00:00+00:00",
        "task_failure",
    )
    assert footer(run) == [
        "",
        "Run: sf1630_sender_ky / r1 (state failed)",
        "Queued at: 2026-11-01T05:00:00+00:00",
        "Airflow's reason: task_failure",
        "Open in Airflow: http://h/dags/sf1630_sender_ky/runs/r1",
    ]
    alert = fallback_alert(Kind.FAILED, "KY", run, "OperationalError: no such host")
    assert alert.subject == "SF1630 FAILED: KY (sf1630_sender_ky), details unavailable"
    assert "could not be read (OperationalError: no such host)" in alert.body
    assert alert.body.endswith("Open in Airflow: http://h/dags/sf1630_sender_ky/runs/r1")
