"""What a task process costs, and the supported Airflow settings that make it cheap (LocalExecutor).

The LocalExecutor runs each task try in a fresh fork of one of its workers, and that child imports
everything the DAG file and the task need: the task runner (~130 Airflow modules), the project's DAG
factories, and, in the task, polars, the SFTP and SQL hooks, and on the LIS side Great Expectations
(3–8 s and ~270 MB on its own). Airflow 3.3's ``mp_start_method`` = ``forkserver`` with
``mp_forkserver_preload`` imports the listed modules once, in the forkserver, and every worker and task
process is forked from it with them already imported (copy-on-write). The settings are given for the
scheduler only (``[scheduler]`` section): the triggerer and DAG processor run no tasks and would only grow
by the preloads.

Each side preloads what its own tasks import (a sender's Airflow has no use for GX); a machine running both
(the demo) preloads both lists. What must not be preloaded:

* the DAG files and anything that reads the configuration at import (none of the listed modules do): the
  forkserver lives as long as the scheduler, so an edited ``senders.yaml`` would be ignored until a
  restart, and a task process must parse the DAG file it was given;
* anything that opens a connection or socket at import (none here; checked by a test): a socket in the
  forkserver would be shared by every task process;
* modules that start threads at import are forked without those threads. polars (jemalloc's background
  threads and its out-of-core cleaner), pyarrow (jemalloc) and numpy's OpenBLAS (pulled in by pandas and
  by GX through scipy) do; each registers ``pthread_atfork`` handlers or starts its pools lazily, so a
  child that imported them before the fork works, but a pool *used* before the fork would deadlock it.
  Nothing in the forkserver uses them: it only imports.

Python's forkserver ignores a preload module that fails to import without a word, so
``tests/unit/deployment/test_task_processes.py`` imports every listed module in a fresh interpreter.
"""

from __future__ import annotations

from collections.abc import Iterable

#: What every task process imports before the task runs: Airflow's task runner, the DAG bag that parses
#: the DAG file, the ``@task`` decorator's module (without these a forkserver worker re-imports ~130
#: modules per task and a trivial task costs twice what it does under ``fork``).
AIRFLOW_TASK_RUNNER = (
    "airflow.sdk.execution_time.task_runner",
    "airflow.dag_processing.dagbag",
    "airflow.providers.standard.decorators.python",
    "airflow.providers.sftp.hooks.sftp",
    "airflow.providers.common.sql.hooks.sql",
)
#: A sender task: the DAG factory, the export (polars, imported by the export only when it runs, and the
#: data specs) and the upload.
SENDER = (
    "sf1630.airflow.sender",
    "sf1630.airflow.extract",
    "sf1630.sender.export",
    "sf1630.dataspec.schema",
    "polars",
    "sf1630.sender.upload",
    "sf1630.sender.receipt",
)
#: A receiver task: the DAG factory, the staged extract's reader (polars) and GX's validation.
RECEIVER = (
    "sf1630.airflow.receiver",
    "sf1630.receiver.delivery",
    "sf1630.receiver.extract",
    "sf1630.airflow.store",
    "upath",
    "sf1630.dataspec.validation",
    "great_expectations",
    "airflow.providers.postgres.hooks.postgres",
)
#: Where the UI plugin (``plugins/sf1630_ui.py``) is installed: every task process loads every plugin before
#: its task runs (Airflow's listener manager, for plugin listeners), and this one's module pulls in FastAPI,
#: Starlette, httpx and the views (about 100 modules, 0.5–1.2 s per task on a loaded 2-core machine).
#: Preloaded, the plugin file's import is a dictionary lookup. Its import builds the views' FastAPI app and
#: an httpx client (no connection until a request, and task processes make none) and reads only Airflow's
#: ``[api] base_url``; the api-server loads its own copy of the plugin, so the views stay live.
UI_PLUGIN = ("sf1630.airflow.ui",)
SIDES = {"sender": SENDER, "receiver": RECEIVER}
START_METHOD = "forkserver"


def preload(sides: Iterable[str] = SIDES, *, ui_plugin: bool = False) -> tuple[str, ...]:
    """The modules to preload for the tasks of ``sides`` (``sender``, ``receiver``), each once; with the UI
    plugin's module when the plugin is installed (``ui_plugin``)."""
    modules = list(AIRFLOW_TASK_RUNNER)
    for side in sides:
        modules += [m for m in SIDES[side] if m not in modules]
    if ui_plugin:
        modules += [m for m in UI_PLUGIN if m not in modules]
    return tuple(modules)


def scheduler_settings(sides: Iterable[str] = SIDES, *, ui_plugin: bool = False) -> dict[str, str]:
    """The environment variables that give the scheduler's LocalExecutor a forkserver with the preloads."""
    return {
        "AIRFLOW__SCHEDULER__MP_START_METHOD": START_METHOD,
        "AIRFLOW__SCHEDULER__MP_FORKSERVER_PRELOAD": ",".join(preload(sides, ui_plugin=ui_plugin)),
    }
