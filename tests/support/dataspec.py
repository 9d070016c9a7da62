"""The kommune and month the data-spec tests synthesise their files for."""

from __future__ import annotations

AUTHORITY = "29189846"
PERIOD = "2026-03"
