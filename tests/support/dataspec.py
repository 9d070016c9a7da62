"""The kommune and month the data-spec tests synthesise their files for."""

from __future__ import annotations

from sf1630.protocol import Period

AUTHORITY = "29189846"
PERIOD = Period(2026, 3)
