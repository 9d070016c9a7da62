"""``sf1630 preflight``: one party's deployment checked before its first month, through what its DAGs use.

It reads the same configuration folder as the DAGs (``SF1630_CONFIG_DIR``) and resolves the same Airflow
connections the same way (``BaseHook.get_connection``: ``AIRFLOW_CONN_*`` variables and the secrets
backend), then checks, per sender (``senders.yaml``: a vendor's side) and per LIS system (``receivers.yaml``:
a LIS team's side): the configuration loads, each connection resolves, the SFTP login works with the pinned
host key (through the SFTP provider's own hook, as the tasks log in), ``IN/`` and ``OUT/`` exist; for a
sender its extract (:func:`check_extract`); for a LIS system the warehouse takes a scratch table and the
object store a probe file; and each mail connection's server answers. The checks themselves are plain
(:mod:`sf1630.deployment.checks`); nothing is uploaded to the platform.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from contextlib import ExitStack
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple, TypeVar
from zoneinfo import ZoneInfo

from airflow.sdk import BaseHook
from airflow.sdk.exceptions import AirflowNotFoundException

from sf1630.config import ConfigError, RunSettings
from sf1630.deployment.checks import (
    PIN_HOST_KEY,
    Check,
    CheckFailed,
    SmtpServer,
    attempt,
    describe,
    fingerprint,
    folder_listing,
    login_failure,
    missing_host_key,
    pinned_key,
    run_check,
    skipped,
    smtp_answers,
    store_writable,
    warehouse_writable,
)
from sf1630.protocol import OUT, Period
from sf1630.receiver.config import Receiver, load_receivers
from sf1630.registry import Kommune, Registry, SenderSystem, load_registry

if TYPE_CHECKING:
    from paramiko import SFTPClient

SENDERS_FILE, RECEIVERS_FILE = "senders.yaml", "receivers.yaml"


class Channel(NamedTuple):
    """One on-call connection a configuration names: ``kind`` is ``mail`` or ``Slack``."""

    kind: str
    conn_id: str


T = TypeVar("T")

_FIX_CONFIG = "correct the entry named (docs/deploy.md describes each key)"
_FIX_MISSING_CONNECTION = (
    "add it as an AIRFLOW_CONN_<ID> variable or to the secrets backend (see sf1630.env from `sf1630 init`)"
)

_FIX_WAREHOUSE = (
    "check the warehouse connection (host, port, login, password, database, extra.schema); its role needs to "
    "create the schema and tables in it"
)
_FIX_EXTRACT = (
    "correct extract_sql (or the source) so the result has the data spec's columns and types; "
    "`sf1630 sender export` writes the file to look at"
)
_FIX_STORE = "check storage and storage_conn_id in receivers.yaml and the store's permissions"


def check_extract(sender: SenderSystem, kommune: Kommune, period: Period) -> Check | None:
    """The sender's query for a sample kommune and month, checked against its spec.

    Runs the sender export's :func:`~sf1630.airflow.extract.export_for` (the DAG's own code path) into a
    temporary folder, uploads nothing, and reports the file's rows as ``ok`` or the export's error (a
    missing, extra or misnamed column, a value the spec's type refuses, SQL the source refuses) as ``FAIL``.
    """
    import tempfile

    from sf1630.airflow.extract import export_for
    from sf1630.dataspec import load_spec
    from sf1630.sender.export import ExportError

    def probe() -> str:
        with tempfile.TemporaryDirectory(prefix="sf1630-preflight-") as folder:
            try:
                path = export_for(sender, kommune, period, Path(folder))
            except ExportError as exc:
                raise CheckFailed(str(exc), _FIX_EXTRACT) from None
            with path.open("rb") as lines:
                rows = sum(1 for _ in lines) - int(load_spec(sender.dataspec).dialect.header)
            return f"{rows} row(s), {path.stat().st_size} bytes, as the data spec {sender.dataspec} says"

    what = f"sender {sender.code}: extract for {kommune.name} {period}"
    return run_check(what, probe, _FIX_EXTRACT)


def _connection(conn_id: str) -> Any:
    try:
        return BaseHook.get_connection(conn_id)
    except AirflowNotFoundException:
        raise CheckFailed(
            f"not found (no AIRFLOW_CONN_{conn_id.upper()} and not in the secrets backend)",
            _FIX_MISSING_CONNECTION,
        ) from None


def _where(conn: Any) -> str:
    """Where a connection points, without its password."""
    login = f"{conn.login}@" if conn.login else ""
    port = f":{conn.port}" if conn.port else ""
    return f"{conn.conn_type} {login}{conn.host or ''}{port}"


def resolve(owner: str, conn_id: str, role: str, *, login: str | None = None) -> tuple[Check, Any]:
    """The connection ``conn_id`` as the DAGs resolve it; with ``login``, it must log in as that user."""

    def probe() -> tuple[Any, str]:
        conn = _connection(conn_id)
        if login is not None and conn.login != login:
            raise CheckFailed(
                f"logs in as {conn.login!r}, but the configuration names the SFTP user {login!r}",
                "make the connection's login the SFTP user KOMBIT created (or correct sftp_user)",
            )
        return conn, _where(conn)

    return attempt(f"{owner}: connection {conn_id} ({role})", probe, "check the connection's value")


# --- SFTP


def _login(conn_id: str, conn: Any, user: str, stack: ExitStack) -> tuple[SFTPClient, str]:
    """Log in through the SFTP provider's hook, after checking the pin the hook will verify against."""
    from airflow.providers.sftp.hooks.sftp import SFTPHook

    extra = conn.extra_dejson
    host, port = conn.host or "", int(conn.port or 22)
    if str(extra.get("no_host_key_check", "")).lower() == "true":
        raise CheckFailed("no_host_key_check is on: the server is not verified", PIN_HOST_KEY)
    if not extra.get("host_key"):
        raise missing_host_key(host, port)
    pinned = pinned_key(str(extra["host_key"]))
    key_file = extra.get("key_file")
    if key_file and not os.path.isfile(str(key_file)):
        raise CheckFailed(
            f"extra.key_file {key_file} does not exist on this machine",
            "put the SFTP user's private key there (mode 0600) on every machine that runs tasks",
        )
    try:
        client = stack.enter_context(SFTPHook(ssh_conn_id=conn_id, conn_retry_attempts=1).get_managed_conn())
    except Exception as exc:
        raise login_failure(exc, host, port, user) from None
    return client, f"{user}@{host}:{port}, host key {fingerprint(pinned)} verified"


def sftp_checks(owner: str, conn_id: str, user: str, folders: Iterable[str]) -> list[Check]:
    """Connection, login with the pinned host key, and each of ``folders`` in the user's root."""
    resolved, conn = resolve(owner, conn_id, f"SFTP as {user}", login=user)
    login_what = f"{owner}: SFTP login with the pinned host key"
    folder_whats = {folder: f"{owner}: folder {folder}/ of {user}" for folder in folders}
    if conn is None:
        because = f"connection {conn_id} is not usable"
        return [resolved, skipped(login_what, because), *(skipped(w, because) for w in folder_whats.values())]
    with ExitStack() as stack:
        login, client = attempt(
            login_what, partial(_login, conn_id, conn, user, stack), "check the connection"
        )
        if client is None:
            return [resolved, login, *(skipped(w, "no SFTP session") for w in folder_whats.values())]
        listings = [
            run_check(what, partial(folder_listing, client, folder), "ask KOMBIT")
            for folder, what in folder_whats.items()
        ]
    return [resolved, login, *listings]


# --- the sender side


def _configured(loader: Callable[[Path], T], folder: Path) -> T:
    """``loader(folder)``; its ConfigError (``FILE:LINE: entry: problem``) is the check's whole detail."""
    try:
        return loader(folder)
    except ConfigError as exc:
        raise CheckFailed(str(exc), _FIX_CONFIG) from None


def _sample(
    registry: Registry, sender: SenderSystem, kommune: str | None, period: Period | None
) -> tuple[Kommune, Period]:
    """The extract check's kommune (the first one by default) and month (the one the next run delivers)."""
    sample = registry.kommune(kommune) if kommune else registry.kommuner[0]
    month = period or Period.of(datetime.now(ZoneInfo(sender.timezone))).previous()
    return sample, month


def sender_side(
    folder: Path, kommune: str | None, period: Period | None
) -> tuple[list[Check], list[Channel]]:
    """The sender side's checks, and the on-call connections (mail and Slack) its senders name."""

    def load() -> tuple[Registry, str]:
        registry = _configured(load_registry, folder)
        codes = ", ".join(s.code for s in registry.senders)
        return registry, f"{len(registry.senders)} sender(s) ({codes}), {len(registry.kommuner)} kommune(r)"

    loaded, registry = attempt(f"configuration {folder / SENDERS_FILE}", load, _FIX_CONFIG)
    if registry is None:
        return [loaded], []
    checks = [loaded]
    for conn_id in dict.fromkeys(s.ledger_conn_id for s in registry.senders):
        checks.append(resolve("senders", conn_id, "sender ledger")[0])
    for sender in registry.senders:
        owner = f"sender {sender.code}"
        checks.append(resolve(owner, sender.source_conn_id, "source database")[0])
        checks += sftp_checks(owner, sender.sftp_conn_id, sender.sftp_user, ("IN", OUT))
        try:
            sample, month = _sample(registry, sender, kommune, period)
        except KeyError as exc:
            checks.append(Check("FAIL", f"{owner}: sample kommune", describe(exc), "give --kommune of yours"))
            continue
        extract = check_extract(sender, sample, month)
        if extract is not None:
            checks.append(extract)
    return checks, [channel for s in registry.senders for channel in _channels(s)]


# --- the LIS side


def _warehouse(conn_id: str) -> str:
    from sf1630.airflow.connections import database

    return warehouse_writable(database(conn_id))


def _store(receiver: Receiver) -> str:
    from sf1630.airflow.store import storage

    return store_writable(storage(receiver))


def receiver_side(folder: Path) -> tuple[list[Check], list[Channel]]:
    """The LIS side's checks, and the on-call connections (mail and Slack) its LIS systems name."""

    def load() -> tuple[tuple[Receiver, ...], str]:
        receivers = _configured(load_receivers, folder)
        users = ", ".join(r.sftp_user for r in receivers)
        return receivers, f"{len(receivers)} LIS system(s) ({users})"

    loaded, receivers = attempt(f"configuration {folder / RECEIVERS_FILE}", load, _FIX_CONFIG)
    if receivers is None:
        return [loaded], []
    checks = [loaded]
    warehouses: set[str] = set()
    for receiver in receivers:
        owner = f"LIS {receiver.sftp_user}"
        checks += sftp_checks(
            owner, receiver.sftp_conn_id, receiver.sftp_user, (receiver.settings.inbox, OUT)
        )
        conn_id = receiver.warehouse_conn_id
        if conn_id not in warehouses:
            warehouses.add(conn_id)
            resolved, conn = resolve(owner, conn_id, "warehouse")
            checks.append(resolved)
            what = f"{owner}: warehouse {conn_id} writable"
            checks.append(
                run_check(what, partial(_warehouse, conn_id), _FIX_WAREHOUSE)
                if conn is not None
                else skipped(what, f"connection {conn_id} did not resolve")
            )
        if receiver.settings.storage_conn_id:
            checks.append(resolve(owner, receiver.settings.storage_conn_id, "object store")[0])
        store_what = f"{owner}: object store writable"
        checks.append(run_check(store_what, partial(_store, receiver), _FIX_STORE))
    return checks, [channel for r in receivers for channel in _channels(r.settings)]


# --- on-call channels


def _smtp_server(conn: Any) -> SmtpServer:
    extra = conn.extra_dejson
    return SmtpServer(
        host=conn.host or "localhost",
        port=int(conn.port) if conn.port else None,
        use_ssl=not extra.get("disable_ssl", False),
        starttls=not extra.get("disable_tls", False),
        login=conn.login or None,
        password=conn.password or None,
        timeout=float(extra.get("timeout", 30)),
    )


def _smtp_check(conn: Any) -> str:
    return smtp_answers(_smtp_server(conn))


def _slack_check(conn: Any) -> str:
    """A Slack webhook connection as ``SlackWebhookNotifier`` needs it; nothing is posted, since a test
    message would reach the on-call channel (a preflight changes nothing)."""
    if conn.conn_type != "slackwebhook":
        raise CheckFailed(
            f"its type is {conn.conn_type!r}, not a Slack incoming webhook",
            "give the connection conn_type slackwebhook (apache-airflow-providers-slack)",
        )
    if not conn.password:
        raise CheckFailed(
            "it has no webhook token (the password: the part after /services/, or the whole URL)",
            "put the incoming webhook's token in the connection's password",
        )
    return f"Slack incoming webhook on {conn.host or 'hooks.slack.com'} (nothing posted)"


def _channels(settings: RunSettings) -> Iterator[Channel]:
    """The on-call connections one sender's or LIS system's settings name."""
    if settings.smtp_conn_id:
        yield Channel("mail", settings.smtp_conn_id)
    if settings.slack_conn_id:
        yield Channel("Slack", settings.slack_conn_id)


def channel_checks(channels: Iterable[Channel]) -> Iterator[Check]:
    """Per on-call connection: absent is fine (the message is then only logged); present, its mail server
    answers, or it is a Slack webhook with its token."""
    for kind, conn_id in dict.fromkeys(channels):
        try:
            conn = BaseHook.get_connection(conn_id)
        except AirflowNotFoundException:
            yield Check(
                "ok", f"{kind}: connection {conn_id}", "not set: on-call messages go to the task logs only"
            )
            continue
        except Exception as exc:
            fix = "check the connection's value"
            yield Check("FAIL", f"{kind}: connection {conn_id}", describe(exc), fix)
            continue
        if kind == "Slack":
            what, check = f"Slack: connection {conn_id} is an incoming webhook", _slack_check
            fix = "check the Slack connection (docs/deploy.md describes it)"
        else:
            what, check = f"mail: SMTP server of connection {conn_id} accepts a connection", _smtp_check
            fix = "check host, port, extra.disable_ssl / extra.disable_tls and login of the connection"
        yield run_check(what, partial(check, conn), fix)


# --- all of it


def sides(folder: Path) -> list[str]:
    """Which sides the folder configures: ``senders.yaml`` → sender, ``receivers.yaml`` → LIS."""
    found = [("sender", SENDERS_FILE), ("LIS", RECEIVERS_FILE)]
    return [side for side, name in found if (folder / name).is_file()]


def preflight(folder: Path, *, kommune: str | None = None, period: Period | None = None) -> list[Check]:
    """Every check of the deployment in ``folder``; ``kommune`` and ``period``: the extract's sample."""
    present = sides(folder)
    if not present:
        return [
            Check(
                "FAIL",
                f"configuration {folder}",
                f"neither {SENDERS_FILE} (a vendor's side) nor {RECEIVERS_FILE} (a LIS team's side)",
                "write a starter with `sf1630 init sender DIR` or `sf1630 init receiver DIR`, or point "
                "SF1630_CONFIG_DIR (or --config) at the configuration folder",
            )
        ]
    checks: list[Check] = []
    channels: list[Channel] = []
    if "sender" in present:
        found, named = sender_side(folder, kommune, period)
        checks, channels = checks + found, channels + named
    if "LIS" in present:
        found, named = receiver_side(folder)
        checks, channels = checks + found, channels + named
    return [*checks, *channel_checks(channels)]
