"""The LIS warehouse: where validated extracts land, with a ledger so every delivery loads at most once.

PostgreSQL (:mod:`sf1630.warehouse.load` says why not DuckDB), reached through a
:class:`~sf1630.database.Database`; a delivered file is staged in it (:mod:`sf1630.warehouse.staging`),
validated there and promoted. Plain Python: the Airflow face (:mod:`sf1630.airflow.connections`) turns a
connection id into the ``Database``.
"""

from sf1630.warehouse.ledger import (
    LoadEntry,
    Outcome,
    delivery_entry,
    loaded_extracts,
    record_outcome,
    recorded,
    refused_since,
    report_of,
)
from sf1630.warehouse.load import LoadRequest, load_delivery

__all__ = [
    "LoadEntry",
    "LoadRequest",
    "Outcome",
    "delivery_entry",
    "load_delivery",
    "loaded_extracts",
    "record_outcome",
    "recorded",
    "refused_since",
    "report_of",
]
