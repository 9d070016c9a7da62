"""What the sender's integration tests and its benchmark share: the test month, connections, the DAG.

The emulator runs exactly as deployed with a registry derived by :func:`sf1630.registry.platform_config`
for a handful of kommuner, so a test month has a few deliveries instead of 122. Connections reach the
DAG's tasks as ``AIRFLOW_CONN_*`` variables; the senders' configuration is a copy with short retry delays
and poll intervals (``SF1630_CONFIG_DIR``) so failure paths finish quickly.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pendulum
from sf1630.registry import platform_config

from tests.support import REPO
from tests.support.config import write_config

KOMMUNER = ("101", "153", "851")  # København, Brøndby (two LIS systems), Aalborg: four deliveries
SENDER_USER = "KY_SFTPSIMPEL"
SENDER_PASSWORD = "sender-test-password"
OCTOBER_START = pendulum.datetime(2026, 10, 1, tz="Europe/Copenhagen")  # the October run's logical date


def ky_platform(**overrides: Any) -> dict[str, Any]:
    """The emulator's configuration for KY and the test kommuner; keywords go to ``platform_config``."""
    return platform_config(
        kommune_codes=KOMMUNER,
        sender_codes={"KY"},
        passwords={SENDER_USER: SENDER_PASSWORD},
        extra={"router": {"rescan_interval": "1s"}},
        **overrides,
    )


def fast_config(folder: Path) -> Path:
    """The shipped configuration for the test kommuner in ``folder``, with test-speed retries and polls.

    Only the test kommuner: every ``dag.test()`` re-parses and re-writes the whole DAG bundle
    (apache/airflow#64884), which for the whole country is 250 DAGs.
    """
    speed = {"retries": 2, "retry_delay": "1s", "max_retry_delay": "2s", "receipt_poll": "1s"}
    return write_config(folder, kommuner=KOMMUNER, senders={**speed, "receipt_timeout": "2m"})


def sftp_connection(port: int, host_key: str) -> str:
    """KY's SFTP connection (password login, host key pinned) as ``AIRFLOW_CONN_*`` JSON."""
    return json.dumps(
        {
            "conn_type": "sftp",
            "host": "127.0.0.1",
            "port": port,
            "login": SENDER_USER,
            "password": SENDER_PASSWORD,
            "extra": {"host_key": host_key, "look_for_keys": False, "allow_host_key_change": False},
        }
    )


def sender_dag(code: str = "ky") -> Any:
    """The sender DAG as the DAG processor sees it (parsed from ``dags/`` with the current environment)."""
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(REPO / "dags" / "sender_dags.py"))
    assert not bag.import_errors, bag.import_errors
    return bag.dags[f"sf1630_sender_{code}"]


def task_states(run: Any) -> dict[tuple[str, int], str]:
    """``(task_id, map_index) → state`` of a finished run."""
    return {(ti.task_id, ti.map_index): str(ti.state) for ti in run.get_task_instances()}
