"""What sender and receiver DAGs share about a run: its period, its params, its schedule and its retries.

A run's month is computed one way on both sides and from both kinds of context (a task's, and the JSON
``dag_run`` a Deadline Alert or failure callback receives): the ``period`` param or conf if given, else the
month of the logical date *in the configured time zone* (a monthly run at 06:00 local time on the 1st has a
UTC logical date in the month before), else the last complete month before the run.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime
from typing import Any

import pendulum
from airflow.sdk import CronDataIntervalTimetable, conf

from sf1630.alert import RunRef, run_url
from sf1630.config import RunSettings
from sf1630.protocol import Period


def as_list(value: object) -> list[str]:
    """A list param (or a comma-separated string from the CLI or conf) as a list of non-empty strings."""
    if value is None or value == "":
        return []
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    if isinstance(value, Sequence):
        return [str(part).strip() for part in value if str(part).strip()]
    raise ValueError(f"param value {value!r} must be a list of strings")


def _field(run: object, name: str) -> Any:
    """A field of the run: a DagRun's attribute, or a key of the REST API's JSON ``dag_run``."""
    return run.get(name) if isinstance(run, Mapping) else getattr(run, name, None)


def _text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat(timespec="seconds")
    return str(getattr(value, "value", value))


def _moment(value: object) -> datetime | None:
    """A moment of the run (a datetime or its ISO text) as an aware datetime; UTC when it names no zone."""
    if value is None or value == "":
        return None
    moment = (
        value if isinstance(value, datetime) else datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    )
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def api_base_url() -> str:
    """Where the api-server answers (``[api] base_url``; Airflow's own default port where it is not set):
    the root of the links in alerts and of the public REST API the views read."""
    return str(conf.get("api", "base_url", fallback="http://localhost:8080")).rstrip("/")


def run_ref(context: Mapping[str, Any]) -> RunRef:
    """The run a callback is about, from a failure callback's full context or a deadline's JSON one."""
    run = context.get("dag_run")
    dag = context.get("dag")
    dag_id = _text(_field(run, "dag_id") or getattr(dag, "dag_id", ""))
    # A deadline's context is the REST API's DAGRunResponse (``dag_run_id``); a failure callback's a DagRun.
    run_id = _text(_field(run, "run_id") or _field(run, "dag_run_id") or context.get("run_id"))
    return RunRef(
        dag_id=dag_id,
        run_id=run_id,
        url=run_url(api_base_url(), dag_id, run_id),
        state=_text(_field(run, "state")),
        queued_at=_text(_field(run, "queued_at")),
        reason=_text(context.get("reason")),
    )


def run_started(context: Mapping[str, Any]) -> datetime:
    """When the run began (its start, else when it was queued): refusals from then on are the run's."""
    run = context.get("dag_run")
    for name in ("start_date", "queued_at", "run_after"):
        moment = _moment(_field(run, name))
        if moment is not None:
            return moment
    return datetime.now(UTC)


def run_due(context: Mapping[str, Any]) -> datetime:
    """When the run was due (``run_after``, else queued), or now when the context says neither."""
    run = context.get("dag_run")
    return _moment(_field(run, "run_after")) or _moment(_field(run, "queued_at")) or datetime.now(UTC)


def run_params(context: Mapping[str, Any]) -> Mapping[str, Any]:
    """The run's params: a task's ``params``, or the ``conf`` of a callback's ``dag_run``."""
    params = context.get("params")
    if params:
        return dict(params)
    return dict(_field(context.get("dag_run"), "conf") or {})


def run_period(context: Mapping[str, Any], timezone: str) -> Period:
    """The month the run in ``context`` is about (see the module docstring); ValueError on a bad param."""
    override = str(run_params(context).get("period") or "")
    if override:
        return Period.parse(override)
    run = context.get("dag_run")
    logical = _moment(context.get("logical_date") or _field(run, "logical_date"))
    logical = logical or _moment(_field(run, "data_interval_start"))
    if logical is not None:
        return Period.of(pendulum.instance(logical).in_timezone(timezone))
    after = _moment(_field(run, "run_after") or _field(run, "queued_at")) or pendulum.now("UTC")
    return Period.of(pendulum.instance(after).in_timezone(timezone)).previous()


def run_moment(context: Mapping[str, Any]) -> pendulum.DateTime:
    """When the run was due (``run_after``; else queued or logical): fixed for the run's whole life."""
    run = context.get("dag_run")
    moment = _moment(_field(run, "run_after") or _field(run, "queued_at") or context.get("logical_date"))
    if moment is None:
        raise ValueError("the run has no run_after, queued_at or logical_date")
    return pendulum.instance(moment)


def monthly_timetable(cron: str, timezone: str) -> CronDataIntervalTimetable:
    """A cron schedule whose data interval is the period before the run (the month being delivered)."""
    return CronDataIntervalTimetable(cron, timezone=timezone)


def start(day: date, timezone: str) -> pendulum.DateTime:
    """Midnight of ``day`` in ``timezone``: a fixed start date from configuration, never ``now()``."""
    return pendulum.datetime(day.year, day.month, day.day, tz=timezone)


def dag_arguments(settings: RunSettings) -> dict[str, Any]:
    """The ``DAG(...)`` keyword arguments that come from run settings, alike for every SF1630 DAG.

    Retries back off exponentially up to ``max_retry_delay``; a month is delivered once, so no catch-up of
    months missed before the start unless ``catchup`` says so (the demo's one month, bounded by
    ``end_date``). The schedule stays in each ``DAG(...)`` call, where readers (and
    ruff's AIR rules) look for it: :func:`monthly_timetable` of ``settings.schedule`` for most.
    """
    return {
        "start_date": start(settings.start_date, settings.timezone),
        "end_date": start(settings.end_date, settings.timezone) if settings.end_date else None,
        "catchup": settings.catchup,
        "default_args": {
            "owner": settings.owner,
            "retries": settings.retries,
            "retry_delay": settings.retry_delay,
            "retry_exponential_backoff": 2.0,
            "max_retry_delay": settings.max_retry_delay,
        },
    }
