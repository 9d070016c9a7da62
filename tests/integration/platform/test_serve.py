"""``platform serve`` as operators run it: refuses a bad configuration, sweeps retention periodically."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import yaml

from tests.support import REPO
from tests.support.platform import HERNING, SENDER, platform_config


def test_serve_refuses_a_bad_configuration(tmp_path: Path, client_keys: dict[str, Path]) -> None:
    config = platform_config(client_keys)
    config["routes"][0]["sender_it_system"] = "not-a-uuid"
    path = tmp_path / "platform.yaml"
    path.write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")
    command = [sys.executable, "-m", "sf1630.platform.cli", "serve", "--config", str(path)]
    command += ["--home", str(tmp_path / "home"), "--port", "0"]
    result = subprocess.run(command, capture_output=True, text=True, cwd=REPO, timeout=60)
    assert result.returncode == 2
    lines = path.read_text(encoding="utf-8").splitlines()
    line = lines.index("  sender_it_system: not-a-uuid") + 1
    assert result.stderr.strip() == f"{path}:{line}: routes[0].sender_it_system: 'not-a-uuid' is not a UUID"
    assert not (tmp_path / "home").exists()


def test_serve_sweeps_every_interval(tmp_path: Path, client_keys: dict[str, Path]) -> None:
    config = platform_config(
        client_keys, retention={"delete_after": "100s", "warn_before": "50s", "sweep_interval": "1s"}
    )
    path = tmp_path / "platform.yaml"
    path.write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")
    home = tmp_path / "home"
    command = [sys.executable, "-m", "sf1630.platform.cli", "serve", "--config", str(path)]
    process = subprocess.Popen(
        [*command, "--home", str(home), "--port", "0"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        cwd=REPO,
    )
    try:
        deadline = time.monotonic() + 60
        while not (home / "users" / HERNING / "IN").exists():
            assert time.monotonic() < deadline and process.poll() is None
            time.sleep(0.05)
        now = time.time()
        old, expired = home / "users" / HERNING / "IN" / "old.csv", home / "users" / SENDER / "OUT" / "x.csv"
        for path_, age in ((old, 70), (expired, 200)):
            path_.write_bytes(b"x")
            os.utime(path_, (now - age, now - age))
        while expired.exists() or not list((home / "outbox").glob("*.eml")):
            assert time.monotonic() < deadline and process.poll() is None
            time.sleep(0.05)
        assert old.exists()
        time.sleep(1.5)  # at least one more sweep: the warning is not repeated
        assert len(list((home / "outbox").glob("*.eml"))) == 1
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(30) == 0
