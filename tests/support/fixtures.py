"""Fixtures every test folder may use, registered for the whole suite by ``tests/conftest.py``.

Fixtures that need a running service carry the ``integration`` marker automatically (see
``tests/conftest.py``), so ``make test-unit`` runs without any.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sf1630.database import Database

from tests.support.mail import MailBox, smtp_sink
from tests.support.postgres import POSTGRES_DSN, fresh_schema

#: Fixtures that need PostgreSQL; a test using one is an integration test.
SERVICE_FIXTURES = frozenset({"pg_schema", "warehouse"})


@pytest.fixture
def pg_schema() -> Iterator[str]:
    """A fresh PostgreSQL schema in database ``test``, dropped afterwards."""
    with fresh_schema("sf1630_t") as name:
        yield name


@pytest.fixture
def warehouse() -> Iterator[Database]:
    """The warehouse for real: a unique PostgreSQL schema in database ``test``, dropped after."""
    with fresh_schema("t") as schema:
        yield Database.postgres(POSTGRES_DSN, schema=schema)


@pytest.fixture
def smtp_server() -> Iterator[tuple[int, MailBox]]:
    """A real SMTP server (aiosmtpd) on 127.0.0.1, on a port the OS chose."""
    with smtp_sink() as sink:
        yield sink
