"""``sf1630 init``: the starter deployment of each side, its consistency, and that it never overwrites."""

from __future__ import annotations

import ast
import json
import subprocess
from pathlib import Path

import pytest
import yaml
from sf1630.cli import main
from sf1630.deployment.starter import CONFIG_FOLDER, templates
from sf1630.receiver.config import connection_slug

from tests.support import REPO

LAYOUT = {
    "sender": {
        "dags/sf1630_sender.py",
        "include/sf1630-config/senders.yaml",
        "include/sf1630-config/sql/ky.sql",
        "sf1630.env",
    },
    "receiver": {
        "dags/sf1630_receiver.py",
        "dags/sf1630_reload.py",
        "include/sf1630-config/receivers.yaml",
        "sf1630.env",
    },
}
#: Each starter DAG file and the repository's DAG file it must stay equal to (but for its docstring).
DAG_FILES = {
    "dags/sf1630_sender.py": "dags/sender_dags.py",
    "dags/sf1630_receiver.py": "dags/receiver_dags.py",
    "dags/sf1630_reload.py": "dags/reload_dag.py",
}


def files_below(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()}


@pytest.mark.parametrize("side", ["sender", "receiver"])
def test_init_writes_the_side_s_layout(side: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    project = tmp_path / "airflow-project"
    assert main(["init", side, str(project)]) == 0
    assert files_below(project) == LAYOUT[side]
    for name in LAYOUT[side]:
        template = dict(templates(side))[Path(name)]  # type: ignore[arg-type]
        assert (project / name).read_bytes() == template.read_bytes()
    out = capsys.readouterr().out
    assert f"SF1630_CONFIG_DIR={(project / CONFIG_FOLDER).resolve()} sf1630 preflight" in out


@pytest.mark.parametrize("side", ["sender", "receiver"])
def test_init_refuses_to_overwrite_and_writes_nothing(
    side: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    existing = tmp_path / "sf1630.env"
    existing.write_text("AIRFLOW_CONN_MINE=keep-me\n")
    assert main(["init", side, str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert str(existing) in err and "exists already" in err and "nothing was written" in err
    assert existing.read_text() == "AIRFLOW_CONN_MINE=keep-me\n"
    assert files_below(tmp_path) == {"sf1630.env"}


def test_a_second_init_of_the_same_side_refuses(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["init", "sender", str(tmp_path)]) == 0
    (tmp_path / "include/sf1630-config/senders.yaml").write_text("# mine\n")
    assert main(["init", "sender", str(tmp_path)]) == 1
    assert "dags/sf1630_sender.py exists already" in capsys.readouterr().err
    assert (tmp_path / "include/sf1630-config/senders.yaml").read_text() == "# mine\n"


def _code(path: Path) -> str:
    module = ast.parse(path.read_text(encoding="utf-8"))
    body = [
        node
        for node in module.body
        if not (isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant))
    ]
    return ast.dump(ast.Module(body=body, type_ignores=[]))


def test_starter_dag_files_are_the_repository_s_dag_files(tmp_path: Path) -> None:
    """The starter's DAG files wire exactly what the repository's do, so the two cannot drift apart."""
    for side in ("sender", "receiver"):
        assert main(["init", side, str(tmp_path / side)]) == 0
    for starter, repo in DAG_FILES.items():
        side = "sender" if "sender" in starter else "receiver"
        assert _code(tmp_path / side / starter) == _code(REPO / repo), starter


def _environment(env_file: Path) -> dict[str, str]:
    """The variables ``set -a; . sf1630.env`` exports, as a shell reads the file."""
    script = f"set -a; . {env_file}; env -0"
    out = subprocess.run(["bash", "-c", script], env={}, capture_output=True, check=True).stdout
    pairs = (item.split("=", 1) for item in out.decode().split("\0") if "=" in item)
    return {name: value for name, value in pairs if name.startswith(("AIRFLOW_CONN_", "SF1630_"))}


def _connection_ids(side: str, config: Path) -> set[str]:
    if side == "sender":
        raw = yaml.safe_load((config / "senders.yaml").read_text(encoding="utf-8"))
        ids = {raw["defaults"]["ledger_conn_id"], raw["defaults"]["smtp_conn_id"]}
        return ids | {s[key] for s in raw["senders"] for key in ("sftp_conn_id", "source_conn_id")}
    raw = yaml.safe_load((config / "receivers.yaml").read_text(encoding="utf-8"))
    defaults = raw["defaults"]
    users = [lis["sftp_user"] for k in raw["kommuner"] for lis in k["lis_systems"]]
    sftp = {defaults["sftp_conn_id"].format(user=connection_slug(u)) for u in users}
    return sftp | {defaults["warehouse_conn_id"], defaults["smtp_conn_id"]}


@pytest.mark.parametrize("side", ["sender", "receiver"])
def test_connection_template_has_every_connection_the_configuration_names(side: str, tmp_path: Path) -> None:
    assert main(["init", side, str(tmp_path)]) == 0
    env = _environment(tmp_path / "sf1630.env")
    assert env["SF1630_CONFIG_DIR"].endswith("/include/sf1630-config")
    connections = {
        name.removeprefix("AIRFLOW_CONN_").lower(): json.loads(v)
        for name, v in env.items()
        if name.startswith("AIRFLOW_CONN_")
    }
    assert set(connections) == _connection_ids(side, tmp_path / CONFIG_FOLDER)
    for conn_id, conn in connections.items():
        if conn["conn_type"] == "sftp":
            assert conn["extra"]["host_key"].startswith("ssh-ed25519 "), conn_id
            assert "no_host_key_check" not in conn["extra"], conn_id
            assert "password" not in conn, "SFTP logs in with the it-system's key"


def test_the_vendor_s_query_selects_the_spec_s_columns_in_order(tmp_path: Path) -> None:
    from sf1630.dataspec.spec import load_spec

    assert main(["init", "sender", str(tmp_path)]) == 0
    raw = yaml.safe_load((tmp_path / CONFIG_FOLDER / "senders.yaml").read_text(encoding="utf-8"))
    [sender] = raw["senders"]
    sql = (tmp_path / CONFIG_FOLDER / sender["extract_sql"]).read_text(encoding="utf-8")
    aliases = [
        line.split(" AS ")[1].strip().rstrip(",")
        for line in sql.splitlines()
        if " AS " in line and "FROM" not in line
    ]
    assert aliases == list(load_spec(sender["dataspec"]).column_names)
    for parameter in (":cvr", ":period", ":period_start", ":period_end"):
        assert parameter in sql


# Needs the lead's loader (issue 18 item 3): a vendor's folder holds senders.yaml only, a LIS team's
# receivers.yaml only, each with its own kommuner (and the LIS side its senders).


def test_starter_configurations_load(tmp_path: Path) -> None:
    from sf1630.receiver.config import load_receivers
    from sf1630.registry import load_registry

    for side in ("sender", "receiver"):
        assert main(["init", side, str(tmp_path / side)]) == 0
    registry = load_registry(tmp_path / "sender" / CONFIG_FOLDER)
    assert [s.code for s in registry.senders] == ["KY"]
    assert [k.kode for k in registry.kommuner] == ["657"]
    [receiver] = load_receivers(tmp_path / "receiver" / CONFIG_FOLDER)
    assert receiver.sftp_user == "HERNING_LIS01_SIMPEL"
    assert [s.code for s in receiver.accepted] == ["KY"]
    assert receiver.contact("KY") == "KY drift <drift@ky.example>"
