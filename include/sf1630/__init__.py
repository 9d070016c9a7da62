"""SF1630 Ledelsesinformation – Dataload: protocol, emulator, data specs, sender and receiver logic.

Only :mod:`sf1630.airflow` imports Airflow; every other subpackage is plain Python that the CLI, the
emulator and unit tests import without it. DAG files import the Airflow face, which imports the rest.
"""

from pathlib import Path

__version__ = "0.1.0"

#: The ``include/`` folder that holds the package, the data specs and the demo configuration.
INCLUDE_DIR = Path(__file__).resolve().parent.parent
