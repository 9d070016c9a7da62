"""The Airflow face of the SF1630 views: a FastAPI app the api-server mounts, and the plugin that adds it.

Behind Airflow's own authentication: every route depends on the api-server's ``get_user`` (the JWT of the
user logged in to the UI, from its cookie or a bearer header; Airflow does not authenticate plugin apps by
itself, a mounted app inherits none of the core API's dependencies) and on the auth manager allowing that
user to read DAG runs. No data leaves without both. The views' logic is plain code in
:mod:`sf1630.lis_view`; this module gives it the connections, Airflow's task instances and object storage.
"""

from __future__ import annotations

import json
import mimetypes
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

from airflow.plugins_manager import AirflowPlugin
from fastapi import Depends, FastAPI, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from sf1630.airflow import connections
from sf1630.airflow.reload import RELOAD_DAG_ID
from sf1630.airflow.store import local_quarantine
from sf1630.lis_view.deliveries import build_deliveries
from sf1630.lis_view.ledgers import LoadRow, read_load_rows, read_sent_rows
from sf1630.lis_view.loads import chosen_receivers, current_rows
from sf1630.lis_view.model import Filters, TaskRef
from sf1630.lis_view.pages import (
    Links,
    action_target,
    deliveries_page,
    loads_html,
    message_page,
    report_page,
    trigger_page,
)
from sf1630.lis_view.report import REPORT_FILES, ReportFolder, locate_report, summarize_validation
from sf1630.protocol import Period
from sf1630.receiver.config import Receiver, has_receivers, load_receivers
from sf1630.registry import delivery_label, has_senders, load_registry

URL_PREFIX = "/sf1630"


def authorized(request: Request) -> Any:
    """The logged-in Airflow user, if the auth manager lets them read DAG runs; else 401/403.

    Resolved per request (not at import), so the app can be built where no api-server runs.
    """
    from airflow.api_fastapi.app import get_auth_manager
    from airflow.api_fastapi.auth.managers.models.resource_details import DagAccessEntity

    return _check(request, get_auth_manager(), DagAccessEntity.RUN)


async def _user(request: Request) -> Any:
    from airflow.api_fastapi.core_api.security import bearer_scheme, get_user

    credentials = await bearer_scheme(request)
    return await get_user(request, None, credentials)


def _check(request: Request, manager: Any, entity: Any) -> Any:
    user = request.state.sf1630_user
    if not manager.is_authorized_dag(method="GET", access_entity=entity, user=user):
        raise HTTPException(status_code=403, detail="Forbidden")
    return user


async def authenticated(request: Request) -> None:
    """Resolve the user through the api-server's own ``get_user`` (raises 401/403 without a valid token)."""
    request.state.sf1630_user = await _user(request)


class AirflowTasks:
    """:class:`~sf1630.lis_view.model.TaskIndex` over Airflow's metadata database."""

    def lookup(self, task_id: str, dag_ids: Sequence[str]) -> Mapping[tuple[str, str], TaskRef]:
        """The newest task instance of ``task_id`` per (DAG, rendered map index)."""
        if not dag_ids:
            return {}
        from airflow.models.taskinstance import TaskInstance
        from airflow.utils.session import create_session
        from sqlalchemy import select

        ti = TaskInstance
        query = select(
            ti.dag_id, ti.run_id, ti.task_id, ti.map_index, ti._rendered_map_index, ti.state, ti.start_date
        ).where(ti.task_id == task_id, ti.dag_id.in_(list(dag_ids)), ti._rendered_map_index.is_not(None))
        found: dict[tuple[str, str], TaskRef] = {}
        with create_session() as session:
            for dag_id, run_id, task, index, label, state, started in session.execute(query):
                key = (str(dag_id), str(label))
                known = found.get(key)
                if known is None or (started or datetime.min.replace(tzinfo=UTC)) >= (
                    known.start_date or datetime.min.replace(tzinfo=UTC)
                ):
                    found[key] = TaskRef(dag_id, run_id, task, index, str(state or ""), started)
        return found

    def label(self, dag_id: str, run_id: str, task_id: str, map_index: int) -> str:
        """The rendered map index (the delivery label) of one task instance, or "" when unknown."""
        from airflow.models.taskinstance import TaskInstance
        from airflow.utils.session import create_session
        from sqlalchemy import select

        ti = TaskInstance
        query = select(ti._rendered_map_index).where(
            ti.dag_id == dag_id, ti.run_id == run_id, ti.task_id == task_id, ti.map_index == map_index
        )
        with create_session() as session:
            return str(session.scalar(query) or "")


