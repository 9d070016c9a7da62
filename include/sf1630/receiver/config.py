"""The receivers' static configuration: one :class:`LisSystem` per LIS system of ``kommuner.yaml``.

The DAG file builds 122 DAGs from this at every parse, so it is read once per process (cached), validated
strictly (an unknown key or a bad duration stops the parse with the file and the key named) and turned into
plain frozen dataclasses that the tasks receive by value, never re-reading files at run time.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from sf1630.settings import config_dir

_DURATION = re.compile(r"^\s*(\d+)\s*([smhd])\s*$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}
_SYSTEM_KEYS = frozenset(
    {
        "sftp_conn_id",
        "warehouse_conn_id",
        "inbox",
        "schedule",
        "timezone",
        "wait_timeout",
        "poke_interval",
        "grace",
        "quarantine_dir",
        "staging_dir",
        "deadline_day",
        "run_deadline",
        "owner",
        "retries",
        "retry_delay",
        "max_retry_delay",
        "accepts",
        "validation_engine",
    }
)
VALIDATION_ENGINES = ("project", "gx")
_SENDER_KEYS = frozenset({"spec", "sftp_user", "contact"})


class ReceiverConfigError(ValueError):
    """The receivers' configuration is inconsistent; the message names the file and the entry."""


def connection_slug(user: str) -> str:
    """``user`` as it goes into a connection id: lower case, anything but letters and digits as ``_``.

    Airflow reads a connection from ``AIRFLOW_CONN_<ID upper-cased>``; SFTP users such as
    ``IKAST-BRANDE_LIS01_SIMPEL`` would otherwise give variable names a shell cannot ``export``.
    """
    return re.sub(r"[^a-z0-9]", "_", user.lower())


def parse_duration(value: object, *, where: str) -> timedelta:
    """Parse ``"30s"``, ``"5m"``, ``"6h"`` or ``"2d"`` (or a number of seconds) into a timedelta."""
    if isinstance(value, int) and not isinstance(value, bool):
        return timedelta(seconds=value)
    match = _DURATION.match(str(value))
    if not match:
        raise ReceiverConfigError(f"{where}: {value!r} is not a duration like 30s, 5m, 6h or 2d")
    return timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})


@dataclass(frozen=True)
class SenderSource:
    """A sender whose extracts a LIS accepts: file-name code, data spec, SFTP user, alert contact."""

    code: str
    spec: str
    sftp_user: str
    contact: str


@dataclass(frozen=True)
class LisSystem:
    """Everything a receiver DAG needs about one LIS system, resolved from defaults and overrides."""

    sftp_user: str
    name: str
    kommune: str
    kommunekode: str
    cvr: str
    it_system: str
    sftp_conn_id: str
    warehouse_conn_id: str
    inbox: str
    schedule: str
    timezone: str
    wait_timeout: timedelta
    poke_interval: timedelta
    grace: timedelta
    quarantine_dir: str
    staging_dir: str
    deadline_day: int
    run_deadline: timedelta
    owner: str
    retries: int
    retry_delay: timedelta
    max_retry_delay: timedelta
    senders: tuple[SenderSource, ...]
    validation_engine: str = "project"

    @property
    def dag_id(self) -> str:
        return f"sf1630_receiver_{self.sftp_user.lower()}"

    def sender(self, code: str) -> SenderSource | None:
        """The accepted sender with file-name code ``code``, or None when this LIS does not accept it."""
        return next((s for s in self.senders if s.code == code), None)


