"""Both warehouses for real (the shared ``warehouse`` fixture): a DuckDB file and a PostgreSQL schema."""

from __future__ import annotations

import pytest
from sf1630.warehouse import WarehouseTarget


@pytest.fixture
def target(warehouse: WarehouseTarget) -> WarehouseTarget:
    return warehouse
