"""The SF1630 views app in-process, behind Airflow's real authentication, over ledgers and a store on disk.

``sf1630.airflow.ui.create_app()`` under FastAPI's TestClient, with the api-server's own ``get_user`` and
the simple auth manager (JWTs it signs itself, checked by it on every request), a migrated metadata
database (the ``airflow_db`` fixture), the demo's configuration narrowed to two kommuner and each LIS
system's warehouse a schema of its own in the test PostgreSQL (created by the first load, as in a real
warehouse, and dropped afterwards). Nothing of Airflow's is stubbed.

Task instances and DAG params come from Airflow's own REST API (its api-server app, in-process: real routes,
real authorization) with the user's JWT, as the views reach it in the api-server.

Per-DAG permissions: the simple auth manager's roles are global, but in multi-team mode (``[core]
multi_team``) a user belongs to teams and a DAG to its bundle's team, and the manager refuses a user the
DAGs of other teams. So user ``kbh`` (role viewer, team ``kbh``) may read København's receiver DAG only:
its bundle belongs to team ``kbh``, every other DAG's to team ``others``. ``admin`` may read everything.

The store's path has a space, a quote and a Danish letter in it (an ``AIRFLOW_HOME`` under "Mine
dokumenter"), and a folder beside it holds a file no answer may ever contain (``OUTSIDE_SECRET``).
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml
from sf1630.database import Database
from sf1630.demo.layout import DemoHome
from sf1630.demo.seed import write_demo_config
from sf1630.protocol import Period
from sf1630.receiver.config import Receiver, connection_slug, load_receivers
from sf1630.registry import load_registry
from sf1630.warehouse import LoadEntry, Outcome, record_outcome

from tests.support.postgres import POSTGRES_DSN

#: Bytes that live outside the store: no answer of the app may contain them.
OUTSIDE_SECRET = b"OUTSIDE-THE-STORE-7f3a"
KBH = "KOEBENHAVN_LIS01_SIMPEL"
USERS = "admin:admin,kbh:viewer:kbh"


@dataclass
class ViewsApp:
    """The app under test and the state behind it."""

    client: Any  # fastapi.testclient.TestClient
    root: Path
    store: Path  # the receivers' object store (file://), its path full of ordinary oddities
    outside: Path  # a folder beside the store holding OUTSIDE_SECRET
    receivers: tuple[Receiver, ...]
    schemas: dict[str, str]  # LIS SFTP user → its warehouse schema (absent until its first load)
    sender_ledger: Path
    tokens: dict[str, str]

    def get(self, path: str, user: str = "admin", **params: Any) -> Any:
        """GET ``path`` as ``user`` (their JWT as a bearer token), ``params`` as the query."""
        headers = {"Authorization": f"Bearer {self.tokens[user]}"} if user else {}
        return self.client.get(path, params=params or None, headers=headers)

    def receiver(self, user: str = KBH) -> Receiver:
        return next(r for r in self.receivers if r.sftp_user == user)

    def warehouse(self, user: str = KBH) -> Database:
        return Database.postgres(POSTGRES_DSN, schema=self.schemas[user])

    def quarantine(self, user: str = KBH) -> Path:
        return self.store / "quarantine" / user

    def reports(self, user: str = KBH) -> Path:
        return self.store / "reports" / user


def _connection(conn_id: str, value: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(value))


def _register_dags(receivers: tuple[Receiver, ...], own: str) -> dict[str, str | None]:
    """DAG rows in the metadata DB: ``own``'s receiver DAG in team kbh's bundle, every other DAG in the
    bundle of team others. Returns each DAG's bundle before (None: no row), for :func:`_forget_dags`:
    other tests of this worker share the metadata DB and may hold runs of the same DAGs."""
    from airflow.models.dag import DagModel
    from airflow.models.dagbundle import DagBundleModel
    from airflow.models.team import Team, dag_bundle_team_association_table
    from airflow.utils.session import create_session

    dag_ids = [r.dag_id for r in receivers] + [s.dag_id for s in load_registry().senders]
    with create_session() as session:
        existing = session.query(DagModel.dag_id, DagModel.bundle_name).filter(DagModel.dag_id.in_(dag_ids))
        before: dict[str, str | None] = {dag_id: None for dag_id in dag_ids}
        before.update({dag_id: bundle for dag_id, bundle in existing})
        for team in ("kbh", "others"):
            session.merge(Team(name=team))
            session.merge(DagBundleModel(name=f"sf1630_{team}"))
        session.flush()
        session.execute(dag_bundle_team_association_table.delete())
        session.execute(
            dag_bundle_team_association_table.insert(),
            [
                {"dag_bundle_name": "sf1630_kbh", "team_name": "kbh"},
                {"dag_bundle_name": "sf1630_others", "team_name": "others"},
            ],
        )
        for dag_id in dag_ids:
            bundle = "sf1630_kbh" if dag_id == f"sf1630_receiver_{own.lower()}" else "sf1630_others"
            session.merge(DagModel(dag_id=dag_id, bundle_name=bundle, fileloc=f"/dags/{dag_id}.py"))
    return before


def _forget_dags(before: dict[str, str | None]) -> None:
    """Put the DAG rows back as they were: new ones deleted, those that existed in their own bundle; the
    seeded runs deleted."""
    from airflow.models.dag import DagModel
    from airflow.models.dagbundle import DagBundleModel
    from airflow.models.dagrun import DagRun
    from airflow.models.taskinstance import TaskInstance
    from airflow.models.team import Team, dag_bundle_team_association_table
    from airflow.utils.session import create_session
    from sqlalchemy import delete, update

    with create_session() as session:
        for model in (TaskInstance, DagRun):
            session.execute(delete(model).where(model.run_id.startswith(SEEDED)))
        new = [dag_id for dag_id, bundle in before.items() if bundle is None]
        session.execute(delete(DagModel).where(DagModel.dag_id.in_(new)))
        for dag_id, bundle in before.items():
            if bundle is not None:
                session.execute(update(DagModel).where(DagModel.dag_id == dag_id).values(bundle_name=bundle))
        session.execute(dag_bundle_team_association_table.delete())
        session.execute(delete(DagBundleModel).where(DagBundleModel.name.like("sf1630_%")))
        session.execute(delete(Team).where(Team.name.in_(["kbh", "others"])))


def _tokens(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The simple auth manager, initialised as the api-server does it, and a JWT per user it signed."""
    from airflow.api_fastapi.app import init_auth_manager, purge_cached_app
    from airflow.api_fastapi.auth.managers.simple.user import SimpleAuthManagerUser

    monkeypatch.setenv(
        "AIRFLOW__CORE__AUTH_MANAGER",
        "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager",
    )
    monkeypatch.setenv("AIRFLOW__CORE__MULTI_TEAM", "True")
    monkeypatch.setenv("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS", USERS)
    monkeypatch.setenv("AIRFLOW__API_AUTH__JWT_SECRET", "sf1630-views-test-secret-" + "0123456789abcdef" * 4)
    purge_cached_app()
    manager = init_auth_manager()
    users = {u.username: u for u in manager.get_users()}  # type: ignore[attr-defined]
    return {
        name: manager.generate_jwt(SimpleAuthManagerUser(username=name, role=u.role, teams=u.teams))
        for name, u in users.items()
    }


