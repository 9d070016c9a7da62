"""Who takes part on the sender side: the sender systems and the kommuner and LIS systems they deliver to.

A vendor's deployment holds only its own party: ``senders.yaml`` lists its sender systems and, under
``kommuner:``, its recipients (each kommune with the LIS systems its route orders with KOMBIT name). The
demo plays every party from one registry of the whole country, ``kommuner.yaml``: when ``senders.yaml`` has
no ``kommuner:``, the recipients are read from ``kommuner.yaml`` in the same folder. Both are read here and
nowhere else, strictly (:mod:`sf1630.config`), into frozen models. The emulator's configuration is derived
from the demo's registry (:func:`platform_config`), so a kommune added there can be delivered to at once.
Keys and passwords are inputs, never stored in these files.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from functools import cache
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, StringConstraints, ValidationInfo, field_validator, model_validator

from sf1630.config import ConfigError, Duration, Model, entry_name, read_yaml, validate
from sf1630.protocol import INF_REF_SF1630, FileContentForm, Period, cvr_urn
from sf1630.settings import config_dir

#: A short upper-case code: a sender system (``KY``) or a LIS system within its kommune (``LIS01``).
Code = Annotated[str, StringConstraints(pattern=r"^[A-Z][A-Z0-9]{0,15}$")]
#: The name of an Airflow connection.
ConnId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_{}]{1,200}$")]
#: An SFTP user on Serviceplatformen; it becomes a folder name on the platform.
SftpUser = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")]
Cvr = Annotated[str, StringConstraints(pattern=r"^[0-9]{8}$")]
Kommunekode = Annotated[str, StringConstraints(pattern=r"^[0-9]{3}$")]
Text = Annotated[str, StringConstraints(min_length=1, strip_whitespace=True)]
#: Named where nobody is known to contact about an extract.
UNKNOWN_CONTACT = "the platform operator (sender unknown)"
#: How a sender names its recipients to the platform (SF1630 §2.1.3): ``simple`` puts the LIS system's SFTP
#: user in ``Recipients``; ``dynamic`` writes ``ROUTING_V1_0_0`` and routing info the platform matches.
Routing = Literal["simple", "dynamic"]


def _unique(values: Sequence[object], what: str) -> None:
    seen: set[object] = set()
    for value in values:
        if value in seen:
            raise ValueError(f"duplicate {what} {value!r}")
        seen.add(value)


class LisSystem(Model):
    """One LIS system a kommune has registered: it receives one file per sender per month.

    A sender on the simple pattern names the system by its SFTP user, one on dynamic routing by its
    it-system UUID; a vendor's recipient list needs only what its senders use (:meth:`Registry.check`).
    """

    name: Code
    sftp_user: SftpUser | None = None
    it_system: uuid.UUID | None = None

    @model_validator(mode="after")
    def _named_somehow(self) -> LisSystem:
        if self.sftp_user is None and self.it_system is None:
            raise ValueError(
                "a LIS system needs its sftp_user (simple pattern) or it_system (dynamic routing)"
            )
        return self

    @property
    def key(self) -> str:
        """What identifies the system in ledgers and filters: its SFTP user, else its it-system UUID."""
        return self.sftp_user or str(self.it_system)

    @property
    def user(self) -> str:
        """The SFTP user, where the code needs one (receivers, the emulator); ValueError names the system."""
        if self.sftp_user is None:
            raise ValueError(f"LIS system {self.name} ({self.it_system}) has no sftp_user")
        return self.sftp_user


class Kommune(Model):
    """A kommune. Its data goes out under its own CVR (SenderAuthority = RecipientAuthority)."""

    name: Text
    kode: Kommunekode
    cvr: Cvr
    cvr_placeholder: bool = False
    lis_systems: Annotated[tuple[LisSystem, ...], Field(min_length=1)]

    @model_validator(mode="after")
    def _distinct_lis_names(self) -> Kommune:
        _unique([lis.name for lis in self.lis_systems], "LIS system name")
        return self

    def matches(self, key: str) -> bool:
        """Whether ``key`` is this kommune's kommunekode, CVR or name (any case)."""
        key = key.strip()
        return key in {self.kode, self.cvr} or key.casefold() == self.name.casefold()