def _mapping(value: object, where: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise ReceiverConfigError(f"{where}: expected a mapping")
    return value


def _check_keys(entry: Mapping[str, Any], allowed: frozenset[str], where: str) -> None:
    unknown = sorted(set(entry) - allowed)
    if unknown:
        raise ReceiverConfigError(f"{where}: unknown key(s) {', '.join(unknown)}")


def _senders(raw: object, where: str) -> dict[str, SenderSource]:
    result: dict[str, SenderSource] = {}
    for code, entry in _mapping(raw, where).items():
        here = f"{where}.{code}"
        body = _mapping(entry, here)
        _check_keys(body, _SENDER_KEYS, here)
        missing = sorted(_SENDER_KEYS - set(body))
        if missing:
            raise ReceiverConfigError(f"{here}: missing key(s) {', '.join(missing)}")
        result[str(code)] = SenderSource(
            code=str(code),
            spec=str(body["spec"]),
            sftp_user=str(body["sftp_user"]),
            contact=str(body["contact"]),
        )
    return result


def _system(
    lis: Mapping[str, Any],
    kommune: Mapping[str, Any],
    settings: Mapping[str, Any],
    senders: dict[str, SenderSource],
    where: str,
) -> LisSystem:
    user = str(lis["sftp_user"])
    accepts = settings["accepts"]
    unknown = [code for code in accepts if code not in senders]
    if unknown:
        raise ReceiverConfigError(f"{where}: accepts unknown sender(s) {', '.join(map(str, unknown))}")
    engine = str(settings["validation_engine"])
    if engine not in VALIDATION_ENGINES:
        raise ReceiverConfigError(f"{where}: validation_engine must be project or gx, got {engine!r}")
    deadline_day = int(settings["deadline_day"])
    if not 1 <= deadline_day <= 28:
        raise ReceiverConfigError(f"{where}: deadline_day must be 1..28, got {deadline_day}")
    return LisSystem(
        sftp_user=user,
        name=str(lis["name"]),
        kommune=str(kommune["name"]),
        kommunekode=str(kommune["kode"]),
        cvr=str(kommune["cvr"]),
        it_system=str(lis["it_system"]),
        sftp_conn_id=str(settings["sftp_conn_id"]).format(user=connection_slug(user)),
        warehouse_conn_id=str(settings["warehouse_conn_id"]).format(user=connection_slug(user)),
        inbox=str(settings["inbox"]),
        schedule=str(settings["schedule"]),
        timezone=str(settings["timezone"]),
        wait_timeout=parse_duration(settings["wait_timeout"], where=f"{where}.wait_timeout"),
        poke_interval=parse_duration(settings["poke_interval"], where=f"{where}.poke_interval"),
        grace=parse_duration(settings["grace"], where=f"{where}.grace"),
        quarantine_dir=str(settings["quarantine_dir"] or ""),
        staging_dir=str(settings["staging_dir"] or ""),
        deadline_day=deadline_day,
        run_deadline=parse_duration(settings["run_deadline"], where=f"{where}.run_deadline"),
        owner=str(settings["owner"]),
        retries=int(settings["retries"]),
        retry_delay=parse_duration(settings["retry_delay"], where=f"{where}.retry_delay"),
        max_retry_delay=parse_duration(settings["max_retry_delay"], where=f"{where}.max_retry_delay"),
        senders=tuple(senders[str(code)] for code in accepts),
        validation_engine=engine,
    )


def build_systems(
    receivers: Mapping[str, Any], kommuner: Mapping[str, Any], *, source: str
) -> tuple[LisSystem, ...]:
    """Resolve every LIS system of ``kommuner`` against the receivers' defaults, senders and overrides."""
    _check_keys(receivers, frozenset({"defaults", "senders", "overrides"}), source)
    defaults = dict(_mapping(receivers.get("defaults"), f"{source}: defaults"))
    _check_keys(defaults, _SYSTEM_KEYS, f"{source}: defaults")
    missing = sorted(_SYSTEM_KEYS - set(defaults))
    if missing:
        raise ReceiverConfigError(f"{source}: defaults: missing key(s) {', '.join(missing)}")
    senders = _senders(receivers.get("senders"), f"{source}: senders")
    overrides = _mapping(receivers.get("overrides") or {}, f"{source}: overrides")
    systems: list[LisSystem] = []
    for kommune in kommuner.get("kommuner", []):
        for lis in kommune.get("lis_systems", []):
            user = str(lis["sftp_user"])
            override = _mapping(overrides.get(user, {}), f"{source}: overrides.{user}")
            _check_keys(override, _SYSTEM_KEYS, f"{source}: overrides.{user}")
            systems.append(_system(lis, kommune, {**defaults, **override}, senders, f"{source}: {user}"))
    known = {s.sftp_user for s in systems}
    stray = sorted(set(overrides) - known)
    if stray:
        raise ReceiverConfigError(f"{source}: overrides for unknown LIS system(s) {', '.join(stray)}")
    return tuple(systems)


def _read_yaml(path: Path) -> Mapping[str, Any]:
    with path.open(encoding="utf-8") as handle:
        return _mapping(yaml.safe_load(handle), str(path))


def lis_systems(folder: Path | None = None) -> tuple[LisSystem, ...]:
    """All LIS systems from ``receivers.yaml`` and ``kommuner.yaml`` in ``folder`` (read once per process)."""
    return _systems_in((folder or config_dir()).resolve())


@cache
def _systems_in(folder: Path) -> tuple[LisSystem, ...]:
    path = folder / "receivers.yaml"
    return build_systems(_read_yaml(path), _read_yaml(folder / "kommuner.yaml"), source=str(path))


def lis_system(sftp_user: str, folder: Path | None = None) -> LisSystem:
    """The LIS system whose SFTP user is ``sftp_user``."""
    for system in lis_systems(folder):
        if system.sftp_user == sftp_user:
            return system
    raise KeyError(f"no LIS system with SFTP user {sftp_user!r}")