def _links(request: Request) -> Links:
    root = str(request.scope.get("root_path", "")).rstrip("/")
    ui = root[: -len(URL_PREFIX)] if root.endswith(URL_PREFIX) else ""
    return Links(ui=ui, app=root or URL_PREFIX)


Params = Annotated[str, Query(max_length=200)]


def _filters(
    lis: Params = "", kommune: Params = "", sender: Params = "", month: Params = "", year: Params = ""
) -> Filters:
    """The views' shared query parameters as one :class:`Filters` (a FastAPI dependency); bad ones → 400."""
    try:
        return Filters.parse(
            lis=lis, kommune=kommune, sender=sender, month=month, year=year, now=datetime.now(UTC)
        )
    except ValueError as err:
        raise HTTPException(status_code=400, detail=str(err)) from None


def _warehouse_targets(receivers: Sequence[Receiver]) -> list[tuple[str, str, Any]]:
    databases: dict[str, Any] = {}
    targets = []
    for receiver in receivers:
        conn_id = receiver.warehouse_conn_id
        if conn_id not in databases:
            databases[conn_id] = connections.database(conn_id)
        targets.append((receiver.sftp_user, receiver.kommune.cvr, databases[conn_id]))
    return targets


def _sender_codes() -> list[str]:
    """The senders the views know: this deployment's own, else those its LIS systems accept."""
    if has_senders():
        return [s.code for s in load_registry().senders]
    return sorted({s.code for r in _receivers() for s in r.accepted})


def _receivers() -> tuple[Receiver, ...]:
    """This deployment's LIS systems; none on a sender-only deployment."""
    return load_receivers() if has_receivers() else ()


def _sender_ledgers(codes: Sequence[str] | None = None) -> list[tuple[str, Any]]:
    """The sender ledgers of this deployment's own senders (none on a LIS-only deployment)."""
    if not has_senders():
        return []
    registry = load_registry()
    return [
        (s.code, connections.database(s.ledger_conn_id))
        for s in registry.senders
        if not codes or s.code in codes
    ]


def _airflow_home() -> Path:
    from airflow.configuration import AIRFLOW_HOME

    return Path(AIRFLOW_HOME)


def _read(folder: ReportFolder, name: str) -> bytes | None:
    """One file of a report folder through ObjectStoragePath (``file://`` for the quarantine)."""
    from airflow.sdk import ObjectStoragePath

    path = ObjectStoragePath(folder.uri) / name
    try:
        if not path.is_file():
            return None
        return path.read_bytes()
    except FileNotFoundError:
        return None


