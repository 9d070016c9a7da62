"""The emulator as a child process: ``sf1630 platform serve`` on a port the OS picks, started and stopped.

The demo, the integration tests, the benchmarks and the distributed test all need a running platform they
can stop (or kill) again. A subprocess, not a thread, keeps the SFTP server's event loop off the caller's
CPU accounting, lets crash tests ``kill -9`` it, and makes "stop what it started" a single terminate.
Everything it prints goes to a log file (or is kept in memory) so a failure can show it.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import IO

from sf1630 import INCLUDE_DIR

_LISTENING = re.compile(r"listening on 127\.0\.0\.1:([0-9]+)")


class EmulatorFailed(RuntimeError):
    """The emulator exited or did not start listening in time; the message holds its output."""


@dataclass
class RunningEmulator:
    """A running ``sf1630 platform serve``: its home, port and host key, and what it printed."""

    process: subprocess.Popen[str]
    home: Path
    port: int
    log: Path | None = None
    output: list[str] = field(default_factory=list)

    @property
    def host_key(self) -> str:
        """The server's public host key as ``<type> <base64>`` (what an SFTP connection pins)."""
        return " ".join((self.home / "host_key.pub").read_text(encoding="ascii").split()[:2])

    def folder(self, user: str, name: str) -> Path:
        """The platform's folder ``name`` (``IN``/``OUT``) of SFTP user ``user``."""
        return self.home / "users" / user / name

    def files(self, user: str, name: str) -> list[str]:
        """The names in that folder, sorted (empty when it does not exist yet)."""
        folder = self.folder(user, name)
        return sorted(p.name for p in folder.iterdir()) if folder.exists() else []

    def stop(self, timeout: float = 20) -> None:
        """Terminate (SIGTERM lets it finish journalled transfers); kill if it does not exit."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout)

    def __enter__(self) -> RunningEmulator:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.stop()


def _drain(stream: IO[str], output: list[str], log: IO[str] | None) -> None:
    for line in stream:
        output.append(line)
        if log is not None:
            log.write(line)
            log.flush()


def start_emulator(
    config: Path,
    home: Path,
    *,
    log: Path | None = None,
    port: int = 0,
    extra_args: Sequence[str] = (),
    env: Mapping[str, str] | None = None,
    timeout: float = 60,
) -> RunningEmulator:
    """Start the emulator with ``config`` in ``home`` and return once it listens."""
    command = [sys.executable, "-m", "sf1630.platform.cli", "serve", "--config", str(config)]
    command += ["--home", str(home), "--host", "127.0.0.1", "--port", str(port), *extra_args]
    process = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=INCLUDE_DIR.parent,
        env=dict(env) if env is not None else os.environ.copy(),
    )
    assert process.stdout is not None
    sink = None
    if log is not None:
        log.parent.mkdir(parents=True, exist_ok=True)
        sink = log.open("a", encoding="utf-8")
    output: list[str] = []
    give_up = time.monotonic() + timeout
    while True:
        line = process.stdout.readline()
        if not line:
            raise EmulatorFailed(f"the emulator exited (code {process.wait()}):\n{''.join(output)}")
        output.append(line)
        if sink is not None:
            sink.write(line)
        match = _LISTENING.search(line)
        if match:
            break
        if time.monotonic() > give_up:
            process.kill()
            raise EmulatorFailed(f"the emulator did not start within {timeout:.0f} s:\n{''.join(output)}")
    threading.Thread(target=_drain, args=(process.stdout, output, sink), daemon=True).start()
    return RunningEmulator(process, home, int(match[1]), log, output)
