"""The deferred file wait trusts exactly the connection's host key and matches names literally when asked."""

from __future__ import annotations

import glob

import pytest
from sf1630.airflow.arrival import FileArrival, matching, quick_look, ssh_options

KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl"


def test_options_pin_the_host_key_on_any_port() -> None:
    options = ssh_options("127.0.0.1", 2222, "KY_SFTPSIMPEL", "pw", {"host_key": KEY + " comment"})
    trusted, ca_keys, revoked = options["known_hosts"]
    assert [k.export_public_key().decode().split()[:2] for k in trusted] == [KEY.split()]
    assert (ca_keys, revoked, options["port"], options["client_keys"], options["agent_path"]) == (
        [],
        [],
        2222,
        (),
        None,
    )
    assert options["password"] == "pw"


@pytest.mark.parametrize("extra", [{}, {"no_host_key_check": True}, {"host_key": "AAAAC3NzaC1lZDI1NTE5"}])
def test_a_connection_without_a_host_key_is_refused(extra: dict[str, object]) -> None:
    with pytest.raises(ValueError, match=r"needs extra\.host_key"):
        ssh_options("127.0.0.1", 2222, "KY_SFTPSIMPEL", "pw", extra)


def test_patterns_and_literal_names() -> None:
    names = ["b.csv.metadata", "a.csv", "a.csv.metadata", "x[1].csv.sftpreceipt", "x1.csv.sftpreceipt"]
    assert matching(names, "*.metadata") == ["a.csv.metadata", "b.csv.metadata"]
    assert matching(names, glob.escape("x[1].csv.sftpreceipt")) == ["x[1].csv.sftpreceipt"]
    assert matching(names, "*.METADATA") == []


def test_trigger_serializes_to_its_own_classpath() -> None:
    trigger = FileArrival("sf1630_sftp_ky", "IN", "x.csv.sftpreceipt", 2.0, 1e10)
    path, kwargs = trigger.serialize()
    assert path == "sf1630.airflow.arrival.FileArrival"
    assert FileArrival(**kwargs).serialize() == (path, kwargs)


def test_quick_look_looks_at_least_once_and_gives_up() -> None:
    from datetime import timedelta

    answers = iter([False, False, True])
    assert quick_look(lambda: next(answers), timedelta(seconds=5), interval=0.001)
    assert not quick_look(lambda: False, timedelta(0))
    assert quick_look(lambda: True, timedelta(0))
