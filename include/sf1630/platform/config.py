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
from collections.abc import Hashable, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from sf1630.config import ConfigError, parse_duration, read_yaml
from sf1630.protocol import ProtocolError, check_safe_name, cvr_urn

#: SFTP user names become folder names; beyond check_safe_name they must match this conservative pattern.
USER_NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
#: A route parameter's element name: a local name, or ``{namespace}local`` for a namespaced one.
ROUTE_PARAMETER_NAME = re.compile(r"(\{[^{}\s]+\})?[A-Za-z_][A-Za-z0-9_.-]*")

__all__ = ["ConfigError", "PlatformConfig", "load_config"]


@dataclass(frozen=True)
class User:
    """An SFTP user as registered in the platform's administration."""

    name: str
    email: str
    authorized_keys: tuple[str, ...] = ()
    password: str | None = field(default=None, repr=False)
    demo_client_key: bool = False


@dataclass(frozen=True)
class ItSystem:
    """A registered it-system and the SFTP user it sends and receives with."""

    uuid: uuid.UUID
    name: str
    sftp_user: str


@dataclass(frozen=True)
class Route:
    """One route: six parameters, the last being the recipient SFTP user it delivers to.

    ``parameters`` are route parameter values (name, text) the route is keyed on besides the six: KOMBIT's
    schema says a ``RouteParameter`` is used in routing where the route is configured for it, so a route
    that names none matches whatever parameters a trigger carries, and one that names some matches only a
    trigger that carries each of them (:func:`sf1630.platform.router.parameters_match`).
    """

    inf_ref: str
    sender_authority: str
    sender_it_system: uuid.UUID
    recipient_authority: str
    recipient_it_system: uuid.UUID
    sftp_username: str
    parameters: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class SimpleRoute:
    """Who may deliver to whom by the simple pattern: ``Recipients`` names the recipient's SFTP user."""

    sender: str
    recipient: str


@dataclass(frozen=True)
class Retention:
    """Retention of files in users' folders."""

    delete_after: timedelta = timedelta(days=30)
    warn_before: timedelta = timedelta(days=10)
    sweep_interval: timedelta = timedelta(days=1)


@dataclass(frozen=True)
class Mail:
    """SMTP server for retention warnings."""

    smtp_host: str
    smtp_port: int
    sender: str


@dataclass(frozen=True)
class PlatformConfig:
    """The whole configuration."""

    source: Path
    users: tuple[User, ...]
    it_systems: tuple[ItSystem, ...]
    routes: tuple[Route, ...]
    retention: Retention = Retention()
    mail: Mail | None = None
    rescan_interval: timedelta = timedelta(seconds=2)
    simple_routes: tuple[SimpleRoute, ...] = ()

    def may_deliver_simply(self, sender: str, recipient: str) -> bool:
        """Whether SFTP user ``sender`` may deliver to SFTP user ``recipient`` by the simple pattern."""
        return SimpleRoute(sender, recipient) in self.simple_routes

    def user(self, name: str) -> User | None:
        """The user called ``name``, if registered."""
        return next((u for u in self.users if u.name == name), None)

    def it_system(self, system: uuid.UUID) -> ItSystem | None:
        """The it-system with UUID ``system``, if registered."""
        return next((s for s in self.it_systems if s.uuid == system), None)


def load_config(path: Path) -> PlatformConfig:
    """Read and check the configuration in ``path``; raises :class:`ConfigError`."""
    path = Path(path).resolve()
    raw, where = read_yaml(path)
    return _Reader(path, where.line).read(raw)


