"""The router: turns a trigger in a sender's ``OUT/`` into deliveries and a receipt, exactly once.

Two patterns name the recipients (SF1630 §2.1.3): dynamic routing (``Recipients`` is ``ROUTING_V1_0_0`` and
``SFTPDynamicRoutingInfo`` is matched against the routes) and the simple pattern (``Recipients`` lists the
recipient SFTP users themselves, each allowed by a simple route). Both then go through the same steps.

Processing of one trigger: claim (lock trigger name) → read and validate → lock the data file name, check it,
reserve the recipients' names and the receipt's name → journal *accepted* with the rendered receipt and
metadata → per recipient hard-link the data file into ``IN/`` (its times reset: the retention clock starts at
delivery) and write its metadata → journal *delivered* → remove trigger (and data file, on success) from
``OUT/`` → journal *cleaned* → release locks → write the receipt → one audit line → journal *done*. Hard links
mean a 1 GB file routes as fast as a 1 KB one.

Why a shared inode is safe: the data file is locked and checked (regular, one name only, its size) while
holding :attr:`Router.gate`, the lock every mutating SFTP request holds from its check to its action. Once
locked, no request can open, write, truncate, re-time, rename or link the file, and the SFTP server never
creates a second name for a file (a plain rename is a rename, not link + unlink), so the delivered inode is
unreachable from every sender path; after cleanup ``OUT/`` no longer names it at all.

Receipts and metadata are written with :meth:`PlatformHome.write_new`: an answer already in ``IN/`` is never
replaced, a later answer about another trigger takes another name (the trigger's stem, then the transfer id).

``SF1630_PLATFORM_CRASH_AT=<step>`` makes the process die (``os._exit(137)``) right after that step, so tests
can prove that a restart finishes every accepted transfer. Steps: ``accepted``, ``linked``, ``metadata``,
``delivered``, ``cleaned``, ``receipt``, ``audited``.
"""

from __future__ import annotations

import logging
import os
import stat
import threading
import uuid
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path

from sf1630.platform.audit import AuditLog
from sf1630.platform.config import PlatformConfig, Route
from sf1630.platform.errorcodes import ErrorCode, receipt_error
from sf1630.platform.folders import IN, OUT, PlatformHome
from sf1630.platform.journal import CLEANED, DONE, Delivery, Journal, TransferRecord
from sf1630.protocol import (
    MAX_DOCUMENT_BYTES,
    METADATA_SUFFIX,
    NAMESPACE,
    RECEIPT_SUFFIX,
    ROUTING_RECIPIENT,
    TRIGGER_SUFFIX,
    FileMetadata,
    ProtocolError,
    ReceiptError,
    RoutingInfo,
    TechnicalReceipt,
    Trigger,
    UnsafeFileName,
    read_trigger,
    to_xml,
)
from sf1630.protocol.document import xml_schema

LOGGER = logging.getLogger("sf1630.platform.router")
CRASH_ENV = "SF1630_PLATFORM_CRASH_AT"
CRASH_STEPS = ("accepted", "linked", "metadata", "delivered", "cleaned", "receipt", "audited")
MAX_NAME_BYTES = 255
#: Largest size the journal (SQLite INTEGER) stores; no file can be larger, so a bigger claim is a mismatch.
MAX_STORED_SIZE = 2**63 - 1

_READER_CODES = {
    "too-large": ErrorCode.XML_TOO_LARGE,
    "unsafe-xml": ErrorCode.XML_UNSAFE,
    "malformed": ErrorCode.XML_MALFORMED,
    "not-utf8": ErrorCode.XML_NOT_UTF8,
    "schema": ErrorCode.XML_SCHEMA,
    "wrong-root": ErrorCode.XML_WRONG_DOCUMENT,
    "bad-value": ErrorCode.XML_BAD_VALUE,
}


def is_trigger_name(name: str) -> bool:
    """Whether a name in ``OUT/`` starts a transfer."""
    return name.lower().endswith(TRIGGER_SUFFIX) and len(name) > len(TRIGGER_SUFFIX)


def matching_routes(routes: Iterable[Route], routing: RoutingInfo, *, parameters: bool = True) -> list[Route]:
    """Routes matching the trigger's routing info; without RecipientIt-system every such route matches.

    ``parameters=False`` leaves the route parameters out, to tell "no route" from "no route for these
    parameters" in the receipt.
    """
    return [
        route
        for route in routes
        if route.inf_ref == routing.inf_ref
        and route.sender_authority == routing.sender_authority
        and route.sender_it_system == routing.sender_it_system
        and route.recipient_authority == routing.recipient_authority
        and (routing.recipient_it_system is None or route.recipient_it_system == routing.recipient_it_system)
        and (not parameters or parameters_match(route, routing))
    ]


