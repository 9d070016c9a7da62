"""The reload DAG (sf1630_reload): one quarantined delivery back from the quarantine into its warehouse,
after the LIS team corrected its data spec. Written by `sf1630 init receiver`.
"""

from __future__ import annotations

from sf1630.airflow.reload import build_reload_dag

reload_dag = build_reload_dag()
