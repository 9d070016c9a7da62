"""The demo's on-call mailbox: a real SMTP server (aiosmtpd) that keeps every message as a ``.eml`` file.

Alerts (deadline callbacks, failure notifiers) go out over the Airflow connection ``sf1630_smtp``; in the
demo it points at this server on a free port of 127.0.0.1, so a newcomer can open exactly what on-call
would have received, and the summary can count it.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SMTP_CONN_ID = "sf1630_smtp"
FROM = "sf1630-demo@localhost"


class _Writer:
    """aiosmtpd handler: one file per message, numbered in arrival order."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._numbers = itertools.count(1)
        self.received = 0

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        number = next(self._numbers)
        content = envelope.original_content or envelope.content
        data = content if isinstance(content, bytes) else str(content).encode()
        (self.folder / f"{number:04d}.eml").write_bytes(data)
        self.received += 1
        return "250 OK"


@dataclass
class MailSink:
    """A running sink; :meth:`stop` closes it."""

    folder: Path
    port: int
    _loop: asyncio.AbstractEventLoop
    _server: asyncio.AbstractServer
    _thread: threading.Thread
    _writer: _Writer = field(repr=False)

    @property
    def messages(self) -> list[Path]:
        return sorted(self.folder.glob("*.eml"))

    def kinds(self) -> list[str]:
        """The on-call kind (``FAILED``, ``DEADLINE MISSED``, ``RESOLVED``) of each message received."""
        from email.parser import BytesHeaderParser

        parser = BytesHeaderParser()
        return [str(parser.parsebytes(path.read_bytes()).get("X-SF1630-Kind", "")) for path in self.messages]

    def connection(self) -> dict[str, Any]:
        """The Airflow connection that sends into this sink (plain SMTP on 127.0.0.1)."""
        return {
            "conn_type": "smtp",
            "host": "127.0.0.1",
            "port": self.port,
            "extra": {"from_email": FROM, "disable_tls": True, "disable_ssl": True},
        }

    def connection_json(self) -> str:
        return json.dumps(self.connection(), separators=(",", ":"))

    def stop(self) -> None:
        self._loop.call_soon_threadsafe(self._server.close)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)


def start_mail_sink(folder: Path) -> MailSink:
    """Listen on a free port of 127.0.0.1 in a thread of its own; messages go to ``folder``."""
    from aiosmtpd.smtp import SMTP

    folder.mkdir(parents=True, exist_ok=True)
    writer = _Writer(folder)
    loop = asyncio.new_event_loop()
    server = loop.run_until_complete(loop.create_server(lambda: SMTP(writer), "127.0.0.1", 0))
    port = int(server.sockets[0].getsockname()[1])
    thread = threading.Thread(target=loop.run_forever, name="sf1630-mail-sink", daemon=True)
    thread.start()
    return MailSink(folder, port, loop, server, thread, writer)
