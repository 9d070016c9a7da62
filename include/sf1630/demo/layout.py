"""Where the demo keeps its state inside its home directory, in one place so every stage agrees.

The seeding service (docker-compose), the full run and ``sf1630 demo ui`` all point at the same folder;
naming the paths once means the closing summary can tell the newcomer exactly where to look.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

MARKER = ".sf1630-demo"


class HomeInUse(RuntimeError):
    """The chosen home holds files the demo did not create; it is never wiped."""


@dataclass(frozen=True)
class DemoHome:
    """The paths of one demo state directory (all absolute)."""

    root: Path

    @classmethod
    def at(cls, root: Path) -> DemoHome:
        return cls(Path(root).expanduser().resolve())

    @property
    def config_dir(self) -> Path:
        """Senders, kommuner and receivers for this run (``SF1630_CONFIG_DIR``)."""
        return self.root / "config"

    @property
    def keys(self) -> Path:
        """One SSH key pair per SFTP user (private key ``<user>``, public ``<user>.pub``)."""
        return self.root / "keys"

    @property
    def platform_config(self) -> Path:
        return self.root / "platform.yaml"

    @property
    def platform_home(self) -> Path:
        """The emulator's ``--home``: users' IN/OUT, journal, host key, audit log."""
        return self.root / "platform"

    @property
    def source_db(self) -> Path:
        """The fagsystemer's source tables (SQLite, one table per data spec)."""
        return self.root / "source.sqlite"

    @property
    def sender_ledger(self) -> Path:
        return self.root / "sender-ledger.sqlite"

    @property
    def airflow_home(self) -> Path:
        return self.root / "airflow"

    @property
    def airflow_db(self) -> Path:
        return self.airflow_home / "airflow.db"

    @property
    def postgres(self) -> Path:
        """The embedded PostgreSQL server's files: the warehouse (database ``sf1630``) and Airflow's metadata
        DB with ``--metadata-db postgres``."""
        return self.root / "postgres"

    @property
    def mail(self) -> Path:
        """Every mail the demo's SMTP sink received, one ``.eml`` file each."""
        return self.root / "mail"

    @property
    def settings(self) -> Path:
        """How the run was started (metadata DB kind, API port), read back by ``sf1630 demo ui``."""
        return self.root / "run.json"

    @property
    def quarantine(self) -> Path:
        """The receivers' default quarantine folder under ``$AIRFLOW_HOME``."""
        return self.airflow_home / "sf1630" / "quarantine"

    @property
    def logs(self) -> Path:
        """The demo's own logs: emulator, ``airflow db migrate`` and one per Airflow component."""
        return self.root / "logs"

    @property
    def seed_info(self) -> Path:
        """What ``seed`` did (month, kommuner, the invalid extract) as JSON, read by the run and summary."""
        return self.root / "seed.json"

    def reset(self) -> None:
        """Empty the home for a fresh run; refuses a non-empty folder the demo did not create."""
        if self.root.exists() and any(self.root.iterdir()) and not (self.root / MARKER).exists():
            raise HomeInUse(
                f"{self.root} is not empty and was not created by the demo; choose another --home"
            )
        if self.root.exists():
            shutil.rmtree(self.root)
        self.root.mkdir(parents=True)
        (self.root / MARKER).write_text("state of `sf1630 demo`; safe to delete\n", encoding="utf-8")
