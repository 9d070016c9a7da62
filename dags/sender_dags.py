"""SF1630 sender DAGs, one per fagsystem in include/config/senders.yaml (sf1630_sender_ky, ...).

Thin on purpose, since Airflow parses it often: the DAGs are built by ``sf1630.airflow.sender`` from static
configuration; this file only exposes them to the DAG processor. A task process builds only its own DAG.
"""

from airflow.sdk import get_parsing_context
from sf1630.airflow.sender import sender_dags

for _dag in sender_dags(get_parsing_context().dag_id):
    globals()[_dag.dag_id] = _dag
