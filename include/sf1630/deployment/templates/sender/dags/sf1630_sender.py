"""SF1630 sender DAGs: one per sender system in include/sf1630-config/senders.yaml (sf1630_sender_<code>).

Written by `sf1630 init sender`. Thin on purpose, since Airflow parses it often: the DAGs are built by the
sf1630 package from the configuration folder that SF1630_CONFIG_DIR names (see sf1630.env); a task
process builds only its own DAG.
"""

from airflow.sdk import get_parsing_context
from sf1630.airflow.sender import sender_dags

for _dag in sender_dags(get_parsing_context().dag_id):
    globals()[_dag.dag_id] = _dag
