"""The emulator for integration tests: a configuration written from a dict, then a real subprocess.

Built on :mod:`sf1630.platform.process`, the same launcher the demo uses, so tests exercise exactly what a
user runs. ``sftp_connection`` gives the Airflow connection (as ``AIRFLOW_CONN_*`` JSON) that pins the
emulator's host key.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from sf1630 import INCLUDE_DIR
from sf1630.platform.process import RunningEmulator, start_emulator
from sf1630.registry import write_platform_config

__all__ = ["RunningEmulator", "sftp_connection", "spawn_emulator", "start"]


def start(config: Mapping[str, Any], workdir: Path, *, extra_args: Sequence[str] = ()) -> RunningEmulator:
    """Write ``config`` to ``workdir/platform.yaml`` and start the emulator with its home beside it."""
    workdir.mkdir(parents=True, exist_ok=True)
    path = write_platform_config(workdir / "platform.yaml", config)
    return start_emulator(path, workdir / "platform-home", extra_args=extra_args)


def sftp_connection(
    port: int, host_key: str, *, login: str, password: str | None = None, **extra: Any
) -> str:
    """An Airflow SFTP connection as JSON for ``AIRFLOW_CONN_<ID>``, host key pinned."""
    connection: dict[str, Any] = {
        "conn_type": "sftp",
        "host": "127.0.0.1",
        "port": port,
        "login": login,
        "extra": {"host_key": host_key, **extra},
    }
    if password is not None:
        connection["password"] = password
    return json.dumps(connection)


def spawn_emulator(config: Path, home: Path, log: Path, **env: str) -> subprocess.Popen[bytes]:
    """``platform serve`` as a bare subprocess, output to ``log``, without waiting (crash tests kill it)."""
    command = [sys.executable, "-m", "sf1630.platform.cli", "serve", "--config", str(config)]
    command += ["--home", str(home), "--port", "0"]
    with log.open("wb") as out:
        return subprocess.Popen(
            command, stdout=out, stderr=subprocess.STDOUT, env={**os.environ, **env}, cwd=INCLUDE_DIR.parent
        )
