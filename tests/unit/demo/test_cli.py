"""``sf1630 demo`` runs everything without a sub-command; ``seed`` and ``ui`` are reachable; the
environment written for the UI pins the host key and names key files, never keys."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sf1630.cli import build_parser, main
from sf1630.demo import DEFAULT_HOME, DEMO_MONTH, REPO_ROOT
from sf1630.demo.cli import DEFAULT_KOMMUNER, run_command, seed_command, ui_command
from sf1630.demo.environment import (
    airflow_environment,
    connections,
    read_env_file,
    warehouse_schema,
    write_env_file,
)
from sf1630.demo.layout import DemoHome
from sf1630.demo.run import _repoint
from sf1630.demo.stack import Sizing, stack_environment


def test_demo_without_a_command_runs_the_whole_demo() -> None:
    args = build_parser().parse_args(["demo"])
    assert args.handler is run_command
    assert (args.home, args.month, args.kommuner) == (DEFAULT_HOME, DEMO_MONTH, DEFAULT_KOMMUNER)
    assert DEFAULT_KOMMUNER >= 20
    assert (args.metadata_db, args.processing_delay.total_seconds(), args.keep_running) == (
        "postgres",
        20,
        False,
    )
    assert DEFAULT_HOME == REPO_ROOT / "var" / "demo" and (REPO_ROOT / "dags" / "sender_dags.py").exists()
    assert build_parser().parse_args(["demo", "run", "--kommuner", "3"]).kommuner == 3
    assert build_parser().parse_args(["demo", "seed", "--home", "/x"]).handler is seed_command
    assert build_parser().parse_args(["demo", "ui"]).handler is ui_command


def test_bad_month_and_count_are_usage_errors(capsys: pytest.CaptureFixture[str]) -> None:
    for argv in (["demo", "--month", "2026-13"], ["demo", "seed", "--kommuner", "0"]):
        with pytest.raises(SystemExit) as exit_info:
            build_parser().parse_args(argv)
        assert exit_info.value.code == 2
    assert "must be" in capsys.readouterr().err


def test_seed_command_prints_what_it_wrote(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "seed", "--home", str(tmp_path / "s"), "--kommuner", "2", "--rows", "4"]) == 0
    out = capsys.readouterr().out
    assert "kommuner:  2 (2 LIS systems)" in out
    assert "KSD_LIS_10100000_M10_20261101000000.csv" in out
    assert (tmp_path / "s" / "platform" / "host_key.pub").exists()


def test_ui_needs_a_finished_demo(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "ui", "--home", str(tmp_path)]) == 2
    assert "run `sf1630 demo` first" in capsys.readouterr().err


def test_environment_pins_the_host_key_and_round_trips(tmp_path: Path) -> None:
    home = DemoHome.at(tmp_path)
    host_key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIB"
    sftp_users = ["IKAST-BRANDE_LIS01_SIMPEL"]
    conns = connections(home, 2222, host_key, {"KY": "KY_SFTPSIMPEL"}, sftp_users, ("/tmp/pg", 5433))
    lis = conns["sf1630_sftp_ikast_brande_lis01_simpel"]
    assert lis["extra"]["host_key"] == host_key and lis["extra"]["key_file"] == str(home.keys / lis["login"])
    assert (
        conns["sf1630_warehouse_ikast_brande_lis01_simpel"]["extra"]["schema"] == "ikast_brande_lis01_simpel"
    )
    assert warehouse_schema("IKAST-BRANDE_LIS01_SIMPEL") == "ikast_brande_lis01_simpel"
    env = airflow_environment(home, conns)
    assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] == f"sqlite:///{home.airflow_db}"
    assert env["SF1630_DEADLINES"] == "true" and env["AIRFLOW__CORE__EXECUTOR"] == "LocalExecutor"
    assert env["SF1630_CONFIG_DIR"] == str(home.config_dir)
    home.root.mkdir(exist_ok=True)
    write_env_file(home, env)
    assert read_env_file(home) == env
    moved = _repoint(env, 4022, ("/tmp/pg2", 5434))
    assert json.loads(moved["AIRFLOW_CONN_SF1630_SFTP_KY"])["port"] == 4022
    warehouse = json.loads(moved["AIRFLOW_CONN_SF1630_WAREHOUSE_IKAST_BRANDE_LIS01_SIMPEL"])
    assert (warehouse["conn_type"], warehouse["host"], warehouse["port"]) == ("postgres", "/tmp/pg2", 5434)
    assert warehouse["schema"] == "sf1630" and warehouse["extra"]["schema"] == "ikast_brande_lis01_simpel"
    assert moved["AIRFLOW_CONN_SF1630_SENDER_LEDGER"] == env["AIRFLOW_CONN_SF1630_SENDER_LEDGER"]


def test_stack_environment_is_sized_for_the_machine_and_keeps_its_secrets(tmp_path: Path) -> None:
    """Parallelism, DAG concurrency and the re-parse interval come from the environment the demo writes;
    the JWT secret and the admin password survive a restart of the stack (``sf1630 demo ui``)."""
    sizing = Sizing(parallelism=3, max_active_tasks_per_dag=2, parse_interval=900)
    env = stack_environment(tmp_path, "sqlite:////x.db", tmp_path / "dags", api_port=18080, sizing=sizing)
    assert env["AIRFLOW__CORE__PARALLELISM"] == "3"
    assert env["AIRFLOW__CORE__MAX_ACTIVE_TASKS_PER_DAG"] == "2"
    assert env["AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL"] == "900"
    assert env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] == "http://127.0.0.1:18080/execution/"
    again = stack_environment(tmp_path, "sqlite:////x.db", tmp_path / "dags", api_port=18080, sizing=sizing)
    assert again["AIRFLOW__API_AUTH__JWT_SECRET"] == env["AIRFLOW__API_AUTH__JWT_SECRET"]
    passwords = json.loads((tmp_path / "simple_auth_manager_passwords.json.generated").read_text())
    assert set(passwords) == {"admin"} and len(passwords["admin"]) >= 12
