"""Receiver DAGs: per LIS system of include/config/kommuner.yaml, one DAG that loads what the platform
delivers into its IN/ folder and one monthly completeness check (settings: include/config/receivers.yaml).

Thin on purpose: the factory in sf1630.airflow.receiver reads the configuration once per process, imports
polars, Great Expectations and the warehouse drivers only inside tasks, and builds only the DAG a task
process asks for.
"""

from __future__ import annotations

from airflow.sdk import get_parsing_context
from sf1630.airflow.receiver import receiver_dags

globals().update({dag.dag_id: dag for dag in receiver_dags(get_parsing_context().dag_id)})
