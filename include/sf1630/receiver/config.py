"""The receivers' own configuration (``receivers.yaml``) resolved against the registry: one :class:`Receiver`
per LIS system.

Who the LIS systems are and which kommune each belongs to comes from the registry
(:mod:`sf1630.registry`); this file holds only what is the receivers' own: their operating settings
(``defaults``, with per-system ``overrides`` keyed by SFTP user) and whom to contact about each sender's
extract (``contacts``). Read once per process and strictly, like every configuration file.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from functools import cache
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, model_validator

from sf1630.config import ConfigError, Duration, Model, read_yaml, validate
from sf1630.registry import Code, ConnId, Kommune, LisSystem, Registry, SenderSystem, Text, load_registry
from sf1630.settings import config_dir


def connection_slug(user: str) -> str:
    """``user`` as it goes into a connection id: lower case, anything but letters and digits as ``_``.

    Airflow reads a connection from ``AIRFLOW_CONN_<ID upper-cased>``; SFTP users such as
    ``IKAST-BRANDE_LIS01_SIMPEL`` would otherwise give variable names a shell cannot ``export``.
    """
    return re.sub(r"[^a-z0-9]", "_", user.lower())


class ReceiverSettings(Model):
    """How one LIS system's receiver operates; ``{user}`` in a connection id is its connection slug."""

    sftp_conn_id: ConnId
    warehouse_conn_id: ConnId
    inbox: Text
    schedule: Text
    timezone: Text
    start_date: date
    wait_timeout: Duration
    poke_interval: Duration
    grace: Duration
    storage: str = ""
    storage_conn_id: str = ""
    quarantine_keep: Duration
    deadline_day: Annotated[int, Field(ge=1, le=28)]
    run_deadline: Duration
    owner: Text
    retries: Annotated[int, Field(ge=0)]
    retry_delay: Duration
    max_retry_delay: Duration
    accepts: Annotated[tuple[Code, ...], Field(min_length=1)]
    on_call_email: Text | None = None
    smtp_conn_id: ConnId | None = None
    slack_conn_id: ConnId | None = None


class _ReceiversFile(Model):
    defaults: ReceiverSettings
    contacts: dict[Code, Text]
    overrides: dict[str, dict[str, Any]] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _contact_for_every_sender(self) -> _ReceiversFile:
        missing = sorted(set(self.defaults.accepts) - set(self.contacts))
        if missing:
            raise ValueError(f"contacts: no contact for accepted sender(s) {', '.join(missing)}")
        return self


@dataclass(frozen=True)
class Receiver:
    """Everything a receiver DAG needs about one LIS system: who it is, how it runs, what it accepts."""

    kommune: Kommune
    lis: LisSystem
    settings: ReceiverSettings
    accepted: tuple[SenderSystem, ...]
    contacts: Mapping[str, str]

    @property
    def sftp_user(self) -> str:
        """The LIS system's SFTP user (its folders on the platform)."""
        return self.lis.sftp_user

    @property
    def dag_id(self) -> str:
        """The id of the DAG that loads what arrives in IN/."""
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

    def sender(self, code: str) -> SenderSystem | None:
        """The accepted sender with file-name code ``code``, or None when this LIS does not accept it."""
        return next((s for s in self.accepted if s.code == code), None)

    def contact(self, code: str) -> str:
        """Whom to contact about sender ``code``'s extract."""
        return self.contacts.get(code, "the platform operator (sender unknown)")


def build_receivers(raw: Any, where: Any, registry: Registry, path: Path) -> tuple[Receiver, ...]:
    """One :class:`Receiver` per LIS system of ``registry``, from a parsed ``receivers.yaml``."""
    config = validate(_ReceiversFile, raw, path, where)
    known_senders = {s.code for s in registry.senders}
    users = {r.lis.sftp_user for r in registry.recipients()}
    for user in config.overrides:
        if user not in users:
            raise ConfigError(
                path, where.line(("overrides", user)), f"overrides.{user}", "unknown LIS system"
            )
    base = config.defaults.model_dump()
    receivers = []
    for recipient in registry.recipients():
        user = recipient.lis.sftp_user
        override = config.overrides.get(user, {})
        settings = validate(ReceiverSettings, {**base, **override}, path, where, ("overrides", user))
        unknown = sorted(set(settings.accepts) - known_senders)
        if unknown:
            entry = f"overrides.{user}.accepts" if "accepts" in override else "defaults.accepts"
            raise ConfigError(
                path, where.line(tuple(entry.split("."))), entry, f"unknown sender(s) {unknown}"
            )
        accepted = tuple(registry.sender(code) for code in settings.accepts)
        receivers.append(Receiver(recipient.kommune, recipient.lis, settings, accepted, config.contacts))
    return tuple(receivers)


@cache
def _receivers(folder: Path) -> tuple[Receiver, ...]:
    path = folder / "receivers.yaml"
    raw, where = read_yaml(path)
    return build_receivers(raw, where, load_registry(folder), path)


def load_receivers(folder: Path | None = None) -> tuple[Receiver, ...]:
    """Every LIS system's :class:`Receiver` from ``folder`` (``config_dir()`` by default), read once."""
    return _receivers((folder or config_dir()).resolve())


def load_receiver(sftp_user: str, folder: Path | None = None) -> Receiver:
    """The :class:`Receiver` of the LIS system whose SFTP user is ``sftp_user``; KeyError if none."""
    for receiver in load_receivers(folder):
        if receiver.sftp_user == sftp_user:
            return receiver
    raise KeyError(f"no LIS system with SFTP user {sftp_user!r}")


def sender_contact(code: str, folder: Path | None = None) -> str:
    """Whom to contact about sender ``code``'s deliveries: ``contacts`` in ``receivers.yaml``.

    The one place the configuration names a person for a sender's extract; the sender's failure and
    deadline messages quote it as the receivers' quarantine reports do.
    """
    receivers = load_receivers(folder)
    return receivers[0].contact(code) if receivers else "the platform operator (sender unknown)"
