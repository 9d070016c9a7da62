"""Byte streams that break: a source that fails part-way, as a dropped connection or a vanished store does."""

from __future__ import annotations

import io


class FailingStream(io.BytesIO):
    """``data`` whose first read succeeds and every later one raises ``error``."""

    def __init__(self, data: bytes, error: Exception) -> None:
        super().__init__(data)
        self.error = error
        self.reads = 0

    def read(self, size: int | None = -1) -> bytes:
        self.reads += 1
        if self.reads > 1:
            raise self.error
        return super().read(size)
