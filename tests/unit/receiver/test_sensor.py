"""The pinned known_hosts line matches how OpenSSH and asyncssh name a host on a non-standard port."""

from __future__ import annotations

from sf1630.receiver.sensor import MetadataTrigger, known_hosts_line


def test_known_hosts_line_uses_brackets_for_other_ports() -> None:
    key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIExample comment"
    assert (
        known_hosts_line("127.0.0.1", 2222, key)
        == "[127.0.0.1]:2222 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIExample"
    )
    assert (
        known_hosts_line("sftp.example", 22, key)
        == "sftp.example ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIExample"
    )


def test_trigger_serializes_to_its_own_classpath() -> None:
    trigger = MetadataTrigger("conn", "IN", "*.metadata", 2.0, "2026-11-01T00:00:00+00:00")
    path, kwargs = trigger.serialize()
    assert path == "sf1630.receiver.sensor.MetadataTrigger"
    assert MetadataTrigger(**kwargs).serialize() == (path, kwargs)
