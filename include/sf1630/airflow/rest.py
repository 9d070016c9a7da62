"""Airflow's public REST API (``/api/v2``) as the logged-in user, for the SF1630 views.

The views need three facts of Airflow's: the newest task instance per delivery label (a mapped task's
rendered map index), the label of one task instance, and a DAG's params. They ask the api-server's own
REST API at ``[api] base_url`` with the user's JWT, so Airflow authorizes every call as it does for its
UI, and nothing here depends on Airflow's models or metadata database. An API that does not answer is
:class:`AirflowUnavailable` (the views' 503 page).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import httpx
from airflow.sdk import conf
from fastapi import HTTPException

from sf1630.airflow.runs import api_base_url
from sf1630.lis_view.model import TaskRef

log = logging.getLogger(__name__)


def api_client() -> httpx.Client:
    """A client of the api-server's public REST API, at ``[api] base_url`` (the deployment's own URL)."""
    return httpx.Client(base_url=f"{api_base_url()}/api/v2/", timeout=30.0)


class AirflowUnavailable(Exception):
    """Airflow's REST API did not answer (api-server unreachable, timed out, or a 5xx of its own)."""


class AirflowApi:
    """Airflow's public REST API (``/api/v2``) as the logged-in user: their own token goes with every call,
    so Airflow applies its own authorization to what they may read, DAG by DAG."""

    def __init__(self, client: httpx.Client, token: str) -> None:
        self.client = client
        self.headers = {"Authorization": f"Bearer {token}"} if token else {}

    def call(self, method: str, path: str, body: Mapping[str, Any] | None = None) -> Any:
        """The JSON answer of ``method path`` (relative to ``/api/v2``); None for a 404. 401/403 → 403,
        no answer or a 5xx → :class:`AirflowUnavailable` (a 503 page)."""
        try:
            answer = self.client.request(method, path, json=body, headers=self.headers)
        except httpx.HTTPError as err:
            log.warning("SF1630 views: Airflow's REST API did not answer: %s: %s", type(err).__name__, err)
            raise AirflowUnavailable(type(err).__name__) from err
        if answer.status_code == 404:
            return None
        if answer.status_code in (401, 403):
            raise HTTPException(status_code=403, detail="Airflow's REST API refused this user")
        if answer.status_code >= 400:
            log.warning("SF1630 views: %s %s answered %d: %s", method, path, answer.status_code, answer.text)
            raise AirflowUnavailable(f"HTTP {answer.status_code}")
        try:
            return answer.json()
        except ValueError as err:  # not Airflow's API at [api] base_url (a proxy's page, another service)
            log.warning("SF1630 views: %s %s answered no JSON: %s", method, path, answer.text[:200])
            raise AirflowUnavailable("not JSON") from err

    def task_instances(self, **where: object) -> Iterator[Mapping[str, Any]]:
        """Every task instance matching ``where`` (the batch list's filters: ``dag_ids``, ``dag_run_ids``,
        ``task_ids``, ``start_date_gte``), a page of the api-server's ``[api] maximum_page_limit`` at a
        time, ordered by the task instance's unique id: offset paging over an order with ties (the default
        sort) may return one row on two pages and never the other."""
        offset, limit = 0, conf.getint("api", "maximum_page_limit", fallback=100)
        while True:
            body = {**where, "page_offset": offset, "page_limit": limit, "order_by": "id"}
            page = self.call("POST", "dags/~/dagRuns/~/taskInstances/list", body) or {}
            found = page.get("task_instances") or []
            yield from found
            offset += len(found)
            if not found or offset >= int(page.get("total_entries") or 0):
                return


class AirflowTasks:
    """:class:`~sf1630.lis_view.model.TaskIndex` over Airflow's REST API."""

    def __init__(self, api: AirflowApi) -> None:
        self.api = api

    def lookup(
        self, task_id: str, dag_ids: Sequence[str], since: datetime | None = None
    ) -> Mapping[tuple[str, str], TaskRef]:
        """The newest task instance of ``task_id`` per (DAG, rendered map index), of those started at or
        after ``since`` (Airflow filters: fewer pages for a month than for all history)."""
        if not dag_ids:
            return {}
        where: dict[str, object] = {"dag_ids": list(dag_ids), "task_ids": [task_id]}
        if since is not None:
            where["start_date_gte"] = since.isoformat()
        found: dict[tuple[str, str], TaskRef] = {}
        for ti in self.api.task_instances(**where):
            label = ti.get("rendered_map_index")
            if label is None:
                continue
            ref = _task_ref(ti)
            key = (ref.dag_id, str(label))
            known = found.get(key)
            if known is None or (ref.start_date or EARLIEST) >= (known.start_date or EARLIEST):
                found[key] = ref
        return found

    def label(self, dag_id: str, run_id: str, task_id: str, map_index: int) -> str:
        """The rendered map index (the delivery label) of one task instance, or "" when unknown."""
        tis = self.api.task_instances(dag_ids=[dag_id], dag_run_ids=[run_id], task_ids=[task_id])
        return next(
            (str(ti.get("rendered_map_index") or "") for ti in tis if ti.get("map_index") == map_index), ""
        )

    def dag_params(self, dag_id: str) -> dict[str, Any]:
        """The params of ``dag_id`` as the trigger form needs them (the DAG's details); else 404."""
        details = self.api.call("GET", f"dags/{quote(dag_id, safe='')}/details")
        if details is None:
            raise HTTPException(status_code=404, detail=f"no DAG {dag_id}")
        return dict(details.get("params") or {})


EARLIEST = datetime.min.replace(tzinfo=UTC)


def _task_ref(ti: Mapping[str, Any]) -> TaskRef:
    """A task instance of the REST API's answer as the views link to it."""
    started = ti.get("start_date")
    return TaskRef(
        str(ti["dag_id"]),
        str(ti["dag_run_id"]),
        str(ti["task_id"]),
        int(ti["map_index"]),
        str(ti.get("state") or ""),
        datetime.fromisoformat(started) if started else None,
    )
