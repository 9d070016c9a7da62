"""The reload DAG: ``sf1630_reload`` loads one quarantined delivery from the quarantine store.

One small DAG for every LIS system (params ``lis`` and ``file_name``) rather than 122 more: a reload is
rare, manual, and started from the Loads view's link with both params filled in. The work is
:func:`sf1630.receiver.reload.reload_quarantined`: exactly once, with the ledger row.
"""

from __future__ import annotations

from typing import Any

from airflow.sdk import DAG, Param, task
from airflow.sdk.exceptions import AirflowFailException

from sf1630.airflow.runs import dag_arguments, run_params
from sf1630.receiver.config import load_receiver, load_receivers

RELOAD_DAG_ID = "sf1630_reload"


@task(multiple_outputs=False)
def reload(**context: Any) -> dict[str, Any]:
    """Reload the quarantined delivery the params name; fails with the reason when it cannot."""
    from sf1630.airflow.store import intake_for
    from sf1630.receiver.reload import ReloadRefused, reload_quarantined

    params = run_params(context)
    lis, file_name = str(params.get("lis") or ""), str(params.get("file_name") or "")
    try:
        receiver = load_receiver(lis)
    except KeyError as err:
        raise AirflowFailException(str(err)) from None
    try:
        result = reload_quarantined(intake_for(receiver), file_name)
    except (ReloadRefused, ValueError) as err:
        raise AirflowFailException(str(err)) from None
    return result.as_dict()


def build_reload_dag() -> DAG:
    """The manual reload DAG; start date, owner and retries from the receivers' settings.

    Retries are safe: the ledger makes a reload exactly once, and a refused reload fails without retrying.
    """
    with DAG(
        dag_id=RELOAD_DAG_ID,
        schedule=None,
        tags=["sf1630", "receiver", "reload"],
        params={
            "lis": Param("", type="string", minLength=1, description="the LIS system's SFTP user"),
            "file_name": Param("", type="string", minLength=1, description="the quarantined data file"),
        },
        doc_md="Reload one quarantined delivery from the quarantine store (after a data spec fix), exactly "
        "once, turning its ledger row from quarantined into loaded. See docs/ui.md.",
        **dag_arguments(load_receivers()[0].settings),
    ) as dag:
        reload()
    return dag
