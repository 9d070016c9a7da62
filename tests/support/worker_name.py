"""A Celery worker's name as Airflow's ``[core] hostname_callable``, so two workers on one machine differ.

Airflow records the host that ran a task instance (``task_instance.hostname``); two workers started on one
machine would both record its name, and a test could not tell which ran a step. Each worker of the
distributed test sets ``SF1630_WORKER_NAME`` and ``AIRFLOW__CORE__HOSTNAME_CALLABLE`` to this function.
"""

from __future__ import annotations

import os


def hostname() -> str:
    """The worker's own name (``SF1630_WORKER_NAME``)."""
    return os.environ["SF1630_WORKER_NAME"]
