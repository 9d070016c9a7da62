"""``sf1630 demo seed``: the demo's inputs, with nothing running yet.

It writes (1) the configuration the DAGs read, narrowed to the chosen kommuner and tuned for a run that
finishes in minutes, (2) one SSH key pair per SFTP user and the emulator's registry derived from
``senders.yaml`` × ``kommuner.yaml`` by :mod:`sf1630.registry`, (3) the emulator's host key, so connections
can pin it before the server first starts, and (4) a SQLite source database with synthetic rows for every
sender and kommune, one kommune's KSD rows broken on purpose so that its LIS must quarantine the file.
The docker-compose seeding service runs exactly this command.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import yaml

from sf1630.demo import DEMO_MONTH, INVALID_KIND, INVALID_KOMMUNE, INVALID_SENDER
from sf1630.demo.layout import DemoHome
from sf1630.protocol import Period
from sf1630.registry import Kommune, Registry, SenderSystem, load_registry
from sf1630.settings import config_dir

#: Sender settings for the demo: short retry delays and receipt polls (the emulator answers in ms).
SENDER_TUNING: dict[str, Any] = {
    "retries": 1,
    "retry_delay": "5s",
    "max_retry_delay": "10s",
    "receipt_poll": "1s",
    "receipt_timeout": "2m",
}
#: Receiver settings for the demo: a LIS with nothing delivered gives up waiting after seconds, not an hour.
#: Each LIS system is its own product with its own database; the demo gives each its own schema in one
#: DuckDB file (a kommune with two LIS systems gets the same extract twice, and an ``append`` spec such as
#: AULA's would otherwise collide on its primary key in a shared schema).
RECEIVER_TUNING: dict[str, Any] = {
    "warehouse_conn_id": "sf1630_warehouse_{user}",
    "wait_timeout": "20s",
    "poke_interval": "1s",
    "retries": 1,
    "retry_delay": "5s",
    "max_retry_delay": "10s",
}

#: What the month through Airflow's scheduler adds (``sf1630 demo``, not the docker-compose seed): the
#: senders keep the product's schedule (06:00 on the 1st, data interval = the month before) and the
#: scheduler itself makes the demo month's run, as production makes a missed month's: ``catchup`` from the
#: 1st of the month, ``end_date`` its last day (:func:`month_window`), so that run is the only one. The
#: receivers are scheduled every minute (production: every hour) so the scheduler creates their runs,
#: each waiting (deferred) for the platform's metadata files while the senders deliver; the platform takes
#: its time (``--processing-delay``), so the senders' receipts are waited for in the triggerer too.
MONTH_SENDER_TUNING: dict[str, Any] = {
    "catchup": True,
    "receipt_poll": "3s",
    # The platform takes --processing-delay (20 s) per trigger: a longer first look only holds a slot.
    "receipt_quick_look": "0s",
    "receipt_timeout": "15m",
}
#: One sender's month is late on purpose: KSD's run gets a deadline shorter than the platform's delays make
#: its run, so the month shows a missed deadline on the run in the UI and a DEADLINE MISSED message in the
#: mail sink (beside the FAILED message of the receiver that quarantines København's KSD file).
LATE_SENDER, LATE_DEADLINE = "KSD", "1m"
MONTH_RECEIVER_TUNING: dict[str, Any] = {
    "schedule": "* * * * *",
    "wait_timeout": "15m",
    "poke_interval": "3s",
}


@dataclass(frozen=True)
class SeedInfo:
    """What was seeded: read back by the run, the summary and tests."""

    month: str
    kommuner: list[str]
    senders: list[str]
    sftp_users: list[str]  # the LIS systems' (``lis.sftp_user``), in file order
    rows_per_kommune: int
    invalid_sender: str
    invalid_kommune: str
    invalid_kind: str
    invalid_files: list[str]
    source_rows: dict[str, int]

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(asdict(self), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")

    @classmethod
    def load(cls, path: Path) -> SeedInfo:
        return cls(**json.loads(path.read_text(encoding="utf-8")))


def write_demo_config(
    home: DemoHome,
    kommune_count: int | None,
    source: Path | None = None,
    *,
    scheduled: bool = False,
    max_active_deliveries: int | None = None,
    sender_codes: Sequence[str] | None = None,
    month: str = DEMO_MONTH,
) -> Path:
    """Copy the shipped configuration into the home: the first ``kommune_count`` kommuner, demo timings
    (and, when ``scheduled``, the settings of a month through Airflow's scheduler)."""
    source = source or config_dir()
    target = home.config_dir
    target.mkdir(parents=True, exist_ok=True)
    kommuner = _read(source / "kommuner.yaml")
    if kommune_count is not None:
        if kommune_count < 1:
            raise ValueError("--kommuner must be at least 1")
        kommuner["kommuner"] = kommuner["kommuner"][:kommune_count]
    senders = _read(source / "senders.yaml")
    senders["defaults"].update(SENDER_TUNING)
    receivers = _read(source / "receivers.yaml")
    receivers["defaults"].update(RECEIVER_TUNING)
    if sender_codes is not None:
        senders["senders"] = [s for s in senders["senders"] if s["code"] in sender_codes]
        accepts = receivers["defaults"].get("accepts")
        if accepts is not None:
            receivers["defaults"]["accepts"] = [c for c in accepts if c in sender_codes]
    if scheduled:
        senders["defaults"].update(MONTH_SENDER_TUNING, **month_window(month))
        receivers["defaults"].update(MONTH_RECEIVER_TUNING)
        for sender in senders["senders"]:
            if sender["code"] == LATE_SENDER:
                sender["deadline"] = LATE_DEADLINE
    if max_active_deliveries is not None:
        senders["defaults"]["max_active_deliveries"] = max_active_deliveries
    for name, content in (("kommuner", kommuner), ("senders", senders), ("receivers", receivers)):
        text = yaml.safe_dump(content, sort_keys=False, allow_unicode=True)
        (target / f"{name}.yaml").write_text(f"# Written by `sf1630 demo seed`.\n{text}", encoding="utf-8")
    return target


def month_window(month: str) -> dict[str, str]:
    """``start_date`` and ``end_date`` that let the scheduler make one run: the one delivering ``month``."""
    period = Period.parse(month)
    last_day = period.next().first_day - timedelta(days=1)
    return {"start_date": period.first_day.date().isoformat(), "end_date": last_day.date().isoformat()}


def _read(path: Path) -> dict[str, Any]:
    return dict(yaml.safe_load(path.read_text(encoding="utf-8")))


def generate_keys(folder: Path, users: Sequence[str]) -> dict[str, list[str]]:
    """One ed25519 key pair per SFTP user (private key readable by its owner only); public lines by user."""
    import asyncssh

    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    public: dict[str, list[str]] = {}
    for user in users:
        private = folder / user
        if not private.exists():
            key = asyncssh.generate_private_key("ssh-ed25519", comment=f"{user}@sf1630-demo")
            fd = os.open(private, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as out:
                out.write(key.export_private_key())
            (folder / f"{user}.pub").write_bytes(key.export_public_key())
        public[user] = [(folder / f"{user}.pub").read_text(encoding="ascii").strip()]
    return public


def write_platform(home: DemoHome, registry: Registry) -> Path:
    """The emulator's registry with every user's public key, and its host key (created now, pinned later)."""
    from sf1630.platform.folders import PlatformHome
    from sf1630.platform.server import load_host_key
    from sf1630.registry import platform_config, write_platform_config

    users = [s.sftp_user for s in registry.senders] + [r.lis.user for r in registry.recipients()]
    keys = generate_keys(home.keys, users)
    config = platform_config(registry, authorized_keys=keys, extra={"router": {"rescan_interval": "1s"}})
    write_platform_config(home.platform_config, config)
    platform = PlatformHome(home.platform_home)
    platform.root.mkdir(mode=0o700, parents=True, exist_ok=True)
    load_host_key(platform)
    return home.platform_config


def host_key_line(home: DemoHome) -> str:
    """``ssh-ed25519 AAAA…`` of the emulator, as connections pin it in ``extra.host_key``."""
    return " ".join((home.platform_home / "host_key.pub").read_text(encoding="ascii").split()[:2])


def seed_sources(
    home: DemoHome,
    kommuner: Sequence[Kommune],
    senders: Sequence[SenderSystem],
    period: Period,
    rows: int,
    invalid: tuple[str, str, str] | None,
) -> dict[str, int]:
    """Fill one source table per sender; ``invalid`` = (sender code, kommune CVR, corruption class)."""
    from sf1630.database import Database
    from sf1630.dataspec import load_spec
    from sf1630.sender.source import seed_source, write_rows

    source = Database.sqlite(home.source_db)
    counts: dict[str, int] = {}
    for sender in senders:
        spec = load_spec(sender.dataspec)
        cvrs = [k.cvr for k in kommuner]
        broken = invalid[1] if invalid and invalid[0] == sender.code else None
        valid = [cvr for cvr in cvrs if cvr != broken]
        counts[sender.code] = seed_source(source, spec, valid, period, rows_per_kommune=rows) if valid else 0
        if broken is not None and invalid is not None:
            counts[sender.code] += write_rows(
                source, spec, corrupted_rows(spec, broken, period, rows, invalid[2])
            )
    return counts


def corrupted_rows(spec: Any, cvr: str, month: Period, rows: int, kind: str) -> Any:
    """A kommune's month made invalid by :func:`sf1630.dataspec.corrupt.corrupt`, read back as typed rows.

    The sender exports rows from its database, so the broken file has to come from broken rows; only
    classes whose bad values survive the column types (a pattern or value-set violation, a duplicate key)
    can be stored that way, which the round trip below checks.
    """
    import io

    import polars as pl

    from sf1630.dataspec.corrupt import corrupt
    from sf1630.dataspec.schema import read_options, typed_frame
    from sf1630.dataspec.synth import synthesize

    valid = synthesize(spec, rows, cvr, month, 1630)
    broken = typed_frame(pl.read_csv(io.BytesIO(corrupt(valid, spec, kind)), **read_options(spec)), spec)
    if (
        broken.height != valid.height
        or broken.null_count().sum_horizontal()[0] != valid.null_count().sum_horizontal()[0]
    ):
        raise ValueError(f"corruption {kind!r} cannot be stored in a typed source table")
    if broken.equals(valid):
        raise ValueError(f"corruption {kind!r} changed nothing")
    return broken


def seed(
    home: DemoHome,
    *,
    month: str = DEMO_MONTH,
    kommune_count: int | None = None,
    rows: int = 40,
    invalid_kommune: str = INVALID_KOMMUNE,
    scheduled: bool = False,
    max_active_deliveries: int | None = None,
    sender_codes: Sequence[str] | None = None,
) -> SeedInfo:
    """Write configuration, keys, the platform registry and the source database into ``home``."""
    from sf1630.sender.plan import plan_deliveries

    period = Period.parse(month)
    home.root.mkdir(parents=True, exist_ok=True)
    folder = write_demo_config(
        home,
        kommune_count,
        scheduled=scheduled,
        max_active_deliveries=max_active_deliveries,
        sender_codes=sender_codes,
        month=str(period),
    )
    registry = load_registry(folder)
    kommuner, senders = registry.kommuner, registry.senders
    chosen = [k for k in kommuner if k.kode == invalid_kommune]
    if not chosen:
        raise ValueError(f"kommune {invalid_kommune} (the invalid extract) is not among the chosen kommuner")
    write_platform(home, registry)
    home.source_db.unlink(missing_ok=True)  # seeding twice must not double the rows
    invalid = (INVALID_SENDER, chosen[0].cvr, INVALID_KIND)
    counts = seed_sources(home, kommuner, senders, period, rows, invalid)
    bad_sender = next(s for s in senders if s.code == INVALID_SENDER)
    bad = plan_deliveries(bad_sender, kommuner, period, kommune_filter=[invalid_kommune])
    info = SeedInfo(
        month=str(period),
        kommuner=[k.kode for k in kommuner],
        senders=[s.code for s in senders],
        sftp_users=[lis.user for k in kommuner for lis in k.lis_systems],
        rows_per_kommune=rows,
        invalid_sender=INVALID_SENDER,
        invalid_kommune=invalid_kommune,
        invalid_kind=INVALID_KIND,
        invalid_files=[d.file_name for d in bad],
        source_rows=counts,
    )
    info.save(home.seed_info)
    return info


def describe(info: SeedInfo, home: DemoHome) -> Mapping[str, str]:
    """One line per thing seeded, for the command's output."""
    total = sum(info.source_rows.values())
    return {
        "month": info.month,
        "kommuner": f"{len(info.kommuner)} ({len(info.sftp_users)} LIS systems)",
        "source": f"{home.source_db} ({total} rows: "
        + ", ".join(f"{k} {v}" for k, v in info.source_rows.items())
        + ")",
        "invalid": f"{info.invalid_sender} for kommune {info.invalid_kommune} ({info.invalid_kind}): "
        + ", ".join(info.invalid_files),
        "platform": f"{home.platform_config} (keys in {home.keys},"
        f" host key {home.platform_home / 'host_key.pub'})",
        "config": str(home.config_dir),
    }
