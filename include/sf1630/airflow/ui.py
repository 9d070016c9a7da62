"""The Airflow face of the SF1630 views: a FastAPI app the api-server mounts, and the plugin that adds it.

Behind Airflow's own authentication: every route depends on the api-server's ``get_user`` (the JWT of the
user logged in to the UI, from its cookie or a bearer header; Airflow does not authenticate plugin apps by
itself, a mounted app inherits none of the core API's dependencies) and on the auth manager allowing that
user to read DAG runs. No data leaves without both. Rows are then narrowed to the DAGs the auth manager
lets the user read (``get_authorized_dag_ids``, as Airflow's own DAG lists do): a LIS system's rows and
reports need its receiver DAG, a sender's deliveries and receipts need its sender DAG, so a deployment
serving several LIS teams with per-DAG (or per-team) permissions shows each team its own rows.

Every answer is a page or a 4xx that says what was wrong: query values with control characters are
refused, a ledger that cannot be read yet is a 503 page that says so. Pages and report files carry
values from delivered files (personal data): ``Cache-Control: no-store`` on every answer, and the pages may
only be framed by Airflow itself. Report files are read only from the receiver's configured store, below
its own prefix, over the store's own scheme, and on a local disk without following links.

The views' logic is plain code in :mod:`sf1630.lis_view`; this module gives it the connections, Airflow's
task instances, the user's readable DAGs and object storage. Task instances and DAG params come from
Airflow's public REST API (``/api/v2`` at ``[api] base_url``) called with the user's own JWT, so Airflow
authorizes each call; an API that does not answer is a 503 page.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import mimetypes
import os
import sqlite3
import stat
import unicodedata
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import httpx
from airflow.plugins_manager import AirflowPlugin
from fastapi import Depends, FastAPI, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import AfterValidator

from sf1630.airflow import connections
from sf1630.airflow.reload import RELOAD_DAG_ID
from sf1630.airflow.rest import AirflowApi, AirflowTasks, AirflowUnavailable, api_client
from sf1630.airflow.store import local_quarantine, storage
from sf1630.database import DatabaseConfigError
from sf1630.lis_view.deliveries import build_deliveries
from sf1630.lis_view.loads import chosen_receivers
from sf1630.lis_view.model import Filters
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
from sf1630.receiver.config import LOAD_TASK, Receiver, has_receivers, load_receivers
from sf1630.receiver.storage import is_local, os_path
from sf1630.registry import Registry, delivery_label, has_senders, load_registry
from sf1630.sender.ledger import read_sent_rows
from sf1630.warehouse.ledger import LoadRow, read_load_row, read_newest_load

URL_PREFIX = "/sf1630"
#: A report file larger than this is not served through the api-server (open it in the store).
MAX_REPORT_BYTES = 64 * 2**20
#: Every answer: nothing of it kept in a browser's or a proxy's cache (values from delivered files).
NO_STORE = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}
#: HTML pages: framed by Airflow's UI (same origin) only.
PAGE_POLICY = "frame-ancestors 'self'; base-uri 'none'; object-src 'none'"
#: Report files (GX Data Docs may carry script): a sandbox, framed by this app's report page only.
FILE_POLICY = "sandbox; frame-ancestors 'self'"

log = logging.getLogger(__name__)


def authorized(request: Request) -> Any:
    """The logged-in Airflow user, if the auth manager lets them read DAG runs; else 401/403.

    Resolved per request (not at import), so the app can be built where no api-server runs.
    """
    from airflow.api_fastapi.app import get_auth_manager
    from airflow.api_fastapi.auth.managers.models.resource_details import DagAccessEntity

    return _check(request, get_auth_manager(), DagAccessEntity.RUN)


async def _user(request: Request) -> Any:
    """The user of the request's token (bearer header, else the UI's cookie), kept for the REST API calls."""
    from airflow.api_fastapi.auth.managers.base_auth_manager import COOKIE_NAME_JWT_TOKEN
    from airflow.api_fastapi.core_api.security import bearer_scheme, get_user

    credentials = await bearer_scheme(request)
    user = await get_user(request, None, credentials)
    request.state.sf1630_token = (
        credentials.credentials if credentials else request.cookies.get(COOKIE_NAME_JWT_TOKEN, "")
    )
    return user


def _check(request: Request, manager: Any, entity: Any) -> Any:
    user = request.state.sf1630_user
    if not manager.is_authorized_dag(method="GET", access_entity=entity, user=user):
        raise HTTPException(status_code=403, detail="Forbidden")
    return user


async def authenticated(request: Request) -> None:
    """Resolve the user through the api-server's own ``get_user`` (raises 401/403 without a valid token)."""
    request.state.sf1630_user = await _user(request)


