"""SF1630 receiver DAGs: per LIS system in include/sf1630-config/receivers.yaml, one DAG that loads what
Serviceplatformen delivers into its IN/ folder and one monthly completeness check.

Written by `sf1630 init receiver`. Thin on purpose: the DAGs are built by the sf1630 package from the
configuration folder that SF1630_CONFIG_DIR names (see sf1630.env); a task process builds only its own DAG.
"""

from __future__ import annotations

from airflow.sdk import get_parsing_context
from sf1630.airflow.receiver import receiver_dags

globals().update({dag.dag_id: dag for dag in receiver_dags(get_parsing_context().dag_id)})