@pytest.fixture
def views_app(airflow_db: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[ViewsApp]:
    """The views app over two kommuner's LIS systems, no warehouse schema and no sender ledger yet."""
    from airflow.api_fastapi.app import purge_cached_app
    from fastapi.testclient import TestClient
    from sf1630.airflow.ui import create_app

    root = tmp_path / "Mine dokumenter" / 'Søren "Ø" Ærø'
    store, outside = root / "store", root / "store-outside"
    outside.mkdir(parents=True)
    (outside / "validation.json").write_bytes(OUTSIDE_SECRET)
    (outside / "validation.html").write_bytes(OUTSIDE_SECRET)
    config = write_demo_config(DemoHome.at(root / "demo"), kommune_count=2)
    receivers_file = config / "receivers.yaml"
    settings = yaml.safe_load(receivers_file.read_text(encoding="utf-8"))
    settings["defaults"]["storage"] = f"file://{store}"
    receivers_file.write_text(yaml.safe_dump(settings, allow_unicode=True), encoding="utf-8")
    monkeypatch.setenv("SF1630_CONFIG_DIR", str(config))
    receivers = load_receivers(config)
    run = uuid.uuid4().hex[:8]
    schemas = {r.sftp_user: f"v{run}_{connection_slug(r.sftp_user)}" for r in receivers}
    for receiver in receivers:
        value = {"conn_type": "postgres", "host": "127.0.0.1", "port": 5432, "login": "postgres"}
        extra = {"schema": schemas[receiver.sftp_user]}
        _connection(receiver.warehouse_conn_id, {**value, "schema": "test", "extra": extra}, monkeypatch)
    ledger = root / "sender-ledger.sqlite"
    _connection("sf1630_sender_ledger", {"conn_type": "sqlite", "host": str(ledger)}, monkeypatch)
    dags_before = _register_dags(receivers, KBH)
    try:
        tokens = _tokens(monkeypatch)
        airflow = airflow_api()
        with TestClient(create_app(lambda: airflow), raise_server_exceptions=False) as client:
            yield ViewsApp(client, root, store, outside, receivers, schemas, ledger, tokens)
    finally:
        _forget_dags(dags_before)
        purge_cached_app()
        _drop_schemas(schemas.values())


def airflow_api() -> Any:
    """Airflow's own api-server app (its public REST API, real routes and authorization over the metadata
    database) in-process, as the views reach it: an httpx client at ``/api/v2/``."""
    from airflow.api_fastapi.app import create_app as create_airflow_app
    from fastapi.testclient import TestClient

    return TestClient(create_airflow_app(apps="core"), base_url="http://airflow/api/v2/")


def _drop_schemas(names: Iterable[str]) -> None:
    import psycopg

    with psycopg.connect(POSTGRES_DSN, autocommit=True) as conn:
        for name in names:
            conn.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')


WHEN = datetime(2026, 11, 3, 10, 5, tzinfo=UTC)
GX_FAILED = {
    "success": False,
    "results": [
        {
            "success": False,
            "expectation_config": {"type": "expect_column_values_to_match_regex", "kwargs": {"column": "p"}},
            "result": {"unexpected_count": 1, "partial_unexpected_list": ["XYZ"]},
        }
    ],
}


def record(
    app: ViewsApp, uuid: str, name: str, outcome: Outcome, *, user: str = KBH, report: str = ""
) -> None:
    """A ledger row of ``user``'s LIS system for October 2026 (its kommune's CVR)."""
    receiver = app.receiver(user)
    sender = name.split("_")[0]
    entry = LoadEntry(
        uuid,
        name,
        sender,
        receiver.kommune.cvr,
        Period(2026, 10),
        3,
        "0" * 64,
        outcome,
        WHEN,
        WHEN,
        "",
        report,
    )
    record_outcome(app.warehouse(user), entry)


def quarantine(app: ViewsApp, name: str, *, user: str = KBH, validation: bytes | None = None) -> Path:
    """A quarantine folder as the receiver leaves it: reason, validation report as JSON and HTML."""
    folder = app.quarantine(user) / name
    folder.mkdir(parents=True)
    (folder / "reason.json").write_text(json.dumps({"reason": "invalid extract"}), encoding="utf-8")
    (folder / "validation.json").write_bytes(validation or json.dumps(GX_FAILED).encode())
    (folder / "validation.html").write_text("<p>report of the quarantine</p>", encoding="utf-8")
    return folder


def execute(app: ViewsApp, sql: str, *params: object, user: str = KBH) -> None:
    """SQL on ``user``'s ledger (planting values the receiver itself would never write)."""
    db = app.warehouse(user)
    with db.connect(autocommit=True) as con:
        con.execute(sql.replace("LEDGER", f"{db.schema}.sf1630_ledger").replace("?", "%s"), list(params))


class _Recorder(BaseHTTPRequestHandler):
    hits: list[str] = []  # noqa: RUF012

    def do_GET(self) -> None:
        self.hits.append(self.path)
        self.send_response(200)
        self.end_headers()
        self.wfile.write(OUTSIDE_SECRET)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def web() -> Iterator[tuple[str, list[str]]]:
    """An HTTP server that serves OUTSIDE_SECRET and records every request it gets."""
    server = HTTPServer(("127.0.0.1", 0), _Recorder)
    _Recorder.hits = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", _Recorder.hits
    finally:
        server.shutdown()


#: Run ids of the runs :func:`seed_load_task` makes start with this (deleted with the fixture's DAGs).
SEEDED = "views__"


def seed_load_task(dag_id: str, run_id: str, label: str, state: str, started: datetime) -> None:
    """A run ``SEEDED + run_id`` of ``dag_id`` with one mapped ``load`` task instance (map index 0)
    labelled ``label``, as the scheduler leaves them in the metadata database (the REST API reads them)."""
    from airflow.models.dagrun import DagRun
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session
    from sqlalchemy import insert

    with create_session() as session:
        session.execute(
            insert(DagRun.__table__).values(
                dag_id=dag_id,
                run_id=SEEDED + run_id,
                run_type="manual",
                run_after=started,
                state=state,
                conf={},
            )
        )
        session.execute(
            insert(TaskInstance.__table__).values(
                id=uuid.uuid4(),
                dag_id=dag_id,
                run_id=SEEDED + run_id,
                task_id="load",
                task_display_name="load",
                map_index=0,
                rendered_map_index=label,
                state=state,
                start_date=started,
                try_number=1,
                max_tries=0,
                pool="default_pool",
                pool_slots=1,
                queue="default",
                priority_weight=1,
                hostname="",
                unixname="airflow",
            )
        )