class SenderSettings(Model):
    """How a sender DAG operates; ``defaults`` in ``senders.yaml`` give them, a sender may override."""

    owner: Text
    schedule: Text
    timezone: Text
    start_date: date
    #: Runs for months whose run time has passed since ``start_date`` are made too (the demo's one month).
    catchup: bool = False
    #: No run for a month starting after this day (the demo: its month is the only one).
    end_date: date | None = None
    retries: Annotated[int, Field(ge=0)]
    retry_delay: Duration
    max_retry_delay: Duration
    receipt_timeout: Duration
    receipt_poll: Duration
    receipt_quick_look: Duration
    deadline: Duration
    housekeeping_grace: Duration
    ledger_conn_id: ConnId
    smtp_conn_id: ConnId | None = None
    slack_conn_id: ConnId | None = None
    on_call_email: Text | None = None
    contact: Text | None = None  # whom on-call calls about this sender's extract (named in its alerts)
    max_active_deliveries: Annotated[int, Field(ge=1)]
    file_content: FileContentForm = "namespaced"  # a simple-pattern trigger's FilType/SF (docs/sender.md)


class SenderSystem(SenderSettings):
    """One fagsystem that delivers its extract to every kommune's LIS systems each month."""

    code: Code
    name: Text
    it_system: uuid.UUID
    sftp_user: SftpUser
    sftp_conn_id: ConnId
    source_conn_id: ConnId
    dataspec: Annotated[str, StringConstraints(pattern=r"^[a-z0-9_]+$")]
    routing: Routing
    #: The vendor's own extract (a SQL file relative to the configuration folder; docs/sender.md), instead of
    #: the SELECT generated from the data spec. Read as the absolute path of a file inside that folder.
    extract_sql: Path | None = None

    @field_validator("extract_sql")
    @classmethod
    def _extract_sql_in_config(cls, value: Path | None, info: ValidationInfo) -> Path | None:
        """A file inside the configuration folder, checked now rather than at the first month's export."""
        if value is None:
            return None
        folder = Path((info.context or {}).get("folder") or config_dir()).resolve()
        path = (folder / value).resolve()
        if value.is_absolute() or not path.is_relative_to(folder):
            raise ValueError(f"{value} is not a path inside the configuration folder {folder}")
        if not path.is_file():
            raise ValueError(f"{path} is not a file")
        return path

    @property
    def contact_text(self) -> str:
        """Whom this sender's alerts name to call about its extract."""
        return self.contact or UNKNOWN_CONTACT

    @property
    def dag_id(self) -> str:
        """The id of this sender's DAG."""
        return f"sf1630_sender_{self.code.lower()}"


def check_distinct(kommuner: Sequence[Kommune]) -> None:
    """No kommunekode, CVR, LIS SFTP user or LIS it-system twice; ValueError names the first repeat."""
    _unique([k.kode for k in kommuner], "kommunekode")
    _unique([k.cvr for k in kommuner], "CVR")
    systems = [lis for k in kommuner for lis in k.lis_systems]
    _unique([lis.sftp_user for lis in systems if lis.sftp_user], "LIS SFTP user")
    _unique([lis.it_system for lis in systems if lis.it_system], "LIS it-system")


class _KommunerFile(Model):
    kommuner: Annotated[tuple[Kommune, ...], Field(min_length=1)]

    @model_validator(mode="after")
    def _distinct(self) -> _KommunerFile:
        check_distinct(self.kommuner)
        return self


class _SendersFile(Model):
    defaults: dict[str, Any] = Field(default_factory=dict)
    senders: Annotated[tuple[SenderSystem, ...], Field(min_length=1)]
    kommuner: Annotated[tuple[Kommune, ...], Field(min_length=1)] | None = None  # the vendor's recipients

    @model_validator(mode="after")
    def _distinct_recipients(self) -> _SendersFile:
        if self.kommuner is not None:
            check_distinct(self.kommuner)
        return self

    @model_validator(mode="before")
    @classmethod
    def _apply_defaults(cls, raw: Any) -> Any:
        if not isinstance(raw, Mapping) or not isinstance(raw.get("senders"), list):
            return raw
        defaults = raw.get("defaults") or {}
        if not isinstance(defaults, Mapping):
            return raw
        unknown = sorted(set(defaults) - set(SenderSettings.model_fields))
        if unknown:
            raise ValueError(f"defaults: unknown key(s) {', '.join(map(str, unknown))}")
        senders = [{**defaults, **s} if isinstance(s, Mapping) else s for s in raw["senders"]]
        return {**raw, "senders": senders}

    @model_validator(mode="after")
    def _distinct(self) -> _SendersFile:
        for what in ("code", "it_system", "sftp_user"):
            _unique([getattr(s, what) for s in self.senders], f"sender {what}")
        return self