def create_app() -> FastAPI:
    """The SF1630 views app, every route behind Airflow's authentication and DAG-run read permission."""
    app = FastAPI(
        title="SF1630 views",
        dependencies=[Depends(authenticated), Depends(authorized)],
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    tasks = AirflowTasks()

    @app.get("/")
    def index(request: Request) -> RedirectResponse:
        return RedirectResponse(_links(request).app + "/loads")

    @app.get("/loads", response_class=HTMLResponse)
    def loads(request: Request, filters: Annotated[Filters, Depends(_filters)]) -> str:
        return render_loads(_receivers(), filters, tasks, _links(request), datetime.now(UTC))

    @app.get("/deliveries", response_class=HTMLResponse)
    def deliveries(request: Request, filters: Annotated[Filters, Depends(_filters)]) -> str:
        if not has_senders():
            return message_page("No senders here", "This deployment has no sender side (senders.yaml).")
        registry = load_registry()
        sent = read_sent_rows(_sender_ledgers([filters.sender] if filters.sender else None), filters.months)
        rows = build_deliveries(registry, filters, sent, tasks)
        return deliveries_page(rows, filters, _links(request), _receivers(), _sender_codes())

    @app.get("/report", response_class=HTMLResponse)
    def report(request: Request, lis: Params, uuid: Params) -> str:
        receiver, row = _ledger_row(lis, uuid)
        return _report_html(request, receiver, row)

    @app.get("/report/ti", response_class=HTMLResponse)
    def report_for_task(
        request: Request, dag_id: Params, run_id: Params, task_id: Params, map_index: int = -1
    ) -> str:
        found = _delivery_of_task(dag_id, run_id, task_id, map_index)
        if found is None:
            return message_page("No SF1630 delivery", "This task instance did not handle an SF1630 delivery.")
        receiver, row = found
        return _report_html(request, receiver, row)

    @app.get("/report/file")
    def report_file(lis: Params, uuid: Params, name: Params) -> Response:
        if name not in REPORT_FILES:
            raise HTTPException(status_code=404, detail="no such report file")
        receiver, row = _ledger_row(lis, uuid)
        folder = locate_report(row, local_quarantine(receiver))
        content = _read(folder, name) if folder else None
        if content is None:
            raise HTTPException(status_code=404, detail="no such report file")
        media = mimetypes.guess_type(name)[0] or "application/octet-stream"
        # The Data Docs page runs in a sandbox: no script, no same-origin access to Airflow.
        headers = {"Content-Security-Policy": "sandbox", "X-Content-Type-Options": "nosniff"}
        return Response(content, media_type=media, headers=headers)

    @app.get("/act")
    def act(
        request: Request, do: Params, lis: Params, sender: Params, period: Params, file: Params = ""
    ) -> Any:
        receiver = _receiver(lis)
        try:
            dag_id, conf = action_target(receiver, do, sender, period, file, RELOAD_DAG_ID)
        except ValueError as err:
            raise HTTPException(status_code=400, detail=str(err)) from None
        return RedirectResponse(_links(request).trigger(dag_id, conf))

    @app.get("/trigger", response_class=HTMLResponse)
    def trigger(request: Request, dag_id: Params, conf: Annotated[str, Query(max_length=4000)] = "{}") -> str:
        try:
            values = json.loads(conf)
        except json.JSONDecodeError:
            raise HTTPException(status_code=400, detail="conf is not JSON") from None
        if not isinstance(values, dict):
            raise HTTPException(status_code=400, detail="conf must be a JSON object")
        params = _dag_params(dag_id)
        links = _links(request)
        return trigger_page(dag_id, values, params, links, api=f"{links.ui}/api/v2")

    return app


def render_loads(
    receivers: Sequence[Receiver], filters: Filters, tasks: Any, links: Links, now: datetime
) -> str:
    """The Loads page for ``filters`` over the configured connections."""
    chosen = chosen_receivers(receivers, filters)
    ledgers = _sender_ledgers([filters.sender] if filters.sender else None)
    return loads_html(
        receivers, filters, _warehouse_targets(chosen), ledgers, tasks, links, _sender_codes(), now
    )


def _receiver(lis: str) -> Receiver:
    for receiver in _receivers():
        if receiver.sftp_user == lis:
            return receiver
    raise HTTPException(status_code=404, detail="no such LIS system")


def _ledger_row(lis: str, uuid: str) -> tuple[Receiver, LoadRow]:
    receiver = _receiver(lis)
    months = [Period(1900, 1), Period(9999, 12)]
    for row in read_load_rows(_warehouse_targets([receiver]), months):
        if row.file_transfer_uuid == uuid:
            return receiver, row
    raise HTTPException(status_code=404, detail="no such delivery in the ledger")


def _delivery_of_task(
    dag_id: str, run_id: str, task_id: str, map_index: int
) -> tuple[Receiver, LoadRow] | None:
    """The ledger row of the delivery a receiver's ``load`` task instance handled."""
    receiver = next((r for r in _receivers() if r.dag_id == dag_id), None)
    if receiver is None or task_id != "load":
        return None
    label = AirflowTasks().label(dag_id, run_id, task_id, map_index)
    if not label:
        return None
    months = [Period(1900, 1), Period(9999, 12)]
    rows = read_load_rows(_warehouse_targets([receiver]), months)
    for (_, sender, _, period), (row, _) in current_rows(rows).items():
        if delivery_label(sender, receiver.kommune, receiver.lis, period) == label:
            newest = [r for r in rows if r.sender == sender and r.period == period]
            return receiver, max(newest, key=lambda r: r.file_name) if newest else row
    return None


def _report_html(request: Request, receiver: Receiver, row: LoadRow) -> str:
    folder = locate_report(row, local_quarantine(receiver))
    files = [name for name in REPORT_FILES if folder and _read(folder, name) is not None]
    summary = None
    if folder and "validation.json" in files:
        try:
            summary = summarize_validation(_read(folder, "validation.json") or b"")
        except ValueError:
            summary = None
    facts = [
        ("LIS system", f"{receiver.kommune.name} {receiver.lis.name} ({receiver.sftp_user})"),
        ("sender", row.sender),
        ("period", row.period),
        ("file", row.file_name),
        ("FileTransferUUID", row.file_transfer_uuid),
        ("outcome", row.outcome),
        ("rows", str(row.rows)),
        ("finished", str(row.finished_at or "")),
        ("reason", row.detail.splitlines()[0] if row.detail else ""),
        ("report from", f"{folder.source}: {folder.uri}" if folder else "none"),
    ]
    if row.superseded_by:
        facts.append(("superseded by", row.superseded_by))
    title = f"Validation report: {delivery_label(row.sender, receiver.kommune, receiver.lis, row.period)}"
    return report_page(
        title, facts, summary, files, _links(request), receiver.sftp_user, row.file_transfer_uuid
    )


def _dag_params(dag_id: str) -> dict[str, Any]:
    """The params of ``dag_id`` as the trigger form needs them (from the serialized DAG)."""
    from airflow.models.dagbag import DBDagBag
    from airflow.utils.session import create_session

    with create_session() as session:
        dag = DBDagBag().get_latest_version_of_dag(dag_id, session=session)
        if dag is None:
            raise HTTPException(status_code=404, detail=f"no DAG {dag_id}")
        params: dict[str, Any] = {name: param.dump() for name, param in dag.params.items()}  # type: ignore[no-untyped-call]
        return params


class Sf1630UiPlugin(AirflowPlugin):  # type: ignore[misc]
    """The views in Airflow's navigation and the report tab on every task instance."""

    name = "sf1630_ui"
    # AirflowPlugin declares these as plain list attributes (a ClassVar would contradict its annotations).
    fastapi_apps = [{"app": create_app(), "url_prefix": URL_PREFIX, "name": "SF1630 views"}]  # noqa: RUF012
    external_views = [  # noqa: RUF012
        {"name": "SF1630 loads", "href": "sf1630/loads", "destination": "nav", "url_route": "sf1630-loads"},
        {
            "name": "SF1630 deliveries",
            "href": "sf1630/deliveries",
            "destination": "nav",
            "url_route": "sf1630-deliveries",
        },
        {
            "name": "Validation report",
            "href": "sf1630/report/ti?dag_id={DAG_ID}&run_id={RUN_ID}&task_id={TASK_ID}"
            "&map_index={MAP_INDEX}",
            "destination": "task_instance",
            "url_route": "sf1630-report",
        },
    ]