def readable_dags(request: Request) -> frozenset[str]:
    """The DAG ids the auth manager lets the user read: Airflow's own filter of its DAG lists."""
    from airflow.api_fastapi.app import get_auth_manager

    user = request.state.sf1630_user
    return frozenset(get_auth_manager().get_authorized_dag_ids(user=user, method="GET"))


Readable = Annotated[frozenset[str], Depends(readable_dags)]


def _plain(value: str) -> str:
    """A query value without control characters (NUL, newlines): no DAG id, run id, name or month has one,
    and a NUL breaks the databases it would be looked up in."""
    if any(unicodedata.category(char) == "Cc" for char in value):
        raise ValueError("must not contain control characters (NUL, line breaks, ...)")
    return value


class LedgerUnavailable(Exception):
    """A ledger or warehouse that exists in the configuration cannot be read now (server down, no access)."""


def _database_errors() -> tuple[type[BaseException], ...]:
    """What reading a ledger raises when the database is not there or not answering."""
    import psycopg
    from airflow.sdk.exceptions import AirflowNotFoundException

    return (
        psycopg.Error,
        sqlite3.Error,
        OSError,
        DatabaseConfigError,
        AirflowNotFoundException,
    )


@contextmanager
def _reading_ledgers() -> Iterator[None]:
    """Turn a database that cannot be read into :class:`LedgerUnavailable` (a 503 page), logged with its
    cause; a page never shows the database's own message (it may name hosts and users)."""
    try:
        yield
    except _database_errors() as err:
        log.warning("SF1630 views: a ledger cannot be read: %s: %s", type(err).__name__, err)
        raise LedgerUnavailable(type(err).__name__) from err


def airflow_tasks(request: Request) -> AirflowTasks:
    """Airflow's REST API as the user of this request (their token, checked by :func:`authenticated`)."""
    return AirflowTasks(AirflowApi(request.app.state.sf1630_airflow, request.state.sf1630_token))


Tasks = Annotated[AirflowTasks, Depends(airflow_tasks)]


def _links(request: Request) -> Links:
    root = str(request.scope.get("root_path", "")).rstrip("/")
    ui = root[: -len(URL_PREFIX)] if root.endswith(URL_PREFIX) else ""
    return Links(ui=ui, app=root or URL_PREFIX)


Params = Annotated[str, Query(max_length=200), AfterValidator(_plain)]


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


def _visible_receivers(dags: frozenset[str]) -> tuple[Receiver, ...]:
    """This deployment's LIS systems whose receiver DAG the user may read."""
    return tuple(r for r in _receivers() if r.dag_id in dags)


def _visible_registry(dags: frozenset[str]) -> Registry:
    """This deployment's registry with only the senders whose sender DAG the user may read."""
    registry = load_registry()
    return dataclasses.replace(registry, senders=tuple(s for s in registry.senders if s.dag_id in dags))


def _sender_ledgers(dags: frozenset[str], codes: Sequence[str] | None = None) -> list[tuple[str, Any]]:
    """The sender ledgers of this deployment's own senders the user may read (none on a LIS-only
    deployment)."""
    if not has_senders():
        return []
    return [
        (s.code, connections.database(s.ledger_conn_id))
        for s in _visible_registry(dags).senders
        if not codes or s.code in codes
    ]


