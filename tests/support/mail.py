"""A real SMTP server for tests (aiosmtpd, on 127.0.0.1 and a port the OS picks) and what it received."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from email import message_from_bytes
from email.message import Message
from email.policy import default
from typing import Any, TypeVar


class MailBox:
    """Messages received by the test SMTP server: (envelope recipients, parsed message)."""

    def __init__(self) -> None:
        self.messages: list[tuple[list[str], Message]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append((list(envelope.rcpt_tos), message_from_bytes(envelope.content, policy=default)))
        return "250 OK"


H = TypeVar("H")


@contextmanager
def smtp_server_with(handler: H) -> Iterator[tuple[int, H]]:
    """Run an SMTP server with an aiosmtpd ``handler`` in a thread of its own; yields (port, handler)."""
    from aiosmtpd.smtp import SMTP

    loop = asyncio.new_event_loop()
    server = loop.run_until_complete(loop.create_server(lambda: SMTP(handler), "127.0.0.1", 0))
    port = int(server.sockets[0].getsockname()[1])
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:
        yield port, handler
    finally:
        loop.call_soon_threadsafe(server.close)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)


def smtp_sink() -> AbstractContextManager[tuple[int, MailBox]]:
    """An SMTP server that keeps every message in a :class:`MailBox`; yields (port, mailbox)."""
    return smtp_server_with(MailBox())
