"""A plain-text mail to on-call over SMTP: how a missed deadline reaches a person today.

Kept apart from the Airflow face so it can be tested against a real SMTP server without Airflow; the
Airflow side only turns a connection into an :class:`SmtpServer`. (Airflow's notifiers will replace it.)
"""

from __future__ import annotations

import smtplib
from dataclasses import dataclass
from email.message import EmailMessage


@dataclass(frozen=True)
class SmtpServer:
    """Where deadline mails go out."""

    host: str
    port: int
    login: str | None = None
    password: str | None = None
    sender: str = "sf1630-airflow@localhost"
    starttls: bool = False


def send_mail(server: SmtpServer, to: str, subject: str, body: str) -> None:
    """One plain-text mail (no secrets in it: only file names, kommuner and receipt codes)."""
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = server.sender, to, subject
    message.set_content(body)
    with smtplib.SMTP(server.host, server.port, timeout=30) as smtp:
        if server.starttls:
            smtp.starttls()
        if server.login:
            smtp.login(server.login, server.password or "")
        smtp.send_message(message)
