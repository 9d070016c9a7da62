"""The senders' configuration (``senders.yaml``) and the kommune list (``kommuner.yaml``) as typed objects.

The DAG file builds one DAG per sender at every parse, so both files are read once per process and checked
strictly: an unknown key, a malformed UUID or a bad duration stops the parse with the file and the entry
named, instead of sending a kommune's data to the wrong place a month later. Tasks get these frozen objects
by value (or re-read them by code), never raw YAML.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from sf1630.protocol import ProtocolError, cvr_number
from sf1630.settings import config_dir

_DURATION = re.compile(r"([0-9]+)([smhd])")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}
_CODE = re.compile(r"[A-Z][A-Z0-9]{0,15}")
_CONN_ID = re.compile(r"[A-Za-z0-9_]{1,200}")
_KOMMUNEKODE = re.compile(r"[0-9]{3}")

_SETTING_KEYS = frozenset(
    {
        "owner",
        "schedule",
        "timezone",
        "start_date",
        "retries",
        "retry_delay",
        "max_retry_delay",
        "receipt_timeout",
        "receipt_poll",
        "receipt_quick_look",
        "deadline",
        "housekeeping_grace",
        "ledger_conn_id",
        "smtp_conn_id",
        "on_call_email",
        "max_active_deliveries",
    }
)
_SENDER_KEYS = frozenset(
    {"code", "name", "it_system", "sftp_user", "sftp_conn_id", "source_conn_id", "dataspec"}
)


class SenderConfigError(ValueError):
    """The senders' or kommuner's configuration is wrong; the message names the file and the entry."""


@dataclass(frozen=True)
class LisSystem:
    """One LIS system a kommune has registered: a recipient of one file per sender per month."""

    name: str
    sftp_user: str
    it_system: uuid.UUID


@dataclass(frozen=True)
class Kommune:
    """A kommune: its data goes out under its own CVR (SenderAuthority = RecipientAuthority)."""

    name: str
    kode: str
    cvr: str
    cvr_placeholder: bool
    lis_systems: tuple[LisSystem, ...]


@dataclass(frozen=True)
class SenderSystem:
    """One fagsystem that delivers an extract to every kommune's LIS systems, with its operating settings."""

    code: str
    name: str
    it_system: uuid.UUID
    sftp_user: str
    sftp_conn_id: str
    source_conn_id: str
    ledger_conn_id: str
    dataspec: str
    owner: str
    schedule: str
    timezone: str
    start_date: date
    retries: int
    retry_delay: timedelta
    max_retry_delay: timedelta
    receipt_timeout: timedelta
    receipt_poll: timedelta
    receipt_quick_look: timedelta
    deadline: timedelta
    housekeeping_grace: timedelta
    smtp_conn_id: str | None
    on_call_email: str | None
    max_active_deliveries: int

    @property
    def dag_id(self) -> str:
        """The id of this sender's DAG."""
        return f"sf1630_sender_{self.code.lower()}"


def parse_duration(value: object, where: str) -> timedelta:
    """``"30s"``, ``"5m"``, ``"6h"`` or ``"2d"`` as a timedelta; anything else raises SenderConfigError."""
    match = _DURATION.fullmatch(value.strip()) if isinstance(value, str) else None
    if match is None:
        raise SenderConfigError(f"{where}: {value!r} is not a duration like 30s, 5m, 6h or 2d")
    return timedelta(**{_UNITS[match[2]]: int(match[1])})


def _mapping(
    value: object, where: str, required: frozenset[str], allowed: frozenset[str]
) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise SenderConfigError(f"{where}: must be a mapping")
    unknown = sorted(str(key) for key in value if key not in allowed)
    if unknown:
        raise SenderConfigError(f"{where}: unknown key(s) {', '.join(unknown)}")
    missing = sorted(required - set(value))
    if missing:
        raise SenderConfigError(f"{where}: missing key(s) {', '.join(missing)}")
    return value


def _text(value: object, where: str, pattern: re.Pattern[str] | None = None) -> str:
    if not isinstance(value, str) or not value.strip():
        raise SenderConfigError(f"{where}: must be a non-empty string")
    if pattern is not None and not pattern.fullmatch(value):
        raise SenderConfigError(f"{where}: {value!r} must match {pattern.pattern}")
    return value


