"""A TCP proxy on 127.0.0.1 that cuts connections mid-stream, as a network drop would.

``direction="up"`` counts bytes the client sends (an interrupted upload), ``"down"`` bytes the server
sends (an interrupted download). The first ``cuts`` connections that carry more than ``after`` bytes
that way are cut; later connections pass untouched, so a retry gets through.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from typing import Literal


class CuttingProxy:
    """Forward 127.0.0.1:``port`` to 127.0.0.1:``upstream_port``, cutting as described above."""

    def __init__(
        self, upstream_port: int, *, after: int, direction: Literal["up", "down"], cuts: int = 1
    ) -> None:
        self.upstream_port, self.after, self.direction = upstream_port, after, direction
        self.cuts_left, self.cuts_done, self.connections = cuts, 0, 0
        self._lock = threading.Lock()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self._listener.getsockname()[1])
        self._closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            server = socket.create_connection(("127.0.0.1", self.upstream_port))
            self.connections += 1
            threading.Thread(target=self._pipe, args=(client, server, "up"), daemon=True).start()
            threading.Thread(target=self._pipe, args=(server, client, "down"), daemon=True).start()

    def _cut_at(self, sent: int, size: int) -> int | None:
        """How much of the next chunk still goes through before the cut, or None for no cut."""
        with self._lock:
            if self.cuts_left > 0 and sent + size > self.after:
                self.cuts_left -= 1
                self.cuts_done += 1
                return max(self.after - sent, 0)
        return None

    def _pipe(self, source: socket.socket, sink: socket.socket, way: str) -> None:
        sent = 0
        try:
            while chunk := source.recv(65536):
                cut = self._cut_at(sent, len(chunk)) if way == self.direction else None
                if cut is not None:
                    sink.sendall(chunk[:cut])
                    break
                sink.sendall(chunk)
                sent += len(chunk)
        except OSError:
            pass
        finally:
            for sock in (source, sink):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()

    def close(self) -> None:
        """Stop accepting; open connections end when their peers close."""
        self._closed = True
        self._listener.close()
