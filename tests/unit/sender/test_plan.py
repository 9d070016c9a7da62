"""Planning a month: one delivery per kommune per LIS system, names fixed by the period alone."""

from __future__ import annotations

import pytest
from sf1630.protocol import DataFileName, Period
from sf1630.registry import Kommune, SenderSystem, load_registry
from sf1630.sender.plan import Delivery, file_name_for, plan_deliveries


def test_one_delivery_per_kommune_and_lis(ky: SenderSystem, kommuner: tuple[Kommune, ...]) -> None:
    deliveries = plan_deliveries(ky, kommuner, Period(2026, 10))
    assert [(d.kommune.kode, d.lis.name) for d in deliveries] == [
        ("101", "LIS01"),
        ("153", "LIS01"),
        ("153", "LIS02"),
        ("851", "LIS01"),
    ]
    assert deliveries[0].file_name == "KY_LIS_10100000_M10_20261101000000.csv"
    assert deliveries[2].file_name == "KY_LIS_15300000_M10_20261101000001.csv"
    assert len({d.file_name for d in deliveries}) == len(deliveries)
    assert deliveries[1].label == "KY → Brøndby LIS01 2026-10"


def test_all_names_parse_and_are_unique(ky: SenderSystem) -> None:
    deliveries = plan_deliveries(ky, load_registry().kommuner, Period(2026, 12))
    assert len(deliveries) == 122
    assert len({d.file_name for d in deliveries}) == 122
    for delivery in deliveries:
        name = DataFileName.parse(delivery.file_name)
        assert (name.sender, name.recipient, name.authority, name.period) == (
            "KY",
            "LIS",
            delivery.kommune.cvr,
            "M12",
        )
        assert name.created.date().isoformat() == "2027-01-01"


def test_same_period_same_names(ky: SenderSystem, kommuner: tuple[Kommune, ...]) -> None:
    first = plan_deliveries(ky, kommuner, Period(2026, 3))
    again = plan_deliveries(ky, kommuner, Period(2026, 3))
    assert first == again
    assert [d.transaction_id for d in first] == [d.transaction_id for d in again]
    assert len({d.transaction_id for d in first}) == len(first)


@pytest.mark.parametrize(
    ("kommune", "recipient", "expected"),
    [
        (["153"], [], [("153", "LIS01"), ("153", "LIS02")]),
        (["brøndby"], ["LIS02"], [("153", "LIS02")]),
        (["85100000"], [], [("851", "LIS01")]),
        ([], ["bro_lis01"], [("153", "LIS01")]),
        (["999"], [], []),
        ([" "], [""], [("101", "LIS01"), ("153", "LIS01"), ("153", "LIS02"), ("851", "LIS01")]),
    ],
)
def test_filters_narrow(
    ky: SenderSystem,
    kommuner: tuple[Kommune, ...],
    kommune: list[str],
    recipient: list[str],
    expected: list[tuple[str, str]],
) -> None:
    deliveries = plan_deliveries(
        ky, kommuner, Period(2026, 10), kommune_filter=kommune, recipient_filter=recipient
    )
    assert [(d.kommune.kode, d.lis.name) for d in deliveries] == expected


def test_narrowed_delivery_keeps_its_name(ky: SenderSystem, kommuner: tuple[Kommune, ...]) -> None:
    everything = plan_deliveries(ky, kommuner, Period(2026, 10))
    one = plan_deliveries(ky, kommuner, Period(2026, 10), kommune_filter=["153"], recipient_filter=["LIS02"])
    assert one == [everything[2]]


def test_delivery_round_trips_through_xcom(ky: SenderSystem, kommuner: tuple[Kommune, ...]) -> None:
    delivery = plan_deliveries(ky, kommuner, Period(2026, 10))[1]
    raw = delivery.to_dict()
    assert raw["label"] == delivery.label
    assert Delivery.from_dict({**raw, "state": "sent"}) == delivery


def test_file_name_for_second_lis() -> None:
    assert (
        file_name_for("AULA", "12345678", Period(2026, 12), 1) == "AULA_LIS_12345678_M12_20270101000001.csv"
    )


def test_run_context_to_plan(ky: SenderSystem) -> None:
    """The run's logical date counts in the sender's timezone: 1 Oct 00:00 CEST is still September in UTC."""
    from types import SimpleNamespace

    import pendulum
    from sf1630.airflow.plans import plan_for_run

    run = SimpleNamespace(run_after=pendulum.datetime(2026, 11, 1, 5, tz="UTC"))
    context = {"logical_date": pendulum.datetime(2026, 9, 30, 22, tz="UTC"), "dag_run": run, "params": {}}
    deliveries = plan_for_run(ky, load_registry().kommuner, context)
    assert len(deliveries) == 122 and {d.period for d in deliveries} == {Period(2026, 10)}
    narrowed = {**context, "params": {"kommune": ["153"], "recipient": "LIS02", "period": "2026-08"}}
    [one] = plan_for_run(ky, load_registry().kommuner, narrowed)
    assert one.file_name == "KY_LIS_15300000_M08_20260901000001.csv"
    unscheduled = {**context, "logical_date": None}
    assert {d.period for d in plan_for_run(ky, load_registry().kommuner, unscheduled)} == {Period(2026, 10)}
