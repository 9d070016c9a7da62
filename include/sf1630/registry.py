"""The emulator's registry (users, it-systems, routes) derived from the kommune list and the senders.

On the real Serviceplatform a route exists because a kommune registered its LIS system and each fagsystem
for it; in the demo the same facts are in ``kommuner.yaml`` and ``senders.yaml``. Deriving the platform
configuration from them (instead of keeping a third file by hand) means a kommune or LIS system added there
can be delivered to at once, and a test can build a platform for a handful of kommuner. Keys and passwords
are inputs, never stored in the configuration files.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from sf1630.protocol import INF_REF_SF1630, cvr_urn
from sf1630.sender.config import Kommune, SenderSystem, load_kommuner, load_senders


def _user(
    name: str, passwords: Mapping[str, str], keys: Mapping[str, Sequence[str]], email: str
) -> dict[str, Any]:
    user: dict[str, Any] = {"name": name, "email": email}
    if name in keys:
        user["authorized_keys"] = list(keys[name])
    if name in passwords:
        user["password"] = passwords[name]
    return user


def _selected(kommuner: Iterable[Kommune], codes: Collection[str]) -> list[Kommune]:
    chosen = [k for k in kommuner if not codes or k.kode in codes]
    unknown = set(codes) - {k.kode for k in chosen}
    if unknown:
        raise ValueError(f"unknown kommunekode(r): {', '.join(sorted(unknown))}")
    return chosen


def platform_config(
    kommuner: Sequence[Kommune] | None = None,
    senders: Sequence[SenderSystem] | None = None,
    *,
    kommune_codes: Collection[str] = (),
    sender_codes: Collection[str] = (),
    passwords: Mapping[str, str] | None = None,
    authorized_keys: Mapping[str, Sequence[str]] | None = None,
    omit_routes: Collection[tuple[str, str]] = (),
    email_domain: str = "example.dk",
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The emulator's YAML configuration as a dict.

    ``kommuner``/``senders`` default to the files in ``config_dir()``; ``kommune_codes`` and
    ``sender_codes`` narrow them. ``passwords`` and ``authorized_keys`` are by SFTP user name.
    ``omit_routes`` leaves out the routes of given (sender code, LIS SFTP user) pairs, to provoke
    "no route" receipts. ``extra`` adds top-level keys such as ``retention`` or ``router``.
    """
    kommuner = _selected(kommuner if kommuner is not None else load_kommuner(), set(kommune_codes))
    all_senders = senders if senders is not None else load_senders()
    senders = [s for s in all_senders if not sender_codes or s.code in sender_codes]
    passwords = passwords or {}
    keys = authorized_keys or {}
    users = [_user(s.sftp_user, passwords, keys, f"{s.sftp_user.lower()}@{email_domain}") for s in senders]
    systems = [{"uuid": str(s.it_system), "name": s.name, "sftp_user": s.sftp_user} for s in senders]
    routes = []
    for kommune in kommuner:
        authority = cvr_urn(kommune.cvr)
        for lis in kommune.lis_systems:
            users.append(_user(lis.sftp_user, passwords, keys, f"{lis.sftp_user.lower()}@{email_domain}"))
            systems.append(
                {"uuid": str(lis.it_system), "name": f"{kommune.name} {lis.name}", "sftp_user": lis.sftp_user}
            )
            routes += [
                {
                    "inf_ref": INF_REF_SF1630,
                    "sender_authority": authority,
                    "sender_it_system": str(sender.it_system),
                    "recipient_authority": authority,
                    "recipient_it_system": str(lis.it_system),
                    "sftp_username": lis.sftp_user,
                }
                for sender in senders
                if (sender.code, lis.sftp_user) not in omit_routes
            ]
    return {"users": users, "it_systems": systems, "routes": routes, **(extra or {})}


def write_platform_config(path: Path, config: Mapping[str, Any]) -> Path:
    """Write ``config`` as YAML to ``path`` (readable only by its owner: it may hold passwords)."""
    import yaml

    path.write_text(yaml.safe_dump(dict(config), sort_keys=False, allow_unicode=True), encoding="utf-8")
    path.chmod(0o600)
    return path
