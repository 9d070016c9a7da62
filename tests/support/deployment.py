"""One party's own Airflow, as a vendor or a LIS team runs it: a project made by ``sf1630 init``, its own
``AIRFLOW_HOME``, configuration folder and metadata database, and the connections as ``AIRFLOW_CONN_*``.

Two of these side by side (a vendor's and a LIS team's) share nothing but the platform they both reach. The
Airflow commands go through :class:`sf1630.demo.stack.AirflowStack`, the one launcher of the project, so
the deployment's environment is the whole of its configuration (nothing of the test process leaks in).
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sf1630.demo.stack import AirflowStack, stack_environment

from tests.support import REPO


@dataclass
class Deployment:
    """An Airflow project made by ``sf1630 init SIDE DIR``, with its own home and metadata database."""

    side: str
    root: Path
    stack: AirflowStack

    @classmethod
    def init(cls, side: str, root: Path) -> Deployment:
        """``sf1630 init SIDE ROOT``, then an Airflow environment of its own around the project."""
        made = subprocess.run(
            [sys.executable, "-m", "sf1630.cli", "init", side, str(root)],
            capture_output=True,
            text=True,
            check=False,
            cwd=REPO,
        )
        assert made.returncode == 0, made.stdout + made.stderr
        home = root / "airflow-home"
        home.mkdir(parents=True, exist_ok=True)
        env = stack_environment(home, f"sqlite:///{home / 'airflow.db'}", root / "dags")
        env.update({"SF1630_DEADLINES": "false", "SF1630_SETTLE_SECONDS": "0"})
        return cls(side, root, AirflowStack(env=env, logs=home / "logs", cwd=root))

    @property
    def config_dir(self) -> Path:
        """The configuration folder ``init`` made (the one holding the side's YAML file)."""
        name = "senders.yaml" if self.side == "sender" else "receivers.yaml"
        (found,) = {p.parent for p in self.root.rglob(name) if "airflow-home" not in p.parts}
        return found

    def configure(self, files: Mapping[str, str], connections: Mapping[str, Mapping[str, Any]]) -> None:
        """Fill in the configuration folder (``files`` by relative path) and the connections."""
        for name, text in files.items():
            path = self.config_dir / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
        self.stack.env["SF1630_CONFIG_DIR"] = str(self.config_dir)
        for conn_id, connection in connections.items():
            self.stack.env[f"AIRFLOW_CONN_{conn_id.upper()}"] = json.dumps(connection)

    def sf1630(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        """One ``sf1630`` command in this deployment's environment (never raises on its exit code)."""
        return subprocess.run(
            [str(Path(sys.executable).with_name("sf1630")), *args],
            env=self.stack.environment,
            cwd=self.root,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def dags_test(self, dag_id: str, conf: Mapping[str, Any] | None = None) -> str:
        """``airflow dags test DAG_ID`` (one run, triggers in the same process); its output."""
        args = ["dags", "test", dag_id]
        if conf:
            args += ["--conf", json.dumps(dict(conf))]
        return self.stack.airflow(*args, timeout=600)
