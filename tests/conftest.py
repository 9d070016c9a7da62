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
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest_plugins = ["tests.support.fixtures"]

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
        "SF1630_SETTLE_SECONDS": "0",  # dag.test() has no scheduler to race (sf1630.airflow.arrival)
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


#: Test folders whose tests need running services (the emulator, PostgreSQL, an Airflow metadata DB).
_SERVICE_FOLDERS = frozenset({"integration", "distributed", "deploy", "bench", "browser"})


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test that needs a service ``integration``, so ``-m "not integration"`` needs none.

    By folder, and elsewhere by the fixtures it uses: PostgreSQL (``pg_schema``, ``warehouse``) or a
    migrated Airflow metadata database (``airflow_db``).
    """
    from tests.support.fixtures import SERVICE_FIXTURES

    for item in items:
        folder = item.path.relative_to(REPO_ROOT / "tests").parts[0]
        fixtures = set(getattr(item, "fixturenames", ()))
        if folder in _SERVICE_FOLDERS or fixtures & (SERVICE_FIXTURES | {"airflow_db"}):
            item.add_marker(pytest.mark.integration)
