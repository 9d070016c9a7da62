"""Pairing IN/ into inbox items and orphans, with unsafe names set aside."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sf1630.receiver.config import Receiver
from sf1630.receiver.inbox import InboxItem, RemoteFile, overdue, pair_inbox

T0 = datetime(2026, 11, 1, 6, tzinfo=UTC)
DATA = "KY_LIS_65700000_M10_20261101060000.csv"


def entry(name: str, size: int = 10, age: timedelta = timedelta()) -> RemoteFile:
    return RemoteFile(name, size, T0 - age)


def test_pairs_data_with_metadata_and_sorts_out_orphans() -> None:
    listing = pair_inbox(
        [
            entry(DATA, 123),
            entry(DATA + ".metadata"),
            entry("KSD_LIS_65700000_M10_20261101060000.csv"),
            entry("DUBU_LIS_65700000_M10_20261101060000.csv.metadata"),
            entry("..\u2024evil.csv"),
        ]
    )
    assert listing.items == (InboxItem(DATA, DATA + ".metadata", 123),)
    assert [e.name for e in listing.data_without_metadata] == ["KSD_LIS_65700000_M10_20261101060000.csv"]
    assert [e.name for e in listing.metadata_without_data] == [
        "DUBU_LIS_65700000_M10_20261101060000.csv.metadata"
    ]
    assert listing.unsafe_names == ("..\u2024evil.csv",)


def test_label_names_sender_kommune_lis_and_period(herning: Receiver) -> None:
    def label(name: str) -> str:
        return InboxItem(name, name + ".metadata", 1).label(herning.kommune, herning.lis)

    assert label(DATA) == "KY → Herning LIS01 2026-10"
    assert label("KY_LIS_65700000_M12_20270103060000.csv") == "KY → Herning LIS01 2026-12"
    assert label("KY_LIS_10100000_M10_20261101060000.csv") == "KY_LIS_10100000_M10_20261101060000.csv"
    assert label("odd.csv") == "odd.csv"


def test_only_orphans_older_than_grace_are_overdue() -> None:
    young, old = entry("a.csv", age=timedelta(hours=1)), entry("b.csv", age=timedelta(days=3))
    assert overdue([young, old], now=T0, grace=timedelta(days=2)) == (old,)
