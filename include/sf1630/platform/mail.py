"""Retention warning mails: sent by SMTP when the configuration names a server, else kept as ``.eml`` files.

Development machines rarely have a mail server, and a warning that silently goes nowhere is worse than none,
so without ``mail:`` the messages land in ``DIR/outbox/`` where a developer (or a test) can read them.
"""

from __future__ import annotations

import smtplib
import uuid
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path

from sf1630.platform.config import Mail

DEFAULT_SENDER = "sftp@serviceplatform.local"


def warning_message(
    *, sender: str, to: str, user: str, folder: str, name: str, deleted_at: datetime
) -> EmailMessage:
    """The warning that ``user``'s ``folder/name`` will be deleted at ``deleted_at``."""
    message = EmailMessage()
    message["From"] = sender
    message["To"] = to
    message["Subject"] = f"Serviceplatformen: {folder}/{name} bliver slettet / will be deleted"
    message["Date"] = format_datetime(datetime.now(UTC))
    message["Message-ID"] = make_msgid(domain="serviceplatform.local")
    when = deleted_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
    message.set_content(
        f"Filen {folder}/{name} hos SFTP-brugeren {user} er ikke ændret i lang tid og slettes {when}.\n"
        f"The file {folder}/{name} of SFTP user {user} has not changed for a long time and will be deleted"
        f" at {when}.\n"
    )
    return message


class Postman:
    """Delivers messages by SMTP or into the outbox folder."""

    def __init__(self, mail: Mail | None, outbox: Path) -> None:
        self.mail = mail
        self.outbox = outbox

    @property
    def sender(self) -> str:
        """The From address."""
        return self.mail.sender if self.mail is not None else DEFAULT_SENDER

    def send(self, message: EmailMessage) -> None:
        """Send or file ``message``; raises on SMTP failure so the caller retries on the next sweep."""
        if self.mail is None:
            self.outbox.mkdir(mode=0o700, parents=True, exist_ok=True)
            (self.outbox / f"{uuid.uuid4().hex}.eml").write_bytes(message.as_bytes())
            return
        with smtplib.SMTP(self.mail.smtp_host, self.mail.smtp_port, timeout=30) as smtp:
            smtp.send_message(message)
