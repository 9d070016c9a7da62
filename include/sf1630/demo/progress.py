"""Progress of the demo: one line per stage whose counts rise while the stage works.

On a terminal the line is rewritten in place; in a log or CI (not a TTY) an update is printed only when it
has changed and a few seconds have passed, so a 10-minute run leaves a readable, short transcript.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO


def bar(done: int, total: int, width: int = 20) -> str:
    """``[########------------] 40/100``: a stage's share done, in plain characters for logs too."""
    filled = 0 if total <= 0 else min(width, round(width * done / total))
    return f"[{'#' * filled}{'-' * (width - filled)}] {done}/{total}"


class StageLine:
    """The line of one stage."""

    def __init__(self, stream: TextIO, name: str, *, tty: bool, every: float) -> None:
        self.stream, self.name, self.tty, self.every = stream, name, tty, every
        self.started = time.monotonic()
        self._last_text = ""
        self._last_print = float("-inf")  # the first update always shows

    def _prefix(self) -> str:
        return f"[{time.monotonic() - self.started:6.1f}s] {self.name:<10}"

    def update(self, text: str) -> None:
        """Show ``text`` as the stage's current state."""
        if text == self._last_text:
            return
        self._last_text = text
        now = time.monotonic()
        if self.tty:
            self.stream.write(f"\r\033[K{self._prefix()} {text}")
            self.stream.flush()
        elif now - self._last_print >= self.every:
            self._last_print = now
            self.stream.write(f"{self._prefix()} {text}\n")
            self.stream.flush()

    def done(self, text: str) -> float:
        """Close the stage with its final state; returns its duration in seconds."""
        elapsed = time.monotonic() - self.started
        start = "\r\033[K" if self.tty else ""
        self.stream.write(f"{start}{self._prefix()} {text}\n")
        self.stream.flush()
        return elapsed


class Progress:
    """Stages in order, written to ``stream`` (stdout by default)."""

    def __init__(self, stream: TextIO | None = None, *, every: float = 5.0) -> None:
        self.stream = stream or sys.stdout
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.every = every

    def stage(self, name: str) -> StageLine:
        return StageLine(self.stream, name, tty=self.tty, every=self.every)
