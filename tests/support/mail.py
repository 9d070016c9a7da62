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


def smtp_connection(port: int, from_email: str = "sf1630-airflow@example.dk") -> str:
    """An Airflow SMTP connection (``AIRFLOW_CONN_<ID>`` JSON) to the sink: plain SMTP, no TLS, no login."""
    import json

    extra = {
        "from_email": from_email,
        "disable_ssl": True,
        "disable_tls": True,
        "timeout": 10,
        "retry_limit": 0,
    }
    return json.dumps({"conn_type": "smtp", "host": "127.0.0.1", "port": port, "extra": extra})


def body_text(message: Message) -> str:
    """The text of a received message: the HTML part Airflow's SMTP notifier sends, tags undone."""
    import html
    import re

    parts = [p for p in message.walk() if p.get_content_type() in {"text/html", "text/plain"}]
    raw = "\n".join(str(p.get_content()) for p in parts)  # type: ignore[attr-defined]
    return html.unescape(re.sub(r"<[^>]+>", "", raw))
