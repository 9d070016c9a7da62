"""Typed reads of the few environment variables the project honours.

Environment values are strings; reading them in one place with strict parsing means a typo such as
``SF1630_DEADLINES=flase`` fails loudly at start instead of silently meaning "true".
"""

from __future__ import annotations

import os
from pathlib import Path

from sf1630 import INCLUDE_DIR

_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})


def env_flag(name: str, default: bool) -> bool:
    """Return the boolean value of environment variable ``name``, or ``default`` when unset or empty."""
    raw = os.environ.get(name, "").strip().lower()
    if not raw:
        return default
    if raw in _TRUE:
        return True
    if raw in _FALSE:
        return False
    allowed = sorted(_TRUE | _FALSE)
    raise ValueError(f"environment variable {name}={raw!r} is not a boolean (use one of {allowed})")


def env_path(name: str, default: Path) -> Path:
    """Return an absolute path from environment variable ``name``, or ``default`` when unset."""
    raw = os.environ.get(name, "").strip()
    return Path(raw).expanduser().resolve() if raw else default


def env_seconds(name: str, default: float) -> float:
    """Return a non-negative number of seconds from environment variable ``name``, or ``default``."""
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        seconds = float(raw)
    except ValueError:
        seconds = -1.0
    if not seconds >= 0:  # also refuses nan
        raise ValueError(f"environment variable {name}={raw!r} is not a number of seconds >= 0")
    return seconds


#: How long a deferred wait holds its outcome back after the deferral, unless ``SF1630_SETTLE_SECONDS``.
SETTLE_SECONDS = 20.0


def settle_seconds() -> float:
    """How long a deferred wait's trigger holds its event back after the deferral.

    The defer race (see :mod:`sf1630.airflow.arrival`) is the scheduler's; ``dag.test()`` runs triggers in
    its own process with no scheduler to race, so the tests that use it set 0 and save 20 s per wait.
    """
    return env_seconds("SF1630_SETTLE_SECONDS", SETTLE_SECONDS)


def deadlines_enabled() -> bool:
    """Whether DAG factories attach Deadline Alerts.

    Tests switch them off because ``dag.test()`` crashes after running a DAG that sets ``deadline=``
    (apache/airflow#73428); deployments keep the default.
    """
    return env_flag("SF1630_DEADLINES", default=True)


def config_dir() -> Path:
    """Folder with the sender, receiver and platform configuration (``include/config`` by default)."""
    return env_path("SF1630_CONFIG_DIR", INCLUDE_DIR / "config")


def dataspec_dir() -> Path:
    """Folder with the data specs (``include/dataspecs`` by default)."""
    return env_path("SF1630_DATASPEC_DIR", INCLUDE_DIR / "dataspecs")
