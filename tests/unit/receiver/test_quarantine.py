"""The quarantine keeps each refused delivery in its own folder and builds paths only from safe names."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sf1630.protocol import UnsafeFileName
from sf1630.receiver.quarantine import quarantine


def test_files_and_reason_are_kept_per_delivery(tmp_path: Path) -> None:
    staged = tmp_path / "staged.csv"
    staged.write_bytes(b"a;b\n")
    first = quarantine(
        tmp_path / "q", "x.csv", {"reason": "r"}, files={"x.csv": staged, "m.metadata": b"<x/>"}
    )
    second = quarantine(tmp_path / "q", "x.csv", {"reason": "again"})
    assert first.name == "x.csv" and second.name == "x.csv.2"
    assert (first / "x.csv").read_bytes() == b"a;b\n" and not staged.exists()
    assert (first / "m.metadata").read_bytes() == b"<x/>"
    assert json.loads((second / "reason.json").read_text())["reason"] == "again"


@pytest.mark.parametrize("name", ["../escape.csv", "..", "a/b.csv", "x.trigger"])
def test_unsafe_names_never_become_paths(tmp_path: Path, name: str) -> None:
    with pytest.raises(UnsafeFileName):
        quarantine(tmp_path / "q", name, {})
    with pytest.raises(UnsafeFileName):
        quarantine(tmp_path / "q", "ok.csv", {}, files={name: b"x"})
    assert not (tmp_path / "escape.csv").exists()