def _parameter_name(name: str) -> str:
    """A parameter's name as routes compare it: in the contract namespace or in none is the same element
    (the schema declares ``RouteSelectionValueDate`` both ways); any other namespace stays part of it."""
    return name.removeprefix(f"{{{NAMESPACE}}}")


def parameters_match(route: Route, routing: RoutingInfo) -> bool:
    """Whether the trigger carries every parameter value the route names (a route naming none: always)."""
    carried = {(_parameter_name(name), value.strip()) for name, value in routing.route_parameters}
    return all((_parameter_name(name), value) in carried for name, value in route.parameters)


@dataclass
class _Check:
    """What validation found: errors, or the trigger and its recipients."""

    errors: list[ReceiptError]
    trigger: Trigger | None = None
    recipients: tuple[str, ...] = ()
    data_locked: bool = False


class Router:
    """Validates triggers and carries out transfers; thread-safe, one call of :meth:`process` per trigger."""

    def __init__(self, config: PlatformConfig, home: PlatformHome, journal: Journal, audit: AuditLog) -> None:
        self.config = config
        self.home = home
        self.journal = journal
        self.audit = audit
        self._crash_at = os.environ.get(CRASH_ENV, "")
        self._mutex = threading.Lock()
        #: Held by every mutating SFTP request from its checks to its action, and by the router while it
        #: locks and checks a data file, so a check and the change it allows can never be split by a lock.
        self.gate = threading.RLock()
        self._locked: set[tuple[str, str]] = set()
        self._reserved: set[tuple[str, str]] = set()
        self._receipts: set[tuple[str, str]] = set()
        self._audited: set[str] = set()
        self._writers: Counter[tuple[str, str]] = Counter()
        self._inf_refs = {route.inf_ref for route in config.routes}
        self.warm_up()

    @staticmethod
    def warm_up() -> None:
        """Compile the trigger schema in this thread up front, so the first trigger is not slowed by it."""
        xml_schema()

    # ------------------------------------------------------------------ locks the SFTP server consults

    def is_locked(self, user: str, name: str) -> bool:
        """Whether ``user``'s ``OUT/<name>`` belongs to a transfer in progress."""
        with self._mutex:
            return (user, name) in self._locked

    def claim(self, user: str, name: str) -> bool:
        """Lock a trigger for processing; False when it is already being processed.

        Under the gate: a sender removing its trigger (a receipt wait that timed out) either removes it
        before the claim, and the router then finds nothing to read, or is refused because it is claimed;
        never a removal between the claim and the read, which would route a trigger its sender withdrew.
        """
        with self.gate, self._mutex:
            if (user, name) in self._locked:
                return False
            self._locked.add((user, name))
            return True

    def _lock_data(self, user: str, name: str) -> bool:
        with self._mutex:
            if (user, name) in self._locked:
                return False
            self._locked.add((user, name))
            return True

    def _unlock(self, user: str, *names: str | None) -> None:
        with self._mutex:
            for name in names:
                if name is not None:
                    self._locked.discard((user, name))

    def writing(self, user: str, name: str, delta: int) -> None:
        """The server tells the router about open write handles, so a rescan skips unfinished uploads."""
        with self._mutex:
            self._writers[(user, name)] += delta
            if self._writers[(user, name)] <= 0:
                del self._writers[(user, name)]

    # ------------------------------------------------------------------ entry points

    def pending_triggers(self) -> list[tuple[str, str]]:
        """Claim every trigger lying in an ``OUT/`` that is neither locked nor being uploaded."""
        found = []
        for user in self.config.users:
            try:
                names = sorted(os.listdir(self.home.folder(user.name, OUT)))
            except FileNotFoundError:
                continue
            for name in names:
                if not is_trigger_name(name):
                    continue
                with self._mutex:
                    busy = (user.name, name) in self._writers
                if not busy and self.claim(user.name, name):
                    found.append((user.name, name))
        return found

    def resume(self) -> int:
        """Finish every transfer the journal holds unfinished (call before the server listens)."""
        records = self.journal.unfinished()
        self._audited = self.audit.transfer_ids() if records else set()
        for record in records:
            if record.state != CLEANED:
                self.claim(record.sender, record.trigger_name)
                if record.data_name is not None:
                    self._lock_data(record.sender, record.data_name)
            with self._mutex:
                self._reserved.update((d.recipient, record.data_name or "") for d in record.deliveries)
                self._receipts.add((record.sender, record.receipt_name))
        for record in records:
            self._execute(record)
        self._audited = set()
        return len(records)

    def process(self, user: str, trigger_name: str) -> TransferRecord | None:
        """Handle a claimed trigger end to end; returns the finished transfer, or None if it vanished."""
        try:
            data = self._read_trigger(user, trigger_name)
            if data is None:
                self._unlock(user, trigger_name)
                return None
            record = self._plan(user, trigger_name, data)
        except BaseException:
            self._unlock(user, trigger_name)
            raise
        try:
            self.journal.accept(record)
        except Exception as exc:  # whatever the journal refuses, the sender still gets an answer
            LOGGER.exception("journal refused transfer %s", record.id)
            self._answer_unjournalled(record, exc)
            return record
        self._crash_point("accepted")
        self._execute(record)
        return record

    def _answer_unjournalled(self, record: TransferRecord, exc: Exception) -> None:
        """Turn a transfer the journal could not record into an error receipt, touching no recipient.

        Nothing was delivered yet, so failing it is safe; the trigger is removed so that no rescan retries
        it forever, and every lock is released so a corrected trigger is processed normally.
        """
        detail = f"the transfer could not be recorded: {type(exc).__name__}"
        error = receipt_error(ErrorCode.INTERNAL_ERROR, detail)
        record.receipt_xml = to_xml(TechnicalReceipt.failure(record.id, [error]))
        record.outcome, record.error_codes = "failure", [int(ErrorCode.INTERNAL_ERROR)]
        self._release([d.recipient for d in record.deliveries], record.data_name)
        record.deliveries = []
        (self.home.folder(record.sender, OUT) / record.trigger_name).unlink(missing_ok=True)
        self._unlock(record.sender, record.trigger_name, record.data_name)
        self._write_receipt(record, journalled=False)
        self._audit(record)

    # ------------------------------------------------------------------ validation

    def _read_trigger(self, user: str, name: str) -> bytes | None:
        path = self.home.folder(user, OUT) / name
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
        except (FileNotFoundError, OSError):
            return None
        with os.fdopen(fd, "rb") as file:
            if not stat.S_ISREG(os.fstat(file.fileno()).st_mode):
                return None
            return file.read(MAX_DOCUMENT_BYTES + 1)

    def _plan(self, user: str, trigger_name: str, data: bytes) -> TransferRecord:
        transfer_id = str(uuid.uuid4())
        check = self._check(user, data)
        trigger = check.trigger
        file_name = trigger.file.file_name if trigger is not None else None
        data_name = file_name if check.data_locked else None
        if check.errors:
            self._release(check.recipients, file_name)
            check.recipients = ()
        senders_file_id = trigger.file.senders_file_id if trigger is not None else None
        receipt = (
            TechnicalReceipt.failure(transfer_id, check.errors, senders_file_id)
            if check.errors
            else TechnicalReceipt.success(transfer_id, senders_file_id)
        )
        deliveries = []
        if trigger is not None and not check.errors:
            for recipient in check.recipients:
                file = replace(trigger.file, recipients=(recipient,))
                metadata = FileMetadata(file_transfer_uuid=transfer_id, file=file, content=trigger.content)
                deliveries.append(Delivery(recipient, to_xml(metadata)))
        size = trigger.file.size_in_bytes if trigger is not None else None
        return TransferRecord(
            id=transfer_id,
            sender=user,
            trigger_name=trigger_name,
            data_name=data_name,
            receipt_name=self._reserve_receipt(user, trigger_name, file_name, transfer_id),
            receipt_xml=to_xml(receipt),
            outcome="failure" if check.errors else "success",
            size=size if size is not None and size <= MAX_STORED_SIZE else None,
            error_codes=[error.code for error in check.errors],
            deliveries=deliveries,
        )

    def _reserve_receipt(self, user: str, trigger_name: str, file_name: str | None, transfer_id: str) -> str:
        """Choose a receipt name no earlier receipt and no transfer in flight holds, and reserve it.

        ``<data file>.sftpreceipt`` when free; else ``<trigger stem>.sftpreceipt`` (a second trigger naming
        the same data file), else ``<data file>.<transfer id>.sftpreceipt``, else
        ``<transfer id>.sftpreceipt``.
        """
        stem = trigger_name[: -len(TRIGGER_SUFFIX)]
        stems = (file_name, stem, f"{file_name or stem}.{transfer_id}")
        candidates = [c + RECEIPT_SUFFIX for c in stems if c]
        candidates = [c for c in candidates if len(c.encode("utf-8")) <= MAX_NAME_BYTES]
        folder = self.home.folder(user, IN)
        with self._mutex:
            for candidate in candidates:
                if (user, candidate) not in self._receipts and not os.path.lexists(folder / candidate):
                    self._receipts.add((user, candidate))
                    return candidate
            fallback = transfer_id + RECEIPT_SUFFIX
            self._receipts.add((user, fallback))
            return fallback

    def _check(self, user: str, data: bytes) -> _Check:
        try:
            trigger = read_trigger(data)
        except UnsafeFileName as exc:
            code = (
                ErrorCode.FILE_NAME_UNSAFE
                if (exc.path or "").endswith("FileName")
                else ErrorCode.XML_BAD_VALUE
            )
            if (exc.path or "").endswith("Sender"):
                code = ErrorCode.SENDER_NOT_UPLOADER
            return _Check([receipt_error(code, str(exc))])
        except ProtocolError as exc:
            return _Check([receipt_error(_READER_CODES.get(exc.reason, ErrorCode.XML_SCHEMA), str(exc))])
        except Exception as exc:  # a reader bug must not leave a trigger without an answer
            LOGGER.exception("reading trigger failed unexpectedly")
            return _Check([receipt_error(ErrorCode.INTERNAL_ERROR, type(exc).__name__)])
        check = _Check([], trigger)
        if trigger.file.sender != user:
            check.errors.append(
                receipt_error(
                    ErrorCode.SENDER_NOT_UPLOADER,
                    f"Sender {trigger.file.sender!r} is not the uploading SFTP user {user!r}",
                )
            )
        recipients = self._check_recipients(user, trigger, check.errors)
        self._check_data_file(user, trigger, check)
        if not check.errors:
            self._reserve(trigger.file.file_name, recipients, check)
        return check

    def _check_recipients(self, user: str, trigger: Trigger, errors: list[ReceiptError]) -> list[str]:
        """The SFTP users the trigger delivers to, by whichever pattern it uses; errors when none is clear."""
        named = list(dict.fromkeys(trigger.file.recipients))
        marker = ROUTING_RECIPIENT in named
        users = [name for name in named if name != ROUTING_RECIPIENT]
        routing = trigger.content.routing
        if marker and users:
            listed = ", ".join(repr(u) for u in users)
            detail = f"Recipients holds {ROUTING_RECIPIENT} and SFTP user(s) {listed}; use one pattern"
            errors.append(receipt_error(ErrorCode.ROUTING_MARKER_MIXED, detail))
            return []
        if marker and routing is None:
            detail = f"Recipients is {ROUTING_RECIPIENT} but there is no SFTPDynamicRoutingInfo"
            errors.append(receipt_error(ErrorCode.ROUTING_MARKER_WITHOUT_INFO, detail))
            return []
        if routing is not None and not marker:
            listed = ", ".join(repr(u) for u in users)
            detail = f"SFTPDynamicRoutingInfo is given but Recipients names {listed}, not {ROUTING_RECIPIENT}"
            errors.append(receipt_error(ErrorCode.ROUTING_INFO_WITHOUT_MARKER, detail))
            return []
        if routing is None:
            return self._check_simple(user, users, errors)
        routes = self._check_routing(user, routing, errors)
        return list(dict.fromkeys(route.sftp_username for route in routes))

    def _check_simple(self, user: str, recipients: list[str], errors: list[ReceiptError]) -> list[str]:
        """Simple pattern: every named user must exist and a simple route must let ``user`` deliver to it."""
        for recipient in recipients:
            if self.config.user(recipient) is None:
                detail = f"Recipients names {recipient!r}, which is not a registered SFTP user"
                errors.append(receipt_error(ErrorCode.SIMPLE_RECIPIENT_UNKNOWN, detail))
            elif not self.config.may_deliver_simply(user, recipient):
                detail = f"SFTP user {user!r} may not deliver to {recipient!r} (no simple route)"
                errors.append(receipt_error(ErrorCode.SIMPLE_RECIPIENT_NOT_PERMITTED, detail))
        return [] if errors else recipients

    def _check_routing(self, user: str, routing: RoutingInfo, errors: list[ReceiptError]) -> list[Route]:
        """Dynamic routing: the sender's it-system is its own, and at least one route matches."""
        system = self.config.it_system(routing.sender_it_system)
        if system is None:
            errors.append(
                receipt_error(
                    ErrorCode.SENDER_IT_SYSTEM_UNKNOWN,
                    f"SenderIt-system {routing.sender_it_system} is unknown",
                )
            )
        elif system.sftp_user != user:
            errors.append(
                receipt_error(
                    ErrorCode.SENDER_IT_SYSTEM_NOT_OWNED,
                    f"SenderIt-system {routing.sender_it_system} does not belong to SFTP user {user!r}",
                )
            )
        if routing.inf_ref not in self._inf_refs:
            errors.append(receipt_error(ErrorCode.INF_REF_UNKNOWN, f"InfRef {routing.inf_ref!r} is unknown"))
            return []
        candidates = matching_routes(self.config.routes, routing, parameters=False)
        routes = [route for route in candidates if parameters_match(route, routing)]
        if not candidates:
            wanted = routing.recipient_it_system or "any"
            errors.append(
                receipt_error(
                    ErrorCode.NO_ROUTE,
                    f"no route for InfRef {routing.inf_ref!r} from {routing.sender_authority}"
                    f"/{routing.sender_it_system} to {routing.recipient_authority}/{wanted}",
                )
            )
        elif not routes:
            carried = ", ".join(f"{n}={v!r}" for n, v in routing.route_parameters) or "none"
            errors.append(
                receipt_error(
                    ErrorCode.NO_ROUTE_FOR_PARAMETERS,
                    f"{len(candidates)} route(s) match InfRef {routing.inf_ref!r}, authorities and"
                    f" it-systems, but none the trigger's route parameters ({carried})",
                )
            )
        return routes

    def _check_data_file(self, user: str, trigger: Trigger, check: _Check) -> None:
        name = trigger.file.file_name
        if len((name + RECEIPT_SUFFIX).encode("utf-8")) > MAX_NAME_BYTES:
            check.errors.append(
                receipt_error(ErrorCode.FILE_NAME_UNSAFE, f"FileName is too long to add {RECEIPT_SUFFIX}")
            )
            return
        # Lock and check under the gate: no SFTP request is between its own check and its action now, and
        # none can start one on this name until the transfer releases it (see the module docstring).
        with self.gate:
            if not self._lock_data(user, name):
                check.errors.append(
                    receipt_error(ErrorCode.FILE_IN_USE, f"{name!r} is in use by another transfer")
                )
                return
            check.data_locked = True
            self._check_locked_data_file(user, name, trigger, check)

    def _check_locked_data_file(self, user: str, name: str, trigger: Trigger, check: _Check) -> None:
        try:
            info = os.lstat(self.home.folder(user, OUT) / name)
        except FileNotFoundError:
            check.errors.append(receipt_error(ErrorCode.FILE_MISSING, f"{name!r} is not in OUT/"))
            return
        if not stat.S_ISREG(info.st_mode):
            check.errors.append(receipt_error(ErrorCode.FILE_NOT_REGULAR, f"{name!r} is not a regular file"))
        elif info.st_nlink != 1:
            check.errors.append(
                receipt_error(ErrorCode.FILE_HAS_LINKS, f"{name!r} has {info.st_nlink} names, not one")
            )
        elif info.st_size != trigger.file.size_in_bytes:
            check.errors.append(
                receipt_error(
                    ErrorCode.FILE_SIZE_MISMATCH,
                    f"{name!r} has {info.st_size} bytes, SizeInBytes says {trigger.file.size_in_bytes}",
                )
            )

    def _reserve(self, name: str, recipients: list[str], check: _Check) -> None:
        with self._mutex:
            for recipient in recipients:
                folder = self.home.folder(recipient, IN)
                taken = (recipient, name) in self._reserved or any(
                    os.path.lexists(folder / candidate) for candidate in (name, name + METADATA_SUFFIX)
                )
                if taken:
                    check.errors.append(
                        receipt_error(
                            ErrorCode.RECIPIENT_HOLDS_FILE, f"recipient {recipient!r} already holds {name!r}"
                        )
                    )
            if not check.errors:
                self._reserved.update((recipient, name) for recipient in recipients)
                check.recipients = tuple(recipients)

    def _release(self, recipients: Iterable[str], name: str | None) -> None:
        with self._mutex:
            for recipient in recipients:
                self._reserved.discard((recipient, name or ""))

    # ------------------------------------------------------------------ execution (idempotent, resumable)

    def _execute(self, record: TransferRecord) -> None:
        if record.state not in (CLEANED, DONE):
            if record.outcome == "success":
                self._deliver_all(record)
            out = self.home.folder(record.sender, OUT)
            (out / record.trigger_name).unlink(missing_ok=True)
            if record.outcome == "success" and record.data_name is not None:
                (out / record.data_name).unlink(missing_ok=True)
            self.journal.set_state(record.id, CLEANED)
            self._crash_point("cleaned")
            record.state = CLEANED
        self._unlock(record.sender, record.trigger_name, record.data_name)
        self._release([d.recipient for d in record.deliveries], record.data_name)
        self._write_receipt(record, journalled=True)
        self._crash_point("receipt")
        if record.id not in self._audited:
            self._audit(record)
        self._crash_point("audited")
        self.journal.set_state(record.id, DONE)
        record.state = DONE

    def _write_receipt(self, record: TransferRecord, *, journalled: bool) -> None:
        """Write the receipt without replacing any file; move to the transfer-id name if the name was taken.

        The name was reserved at planning, so it is taken only if something outside the router put a file
        there (or the sender's folder was edited by hand); the journal learns the new name before it is
        written, so a replay after a crash writes the receipt once, under one name.
        """
        folder = self.home.folder(record.sender, IN)
        try:
            if not self.home.write_new(folder / record.receipt_name, record.receipt_xml):
                old = record.receipt_name
                record.receipt_name = record.id + RECEIPT_SUFFIX
                if journalled:
                    self.journal.set_receipt_name(record.id, record.receipt_name)
                with self._mutex:
                    self._receipts.discard((record.sender, old))
                    self._receipts.add((record.sender, record.receipt_name))
                if not self.home.write_new(folder / record.receipt_name, record.receipt_xml):
                    raise FileExistsError(f"{record.sender}/IN/{record.receipt_name} holds another document")
        finally:
            with self._mutex:
                self._receipts.discard((record.sender, record.receipt_name))

    def _audit(self, record: TransferRecord) -> None:
        self.audit.transfer(
            file_transfer_uuid=record.id,
            sender=record.sender,
            recipients=[d.recipient for d in record.deliveries],
            size=record.size,
            outcome=record.outcome,
            error_codes=record.error_codes,
            trigger=record.trigger_name,
        )

    def _deliver_all(self, record: TransferRecord) -> None:
        assert record.data_name is not None
        source = self.home.folder(record.sender, OUT) / record.data_name
        try:
            for delivery in record.deliveries:
                if not delivery.delivered:
                    self._deliver(record, delivery, source)
        except OSError as exc:
            self._roll_back(record, source, exc)

    def _deliver(self, record: TransferRecord, delivery: Delivery, source: Path) -> None:
        assert record.data_name is not None
        target = self.home.folder(delivery.recipient, IN) / record.data_name
        try:
            os.link(source, target, follow_symlinks=False)
        except FileExistsError:
            if not os.path.samefile(source, target):
                raise
        # The link shares the sender's times; the recipient's retention clock starts now, at delivery.
        os.utime(target, follow_symlinks=False)
        self._crash_point("linked")
        self.home.write_atomic(target.with_name(target.name + METADATA_SUFFIX), delivery.metadata_xml)
        self._crash_point("metadata")
        self.journal.delivered(record.id, delivery.recipient)
        delivery.delivered = True
        self._crash_point("delivered")

    def _roll_back(self, record: TransferRecord, source: Path, exc: OSError) -> None:
        assert record.data_name is not None
        for delivery in record.deliveries:
            target = self.home.folder(delivery.recipient, IN) / record.data_name
            metadata = target.with_name(target.name + METADATA_SUFFIX)
            try:
                ours = os.path.samefile(source, target)
            except OSError:
                ours = False
            if ours:
                target.unlink(missing_ok=True)
                metadata.unlink(missing_ok=True)
        code = (
            ErrorCode.RECIPIENT_HOLDS_FILE if isinstance(exc, FileExistsError) else ErrorCode.DELIVERY_FAILED
        )
        error = receipt_error(code, f"delivery failed: {exc.strerror or type(exc).__name__}")
        record.receipt_xml = to_xml(TechnicalReceipt.failure(record.id, [error]))
        record.outcome, record.error_codes = "failure", [int(code)]
        self.journal.fail(record.id, record.receipt_xml, record.error_codes)
        self._release([d.recipient for d in record.deliveries], record.data_name)
        record.deliveries = []

    def _crash_point(self, step: str) -> None:
        if self._crash_at == step:
            os._exit(137)
