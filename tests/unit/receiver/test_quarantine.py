"""The quarantine keeps each refused delivery in its own folder (owner-only), builds paths only from safe
names, works on any object-store path, and deletes folders older than the keep period; housekeeping is due
only when it would change something."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sf1630.protocol import UnsafeFileName
from sf1630.receiver.config import Receiver
from sf1630.receiver.housekeeping import housekeeping_due
from sf1630.receiver.inbox import InboxListing, RemoteFile
from sf1630.receiver.quarantine import expire, quarantine
from upath import UPath


def test_files_and_reason_are_kept_per_delivery(tmp_path: Path) -> None:
    staged = tmp_path / "staged.csv"
    staged.write_bytes(b"a;b\n")
    first = quarantine(
        tmp_path / "q", "x.csv", {"reason": "r"}, files={"x.csv": staged, "m.metadata": b"<x/>"}
    )
    second = quarantine(tmp_path / "q", "x.csv", {"reason": "again"})
    assert first.name == "x.csv" and second.name == "x.csv.2"
    assert (first / "x.csv").read_bytes() == b"a;b\n"  # copied: staging is cleared by the delete step
    assert (first / "m.metadata").read_bytes() == b"<x/>"
    assert json.loads((second / "reason.json").read_text())["reason"] == "again"


@pytest.mark.parametrize("name", ["../escape.csv", "..", "a/b.csv", "x.trigger"])
def test_unsafe_names_never_become_paths(tmp_path: Path, name: str) -> None:
    with pytest.raises(UnsafeFileName):
        quarantine(tmp_path / "q", name, {})
    with pytest.raises(UnsafeFileName):
        quarantine(tmp_path / "q", "ok.csv", {}, files={name: b"x"})
    assert not (tmp_path / "escape.csv").exists()


def test_folders_and_files_are_owner_only_in_any_store(tmp_path: Path) -> None:
    root = UPath(f"file://{tmp_path}/q")
    reports = UPath(f"file://{tmp_path}/reports")
    (reports / "datadocs").mkdir(parents=True)
    (reports / "datadocs" / "index.html").write_bytes(b"<html/>")
    folder = quarantine(root, "x.csv", {"reason": "r"}, files={"x.csv": b"1"}, trees={"": reports})
    assert str(folder) == f"file://{tmp_path}/q/x.csv"
    local = tmp_path / "q" / "x.csv"
    assert (local / "datadocs" / "index.html").read_bytes() == b"<html/>"
    assert oct(local.stat().st_mode & 0o777) == oct(0o700)
    assert oct((local / "x.csv").stat().st_mode & 0o777) == oct(0o600)
    assert oct((local / "datadocs").stat().st_mode & 0o777) == oct(0o700)


def test_quarantine_past_its_keep_is_deleted(tmp_path: Path) -> None:
    now = datetime(2026, 12, 1, tzinfo=UTC)
    root = tmp_path / "q"
    old = quarantine(root, "old.csv", {"quarantined_at": (now - timedelta(days=31)).isoformat()})
    young = quarantine(root, "young.csv", {"quarantined_at": (now - timedelta(days=29)).isoformat()})
    unknown = quarantine(root, "unknown.csv", {})
    assert expire(root, keep=timedelta(days=30), now=now) == ["old.csv"]
    assert not old.exists() and young.exists() and unknown.exists()
    assert expire(tmp_path / "nothing", keep=timedelta(days=30), now=now) == []


def test_housekeeping_is_due_only_for_an_overdue_orphan_or_quarantine_past_its_keep(
    tmp_path: Path, herning: Receiver
) -> None:
    """What lets an empty receiver run skip housekeeping: nothing it would change."""
    now = datetime(2026, 12, 1, tzinfo=UTC)
    grace, keep = herning.settings.grace, herning.settings.quarantine_keep
    root = tmp_path / "q"
    young = RemoteFile("KY_LIS_65700000_M10_20261101060000.csv", 1, now - grace / 2)
    old = RemoteFile(young.name, 1, now - grace - timedelta(minutes=1))
    lonely = RemoteFile(young.name + ".metadata", 1, now - 10 * grace)
    assert not housekeeping_due(InboxListing(), herning, root, now=now)
    assert not housekeeping_due(
        InboxListing(data_without_metadata=(young,), metadata_without_data=(lonely,)), herning, root, now=now
    )  # too young to sweep, and a lonely metadata file is only reported
    assert housekeeping_due(InboxListing(data_without_metadata=(old,)), herning, root, now=now)
    quarantine(root, "kept.csv", {"quarantined_at": (now - keep + timedelta(days=1)).isoformat()})
    assert not housekeeping_due(InboxListing(), herning, root, now=now)
    quarantine(root, "old.csv", {"quarantined_at": (now - keep - timedelta(days=1)).isoformat()})
    assert housekeeping_due(InboxListing(), herning, root, now=now)
