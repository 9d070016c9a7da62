"""The emulator's configuration (users, it-systems, routes, simple routes, retention, mail), read strictly.

On the real platform these are registered in KOMBIT's administration; here they are one file, usually
derived from the registry (:func:`sf1630.registry.platform_config`). A typo in a route silently sends a
kommune's data nowhere, so every entry is checked at start: unknown and duplicate keys, malformed UUIDs and
CVR URNs, and references to users or it-systems that do not exist all stop the start with
``FILE:LINE: entry: problem`` (:class:`sf1630.config.ConfigError`).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, Field, StrictBool, StrictInt, model_validator

from sf1630.config import ConfigError, Duration, Invalid, Model, Text, Uuid, load_model
from sf1630.protocol import ProtocolError, check_safe_name, cvr_urn

#: SFTP user names become folder names; beyond check_safe_name they must match this conservative pattern.
USER_NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
#: A route parameter's element name: a local name, or ``{namespace}local`` for a namespaced one.
ROUTE_PARAMETER_NAME = re.compile(r"(\{[^{}\s]+\})?[A-Za-z_][A-Za-z0-9_.-]*")

__all__ = ["ConfigError", "PlatformConfig", "load_config"]


def _user_name(name: str) -> str:
    """A name safe as a folder name: no path tricks, and only the characters KOMBIT's users have."""
    try:
        check_safe_name(name)
    except ProtocolError as exc:
        raise ValueError(f"name is unsafe: {exc.detail}") from None
    if not USER_NAME_PATTERN.fullmatch(name):
        raise ValueError(f"name must match {USER_NAME_PATTERN.pattern}")
    return name


def _email(email: str) -> str:
    if "@" not in email or any(c.isspace() for c in email):
        raise ValueError(f"email {email!r} is not an address")
    return email


def _public_key(line: str) -> str:
    """An OpenSSH public key line, checked now rather than at the first login."""
    import asyncssh

    try:
        asyncssh.import_authorized_keys(line)
    except (ValueError, asyncssh.KeyImportError):
        raise ValueError(f"authorized key {line[:30]!r}... is not an OpenSSH public key") from None
    return line


def _authority(value: object) -> str:
    """A CVR number or CVR URN, as the URN the platform compares."""
    try:
        return cvr_urn(str(value))
    except ProtocolError:
        raise ValueError(f"{value!r} is not a CVR number or urn:oio:cvr-nr:NNNNNNNN") from None


def _route_parameters(raw: object) -> tuple[tuple[str, str], ...]:
    """``route_parameters: {RouteSelectionValueDate: 2026-10-31}``: element name → value, as text.

    A YAML date (unquoted) is read as the ``xs:date`` text it stands for; other values must be strings.
    """
    if raw is None:
        return ()
    if not isinstance(raw, Mapping) or not raw:
        raise ValueError("route_parameters must be a non-empty mapping of element name to value")
    parameters = []
    for name, value in raw.items():
        if not isinstance(name, str) or not ROUTE_PARAMETER_NAME.fullmatch(name):
            raise Invalid(f"route parameter name {name!r} is not an element name", name)
        text = value.isoformat() if isinstance(value, date) else value
        if not isinstance(text, str) or not text.strip():
            raise Invalid(f"route parameter {name} must have a non-empty text value", name)
        parameters.append((name, text.strip()))
    return tuple(parameters)


def _without_nulls(raw: object) -> object:
    """A key written with no value (``routes:`` alone on its line) counts as left out, as it always has."""
    if isinstance(raw, Mapping):
        return {key: value for key, value in raw.items() if value is not None}
    return raw


def _positive(value: timedelta) -> timedelta:
    if value <= timedelta(0):
        raise ValueError("must be longer than zero")
    return value


def _port(port: int) -> int:
    if not 0 < port < 65536:
        raise ValueError(f"{port!r} is not a port number")
    return port


UserName = Annotated[str, AfterValidator(_user_name)]
Authority = Annotated[str, BeforeValidator(_authority)]
PositiveDuration = Annotated[Duration, AfterValidator(_positive)]


class User(Model):
    """An SFTP user as registered in the platform's administration."""

    name: UserName
    email: Annotated[Text, AfterValidator(_email)]
    authorized_keys: tuple[Annotated[str, AfterValidator(_public_key)], ...] = ()
    password: Annotated[str, Field(min_length=1)] | None = Field(default=None, repr=False)
    demo_client_key: StrictBool = False

    @model_validator(mode="before")
    @classmethod
    def _nulls_left_out(cls, raw: object) -> object:
        return _without_nulls(raw)


class ItSystem(Model):
    """A registered it-system and the SFTP user it sends and receives with."""

    uuid: Uuid
    name: Text
    sftp_user: Text


class Route(Model):
    """One route: six parameters, the last being the recipient SFTP user it delivers to.

    ``parameters`` (``route_parameters`` in the file) are route parameter values (name, text) the route is
    keyed on besides the six: KOMBIT's schema says a ``RouteParameter`` is used in routing where the route
    is configured for it, so a route that names none matches whatever parameters a trigger carries, and
    one that names some matches only a trigger that carries each of them
    (:func:`sf1630.platform.router.parameters_match`).
    """

    inf_ref: Text
    sender_authority: Authority
    sender_it_system: Uuid
    recipient_authority: Authority
    recipient_it_system: Uuid
    sftp_username: Text
    parameters: Annotated[tuple[tuple[str, str], ...], BeforeValidator(_route_parameters)] = Field(
        default=(), alias="route_parameters"
    )


