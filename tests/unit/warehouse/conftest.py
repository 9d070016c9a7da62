"""The warehouse for real (the shared ``warehouse`` fixture): a fresh PostgreSQL schema."""

from __future__ import annotations

import pytest
from sf1630.database import Database


@pytest.fixture
def db(warehouse: Database) -> Database:
    return warehouse
