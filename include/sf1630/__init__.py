"""SF1630 Ledelsesinformation – Dataload: protocol, emulator, data specs, sender and receiver logic.

Nothing here imports Airflow at import time, so the package is cheap to import from DAG files,
the CLI and tests alike.
"""

from pathlib import Path

__version__ = "0.1.0"

#: The ``include/`` folder that holds the package, the data specs and the demo configuration.
INCLUDE_DIR = Path(__file__).resolve().parent.parent
