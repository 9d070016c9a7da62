"""A real HTTP server standing in for a Slack incoming webhook (127.0.0.1, a port the OS picks).

Slack itself is out of reach from the build machines; the provider's hook posts JSON to whatever URL its
connection names, so a local server that answers ``200 ok`` like Slack receives exactly what Slack would.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class WebhookBox:
    """What the webhook received: (path, JSON body) per request; ``fail`` makes it answer 500."""

    def __init__(self) -> None:
        self.posts: list[tuple[str, dict[str, Any]]] = []
        self.fail = False


@contextmanager
def webhook_sink() -> Iterator[tuple[int, WebhookBox]]:
    """Run the webhook server in a thread; yields (port, box) and stops it on exit."""
    box = WebhookBox()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            box.posts.append((self.path, json.loads(self.rfile.read(length) or b"{}")))
            status, body = (500, b"server_error") if box.fail else (200, b"ok")
            self.send_response(status)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield int(server.server_address[1]), box
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def slack_connection(port: int) -> str:
    """An Airflow Slack incoming-webhook connection (``AIRFLOW_CONN_<ID>`` JSON) pointing at the sink."""
    return json.dumps(
        {"conn_type": "slackwebhook", "host": f"127.0.0.1:{port}", "schema": "http", "password": "T0/B0/test"}
    )