def _uuid(value: object, where: str) -> uuid.UUID:
    try:
        return uuid.UUID(str(value))
    except ValueError:
        raise SenderConfigError(f"{where}: {value!r} is not a UUID") from None


def _positive_int(value: object, where: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise SenderConfigError(f"{where}: {value!r} must be an integer >= {minimum}")
    return value


def _read_yaml(path: Path) -> Any:
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise SenderConfigError(f"{path}: cannot read: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise SenderConfigError(f"{path}: not valid YAML: {exc}") from None


def _lis_system(raw: object, where: str) -> LisSystem:
    item = _mapping(
        raw,
        where,
        frozenset({"name", "sftp_user", "it_system"}),
        frozenset({"name", "sftp_user", "it_system"}),
    )
    return LisSystem(
        name=_text(item["name"], f"{where}: name", _CODE),
        sftp_user=_text(item["sftp_user"], f"{where}: sftp_user"),
        it_system=_uuid(item["it_system"], f"{where}: it_system"),
    )


def _kommune(raw: object, where: str) -> Kommune:
    keys = frozenset({"name", "kode", "cvr", "cvr_placeholder", "lis_systems"})
    item = _mapping(raw, where, frozenset({"name", "kode", "cvr", "lis_systems"}), keys)
    name = _text(item["name"], f"{where}: name")
    where = f"{where} ({name})"
    try:
        cvr = cvr_number(str(item["cvr"]))
    except ProtocolError:
        raise SenderConfigError(f"{where}: cvr {item['cvr']!r} is not an 8-digit CVR number") from None
    systems_raw = item["lis_systems"]
    if not isinstance(systems_raw, list) or not systems_raw:
        raise SenderConfigError(f"{where}: lis_systems must be a non-empty list")
    systems = tuple(_lis_system(s, f"{where}: lis_systems[{i}]") for i, s in enumerate(systems_raw))
    if len({s.name for s in systems}) != len(systems):
        raise SenderConfigError(f"{where}: duplicate LIS system names")
    return Kommune(
        name=name,
        kode=_text(item["kode"], f"{where}: kode", _KOMMUNEKODE),
        cvr=cvr,
        cvr_placeholder=bool(item.get("cvr_placeholder", False)),
        lis_systems=systems,
    )


def parse_kommuner(raw: object, source: str) -> tuple[Kommune, ...]:
    """The kommuner of a parsed ``kommuner.yaml`` document, checked for unique codes and CVRs."""
    top = _mapping(raw, source, frozenset({"kommuner"}), frozenset({"kommuner"}))
    items = top["kommuner"]
    if not isinstance(items, list) or not items:
        raise SenderConfigError(f"{source}: kommuner must be a non-empty list")
    kommuner = tuple(_kommune(k, f"{source}: kommuner[{i}]") for i, k in enumerate(items))
    for what in ("kode", "cvr"):
        values = [getattr(k, what) for k in kommuner]
        if len(set(values)) != len(values):
            raise SenderConfigError(f"{source}: duplicate kommune {what}")
    users = [s.sftp_user for k in kommuner for s in k.lis_systems]
    if len(set(users)) != len(users):
        raise SenderConfigError(f"{source}: an SFTP user is shared by two LIS systems")
    return kommuner


def _sender(raw: object, defaults: Mapping[str, Any], where: str) -> SenderSystem:
    item = _mapping(raw, where, _SENDER_KEYS, _SENDER_KEYS | _SETTING_KEYS)
    code = _text(item["code"], f"{where}: code", _CODE)
    where = f"{where} ({code})"
    merged = {**defaults, **item}
    missing = sorted(_SETTING_KEYS - {"smtp_conn_id", "on_call_email"} - set(merged))
    if missing:
        raise SenderConfigError(f"{where}: missing setting(s) {', '.join(missing)}")
    try:
        start = date.fromisoformat(str(merged["start_date"]))
    except ValueError:
        raise SenderConfigError(f"{where}: start_date {merged['start_date']!r} is not YYYY-MM-DD") from None
    optional = {key: merged.get(key) for key in ("smtp_conn_id", "on_call_email")}
    return SenderSystem(
        code=code,
        name=_text(item["name"], f"{where}: name"),
        it_system=_uuid(item["it_system"], f"{where}: it_system"),
        sftp_user=_text(item["sftp_user"], f"{where}: sftp_user"),
        sftp_conn_id=_text(item["sftp_conn_id"], f"{where}: sftp_conn_id", _CONN_ID),
        source_conn_id=_text(item["source_conn_id"], f"{where}: source_conn_id", _CONN_ID),
        ledger_conn_id=_text(merged["ledger_conn_id"], f"{where}: ledger_conn_id", _CONN_ID),
        dataspec=_text(item["dataspec"], f"{where}: dataspec", re.compile(r"[a-z0-9_]+")),
        owner=_text(merged["owner"], f"{where}: owner"),
        schedule=_text(merged["schedule"], f"{where}: schedule"),
        timezone=_text(merged["timezone"], f"{where}: timezone"),
        start_date=start,
        retries=_positive_int(merged["retries"], f"{where}: retries", 0),
        retry_delay=parse_duration(merged["retry_delay"], f"{where}: retry_delay"),
        max_retry_delay=parse_duration(merged["max_retry_delay"], f"{where}: max_retry_delay"),
        receipt_timeout=parse_duration(merged["receipt_timeout"], f"{where}: receipt_timeout"),
        receipt_poll=parse_duration(merged["receipt_poll"], f"{where}: receipt_poll"),
        receipt_quick_look=parse_duration(merged["receipt_quick_look"], f"{where}: receipt_quick_look"),
        deadline=parse_duration(merged["deadline"], f"{where}: deadline"),
        housekeeping_grace=parse_duration(merged["housekeeping_grace"], f"{where}: housekeeping_grace"),
        smtp_conn_id=(
            _text(optional["smtp_conn_id"], f"{where}: smtp_conn_id", _CONN_ID)
            if optional["smtp_conn_id"]
            else None
        ),
        on_call_email=_text(optional["on_call_email"], f"{where}: on_call_email")
        if optional["on_call_email"]
        else None,
        max_active_deliveries=_positive_int(
            merged["max_active_deliveries"], f"{where}: max_active_deliveries", 1
        ),
    )


def parse_senders(raw: object, source: str) -> tuple[SenderSystem, ...]:
    """The senders of a parsed ``senders.yaml`` document, defaults applied, codes and UUIDs unique."""
    top = _mapping(raw, source, frozenset({"senders"}), frozenset({"defaults", "senders"}))
    defaults = _mapping(top.get("defaults") or {}, f"{source}: defaults", frozenset(), _SETTING_KEYS)
    items = top["senders"]
    if not isinstance(items, list) or not items:
        raise SenderConfigError(f"{source}: senders must be a non-empty list")
    senders = tuple(_sender(s, defaults, f"{source}: senders[{i}]") for i, s in enumerate(items))
    for what in ("code", "it_system", "sftp_user"):
        values = [getattr(s, what) for s in senders]
        if len(set(values)) != len(values):
            raise SenderConfigError(f"{source}: duplicate sender {what}")
    return senders


@cache
def _load_kommuner(path: Path) -> tuple[Kommune, ...]:
    return parse_kommuner(_read_yaml(path), str(path))


@cache
def _load_senders(path: Path) -> tuple[SenderSystem, ...]:
    return parse_senders(_read_yaml(path), str(path))


def load_kommuner(base: Path | None = None) -> tuple[Kommune, ...]:
    """The kommuner of ``<base>/kommuner.yaml`` (``config_dir()`` by default), read once per process."""
    return _load_kommuner(((base or config_dir()) / "kommuner.yaml").resolve())


def load_senders(base: Path | None = None) -> tuple[SenderSystem, ...]:
    """The senders of ``<base>/senders.yaml`` (``config_dir()`` by default), read once per process."""
    return _load_senders(((base or config_dir()) / "senders.yaml").resolve())


def load_sender(code: str, base: Path | None = None) -> SenderSystem:
    """The sender with ``code``; raises SenderConfigError naming the known codes if there is none."""
    senders = load_senders(base)
    for sender in senders:
        if sender.code == code:
            return sender
    raise SenderConfigError(f"no sender {code!r} (known: {', '.join(s.code for s in senders)})")
