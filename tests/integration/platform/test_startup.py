"""Issue 11, items 6 and 9: start-up problems give one clear line and exit 2, and one home has one server.

Each case starts the real ``sf1630 platform serve`` command (in-process through ``main``, or as a process
where the exit status itself is the point) against a real home folder and real sockets.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sf1630.platform.cli import main

from tests.support import REPO


def _serve(config: Path, home: Path, *extra: str) -> list[str]:
    return ["serve", "--config", str(config), "--home", str(home), *extra]


def _one_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert "Traceback" not in err
    assert lines[0].startswith("sf1630 platform serve: ")
    return lines[0]


def test_home_that_is_a_file(config_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    home = tmp_path / "home"
    home.write_text("not a folder")
    assert main(_serve(config_path, home, "--port", "0")) == 2
    assert "is not a folder" in _one_line(capsys.readouterr().err)
    assert home.read_text() == "not a folder"


def test_home_whose_users_folder_is_a_file(
    config_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (home / "users").write_text("")
    assert main(_serve(config_path, home, "--port", "0")) == 2
    assert "users exists and is not a folder" in _one_line(capsys.readouterr().err)


def test_port_in_use(config_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert main(_serve(config_path, tmp_path / "home", "--port", str(port))) == 2
    line = _one_line(capsys.readouterr().err)
    assert f"cannot listen on 127.0.0.1:{port}" in line and "in use" in line
    # The failed start released the home: the next start works.
    assert main(_serve(config_path, tmp_path / "home", "--host", "no-such-host.invalid", "--port", "0")) == 2
    assert "unknown host" in _one_line(capsys.readouterr().err)


@pytest.mark.parametrize("host", ["no-such-host.invalid", "999.1.1.1", "::zz"])
def test_bad_host(host: str, config_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(_serve(config_path, tmp_path / "home", "--host", host, "--port", "0")) == 2
    assert "cannot listen on" in _one_line(capsys.readouterr().err)


@pytest.mark.parametrize(
    "content", [b"", b"garbage", b"-----BEGIN OPENSSH PRIVATE KEY-----\nAAAA\n", b"\x00" * 64]
)
def test_corrupt_host_key(
    content: bytes, config_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (home / "host_key").write_bytes(content)
    assert main(_serve(config_path, home, "--port", "0")) == 2
    assert "host key" in _one_line(capsys.readouterr().err)
    assert (home / "host_key").read_bytes() == content, "a corrupt key is reported, never replaced"


def test_a_second_serve_on_one_home_exits_2(config_path: Path, tmp_path: Path) -> None:
    home = tmp_path / "home"
    command = [sys.executable, "-m", "sf1630.platform.cli", *_serve(config_path, home, "--port", "0")]
    log = tmp_path / "first.log"
    with log.open("wb") as out:
        first = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, cwd=REPO, env=os.environ)
    try:
        deadline = time.monotonic() + 60
        while "listening on" not in log.read_text():
            assert first.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.05)
        second = subprocess.run(command, capture_output=True, text=True, cwd=REPO, timeout=60, check=False)
        assert second.returncode == 2, second.stderr
        assert "in use by another platform process" in _one_line(second.stderr)
        assert f"pid {first.pid}" in second.stderr
        sweep = [sys.executable, "-m", "sf1630.platform.cli", "sweep", "--config", str(config_path)]
        swept = subprocess.run(
            [*sweep, "--home", str(home)], capture_output=True, text=True, cwd=REPO, timeout=60, check=False
        )
        assert swept.returncode == 2 and "in use" in swept.stderr, "a sweep beside a server is refused too"
    finally:
        first.terminate()
        first.wait(30)


def test_host_key_that_cannot_be_written(
    config_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    home = tmp_path / "home"
    (home / "host_key.pub").mkdir(parents=True)
    assert main(_serve(config_path, home, "--port", "0")) == 2
    assert "host key" in _one_line(capsys.readouterr().err)
