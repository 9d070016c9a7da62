"""The forkserver preload: every listed module exists and imports cleanly without opening a socket, and
each side's ``sf1630.env`` carries exactly the settings the module gives (Python's forkserver skips a
preload module that fails to import without a word, so a typo here would only show as slow tasks)."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sf1630.deployment.starter import Side, templates
from sf1630.deployment.task_processes import preload, scheduler_settings

#: Imports the modules given as arguments; prints the sockets the process holds afterwards.
IMPORT_ALL = """
import contextlib, importlib, json, os, sys
for name in sys.argv[1:]:
    importlib.import_module(name)
links = []
for fd in os.listdir("/proc/self/fd"):
    with contextlib.suppress(OSError):  # the listing's own descriptor is gone by now
        links.append(os.readlink(f"/proc/self/fd/{fd}"))
print(json.dumps([link for link in links if link.startswith("socket:")]))
"""


def test_every_preload_module_exists() -> None:
    missing = [name for name in preload(ui_plugin=True) if importlib.util.find_spec(name) is None]
    assert missing == []


def test_the_ui_plugin_is_preloaded_only_where_it_is_installed(tmp_path: Path) -> None:
    """Every task process loads every plugin; the starter's deployments install none, the demo one."""
    from sf1630.demo.stack import stack_environment

    assert "sf1630.airflow.ui" in preload(ui_plugin=True)
    assert "sf1630.airflow.ui" not in preload()
    url, dags = "sqlite:////nonexistent.db", tmp_path / "dags"
    with_plugin = stack_environment(tmp_path / "a", url, dags, plugins_folder=tmp_path / "plugins")
    without = stack_environment(tmp_path / "b", url, dags)
    assert "sf1630.airflow.ui" in with_plugin["AIRFLOW__SCHEDULER__MP_FORKSERVER_PRELOAD"].split(",")
    assert "sf1630.airflow.ui" not in without["AIRFLOW__SCHEDULER__MP_FORKSERVER_PRELOAD"].split(",")


def test_each_side_preloads_its_own_tasks_and_airflows_task_runner() -> None:
    assert "great_expectations" in preload(["receiver"])
    assert "great_expectations" not in preload(["sender"])
    assert set(preload()) == set(preload(["sender"])) | set(preload(["receiver"]))
    assert preload()[0] == "airflow.sdk.execution_time.task_runner"


@pytest.mark.parametrize("side", ["sender", "receiver"])
def test_starter_env_has_the_scheduler_settings(side: Side) -> None:
    [text] = [t.read_text(encoding="utf-8") for path, t in templates(side) if path.name == "sf1630.env"]
    lines = dict(line.split("=", 1) for line in text.splitlines() if line.startswith("AIRFLOW__SCHEDULER__"))
    assert lines == scheduler_settings([side])


@pytest.mark.integration  # imports GX, polars and Airflow's task runner in a fresh interpreter (seconds)
def test_preload_imports_cleanly_and_opens_no_socket() -> None:
    env = {**os.environ, "GX_ANALYTICS_ENABLED": "False"}
    done = subprocess.run(
        [sys.executable, "-c", IMPORT_ALL, *preload(ui_plugin=True)],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert json.loads(done.stdout.splitlines()[-1]) == []
