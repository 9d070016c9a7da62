"""The shipped configuration, copied for one test and changed only where the test says.

``include/config`` is never touched: a test gets a folder of its own (point ``SF1630_CONFIG_DIR`` or a
loader at it) with the kommuner narrowed and the defaults and overrides it needs, written back with the
same YAML the project reads.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Any

import yaml
from sf1630.settings import config_dir

#: A cron that never fires before 2032 (29 February): the only runs are the ones a test triggers.
NEVER = "0 0 29 2 *"


def write_config(
    folder: Path,
    *,
    kommuner: Collection[str] = (),
    senders: Mapping[str, Any] | None = None,
    receivers: Mapping[str, Any] | None = None,
    receiver_overrides: Mapping[str, Mapping[str, Any]] | None = None,
) -> Path:
    """``kommuner.yaml``, ``senders.yaml`` and ``receivers.yaml`` in ``folder``: only the kommuner with
    these kommunekoder (all when empty; the shipped overrides of the others dropped), the senders' and
    receivers' defaults updated, and the per-LIS ``receiver_overrides`` in place of the shipped ones."""
    folder.mkdir(parents=True, exist_ok=True)
    content = {
        name: yaml.safe_load((config_dir() / f"{name}.yaml").read_text(encoding="utf-8"))
        for name in ("kommuner", "senders", "receivers")
    }
    if kommuner:
        narrowed = [k for k in content["kommuner"]["kommuner"] if k["kode"] in kommuner]
        content["kommuner"]["kommuner"] = narrowed
        users = {lis["sftp_user"] for k in narrowed for lis in k["lis_systems"]}
        shipped = content["receivers"].get("overrides") or {}
        content["receivers"]["overrides"] = {u: o for u, o in shipped.items() if u in users}
    content["senders"]["defaults"].update(senders or {})
    content["receivers"]["defaults"].update(receivers or {})
    if receiver_overrides:
        content["receivers"]["overrides"] = {k: dict(v) for k, v in receiver_overrides.items()}
    for name, data in content.items():
        text = yaml.safe_dump(data, allow_unicode=True, sort_keys=False)
        (folder / f"{name}.yaml").write_text(text, encoding="utf-8")
    return folder
