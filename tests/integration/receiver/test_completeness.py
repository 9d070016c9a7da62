"""The monthly completeness DAG: done when the ledger has every accepted sender's extract for the month,
failed (listing what is missing and whom to contact) once the deadline day has passed."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pendulum
import pytest
from sf1630.airflow.completeness import build_completeness_dag
from sf1630.database import Database
from sf1630.protocol import Period
from sf1630.warehouse import LoadEntry, Outcome, record_outcome

from tests.support.receiver import Emulator, ReceiverSetup

WHEN = datetime(2026, 11, 2, tzinfo=UTC)
OCTOBER = Period(2026, 10)


def loaded(db: Database, sender: str, period: Period = OCTOBER) -> None:
    name = f"{sender}_LIS_65700000_{period.code}_20261101060000.csv"
    entry = LoadEntry(
        f"u-{sender}-{period}", name, sender, "65700000", period, 1, "0" * 64, Outcome.LOADED, WHEN, WHEN
    )
    record_outcome(db, entry)


@pytest.mark.integration
def test_month_complete_and_month_missing_past_deadline(
    emulator: Emulator,
    configure: Callable[..., ReceiverSetup],
    warehouse: Database,
    airflow_db: Path,
    capfd: pytest.CaptureFixture[str],
) -> None:
    setup = configure(emulator, warehouse)
    for sender in ("KY", "KSD", "DUBU", "AULA", "KP"):
        loaded(warehouse, sender)
    loaded(warehouse, "KY", Period(2026, 9))
    dag = build_completeness_dag(setup.receiver)

    # The month of a run is its logical date's in local time: a scheduled run on 1 November at 06:00 has
    # the logical date 1 October 06:00 (the start of the interval it covers); a `period` param overrides.
    october = dag.test(logical_date=pendulum.datetime(2026, 10, 1, 6, tz="Europe/Copenhagen"))
    september = dag.test(
        logical_date=pendulum.datetime(2026, 10, 2, 6, tz="Europe/Copenhagen"), run_conf={"period": "2026-09"}
    )

    assert october.state == "success"
    assert [ti.state for ti in september.get_task_instances()] == ["failed"]
    logged = "".join(capfd.readouterr())
    assert "4 extract(s) for 2026-09 not loaded" in logged
    assert "AULA for Herning (CVR 65700000): contact Aula drift <drift@aula.example>" in logged
