"""The ``make demo`` run: a whole month of SF1630 on one machine, sender → emulator → LIS → warehouse.

``seed`` fills a source database and writes the platform's registry and keys, ``run`` starts the emulator,
the metadata database and Airflow's own scheduler, DAG processor, triggerer and API server, triggers every
sender DAG for the month through the REST API and lets the scheduler run the receiver DAGs, and ``summary``
reads the ledgers back into the closing table. Everything lives in one state
directory (``var/demo/`` under the repository by default) so a second run or the Airflow UI finds it.
"""

from __future__ import annotations

from sf1630 import INCLUDE_DIR

#: The month the demo delivers: fixed, so a run on any day gives the same files and the same table.
DEMO_MONTH = "2026-10"

#: The repository root (the package lives in ``<repo>/include/sf1630``), never the current directory.
REPO_ROOT = INCLUDE_DIR.parent

#: Where the demo keeps its state unless ``--home`` says otherwise.
DEFAULT_HOME = REPO_ROOT / "var" / "demo"

#: The kommune whose KSD extract is deliberately invalid (København: one LIS system, first in the list).
INVALID_KOMMUNE = "101"
#: The sender of the invalid extract and how it is broken (a class of :mod:`sf1630.dataspec.corrupt`).
INVALID_SENDER = "KSD"
INVALID_KIND = "pattern_mismatch"