class SimpleRoute(Model):
    """Who may deliver to whom by the simple pattern: ``Recipients`` names the recipient's SFTP user."""

    sender: Text
    recipient: Text

    @model_validator(mode="after")
    def _not_to_itself(self) -> SimpleRoute:
        if self.sender == self.recipient:
            problem = f"sender and recipient are both {self.sender!r}; a user cannot deliver to itself"
            raise Invalid(problem, "recipient")
        return self


class Retention(Model):
    """Retention of files in users' folders."""

    delete_after: PositiveDuration = timedelta(days=30)
    warn_before: PositiveDuration = timedelta(days=10)
    sweep_interval: PositiveDuration = timedelta(days=1)

    @model_validator(mode="after")
    def _warned_before_deleted(self) -> Retention:
        if self.warn_before >= self.delete_after:
            raise Invalid("warn_before must be shorter than delete_after", "warn_before")
        return self


class Mail(Model):
    """SMTP server for retention warnings."""

    smtp_host: Text
    smtp_port: Annotated[StrictInt, AfterValidator(_port)] = 25
    sender: Text = Field(alias="from")


class RouterSettings(Model):
    """How often the router looks again for triggers it may have missed."""

    rescan_interval: PositiveDuration = timedelta(seconds=2)


def _first_repeat(values: Sequence[object]) -> int | None:
    """The index of the first value seen before, or None."""
    seen: set[object] = set()
    for index, value in enumerate(values):
        if value in seen:
            return index
        seen.add(value)
    return None


class _PlatformFile(Model):
    """The file as written; every reference between its entries is checked here."""

    users: tuple[User, ...]
    it_systems: tuple[ItSystem, ...]
    routes: tuple[Route, ...] = ()
    simple_routes: tuple[SimpleRoute, ...] = ()
    retention: Retention = Retention()
    mail: Mail | None = None
    router: RouterSettings = RouterSettings()

    @model_validator(mode="before")
    @classmethod
    def _nulls_left_out(cls, raw: object) -> object:
        return _without_nulls(raw)

    @model_validator(mode="after")
    def _references(self) -> _PlatformFile:
        self._distinct([u.name for u in self.users], "users", "user name")
        self._distinct([str(s.uuid) for s in self.it_systems], "it_systems", "it-system uuid")
        simple = [f"{r.sender} -> {r.recipient}" for r in self.simple_routes]
        self._distinct(simple, "simple_routes", "simple route")
        users = {u.name for u in self.users}
        systems = {s.uuid for s in self.it_systems}
        for i, system in enumerate(self.it_systems):
            self._known(users, system.sftp_user, "user", "it_systems", i, "sftp_user")
        for i, route in enumerate(self.routes):
            self._known(users, route.sftp_username, "user", "routes", i, "sftp_username")
            self._known(systems, route.sender_it_system, "it-system", "routes", i, "sender_it_system")
            self._known(systems, route.recipient_it_system, "it-system", "routes", i, "recipient_it_system")
        for i, simple_route in enumerate(self.simple_routes):
            self._known(users, simple_route.sender, "user", "simple_routes", i, "sender")
            self._known(users, simple_route.recipient, "user", "simple_routes", i, "recipient")
        return self

    @staticmethod
    def _distinct(values: Sequence[str], key: str, what: str) -> None:
        index = _first_repeat(values)
        if index is not None:
            raise Invalid(f"duplicate {what} {values[index]!r}", key, index)

    @staticmethod
    def _known(known: set[Any], value: object, what: str, *at: str | int) -> None:
        if value not in known:
            shown = repr(value) if isinstance(value, str) else str(value)
            raise Invalid(f"{shown} is not a configured {what}", *at)


@dataclass(frozen=True)
class PlatformConfig:
    """The whole configuration."""

    source: Path
    users: tuple[User, ...]
    it_systems: tuple[ItSystem, ...]
    routes: tuple[Route, ...]
    retention: Retention
    mail: Mail | None
    rescan_interval: timedelta
    simple_routes: tuple[SimpleRoute, ...]

    def may_deliver_simply(self, sender: str, recipient: str) -> bool:
        """Whether SFTP user ``sender`` may deliver to SFTP user ``recipient`` by the simple pattern."""
        return any(r.sender == sender and r.recipient == recipient for r in self.simple_routes)

    def user(self, name: str) -> User | None:
        """The user called ``name``, if registered."""
        return next((u for u in self.users if u.name == name), None)

    def it_system(self, system: uuid.UUID) -> ItSystem | None:
        """The it-system with UUID ``system``, if registered."""
        return next((s for s in self.it_systems if s.uuid == system), None)


def load_config(path: Path) -> PlatformConfig:
    """Read and check the configuration in ``path``; raises :class:`ConfigError`."""
    path = Path(path).resolve()
    file = load_model(path, _PlatformFile)
    return PlatformConfig(
        source=path,
        users=file.users,
        it_systems=file.it_systems,
        routes=file.routes,
        retention=file.retention,
        mail=file.mail,
        rescan_interval=file.router.rescan_interval,
        simple_routes=file.simple_routes,
    )