def _read(receiver: Receiver, folder: ReportFolder, name: str) -> bytes | None:
    """One file of a report folder, from the receiver's configured store (never from where a ledger value
    points): on a local disk without following any link below the store's base, elsewhere through
    ObjectStoragePath with the store's own connection. None when it is not there (or too large to serve)."""
    base = storage(receiver).base
    parts = (*folder.parts, name)
    if is_local(base):
        data = _read_local(Path(os_path(base)), parts)
    else:
        path = base
        for part in parts:
            path = path / part
        try:
            with path.open("rb") as stream:
                data = stream.read(MAX_REPORT_BYTES + 1)
        except OSError:  # not there, a folder, no access: no such report file
            return None
    if data is not None and len(data) > MAX_REPORT_BYTES:
        log.warning(
            "SF1630 views: %s in %s is over %d bytes: not served", name, folder.parts, MAX_REPORT_BYTES
        )
        return None
    return data


def _read_local(root: Path, parts: Sequence[str]) -> bytes | None:
    """``root/parts…`` read one folder at a time with ``O_NOFOLLOW``: a link anywhere below ``root`` (a
    quarantine folder or report file replaced by a symlink) is refused, not followed out of the store; only
    a regular file is read (a FIFO would block the api-server)."""
    nofollow = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC
    try:
        folder = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        for part in parts[:-1]:
            inner = os.open(part, nofollow | os.O_DIRECTORY, dir_fd=folder)
            os.close(folder)
            folder = inner
        fd = os.open(parts[-1], nofollow | os.O_NONBLOCK, dir_fd=folder)
    except OSError:
        return None
    finally:
        os.close(folder)
    with os.fdopen(fd, "rb") as stream:
        if not stat.S_ISREG(os.fstat(stream.fileno()).st_mode):
            return None
        return stream.read(MAX_REPORT_BYTES + 1)


def _store_url(receiver: Receiver) -> str:
    return str(storage(receiver).base).rstrip("/")


def _locate(receiver: Receiver, row: LoadRow) -> ReportFolder | None:
    return locate_report(row, _store_url(receiver), local_quarantine(receiver), receiver.sftp_user)


