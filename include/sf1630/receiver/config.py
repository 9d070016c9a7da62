"""The receivers' own configuration (``receivers.yaml``) resolved against the registry: one :class:`Receiver`
per LIS system.

Who the LIS systems are and which kommune each belongs to comes from the registry
(:mod:`sf1630.registry`); this file holds only what is the receivers' own: their operating settings
(``defaults``, with per-system ``overrides`` keyed by SFTP user) and whom to contact about each sender's
extract (``contacts``). Read once per process and strictly, like every configuration file.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, StringConstraints, model_validator

from sf1630.config import (
    ConnId,
    Duration,
    Located,
    Model,
    RunSettings,
    Text,
    read_yaml,
    validate,
)
from sf1630.registry import (
    Code,
    Kommune,
    LisSystem,
    SftpUser,
    check_distinct,
    contact_or_unknown,
    load_registry,
    read_kommuner,
)
from sf1630.settings import config_dir

#: The LIS side's configuration file; a folder holding it is a receiver deployment.
RECEIVERS_FILE = "receivers.yaml"


def connection_slug(user: str) -> str:
    """``user`` as it goes into a connection id: lower case, anything but letters and digits as ``_``.

    Airflow reads a connection from ``AIRFLOW_CONN_<ID upper-cased>``; SFTP users such as
    ``IKAST-BRANDE_LIS01_SIMPEL`` would otherwise give variable names a shell cannot ``export``.
    """
    return re.sub(r"[^a-z0-9]", "_", user.lower())


#: The receiver DAG's mapped task that loads one delivery; its rendered map index is the delivery label.
LOAD_TASK = "load"


class ReceiverSettings(RunSettings):
    """How one LIS system's receiver operates; ``{user}`` in a connection id is its connection slug."""

    sftp_conn_id: ConnId
    warehouse_conn_id: ConnId
    inbox: Text
    wait_timeout: Duration
    poke_interval: Duration
    grace: Duration
    storage: str = ""
    storage_conn_id: str = ""
    quarantine_keep: Duration
    deadline_day: Annotated[int, Field(ge=1, le=28)]
    run_deadline: Duration
    accepts: Annotated[tuple[Code, ...], Field(min_length=1)]


class AcceptedSender(Model):
    """A sender system as a LIS sees it: whose files it takes, by which data spec, and whom to call."""

    code: Code
    name: Text
    sftp_user: SftpUser
    dataspec: Annotated[str, StringConstraints(pattern=r"^[a-z0-9_]+$")]
    contact: Text


class _ReceiversFile(Model):
    defaults: ReceiverSettings
    kommuner: Annotated[tuple[Kommune, ...], Field(min_length=1)] | None = None  # the LIS team's own
    senders: Annotated[tuple[AcceptedSender, ...], Field(min_length=1)] | None = None
    overrides: dict[str, dict[str, Any]] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _consistent(self) -> _ReceiversFile:
        if self.kommuner is not None:
            check_distinct(self.kommuner)
        for what in ("code", "sftp_user"):
            seen = [getattr(s, what) for s in self.senders or ()]
            if len(seen) != len(set(seen)):
                raise ValueError(f"senders: a sender {what} appears twice")
        return self


@dataclass(frozen=True)
class Receiver:
    """Everything a receiver DAG needs about one LIS system: who it is, how it runs, what it accepts."""

    kommune: Kommune
    lis: LisSystem
    settings: ReceiverSettings
    accepted: tuple[AcceptedSender, ...]

    @property
    def sftp_user(self) -> str:
        """The LIS system's SFTP user (its folders on the platform)."""
        return self.lis.user

    @property
    def dag_id(self) -> str:
        """The id of the DAG that loads what arrives in IN/ (:data:`LOAD_TASK` loads one delivery)."""
        return f"sf1630_receiver_{self.sftp_user.lower()}"

    @property
    def completeness_dag_id(self) -> str:
        """The id of the monthly completeness DAG."""
        return f"sf1630_completeness_{self.sftp_user.lower()}"

    @property
    def sftp_conn_id(self) -> str:
        """The Airflow connection to Serviceplatformen as this LIS system's SFTP user."""
        return self.settings.sftp_conn_id.format(user=connection_slug(self.sftp_user))

    @property
    def warehouse_conn_id(self) -> str:
        """The Airflow connection to this LIS system's warehouse."""
        return self.settings.warehouse_conn_id.format(user=connection_slug(self.sftp_user))

    def sender(self, code: str) -> AcceptedSender | None:
        """The accepted sender with file-name code ``code``, or None when this LIS does not accept it."""
        return next((s for s in self.accepted if s.code == code), None)

    def contact(self, code: str | None) -> str:
        """Whom to contact about sender ``code``'s extract (``None``: the sender is not known)."""
        sender = self.sender(code) if code else None
        return contact_or_unknown(sender.contact if sender is not None else None)


