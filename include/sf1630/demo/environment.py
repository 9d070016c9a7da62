"""The environment every Airflow process of the demo runs with: home, folders, connections.

Connections are ``AIRFLOW_CONN_*`` variables (nothing stored in the metadata DB), each SFTP one logging in
with its user's key and pinning the emulator's host key. The same mapping is written to ``demo.env`` so the
Airflow UI (``sf1630 demo ui``) and a curious shell see exactly what the run saw. No secret is in it: the
connections name key files, they do not contain keys.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from sf1630.demo import REPO_ROOT
from sf1630.demo.layout import DemoHome
from sf1630.receiver.config import connection_slug


def _sftp(port: int, user: str, key_file: Path, host_key: str) -> dict[str, Any]:
    return {
        "conn_type": "sftp",
        "host": "127.0.0.1",
        "port": port,
        "login": user,
        "extra": {
            "key_file": str(key_file),
            "host_key": host_key,
            "look_for_keys": False,
            "allow_host_key_change": False,
        },
    }


def warehouse_schema(user: str) -> str:
    """The LIS system's schema in the demo warehouse: its SFTP user as an identifier."""
    return connection_slug(user)


def warehouse_connection(server: tuple[str, int], user: str) -> dict[str, Any]:
    """The LIS system's schema in database ``sf1630`` of the demo's embedded server (unix socket)."""
    from sf1630.demo.metadb import WAREHOUSE

    socket_folder, port = server
    extra = {"schema": warehouse_schema(user)}
    return {
        "conn_type": "postgres",
        "host": socket_folder,
        "port": port,
        "login": "postgres",
        "schema": WAREHOUSE,
        "extra": extra,
    }


def warehouse_dsn(socket_folder: str, port: int) -> str:
    """libpq's connection string for the demo's warehouse database."""
    from psycopg.conninfo import make_conninfo

    from sf1630.demo.metadb import WAREHOUSE

    return make_conninfo("", host=socket_folder, port=port, user="postgres", dbname=WAREHOUSE)


def connections(
    home: DemoHome,
    port: int,
    host_key: str,
    senders: Mapping[str, str],
    sftp_users: list[str],
    warehouse: tuple[str, int],
) -> dict[str, dict[str, Any]]:
    """Connection id → connection; ``senders`` maps sender code to SFTP user; ``warehouse`` is the
    embedded PostgreSQL server's (socket folder, port)."""
    conns: dict[str, dict[str, Any]] = {
        "sf1630_sender_ledger": {"conn_type": "sqlite", "host": str(home.sender_ledger)},
    }
    for code, user in senders.items():
        slug = code.lower()
        conns[f"sf1630_sftp_{slug}"] = _sftp(port, user, home.keys / user, host_key)
        conns[f"sf1630_source_{slug}"] = {"conn_type": "sqlite", "host": str(home.source_db)}
    for user in sftp_users:
        slug = connection_slug(user)
        conns[f"sf1630_sftp_{slug}"] = _sftp(port, user, home.keys / user, host_key)
        conns[f"sf1630_warehouse_{slug}"] = warehouse_connection(warehouse, user)
    return conns


def airflow_environment(
    home: DemoHome,
    conns: Mapping[str, Mapping[str, Any]],
    stack: Mapping[str, str] | None = None,
    *,
    smtp: str | None = None,
) -> dict[str, str]:
    """The variables (beyond the inherited ones) for every Airflow component and ``airflow`` command.

    ``stack`` is :func:`sf1630.demo.stack.stack_environment`'s (the default: SQLite in the home, the
    components' defaults); ``smtp`` the ``sf1630_smtp`` connection as JSON. Deadline Alerts are on.
    """
    if stack is None:
        from sf1630.demo.stack import stack_environment

        stack = stack_environment(
            home.airflow_home,
            f"sqlite:///{home.airflow_db}",
            REPO_ROOT / "dags",
            plugins_folder=REPO_ROOT / "plugins",
        )
    env = {
        **stack,
        "SF1630_DEADLINES": "true",
        "SF1630_CONFIG_DIR": str(home.config_dir),
        "GX_ANALYTICS_ENABLED": "False",
    }
    if smtp is not None:
        env["AIRFLOW_CONN_SF1630_SMTP"] = smtp
    for conn_id, conn in conns.items():
        env[f"AIRFLOW_CONN_{conn_id.upper()}"] = json.dumps(conn, separators=(",", ":"))
    return env


def env_file(home: DemoHome) -> Path:
    return home.root / "demo.env"


def write_env_file(home: DemoHome, env: Mapping[str, str]) -> Path:
    """``export NAME='value'`` lines, so ``. var/demo/demo.env`` reproduces the run's environment."""
    path = env_file(home)
    lines = [f"export {name}={shlex.quote(value)}" for name, value in sorted(env.items())]
    path.write_text(
        "# Written by `sf1630 demo`: the Airflow environment of the demo run.\n" + "\n".join(lines) + "\n"
    )
    path.chmod(0o600)
    return path


def read_env_file(home: DemoHome) -> dict[str, str]:
    """Inverse of :func:`write_env_file`."""
    env: dict[str, str] = {}
    for line in env_file(home).read_text(encoding="utf-8").splitlines():
        if line.startswith("export "):
            name, _, quoted = line[len("export ") :].partition("=")
            parts = shlex.split(quoted)
            env[name] = parts[0] if parts else ""
    return env
