"""The LIS warehouse: where validated extracts land, with a ledger so every delivery loads at most once.

DuckDB (a file) is the default and PostgreSQL the production option; both get the same operations behind
:class:`~sf1630.warehouse.target.WarehouseTarget`, so the receiver's code path does not branch on the engine.
"""

from sf1630.warehouse.ledger import LedgerEntry, Outcome
from sf1630.warehouse.load import LoadRequest, load_delivery, loaded_extracts, record_outcome, recorded
from sf1630.warehouse.target import WarehouseTarget

__all__ = [
    "LedgerEntry",
    "LoadRequest",
    "Outcome",
    "WarehouseTarget",
    "load_delivery",
    "loaded_extracts",
    "record_outcome",
    "recorded",
]
