"""The period of an SF1630 extract: a calendar month, and its forms in file names (``M<mm>``, ``datoTid``).

The file name carries only the month (``M03``); the year follows from ``datoTid``, the moment the extract
was made, which lies after the month: an extract of December made in January belongs to the year before.
Both sides compute the month of a run in the configured time zone, never from a UTC timestamp.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

_PERIOD_TEXT = re.compile(r"([0-9]{4})-(0[1-9]|1[0-2])")


@dataclass(frozen=True, order=True)
class Period:
    """A calendar month, the unit of an SF1630 extract; ``str()`` gives ``YYYY-MM``."""

    year: int
    month: int

    def __post_init__(self) -> None:
        if not 1 <= self.month <= 12 or not 1900 <= self.year <= 9999:
            raise ValueError(f"{self.year}-{self.month} is not a month")

    @classmethod
    def parse(cls, text: str) -> Period:
        """``"2026-10"`` → October 2026."""
        match = _PERIOD_TEXT.fullmatch(text.strip())
        if match is None:
            raise ValueError(f"period {text!r} must be YYYY-MM")
        return cls(int(match[1]), int(match[2]))

    @classmethod
    def of(cls, moment: datetime) -> Period:
        """The month ``moment`` falls in, in ``moment``'s own time zone (convert to local time first)."""
        return cls(moment.year, moment.month)

    def previous(self) -> Period:
        """The month before."""
        return Period(self.year - 1, 12) if self.month == 1 else Period(self.year, self.month - 1)

    def next(self) -> Period:
        """The month after."""
        return Period(self.year + 1, 1) if self.month == 12 else Period(self.year, self.month + 1)

    @property
    def code(self) -> str:
        """The ``udtræksperiode`` in file names, ``M01`` … ``M12``."""
        return f"M{self.month:02d}"

    @property
    def first_day(self) -> datetime:
        """Midnight at the start of the month (naive: the local calendar)."""
        return datetime(self.year, self.month, 1)

    def __str__(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"