def _senders(config: _ReceiversFile, folder: Path) -> tuple[AcceptedSender, ...]:
    """The senders a LIS may accept: its own list, else the demo's ``senders.yaml`` (with their contacts)."""
    if config.senders is not None:
        return config.senders
    return tuple(
        AcceptedSender(
            code=s.code,
            name=s.name,
            sftp_user=s.sftp_user,
            dataspec=s.dataspec,
            contact=s.contact_text,
        )
        for s in load_registry(folder).senders
    )


def _lis_systems(
    config: _ReceiversFile, folder: Path, path: Path, where: Located
) -> list[tuple[Kommune, LisSystem]]:
    """Every LIS system the deployment runs a receiver for; each needs its SFTP user (its login)."""
    kommuner, source, positions = read_kommuner(folder, config.kommuner, path, where)
    systems = []
    for i, kommune in enumerate(kommuner):
        for j, lis in enumerate(kommune.lis_systems):
            if lis.sftp_user is None:
                loc = ("kommuner", i, "lis_systems", j)
                problem = f"{kommune.name} {lis.name}: a receiver needs the LIS system's sftp_user"
                raise positions.error(source, loc, problem)
            systems.append((kommune, lis))
    return systems


def build_receivers(raw: Any, where: Located, folder: Path, path: Path) -> tuple[Receiver, ...]:
    """One :class:`Receiver` per LIS system, from a parsed ``receivers.yaml`` in ``folder``."""
    config = validate(_ReceiversFile, raw, path, where)
    senders = _senders(config, folder)
    known_senders = {s.code for s in senders}
    systems = _lis_systems(config, folder, path, where)
    users = {lis.user for _, lis in systems}
    for user in config.overrides:
        if user not in users:
            raise where.error(path, ("overrides", user), "unknown LIS system")
    base = config.defaults.model_dump()
    receivers = []
    for kommune, lis in systems:
        user = lis.user
        override = config.overrides.get(user, {})
        settings = validate(ReceiverSettings, {**base, **override}, path, where, ("overrides", user))
        unknown = sorted(set(settings.accepts) - known_senders)
        if unknown:
            loc = ("overrides", user, "accepts") if "accepts" in override else ("defaults", "accepts")
            raise where.error(path, loc, f"unknown sender(s) {unknown}")
        accepted = tuple(s for code in settings.accepts for s in senders if s.code == code)
        receivers.append(Receiver(kommune, lis, settings, accepted))
    return tuple(receivers)


@cache
def _receivers(folder: Path) -> tuple[Receiver, ...]:
    path = folder / RECEIVERS_FILE
    raw, where = read_yaml(path)
    return build_receivers(raw, where, folder, path)


def load_receivers(folder: Path | None = None) -> tuple[Receiver, ...]:
    """Every LIS system's :class:`Receiver` from ``folder`` (``config_dir()`` by default), read once."""
    return _receivers((folder or config_dir()).resolve())


def has_receivers(folder: Path | None = None) -> bool:
    """Whether ``folder`` (``config_dir()`` by default) configures a LIS side at all."""
    return ((folder or config_dir()) / RECEIVERS_FILE).is_file()


def load_receiver(sftp_user: str, folder: Path | None = None) -> Receiver:
    """The :class:`Receiver` of the LIS system whose SFTP user is ``sftp_user``; KeyError if none."""
    for receiver in load_receivers(folder):
        if receiver.sftp_user == sftp_user:
            return receiver
    raise KeyError(f"no LIS system with SFTP user {sftp_user!r}")
