"""SF1630 sender DAGs, one per fagsystem in include/config/senders.yaml (sf1630_sender_ky, ...).

Thin on purpose, since Airflow parses it often: the DAGs are built by ``sf1630.sender.dag`` from static
configuration; this file only exposes them to the DAG processor.
"""

from sf1630.sender.dag import build_sender_dags

for _dag in build_sender_dags():
    globals()[_dag.dag_id] = _dag