@dataclass(frozen=True)
class Recipient:
    """One LIS system together with its kommune: where one file per sender goes each month."""

    kommune: Kommune
    lis: LisSystem
    index: int  # position among the kommune's LIS systems (it separates their file names)


@dataclass(frozen=True)
class Registry:
    """The kommuner with their LIS systems, and the sender systems."""

    kommuner: tuple[Kommune, ...]
    senders: tuple[SenderSystem, ...]

    def sender(self, code: str) -> SenderSystem:
        """The sender system with ``code``; ConfigError naming the known codes if there is none."""
        for sender in self.senders:
            if sender.code == code:
                return sender
        known = ", ".join(s.code for s in self.senders)
        raise ConfigError("senders.yaml", 1, "senders", f"no sender {code!r} (known: {known})")

    def recipients(self) -> Iterator[Recipient]:
        """Every LIS system of every kommune, in file order."""
        for kommune in self.kommuner:
            for index, lis in enumerate(kommune.lis_systems):
                yield Recipient(kommune, lis, index)

    def recipient(self, sftp_user: str) -> Recipient:
        """The LIS system whose SFTP user is ``sftp_user``; KeyError when there is none."""
        for recipient in self.recipients():
            if recipient.lis.sftp_user == sftp_user:
                return recipient
        raise KeyError(f"no LIS system with SFTP user {sftp_user!r}")

    def kommune(self, key: str) -> Kommune:
        """The kommune with kommunekode, CVR or name ``key``; KeyError when there is none."""
        for kommune in self.kommuner:
            if kommune.matches(key):
                return kommune
        raise KeyError(f"no kommune {key!r}")


def delivery_label(sender: str, kommune: Kommune, lis: LisSystem, period: Period | str) -> str:
    """How one delivery is shown everywhere (UI map index, summaries, alerts): names, not only numbers."""
    return f"{sender} → {kommune.name} {lis.name} {period}"


#: The sender side's configuration file; a folder holding it is a sender deployment.
SENDERS_FILE = "senders.yaml"
#: The demo's registry of the whole country, read where a side's own file lists no kommuner.
COUNTRY_FILE = "kommuner.yaml"

_NEEDS: dict[str, tuple[str, str]] = {
    "simple": ("sftp_user", "an sftp_user (the simple pattern names it in Recipients)"),
    "dynamic": ("it_system", "an it_system (dynamic routing names it in RecipientIt-system)"),
}


def read_kommuner(
    folder: Path, own: tuple[Kommune, ...] | None, own_path: Path, own_where: Any
) -> tuple[tuple[Kommune, ...], Path, Any]:
    """A side's kommuner: its own ``kommuner:`` (already validated), else the demo's ``kommuner.yaml``.

    Returns the kommuner with the file and positions they came from, so later checks can name the line.
    """
    if own is not None:
        return own, own_path, own_where
    path = folder / COUNTRY_FILE
    raw, where = read_yaml(path)
    return validate(_KommunerFile, raw, path, where).kommuner, path, where


def _check_routing(
    senders: Sequence[SenderSystem], kommuner: Sequence[Kommune], path: Path, where: Any
) -> None:
    """Every recipient LIS system carries what each sender's pattern names it by."""
    for sender in senders:
        field, what = _NEEDS[sender.routing]
        for i, kommune in enumerate(kommuner):
            for j, lis in enumerate(kommune.lis_systems):
                if getattr(lis, field) is None:
                    loc = ("kommuner", i, "lis_systems", j)
                    problem = f"{kommune.name} {lis.name} needs {what} for sender {sender.code}"
                    raise ConfigError(path, where.line(loc), entry_name(loc), problem)


@cache
def _load(folder: Path) -> Registry:
    path = folder / SENDERS_FILE
    raw, where = read_yaml(path)
    config = validate(_SendersFile, raw, path, where)
    kommuner, source, positions = read_kommuner(folder, config.kommuner, path, where)
    _check_routing(config.senders, kommuner, source, positions)
    return Registry(kommuner, config.senders)


