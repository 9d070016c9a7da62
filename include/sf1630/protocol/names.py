"""File names and authority identifiers of SF1630, and the one safety check for names that become paths.

Names arrive from outside (trigger contents, SFTP listings, CLI arguments) and end up as parts of paths on
the platform and at the recipients. Every such name goes through :func:`check_safe_name` before a path is
built, so there is exactly one rule to review. :class:`DataFileName` is the SF1630 naming convention
``<Afsender>_<Modtager>_<myndighedsID>_<periode>_<datoTid>.csv``.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import datetime

from sf1630.protocol.errors import InvalidFileName, InvalidValue, UnsafeFileName
from sf1630.protocol.period import Period

#: Every SFTP user's folders: senders write into ``OUT/``, everything addressed to a user lands in ``IN/``.
IN = "IN"
OUT = "OUT"

TRIGGER_SUFFIX = ".trigger"
RECEIPT_SUFFIX = ".sftpreceipt"
METADATA_SUFFIX = ".metadata"
DATA_SUFFIX = ".csv"

#: Longest name (in UTF-8 bytes) most file systems accept for one path component.
MAX_NAME_BYTES = 255

CVR_URN_PREFIX = "urn:oio:cvr-nr:"
_CVR = re.compile(r"[0-9]{8}")
CVR_URN_PATTERN = re.compile(r"urn:oio:cvr-nr:([0-9]{8})")

_CREATED_FORMAT = "%Y%m%d%H%M%S"
_PARTY = re.compile(r"[A-Za-z0-9]+")
_PERIOD = re.compile(r"M(0[1-9]|1[0-2])")
_DATA_FILE = re.compile(
    r"(?P<sender>[^_]+)_(?P<recipient>[^_]+)_(?P<authority>[^_]+)_(?P<period>[^_]+)_(?P<created>[^_]+)\.csv"
)


def check_safe_name(name: str) -> str:
    """Return ``name`` unchanged if it is safe as a single path component, else raise :class:`UnsafeFileName`.

    Rejected: empty, ``.`` and ``..``, any ``/`` or ``\\``, NUL and other control characters, invisible
    format characters (bidi overrides such as U+202E, zero-width spaces, BOMs: they make a name read as
    another in a listing), names that Unicode NFKC normalisation changes (fullwidth dots and slashes,
    ligatures, ...), names longer than 255 UTF-8 bytes, and names ending in ``.trigger`` (any case), which
    would start a transfer of their own.
    """
    if not isinstance(name, str) or not name:
        raise UnsafeFileName("name is empty")
    if name in {".", ".."}:
        raise UnsafeFileName(f"name {name!r} refers to a folder")
    if "/" in name or "\\" in name:
        raise UnsafeFileName(f"name {name!r} contains a path separator")
    if any(unicodedata.category(char) in {"Cc", "Cs"} or char in "\u2028\u2029" for char in name):
        raise UnsafeFileName(f"name {name!r} contains a control character")
    if any(unicodedata.category(char) == "Cf" for char in name):
        raise UnsafeFileName(f"name {name!r} contains an invisible format character (bidi or zero-width)")
    if unicodedata.normalize("NFKC", name) != name:
        raise UnsafeFileName(f"name {name!r} changes under Unicode NFKC normalisation")
    if len(name.encode("utf-8")) > MAX_NAME_BYTES:
        raise UnsafeFileName(f"name is longer than {MAX_NAME_BYTES} UTF-8 bytes")
    if name.lower().endswith(TRIGGER_SUFFIX):
        raise UnsafeFileName(f"name {name!r} ends in {TRIGGER_SUFFIX}")
    return name


#: Suffixes of the files the platform writes or acts on; a data file must not end in any of them.
PLATFORM_SUFFIXES = (TRIGGER_SUFFIX, METADATA_SUFFIX, RECEIPT_SUFFIX)


def _stripped_tail(name: str) -> str:
    """``name`` case-folded, without the trailing dots, spaces and invisible characters some tools drop.

    Windows and some SFTP clients strip trailing dots and spaces, and zero-width characters are invisible
    in listings, so ``x.METADATA .`` or ``x.metadata\u200b`` would pass for a metadata file somewhere.
    """
    end = len(name)
    while end and (name[end - 1] in ". " or unicodedata.category(name[end - 1]) in {"Zs", "Cf"}):
        end -= 1
    return name[:end].casefold()


def reserved_suffix(name: str, *, include_trigger: bool = True) -> str | None:
    """The platform suffix ``name`` ends in (any case, any trailing dots/spaces/invisibles), else None."""
    tail = _stripped_tail(name)
    suffixes = PLATFORM_SUFFIXES if include_trigger else (METADATA_SUFFIX, RECEIPT_SUFFIX)
    return next((suffix for suffix in suffixes if tail.endswith(suffix)), None)


def check_data_file_name(name: str) -> str:
    """:func:`check_safe_name`, and refuse names ending in a suffix of the platform's own files.

    A data file named ``<x>.metadata`` or ``<x>.sftpreceipt`` would be delivered into a recipient's
    ``IN/`` (or, routed back, a sender's) where it reads as a document the platform wrote: a forged
    metadata file or a forged SUCCESS receipt.
    """
    check_safe_name(name)
    suffix = reserved_suffix(name)
    if suffix is not None:
        raise UnsafeFileName(f"name {name!r} ends in {suffix}, a suffix of the platform's own files")
    return name


def cvr_urn(value: str) -> str:
    """Return the authority URN ``urn:oio:cvr-nr:NNNNNNNN`` for an 8-digit CVR number or an existing URN."""
    text = value.strip() if isinstance(value, str) else ""
    if _CVR.fullmatch(text):
        return CVR_URN_PREFIX + text
    if CVR_URN_PATTERN.fullmatch(text):
        return text
    raise InvalidValue(f"{value!r} is neither an 8-digit CVR number nor {CVR_URN_PREFIX}NNNNNNNN")


def cvr_number(value: str) -> str:
    """Return the 8-digit CVR number of an authority given as a number or as a URN."""
    return cvr_urn(value).removeprefix(CVR_URN_PREFIX)


@dataclass(frozen=True)
class DataFileName:
    """An SF1630 data file name, e.g. ``KY_LIS_11111111_M03_20180402134858.csv``."""

    sender: str
    recipient: str
    authority: str
    period: str
    created: datetime

    def __post_init__(self) -> None:
        for label, part in (("sender", self.sender), ("recipient", self.recipient)):
            if not isinstance(part, str) or not _PARTY.fullmatch(part):
                raise InvalidFileName(f"{label} {part!r} must be letters and digits only")
        if not isinstance(self.authority, str) or not _CVR.fullmatch(self.authority):
            raise InvalidFileName(f"authority {self.authority!r} must be an 8-digit CVR number")
        if not isinstance(self.period, str) or not _PERIOD.fullmatch(self.period):
            raise InvalidFileName(f"period {self.period!r} must be M01..M12")
        if not isinstance(self.created, datetime) or self.created.tzinfo is not None:
            raise InvalidFileName("created must be a naive datetime (local time of the extract)")
        if self.created.microsecond:
            raise InvalidFileName("created must have second precision")

    def __str__(self) -> str:
        created = self.created.strftime(_CREATED_FORMAT)
        return f"{self.sender}_{self.recipient}_{self.authority}_{self.period}_{created}{DATA_SUFFIX}"

    @property
    def trigger_name(self) -> str:
        """The recommended trigger name for this data file (``<data file name>.trigger``)."""
        return f"{self}{TRIGGER_SUFFIX}"

    @property
    def receipt_name(self) -> str:
        """The receipt name the platform writes into the sender's ``IN/``."""
        return f"{self}{RECEIPT_SUFFIX}"

    @property
    def metadata_name(self) -> str:
        """The metadata name the platform writes beside the data file in the recipient's ``IN/``."""
        return f"{self}{METADATA_SUFFIX}"

    @property
    def month(self) -> Period:
        """The extract's month: ``M<mm>`` from the name, the year from ``datoTid``, which lies after the
        month (an extract of December made in January belongs to the year before)."""
        month = int(self.period[1:])
        created = self.created
        return Period(created.year if month <= created.month else created.year - 1, month)

    @classmethod
    def parse(cls, name: str) -> DataFileName:
        """Parse a data file name; raises :class:`UnsafeFileName` or :class:`InvalidFileName`."""
        check_safe_name(name)
        match = _DATA_FILE.fullmatch(name)
        if match is None:
            raise InvalidFileName(
                f"{name!r} does not follow <Afsender>_<Modtager>_<myndighedsID>_<periode>_<datoTid>.csv"
            )
        created_text = match["created"]
        if not re.fullmatch(r"[0-9]{14}", created_text):
            raise InvalidFileName(f"datoTid {created_text!r} in {name!r} must be YYYYMMDDhhmmss")
        try:
            created = datetime.strptime(created_text, _CREATED_FORMAT)
        except ValueError as exc:
            raise InvalidFileName(
                f"datoTid {created_text!r} in {name!r} is not a real date and time"
            ) from exc
        return cls(
            sender=match["sender"],
            recipient=match["recipient"],
            authority=match["authority"],
            period=match["period"],
            created=created,
        )
