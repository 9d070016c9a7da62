"""The reload DAG: one quarantined delivery back from the quarantine store into its LIS warehouse.

Thin on purpose: everything is in sf1630.airflow.reload and sf1630.receiver.reload.
"""

from __future__ import annotations

from sf1630.airflow.reload import build_reload_dag

reload_dag = build_reload_dag()