class _Reader:
    """Checks the parsed document entry by entry; ``at`` is the entry's path of keys, for its line."""

    def __init__(self, path: Path, line_of: Any) -> None:
        self.path = path
        self.line_of = line_of
        self.at: tuple[Hashable, ...] = ()

    def fail(self, entry: str, problem: str) -> ConfigError:
        return ConfigError(self.path, self.line_of(self.at), entry, problem)

    def mapping(self, value: object, entry: str, required: set[str], optional: set[str]) -> Mapping[str, Any]:
        if not isinstance(value, Mapping):
            raise self.fail(entry, "must be a mapping")
        unknown = sorted(str(k) for k in value if k not in required | optional)
        if unknown:
            raise self.fail(entry, f"unknown key(s) {', '.join(unknown)}")
        missing = sorted(required - set(value))
        if missing:
            raise self.fail(entry, f"missing key(s) {', '.join(missing)}")
        return value

    def items(self, raw: Mapping[str, Any], key: str) -> list[Any]:
        value = raw.get(key) or []
        if not isinstance(value, list):
            raise self.fail(key, "must be a list")
        return value

    def text(self, value: object, entry: str, what: str) -> str:
        if not isinstance(value, str) or not value.strip():
            raise self.fail(entry, f"{what} must be a non-empty string")
        return value

    def uuid_value(self, value: object, entry: str, what: str) -> uuid.UUID:
        try:
            return uuid.UUID(str(value))
        except ValueError:
            raise self.fail(entry, f"{what} {value!r} is not a UUID") from None

    def urn(self, value: object, entry: str, what: str) -> str:
        try:
            return cvr_urn(str(value))
        except ProtocolError:
            raise self.fail(
                entry, f"{what} {value!r} is not a CVR number or urn:oio:cvr-nr:NNNNNNNN"
            ) from None

    def read(self, raw: object) -> PlatformConfig:
        self.at = ()
        optional = {"routes", "simple_routes", "retention", "mail", "router"}
        top = self.mapping(raw, "top level", {"users", "it_systems"}, optional)
        users = tuple(self.user(u, i) for i, u in enumerate(self.items(top, "users")))
        self.unique([u.name for u in users], "users", "user name")
        names = {u.name for u in users}
        systems = tuple(self.it_system(s, i, names) for i, s in enumerate(self.items(top, "it_systems")))
        self.unique([str(s.uuid) for s in systems], "it_systems", "it-system uuid")
        known = {s.uuid for s in systems}
        routes = tuple(self.route(r, i, names, known) for i, r in enumerate(self.items(top, "routes")))
        simple = tuple(self.simple_route(r, i, names) for i, r in enumerate(self.items(top, "simple_routes")))
        self.at = ("simple_routes",)
        self.unique([f"{r.sender} -> {r.recipient}" for r in simple], "simple_routes", "simple route")
        self.at = ("router",)
        router = self.mapping(top.get("router") or {}, "router", set(), {"rescan_interval"})
        return PlatformConfig(
            source=self.path,
            users=users,
            it_systems=systems,
            routes=routes,
            retention=self.retention(top.get("retention")),
            mail=self.mail(top.get("mail")),
            rescan_interval=self.duration(router.get("rescan_interval", "2s"), "router: rescan_interval"),
            simple_routes=simple,
        )

    def unique(self, values: list[str], entry: str, what: str) -> None:
        seen: set[str] = set()
        for value in values:
            if value in seen:
                raise self.fail(entry, f"duplicate {what} {value!r}")
            seen.add(value)

    @staticmethod
    def label(kind: str, index: int, raw: object) -> str:
        name = raw.get("name") if isinstance(raw, Mapping) else None
        return f"{kind}[{index}] ({name})" if isinstance(name, str) else f"{kind}[{index}]"

    def user(self, raw: object, index: int) -> User:
        entry = self.label("users", index, raw)
        self.at = ("users", index)
        item = self.mapping(raw, entry, {"name", "email"}, {"authorized_keys", "password", "demo_client_key"})
        name = self.text(item["name"], entry, "name")
        try:
            check_safe_name(name)
        except ProtocolError as exc:
            raise self.fail(entry, f"name is unsafe: {exc.detail}") from None
        if not USER_NAME_PATTERN.fullmatch(name):
            raise self.fail(entry, f"name must match {USER_NAME_PATTERN.pattern}")
        email = self.text(item["email"], entry, "email")
        if "@" not in email or any(c.isspace() for c in email):
            raise self.fail(entry, f"email {email!r} is not an address")
        keys = item.get("authorized_keys") or []
        if not isinstance(keys, list) or not all(isinstance(k, str) for k in keys):
            raise self.fail(entry, "authorized_keys must be a list of OpenSSH public key lines")
        for key in keys:
            self.public_key(key, entry)
        password = item.get("password")
        if password is not None and (not isinstance(password, str) or not password):
            raise self.fail(entry, "password must be a non-empty string")
        demo_key = item.get("demo_client_key", False)
        if not isinstance(demo_key, bool):
            raise self.fail(entry, "demo_client_key must be true or false")
        return User(name, email, tuple(keys), password, demo_key)

    def public_key(self, line: str, entry: str) -> None:
        import asyncssh

        try:
            asyncssh.import_authorized_keys(line)
        except (ValueError, asyncssh.KeyImportError):
            raise self.fail(entry, f"authorized key {line[:30]!r}... is not an OpenSSH public key") from None

    def it_system(self, raw: object, index: int, users: set[str]) -> ItSystem:
        entry = self.label("it_systems", index, raw)
        self.at = ("it_systems", index)
        item = self.mapping(raw, entry, {"uuid", "name", "sftp_user"}, set())
        system = self.uuid_value(item["uuid"], entry, "uuid")
        user = self.text(item["sftp_user"], entry, "sftp_user")
        if user not in users:
            raise self.fail(entry, f"sftp_user {user!r} is not a configured user")
        return ItSystem(system, self.text(item["name"], entry, "name"), user)

    def route(self, raw: object, index: int, users: set[str], systems: set[uuid.UUID]) -> Route:
        entry = f"routes[{index}]"
        self.at = ("routes", index)
        keys = {
            "inf_ref",
            "sender_authority",
            "sender_it_system",
            "recipient_authority",
            "recipient_it_system",
            "sftp_username",
        }
        item = self.mapping(raw, entry, keys, {"route_parameters"})
        user = self.text(item["sftp_username"], entry, "sftp_username")
        if user not in users:
            raise self.fail(entry, f"sftp_username {user!r} is not a configured user")
        sender_system = self.uuid_value(item["sender_it_system"], entry, "sender_it_system")
        recipient_system = self.uuid_value(item["recipient_it_system"], entry, "recipient_it_system")
        for what, system in (("sender_it_system", sender_system), ("recipient_it_system", recipient_system)):
            if system not in systems:
                raise self.fail(entry, f"{what} {system} is not a configured it-system")
        return Route(
            inf_ref=self.text(item["inf_ref"], entry, "inf_ref"),
            sender_authority=self.urn(item["sender_authority"], entry, "sender_authority"),
            sender_it_system=sender_system,
            recipient_authority=self.urn(item["recipient_authority"], entry, "recipient_authority"),
            recipient_it_system=recipient_system,
            sftp_username=user,
            parameters=self.route_parameters(item.get("route_parameters"), entry),
        )

    def route_parameters(self, raw: object, entry: str) -> tuple[tuple[str, str], ...]:
        """``route_parameters: {RouteSelectionValueDate: 2026-10-31}``: element name → value, as text.

        A YAML date (unquoted) is read as the ``xs:date`` text it stands for; other values must be strings.
        """
        if raw is None:
            return ()
        if not isinstance(raw, Mapping) or not raw:
            raise self.fail(entry, "route_parameters must be a non-empty mapping of element name to value")
        parameters = []
        for name, value in raw.items():
            if not isinstance(name, str) or not ROUTE_PARAMETER_NAME.fullmatch(name):
                raise self.fail(entry, f"route parameter name {name!r} is not an element name")
            if isinstance(value, date):
                value = value.isoformat()
            if not isinstance(value, str) or not value.strip():
                raise self.fail(entry, f"route parameter {name} must have a non-empty text value")
            parameters.append((name, value.strip()))
        return tuple(parameters)

    def simple_route(self, raw: object, index: int, users: set[str]) -> SimpleRoute:
        entry = f"simple_routes[{index}]"
        self.at = ("simple_routes", index)
        item = self.mapping(raw, entry, {"sender", "recipient"}, set())
        sender = self.text(item["sender"], entry, "sender")
        recipient = self.text(item["recipient"], entry, "recipient")
        for what, user in (("sender", sender), ("recipient", recipient)):
            if user not in users:
                raise self.fail(entry, f"{what} {user!r} is not a configured user")
        if sender == recipient:
            problem = f"sender and recipient are both {sender!r}; a user cannot deliver to itself"
            raise self.fail(entry, problem)
        return SimpleRoute(sender, recipient)

    def duration(self, value: object, entry: str) -> timedelta:
        try:
            duration = parse_duration(value)
        except ValueError as exc:
            raise self.fail(entry, str(exc)) from None
        if duration <= timedelta(0):
            raise self.fail(entry, "must be longer than zero")
        return duration

    def retention(self, raw: object) -> Retention:
        if raw is None:
            return Retention()
        self.at = ("retention",)
        keys = {"delete_after", "warn_before", "sweep_interval"}
        item = self.mapping(raw, "retention", set(), keys)
        default = Retention()
        values = {
            key: self.duration(item[key], f"retention: {key}") if key in item else getattr(default, key)
            for key in keys
        }
        if values["warn_before"] >= values["delete_after"]:
            raise self.fail("retention", "warn_before must be shorter than delete_after")
        return Retention(**values)

    def mail(self, raw: object) -> Mail | None:
        if raw is None:
            return None
        self.at = ("mail",)
        item = self.mapping(raw, "mail", {"smtp_host", "from"}, {"smtp_port"})
        port = item.get("smtp_port", 25)
        if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
            raise self.fail("mail", f"smtp_port {port!r} is not a port number")
        return Mail(
            self.text(item["smtp_host"], "mail", "smtp_host"), port, self.text(item["from"], "mail", "from")
        )
