"""A run's period, params and schedule, computed one way for task contexts and callback contexts."""

from __future__ import annotations

from datetime import date, timedelta
from types import SimpleNamespace

import pendulum
import pytest
from sf1630.airflow.runs import as_list, dag_arguments, run_params, run_period, start
from sf1630.config import RunSettings
from sf1630.protocol import Period

CPH = "Europe/Copenhagen"


def test_period_of_a_task_context_in_local_time() -> None:
    """The monthly run's logical date is 1 Oct 00:00 CEST, still 30 September in UTC."""
    run = SimpleNamespace(run_after=pendulum.datetime(2026, 11, 1, 5, tz="UTC"), conf={})
    context = {"logical_date": pendulum.datetime(2026, 9, 30, 22, tz="UTC"), "dag_run": run, "params": {}}
    assert run_period(context, CPH) == Period(2026, 10)
    assert run_period(context, "UTC") == Period(2026, 9)
    assert run_period({**context, "params": {"period": "2025-02"}}, CPH) == Period(2025, 2)
    assert run_period({**context, "logical_date": None}, CPH) == Period(2026, 10)  # last complete month


def test_period_of_a_callback_context() -> None:
    """A Deadline Alert gets the DAG run as JSON, conf included."""
    dag_run = {"logical_date": "2026-09-30T22:00:00Z", "run_after": "2026-11-01T05:00:00Z", "conf": {}}
    assert run_period({"dag_run": dag_run}, CPH) == Period(2026, 10)
    unscheduled = {**dag_run, "logical_date": None, "run_after": "2026-01-15T08:00:00Z"}
    assert run_period({"dag_run": unscheduled}, CPH) == Period(2025, 12)
    overridden = {"dag_run": {**dag_run, "conf": {"period": "2026-07"}}}
    assert run_period(overridden, CPH) == Period(2026, 7)
    assert run_params(overridden) == {"period": "2026-07"}
    with pytest.raises(ValueError, match="must be YYYY-MM"):
        run_period({"dag_run": {**dag_run, "conf": {"period": "2025-13"}}}, CPH)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, []),
        ("", []),
        ("101, 153,,", ["101", "153"]),
        (["101", " ", 153], ["101", "153"]),
    ],
)
def test_list_params(value: object, expected: list[str]) -> None:
    assert as_list(value) == expected


def test_list_param_of_the_wrong_type() -> None:
    with pytest.raises(ValueError, match="must be a list of strings"):
        as_list(42)


def test_start_and_retries_from_configuration() -> None:
    assert start(date(2026, 1, 1), CPH) == pendulum.datetime(2026, 1, 1, tz=CPH)
    settings = RunSettings(
        owner="drift",
        schedule="0 6 1 * *",
        timezone=CPH,
        start_date=date(2026, 1, 1),
        retries=3,
        retry_delay=timedelta(seconds=30),
        max_retry_delay=timedelta(minutes=10),
    )
    arguments = dag_arguments(settings)
    assert arguments["start_date"] == pendulum.datetime(2026, 1, 1, tz=CPH) and arguments["catchup"] is False
    args = arguments["default_args"]
    assert args["retries"] == 3 and args["retry_exponential_backoff"] == 2.0 and args["owner"] == "drift"
    assert (args["retry_delay"], args["max_retry_delay"]) == (timedelta(seconds=30), timedelta(minutes=10))
