"""The emulator as the demo runs it: ``sf1630 platform serve`` in a subprocess, on a port the OS picks.

A subprocess (not a thread) keeps the SFTP server's event loop and router threads off the DAG workers'
CPU accounting and makes "stop what it started" a single terminate. Its output goes to the demo's log.
"""

from __future__ import annotations

import re
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from sf1630.demo import REPO_ROOT

_LISTENING = re.compile(r"listening on 127\.0\.0\.1:([0-9]+)")


class EmulatorFailed(RuntimeError):
    """The emulator exited or did not start listening in time."""


@dataclass
class RunningEmulator:
    process: subprocess.Popen[str]
    port: int
    log: Path

    def stop(self, timeout: float = 20) -> None:
        """Terminate (SIGTERM lets it finish journalled transfers), kill if it does not exit."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout)


def _copy(stream: IO[str], log: IO[str]) -> None:
    for line in stream:
        log.write(line)
        log.flush()


def start_emulator(
    config: Path, home: Path, log: Path, *, port: int = 0, timeout: float = 60
) -> RunningEmulator:
    """Start the emulator and return once it listens."""
    command = [sys.executable, "-m", "sf1630.platform.cli", "serve", "--config", str(config)]
    command += ["--home", str(home), "--host", "127.0.0.1", "--port", str(port)]
    log.parent.mkdir(parents=True, exist_ok=True)
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=REPO_ROOT
    )
    assert process.stdout is not None
    out = log.open("a", encoding="utf-8")
    give_up = time.monotonic() + timeout
    while True:
        line = process.stdout.readline()
        if not line:
            out.close()
            raise EmulatorFailed(f"the emulator exited (code {process.wait()}); see {log}")
        out.write(line)
        match = _LISTENING.search(line)
        if match:
            break
        if time.monotonic() > give_up:
            process.kill()
            raise EmulatorFailed(f"the emulator did not start within {timeout:.0f} s; see {log}")
    out.flush()
    threading.Thread(target=_copy, args=(process.stdout, out), daemon=True).start()
    return RunningEmulator(process, int(match[1]), log)
