"""Test-wide set-up: an isolated Airflow home per pytest-xdist worker, created before Airflow is imported.

Airflow reads its configuration once, at import, so the environment must be right before any test module
imports it. Each worker gets its own SQLite metadata database (SQLite does not share well between
processes); the database is migrated lazily, only when a test asks for the ``airflow_db`` fixture.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
_WORKER = os.environ.get("PYTEST_XDIST_WORKER", "main")
_AIRFLOW_HOME = Path(tempfile.mkdtemp(prefix=f"sf1630-airflow-{_WORKER}-"))

os.environ.update(
    {
        "AIRFLOW_HOME": str(_AIRFLOW_HOME),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{_AIRFLOW_HOME / 'airflow.db'}",
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_FOLDER": str(REPO_ROOT / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO_ROOT / "plugins"),
        "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
        "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(_AIRFLOW_HOME / "logs"),
        "SF1630_DEADLINES": "false",
        "GX_ANALYTICS_ENABLED": "False",
    }
)


@pytest.fixture(scope="session")
def airflow_db() -> Iterator[Path]:
    """Migrate this worker's Airflow metadata database once and yield the Airflow home."""
    subprocess.run(
        [str(Path(sys.executable).with_name("airflow")), "db", "migrate"],
        check=True,
        capture_output=True,
        env=os.environ.copy(),
    )
    yield _AIRFLOW_HOME


POSTGRES_DSN = "host=127.0.0.1 port=5432 user=postgres dbname=test"


@pytest.fixture(params=["duckdb", "postgres"])
def warehouse(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    """Each warehouse for real: a DuckDB file in tmp_path, or a unique PostgreSQL schema dropped after."""
    import psycopg
    from sf1630.database import Database

    if request.param == "duckdb":
        yield Database.duckdb(tmp_path / "warehouse.duckdb", schema="lis")
        return
    schema = f"t_{uuid.uuid4().hex[:16]}"
    yield Database.postgres(POSTGRES_DSN, schema=schema)
    with psycopg.connect(POSTGRES_DSN, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
