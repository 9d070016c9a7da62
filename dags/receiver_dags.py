"""Receiver DAGs: per LIS system of include/config/kommuner.yaml, one DAG that loads what the platform
delivers into its IN/ folder and one monthly completeness check (settings: include/config/receivers.yaml).

Thin on purpose: the factory in sf1630.receiver.dag reads the configuration once per process and imports
polars, Great Expectations and the warehouse drivers only inside tasks.
"""

from __future__ import annotations

from airflow.sdk import DAG
from sf1630.receiver.dag import receiver_dags

_DAGS: dict[str, DAG] = {dag.dag_id: dag for dag in receiver_dags()}
globals().update(_DAGS)