def load_registry(folder: Path | None = None) -> Registry:
    """The sender side of ``folder`` (``config_dir()`` by default): ``senders.yaml`` with its own
    ``kommuner:``, or with the demo's ``kommuner.yaml`` beside it.

    Read once per process: DAG files build their DAGs from it at every parse.
    """
    return _load((folder or config_dir()).resolve())


def has_senders(folder: Path | None = None) -> bool:
    """Whether ``folder`` (``config_dir()`` by default) configures a sender side at all."""
    return ((folder or config_dir()) / SENDERS_FILE).is_file()


def _user(
    name: str, passwords: Mapping[str, str], keys: Mapping[str, Sequence[str]], email: str
) -> dict[str, Any]:
    user: dict[str, Any] = {"name": name, "email": email}
    if name in keys:
        user["authorized_keys"] = list(keys[name])
    if name in passwords:
        user["password"] = passwords[name]
    return user


def platform_config(
    registry: Registry | None = None,
    *,
    kommune_codes: Collection[str] = (),
    sender_codes: Collection[str] = (),
    passwords: Mapping[str, str] | None = None,
    authorized_keys: Mapping[str, Sequence[str]] | None = None,
    omit_routes: Collection[tuple[str, str]] = (),
    email_domain: str = "example.dk",
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The emulator's YAML configuration (users, it-systems, routes, simple routes) as a dict.

    A kommune's registration of a LIS system and a sender becomes a route for a ``dynamic`` sender and a
    simple route (sender user → LIS user) for a ``simple`` one. ``registry`` defaults to the files in
    ``config_dir()``; ``kommune_codes`` and ``sender_codes`` narrow it. ``passwords`` and
    ``authorized_keys`` are by SFTP user. ``omit_routes`` leaves out the route or simple route of
    (sender code, LIS SFTP user) pairs, to provoke "no route" receipts. ``extra`` adds top-level keys such
    as ``retention`` or ``router``.
    """
    registry = registry or load_registry()
    unknown = set(kommune_codes) - {k.kode for k in registry.kommuner}
    if unknown:
        raise ValueError(f"unknown kommunekode(r): {', '.join(sorted(unknown))}")
    senders = [s for s in registry.senders if not sender_codes or s.code in sender_codes]
    passwords, keys = passwords or {}, authorized_keys or {}
    users = [_user(s.sftp_user, passwords, keys, f"{s.sftp_user.lower()}@{email_domain}") for s in senders]
    systems = [{"uuid": str(s.it_system), "name": s.name, "sftp_user": s.sftp_user} for s in senders]
    routes: list[dict[str, str]] = []
    simple_routes: list[dict[str, str]] = []
    for recipient in registry.recipients():
        kommune, lis = recipient.kommune, recipient.lis
        if kommune_codes and kommune.kode not in kommune_codes:
            continue
        if lis.it_system is None:
            raise ValueError(f"{kommune.name} {lis.name}: the emulator's registry needs its it_system")
        user = lis.user
        users.append(_user(user, passwords, keys, f"{user.lower()}@{email_domain}"))
        systems.append({"uuid": str(lis.it_system), "name": f"{kommune.name} {lis.name}", "sftp_user": user})
        authority = cvr_urn(kommune.cvr)
        routes += [
            {
                "inf_ref": INF_REF_SF1630,
                "sender_authority": authority,
                "sender_it_system": str(sender.it_system),
                "recipient_authority": authority,
                "recipient_it_system": str(lis.it_system),
                "sftp_username": user,
            }
            for sender in senders
            if sender.routing == "dynamic" and (sender.code, user) not in omit_routes
        ]
        simple_routes += [
            {"sender": sender.sftp_user, "recipient": user}
            for sender in senders
            if sender.routing == "simple" and (sender.code, user) not in omit_routes
        ]
    return {
        "users": users,
        "it_systems": systems,
        "routes": routes,
        "simple_routes": simple_routes,
        **(extra or {}),
    }


def write_platform_config(path: Path, config: Mapping[str, Any]) -> Path:
    """Write ``config`` as YAML to ``path`` (readable only by its owner: it may hold passwords)."""
    import yaml

    path.write_text(yaml.safe_dump(dict(config), sort_keys=False, allow_unicode=True), encoding="utf-8")
    path.chmod(0o600)
    return path
