"""Typed protocol errors, so callers can tell a hostile document from a wrong one and say where it broke.

Every error carries a stable short ``reason`` (used in receipts, journals and CLI output), a human ``detail``
and, where known, the 1-based ``line`` and the element ``path`` in the document.
"""

from __future__ import annotations


class ProtocolError(Exception):
    """Base of every error raised while reading, writing or naming SF1630 protocol documents."""

    reason: str = "bad-value"

    def __init__(
        self,
        detail: str,
        *,
        line: int | None = None,
        path: str | None = None,
        reason: str | None = None,
    ) -> None:
        if reason is not None:
            self.reason = reason
        self.detail = detail
        self.line = line
        self.path = path
        super().__init__(str(self))

    def __str__(self) -> str:
        where = [
            part
            for part in (f"line {self.line}" if self.line else "", f"at {self.path}" if self.path else "")
            if part
        ]
        suffix = f" ({', '.join(where)})" if where else ""
        return f"{self.reason}: {self.detail}{suffix}"

    def __repr__(self) -> str:
        fields = f"{self.detail!r}, line={self.line!r}, path={self.path!r}, reason={self.reason!r}"
        return f"{type(self).__name__}({fields})"


class DocumentTooLarge(ProtocolError):
    """The document is larger than the reader's size cap; it was not parsed."""

    reason = "too-large"


class UnsafeXML(ProtocolError):
    """The document uses an XML feature that can read files, reach the network or exhaust memory."""

    reason = "unsafe-xml"


class NotUTF8(ProtocolError):
    """The document is not UTF-8 (declares another encoding, is UTF-16/32, or has invalid bytes)."""

    reason = "not-utf8"


class MalformedXML(ProtocolError):
    """The document is not well-formed XML."""

    reason = "malformed"


class SchemaViolation(ProtocolError):
    """The document is well-formed but does not follow the SFTP service contract's schema."""

    reason = "schema"


class WrongDocumentKind(ProtocolError):
    """The root element is not the expected (or any known) protocol document."""

    reason = "wrong-root"


class InvalidValue(ProtocolError, ValueError):
    """A value the schema admits (or a model field) that the project cannot accept, e.g. a naive timestamp."""

    reason = "bad-value"


class UnsafeFileName(ProtocolError, ValueError):
    """A name from outside that must not become part of a path (traversal, control characters, ...)."""

    reason = "unsafe-name"


class InvalidFileName(ProtocolError, ValueError):
    """A safe name that does not follow the SF1630 data file naming convention."""

    reason = "bad-name"
