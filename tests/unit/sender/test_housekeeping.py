"""Housekeeping of the sender's OUT/: only old files without a trigger go."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from typing import Any

from sf1630.sender.housekeeping import sweep_out

NOW = datetime(2026, 11, 3, 12, 0, tzinfo=UTC)
GRACE = timedelta(days=1)


def _file(folder: Any, name: str, age: timedelta) -> None:
    path = folder.root / "OUT" / name
    path.write_bytes(b"x")
    stamp = (NOW - age).timestamp()
    os.utime(path, (stamp, stamp))


def test_sweep_removes_only_stale_untriggered_files(folder: Any) -> None:
    old, new = timedelta(days=2), timedelta(hours=1)
    _file(folder, "KY_LIS_10100000_M10_20261101000000.csv", old)  # no trigger, old: goes
    _file(folder, "KY_LIS_14700000_M10_20261101000000.csv", new)  # no trigger, young: stays
    _file(folder, "KY_LIS_15100000_M10_20261101000000.csv", old)  # trigger waiting: platform's
    _file(folder, "KY_LIS_15100000_M10_20261101000000.csv.trigger", old)
    _file(folder, "KY_LIS_15300000_M10_20261101000000.csv.part", old)  # broken upload: goes
    _file(folder, "KY_LIS_15500000_M10_20261101000000.csv.trigger.part", old)  # broken trigger: goes
    (folder.root / "OUT" / "subfolder").mkdir()
    removed = sweep_out(folder, NOW, GRACE)
    assert removed == [
        "KY_LIS_10100000_M10_20261101000000.csv",
        "KY_LIS_15300000_M10_20261101000000.csv.part",
        "KY_LIS_15500000_M10_20261101000000.csv.trigger.part",
    ]
    assert sorted(p.name for p in (folder.root / "OUT").iterdir()) == [
        "KY_LIS_14700000_M10_20261101000000.csv",
        "KY_LIS_15100000_M10_20261101000000.csv",
        "KY_LIS_15100000_M10_20261101000000.csv.trigger",
        "subfolder",
    ]
    assert sweep_out(folder, NOW, GRACE) == []


def test_sweep_of_empty_out(folder: Any) -> None:
    assert sweep_out(folder, NOW, GRACE) == []
