"""The one test harness: what several test folders need, written once.

Fixtures are registered for the whole suite by ``tests/conftest.py`` (``pytest_plugins``); helpers are
imported as ``from tests.support.<module> import ...``, never from a ``conftest.py``.
"""

from pathlib import Path

#: The repository's root folder.
REPO = Path(__file__).resolve().parents[2]