async def _headers(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
    """``no-store`` on every answer; pages framed by Airflow only (report files set their own policy)."""
    response = await call_next(request)
    response.headers.update(NO_STORE)
    if "content-security-policy" not in response.headers and response.headers.get(
        "content-type", ""
    ).startswith("text/html"):
        response.headers["Content-Security-Policy"] = PAGE_POLICY
    return response


def _try_later(title: str, text: str) -> Response:
    """A 503 page: something the views read is not answering now (the cause is in the api-server's log)."""
    return HTMLResponse(message_page(title, text), status_code=503, headers={"Retry-After": "60"})


def _airflow_unavailable(request: Request, err: Exception) -> Response:
    return _try_later(
        "Airflow not reachable",
        f"Airflow's REST API did not answer ({err}); the api-server's log says why. Try again in a minute.",
    )


def _unavailable(request: Request, err: Exception) -> Response:
    return _try_later(
        "Ledger not readable yet",
        f"A ledger or warehouse of this deployment cannot be read right now ({err}); the api-server's log"
        " says why. Nothing is lost: try again in a minute.",
    )


def create_app(client: Callable[[], httpx.Client] = api_client) -> FastAPI:
    """The SF1630 views app, every route behind Airflow's authentication and DAG-run read permission;
    task instances and DAG params come from Airflow's REST API through ``client()`` as the user."""
    app = FastAPI(
        title="SF1630 views",
        dependencies=[Depends(authenticated), Depends(authorized)],
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    app.middleware("http")(_headers)
    app.add_exception_handler(LedgerUnavailable, _unavailable)
    app.add_exception_handler(AirflowUnavailable, _airflow_unavailable)
    app.state.sf1630_airflow = client()

    @app.get("/")
    def index(request: Request) -> RedirectResponse:
        return RedirectResponse(_links(request).app + "/loads")

    @app.get("/loads", response_class=HTMLResponse)
    def loads(
        request: Request, filters: Annotated[Filters, Depends(_filters)], dags: Readable, tasks: Tasks
    ) -> str:
        with _reading_ledgers():
            return render_loads(_receivers(), filters, tasks, _links(request), datetime.now(UTC), dags)

    @app.get("/deliveries", response_class=HTMLResponse)
    def deliveries(
        request: Request, filters: Annotated[Filters, Depends(_filters)], dags: Readable, tasks: Tasks
    ) -> str:
        if not has_senders():
            return message_page("No senders here", "This deployment has no sender side (senders.yaml).")
        registry = _visible_registry(dags)
        with _reading_ledgers():
            codes = [filters.sender] if filters.sender else None
            sent = read_sent_rows(_sender_ledgers(dags, codes), filters.months)
        rows = build_deliveries(registry, filters, sent, tasks)
        return deliveries_page(rows, filters, _links(request), _visible_receivers(dags), _sender_codes())

    @app.get("/report", response_class=HTMLResponse)
    def report(request: Request, lis: Params, uuid: Params, dags: Readable) -> str:
        receiver, row = _ledger_row(_receiver(lis, dags), uuid)
        return _report_html(request, receiver, row)

    @app.get("/report/ti", response_class=HTMLResponse)
    def report_for_task(
        request: Request,
        dag_id: Params,
        run_id: Params,
        task_id: Params,
        dags: Readable,
        tasks: Tasks,
        map_index: Annotated[int, Query(ge=-1, le=2**31 - 1)] = -1,
    ) -> str:
        if dag_id not in dags:
            raise HTTPException(status_code=403, detail=f"you may not read DAG {dag_id!r}")
        found = _delivery_of_task(tasks, dag_id, run_id, task_id, map_index)
        if found is None:
            return message_page("No SF1630 delivery", "This task instance did not handle an SF1630 delivery.")
        receiver, row = found
        return _report_html(request, receiver, row)

    @app.get("/report/file")
    def report_file(lis: Params, uuid: Params, name: Params, dags: Readable) -> Response:
        if name not in REPORT_FILES:
            raise HTTPException(status_code=404, detail=f"no report file {name!r}: one of {REPORT_FILES}")
        receiver, row = _ledger_row(_receiver(lis, dags), uuid)
        folder = _locate(receiver, row)
        content = _read(receiver, folder, name) if folder else None
        if content is None:
            raise HTTPException(status_code=404, detail="this delivery has no such report file in its store")
        media = mimetypes.guess_type(name)[0] or "application/octet-stream"
        # The Data Docs page runs in a sandbox: no script, no same-origin access to Airflow.
        return Response(content, media_type=media, headers={"Content-Security-Policy": FILE_POLICY})

    @app.get("/act")
    def act(
        request: Request,
        do: Params,
        lis: Params,
        sender: Params,
        period: Params,
        dags: Readable,
        file: Params = "",
    ) -> Any:
        receiver = _receiver(lis, dags)
        try:
            dag_id, conf = action_target(receiver, do, sender, Period.parse(period), file, RELOAD_DAG_ID)
        except ValueError as err:
            raise HTTPException(status_code=400, detail=str(err)) from None
        return RedirectResponse(_links(request).trigger(dag_id, conf))

    @app.get("/trigger", response_class=HTMLResponse)
    def trigger(
        request: Request,
        dag_id: Params,
        dags: Readable,
        tasks: Tasks,
        conf: Annotated[str, Query(max_length=4000)] = "{}",
    ) -> str:
        try:
            values = json.loads(conf)
            json.dumps(values)  # the form shows every value as JSON again
        except (ValueError, RecursionError):
            raise HTTPException(status_code=400, detail="conf is not JSON") from None
        if not isinstance(values, dict):
            raise HTTPException(status_code=400, detail="conf must be a JSON object")
        if dag_id not in dags:
            raise HTTPException(status_code=403, detail=f"you may not read DAG {dag_id!r}")
        params = tasks.dag_params(dag_id)
        links = _links(request)
        return trigger_page(dag_id, values, params, links, api=f"{links.ui}/api/v2")

    return app


def render_loads(
    receivers: Sequence[Receiver],
    filters: Filters,
    tasks: Any,
    links: Links,
    now: datetime,
    dags: frozenset[str],
) -> str:
    """The Loads page for ``filters`` over the configured connections: the LIS systems whose receiver DAG
    the user may read (``dags``), with what the ledgers of the senders whose DAG they may read add."""
    visible = [r for r in receivers if r.dag_id in dags]
    chosen = chosen_receivers(visible, filters)
    ledgers = _sender_ledgers(dags, [filters.sender] if filters.sender else None)
    return loads_html(
        visible, filters, _warehouse_targets(chosen), ledgers, tasks, links, _sender_codes(), now
    )


def _receiver(lis: str, dags: frozenset[str]) -> Receiver:
    """The LIS system ``lis`` if the user may read its receiver DAG; else 404, or 403 that says why."""
    for receiver in _receivers():
        if receiver.sftp_user == lis:
            if receiver.dag_id not in dags:
                raise HTTPException(status_code=403, detail=f"you may not read DAG {receiver.dag_id!r}")
            return receiver
    raise HTTPException(status_code=404, detail=f"no LIS system {lis!r} in this deployment")


def _ledger_row(receiver: Receiver, uuid: str) -> tuple[Receiver, LoadRow]:
    """The ledger row of delivery ``uuid`` (its key) in the LIS system's ledger; else 404."""
    [(user, cvr, db)] = _warehouse_targets([receiver])
    with _reading_ledgers():
        row = read_load_row(user, cvr, db, uuid)
    if row is None:
        raise HTTPException(status_code=404, detail=f"no delivery {uuid!r} in this LIS system's ledger")
    return receiver, row


def _delivery_of_task(
    tasks: AirflowTasks, dag_id: str, run_id: str, task_id: str, map_index: int
) -> tuple[Receiver, LoadRow] | None:
    """The ledger row of the delivery a receiver's load task instance handled: the newest row of the
    sender and month its label (the rendered map index) names."""
    receiver = next((r for r in _receivers() if r.dag_id == dag_id), None)
    if receiver is None or task_id != LOAD_TASK:
        return None
    key = _label_key(receiver, tasks.label(dag_id, run_id, task_id, map_index))
    if key is None:
        return None
    [(user, cvr, db)] = _warehouse_targets([receiver])
    with _reading_ledgers():
        row = read_newest_load(user, cvr, db, *key)
    return (receiver, row) if row is not None else None


def _label_key(receiver: Receiver, label: str) -> tuple[str, Period] | None:
    """(sender, month) of a delivery label of ``receiver``'s (``KY → København LIS01 2026-10``), or None."""
    sender, _, rest = label.partition(" → ")
    month = rest.rpartition(" ")[2]
    try:
        period = Period.parse(month)
    except ValueError:
        return None
    return (
        (sender, period) if delivery_label(sender, receiver.kommune, receiver.lis, period) == label else None
    )


def _report_html(request: Request, receiver: Receiver, row: LoadRow) -> str:
    folder = _locate(receiver, row)
    found = {name: _read(receiver, folder, name) for name in REPORT_FILES} if folder else {}
    files = [name for name, content in found.items() if content is not None]
    summary = None
    if "validation.json" in files:
        try:
            summary = summarize_validation(found["validation.json"] or b"")
        except ValueError:
            summary = None
    if folder:
        where = f"{folder.source}: {folder.shown(_store_url(receiver))}"
    elif row.report:
        where = "none: the ledger's report location is not in this LIS system's store"
    else:
        where = "none"
    facts = [
        ("LIS system", f"{receiver.kommune.name} {receiver.lis.name} ({receiver.sftp_user})"),
        ("sender", row.sender),
        ("period", str(row.period)),
        ("file", row.file_name),
        ("FileTransferUUID", row.file_transfer_uuid),
        ("outcome", row.outcome),
        ("rows", str(row.rows)),
        ("finished", str(row.finished_at or "")),
        ("reason", row.detail.splitlines()[0] if row.detail else ""),
        ("report from", where),
    ]
    if row.superseded_by:
        facts.append(("superseded by", row.superseded_by))
    title = f"Validation report: {delivery_label(row.sender, receiver.kommune, receiver.lis, row.period)}"
    return report_page(
        title, facts, summary, files, _links(request), receiver.sftp_user, row.file_transfer_uuid
    )


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
