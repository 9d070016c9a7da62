"""Every command in the README is run by a test or by ``.ci/run``.

The README's shell blocks are parsed into commands; each must be claimed by one of the checks below, so a
command added to the README without a test fails here. Commands that are cheap run for real, in order, in
a scratch folder (the "trying the pieces" walkthrough); the rest name the test or CI step that runs them.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
README = REPO / "README.md"
BIN = Path(sys.executable).parent


def shell_commands(text: str) -> list[str]:
    """The commands of the README's shell blocks, with continuation lines and open quotes joined."""
    commands: list[str] = []
    for block in re.findall(r"^\s*```sh\n(.*?)^\s*```", text, flags=re.S | re.M):
        pending = ""
        for line in block.splitlines():
            pending = f"{pending}\n{line.strip()}" if pending else line.strip()
            if pending.endswith("\\"):
                pending = pending[:-1].rstrip() + " "
                continue
            try:
                words = shlex.split(pending, comments=True)
            except ValueError:  # an open quote: the command goes on in the next line
                continue
            if words:
                commands.append(pending.strip())
            pending = ""
        assert not pending, f"unfinished command in README: {pending!r}"
    return commands


COMMANDS = shell_commands(README.read_text(encoding="utf-8"))


def claimed(prefix: str) -> list[str]:
    return [command for command in COMMANDS if command.startswith(prefix)]


def test_every_readme_command_is_claimed_by_a_check() -> None:
    prefixes = (
        "make ",
        "bash .ci/run",
        "sf1630 ",
        "export AIRFLOW_CONN_",
        "airflow dags trigger ",
        "printf ",
        "docker compose ",
        ".venv/bin/sf1630 demo",
        ".venv/bin/python tests/browser/walkthrough.py",
    )
    unclaimed = [command for command in COMMANDS if not command.startswith(prefixes)]
    assert unclaimed == [], "README commands no test runs"


def test_ci_runs_the_lint_and_test_commands() -> None:
    ci = (REPO / ".ci" / "run").read_text(encoding="utf-8")
    for target in ("lint", "test"):
        assert claimed(f"make {target}"), f"the README does not show make {target}"
        assert re.search(rf"^make {target}\b", ci, flags=re.M), f".ci/run does not run make {target}"
    assert claimed("bash .ci/run") == ["bash .ci/run"]  # CI's own entry point


def test_make_targets_run_what_the_readme_says() -> None:
    """``make test`` is the tests' command; ``make demo`` runs ``sf1630 demo`` (tests/integration/demo);
    ``make bench`` runs every ``bench/*.py`` (tests/bench runs each at 1 %)."""
    expectations = {"test": "pytest -n 2 --dist loadfile", "demo": "sf1630 demo", "bench": "bench/bench_*.py"}
    for target, expected in expectations.items():
        dry = subprocess.run(["make", "-n", target], cwd=REPO, capture_output=True, text=True, check=True)
        assert expected in dry.stdout, dry.stdout


@pytest.fixture
def scratch(tmp_path: Path) -> Iterator[Path]:
    (tmp_path / "include").symlink_to(REPO / "include")
    yield tmp_path


def _walkthrough_env() -> dict[str, str]:
    return {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}


#: The walkthrough's delivery as the README's prose describes it: who puts the files, who gets them.
WALKTHROUGH_SENDER, WALKTHROUGH_RECIPIENT = "KY_SFTPSIMPEL", "HERNING_LIS01_SIMPEL"


def test_walkthrough_delivers_what_the_readme_says(scratch: Path) -> None:
    """Run the "trying the pieces" commands in order, then do what the prose says with the ``sftp`` line
    ``serve`` prints: the receipt must say SUCCESS and the data file arrive with its metadata file."""
    prose = README.read_text(encoding="utf-8")
    assert f"`OUT/` as `{WALKTHROUGH_SENDER}`" in prose and f"`{WALKTHROUGH_RECIPIENT}`'s `IN/`" in prose
    walkthrough = claimed("sf1630 ")
    [serve] = [command for command in walkthrough if "platform serve" in command]
    [trigger_command] = [command for command in walkthrough if command.startswith("sf1630 protocol trigger ")]
    data = scratch / shlex.split(trigger_command)[3]
    trigger = scratch / shlex.split(trigger_command)[-1]
    for command in walkthrough:
        if command is serve:
            continue
        result = subprocess.run(
            ["bash", "-c", f"mkdir -p var/try && {command}"],
            cwd=scratch,
            env=_walkthrough_env(),
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == 0, f"{command}\n{result.stdout}\n{result.stderr}"
    assert (scratch / "var" / "try" / "reports").is_dir()
    assert trigger.name == data.name + ".trigger" and data.is_file()

    with _serving(serve + " --port 0", scratch) as (connect, home):
        batch = scratch / "put.batch"
        batch.write_text(f"put {data} OUT/\nput {trigger} OUT/\n", encoding="utf-8")
        put = subprocess.run(
            [
                "bash",
                "-c",
                connect[WALKTHROUGH_SENDER].replace("sftp ", f"sftp -o BatchMode=yes -b {batch} ", 1),
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert put.returncode == 0, put.stdout + put.stderr
        receipt_file = home / "users" / WALKTHROUGH_SENDER / "IN" / (data.name + ".sftpreceipt")
        inbox = home / "users" / WALKTHROUGH_RECIPIENT / "IN"
        _wait_for(receipt_file)
        _assert_delivered(receipt_file, inbox, data)


def _assert_delivered(receipt_file: Path, inbox: Path, data: Path) -> None:
    from sf1630.protocol import SUCCESS, read_metadata, read_receipt

    receipt = read_receipt(receipt_file.read_bytes())
    assert receipt.message == SUCCESS, receipt.errors
    assert sorted(path.name for path in inbox.iterdir()) == [data.name, data.name + ".metadata"]
    assert (inbox / data.name).read_bytes() == data.read_bytes()
    metadata = read_metadata((inbox / (data.name + ".metadata")).read_bytes())
    assert metadata.file_transfer_uuid == receipt.file_transfer_uuid
    assert (metadata.file.file_name, metadata.file.recipients) == (data.name, (WALKTHROUGH_RECIPIENT,))


def _wait_for(path: Path, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} did not appear within {timeout} s"
        time.sleep(0.05)


@contextmanager
def _serving(command: str, cwd: Path) -> Iterator[tuple[dict[str, str], Path]]:
    """Run ``serve`` until it listens; yield the ``sftp`` command line it printed per user, and its home."""
    process = subprocess.Popen(
        ["bash", "-c", f"exec {command}"],
        cwd=cwd,
        env=_walkthrough_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert process.stdout is not None
        seen = []
        for line in process.stdout:
            seen.append(line)
            if line.startswith("listening on "):
                break
        else:
            pytest.fail(f"{command} ended without listening:\n{''.join(seen)}")
        connect = {
            line.split()[-1].split("@")[0]: line.removeprefix("connect:").strip()
            for line in seen
            if line.startswith("connect:  sftp ")
        }
        assert connect, "serve prints the sftp command line of each demo user"
        home = Path(seen[-1].rsplit("(home ", 1)[1].rstrip().rstrip(")"))
        yield connect, home
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_connection_example_is_a_valid_pinned_sftp_connection() -> None:
    [command] = claimed("export AIRFLOW_CONN_")
    name, _, value = shlex.split(command)[1].partition("=")
    fields = json.loads(value)
    assert name == "AIRFLOW_CONN_SF1630_SFTP_KY"
    assert fields["conn_type"] == "sftp" and fields["login"] == "KY_SFTPSIMPEL"
    assert fields["extra"]["host_key"].startswith("ssh-ed25519 ")


def test_resend_one_delivery_command_queues_a_run_with_its_params(airflow_db: Path) -> None:
    [command] = claimed("airflow dags trigger ")
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}
    dag_id = shlex.split(command)[3]
    subprocess.run(["airflow", "dags", "reserialize"], env=env, check=True, capture_output=True, timeout=240)
    subprocess.run(["bash", "-c", command], env=env, check=True, capture_output=True, timeout=120)
    from airflow.models import DagRun
    from airflow.utils.session import create_session

    with create_session() as session:
        [run] = session.query(DagRun).filter(DagRun.dag_id == dag_id).all()
        assert run.run_id.startswith("manual__") and run.state == "queued"
        assert run.conf == json.loads(shlex.split(command)[-1])
        assert run.conf["kommune"] == ["153"] and run.conf["period"] == "2026-10"


def test_env_file_command_sets_every_secret_compose_requires(tmp_path: Path) -> None:
    [command] = claimed("printf ")
    subprocess.run(["bash", "-c", command], cwd=tmp_path, check=True, timeout=30)
    values = dict(line.split("=", 1) for line in (tmp_path / ".env").read_text().splitlines())
    compose = (REPO / "docker-compose.yml").read_text(encoding="utf-8")
    required = set(re.findall(r"\$\{(\w+):\?", compose))
    assert required and required <= set(values)
    assert all(re.fullmatch(r"[0-9a-f]{64}", values[name]) for name in required)


def test_compose_commands_name_real_services() -> None:
    """No Docker engine here: tests/deploy/test_compose.py checks the file; this checks the commands."""
    import yaml

    services = set(yaml.safe_load((REPO / "docker-compose.yml").read_text(encoding="utf-8"))["services"])
    commands = claimed("docker compose ")
    assert "docker compose up -d --build" in commands
    for command in commands:
        scaled = re.findall(r"--scale (\S+)=\d+", command)
        assert set(scaled) <= services, command


def test_demo_commands_parse_to_the_tested_entry_points() -> None:
    """``sf1630 demo --kommuner N`` is ``run_demo`` (tests/integration/demo runs it for 4 kommuner);
    ``sf1630 demo ui`` is run for real by tests/integration/demo/test_demo.py::test_ui_command_…"""
    from sf1630.cli import build_parser
    from sf1630.demo.cli import run_command, ui_command

    commands = claimed(".venv/bin/sf1630 demo")
    handlers = {build_parser().parse_args(shlex.split(c, comments=True)[1:]).handler for c in commands}
    assert handlers == {run_command, ui_command}


def test_walkthrough_script_is_the_one_the_readme_runs() -> None:
    """``tests/browser/walkthrough.py`` needs a finished default demo (minutes of Airflow), so the suite
    only checks that it starts; its run is in the closing note of issue 15 and its screenshots in docs/."""
    [command] = claimed(".venv/bin/python tests/browser/walkthrough.py")
    script = REPO / shlex.split(command, comments=True)[1]
    result = subprocess.run(
        [sys.executable, str(script), "--help"], capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0 and "--home" in result.stdout, result.stderr[-2000:]


# --- the docs' claims about the code: every module path, file and task they name exists ------------------

DOCS = [README, *sorted((REPO / "docs").glob("*.md"))]
#: ``sf1630.x.y`` or ``sf1630.x.y.name`` in backticks, a call's arguments aside.
_DOTTED = re.compile(r"`(sf1630(?:\.[A-Za-z_][A-Za-z0-9_]*)+)(?:\([^`]*\))?`")
#: ``dags/x.py``, ``include/...``, ``tests/...``, ``bench/...`` or ``plugins/...`` in backticks.
_PATH = re.compile(r"`((?:dags|include|tests|bench|plugins|docs)/[A-Za-z0-9_./-]+)`")
#: ``name`` task (instance): a task named in prose.
_TASK = re.compile(r"`([a-z_]+)` task(?:s| instances?)?\b")


def _resolves(dotted: str) -> bool:
    """Whether ``dotted`` is a module, or a name (attribute path) inside the longest module it starts with."""
    import importlib

    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            target: object = importlib.import_module(".".join(parts[:cut]))
        except ModuleNotFoundError:
            continue
        for name in parts[cut:]:
            if not hasattr(target, name):
                return False
            target = getattr(target, name)
        return True
    return False


#: Backticked names that look dotted but are files (``sf1630.env``).
_FILE_SUFFIXES = (".env", ".yaml", ".yml", ".py", ".sql", ".toml")


def test_every_module_and_name_the_docs_name_exists() -> None:
    found = {(doc.name, m) for doc in DOCS for m in _DOTTED.findall(doc.read_text(encoding="utf-8"))}
    named = {(doc, dotted) for doc, dotted in found if not dotted.endswith(_FILE_SUFFIXES)}
    assert named, "the docs name no sf1630 module: the pattern is broken"
    missing = sorted(f"{doc}: {dotted}" for doc, dotted in named if not _resolves(dotted))
    assert missing == [], "the docs name modules or names that do not exist"


def _starter_paths() -> set[str]:
    """Every file and folder ``sf1630 init`` writes into a party's own Airflow project."""
    from sf1630.deployment.starter import templates

    paths: set[str] = set()
    for side in ("sender", "receiver"):
        for path, _ in templates(side):
            paths |= {path.as_posix(), *(parent.as_posix() for parent in path.parents)}
    return paths


def test_every_path_the_docs_name_exists() -> None:
    """In this repository, or in the project ``sf1630 init`` writes (docs/deploy.md describes that one)."""
    named = {(doc.name, p) for doc in DOCS for p in _PATH.findall(doc.read_text(encoding="utf-8"))}
    assert named, "the docs name no repository path: the pattern is broken"
    starter = _starter_paths()
    missing = sorted(
        f"{doc}: {path}"
        for doc, path in named
        if not (REPO / path.rstrip("/.")).exists() and path.rstrip("/") not in starter
    )
    assert missing == [], "the docs name files that do not exist"


def test_the_readme_layout_lists_every_dag_file() -> None:
    layout = README.read_text(encoding="utf-8").split("## Layout", 1)[1].split("```", 2)[1]
    files = sorted(p.name for p in (REPO / "dags").glob("*.py") if not p.name.startswith("_"))
    assert files and [name for name in files if name not in layout] == []


def _task_tables(text: str) -> set[str]:
    """The task names in the first column of the docs' ``| task | ... |`` tables."""
    names: set[str] = set()
    for table in re.findall(r"^\| task \|.*\n\|[-| ]+\|\n((?:\|.*\n)+)", text, flags=re.M):
        names |= {m for m in re.findall(r"^\| `([a-z_]+)`", table, flags=re.M)}
    return names


def test_every_task_the_docs_name_is_a_task_of_a_dag() -> None:
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(REPO / "dags"))
    assert not bag.import_errors
    task_ids = {task_id for dag in bag.dags.values() for task_id in dag.task_ids}
    named: set[tuple[str, str]] = set()
    for doc in DOCS:
        text = doc.read_text(encoding="utf-8")
        named |= {(doc.name, t) for t in {*_TASK.findall(text), *_task_tables(text)}}
    assert {t for _, t in named} >= {"deliver", "load", "plan"}, "the patterns find no tasks: broken"
    assert sorted(f"{doc}: {task}" for doc, task in named if task not in task_ids) == []


def test_every_configured_sender_is_in_the_docs_lists_and_connection_tables() -> None:
    """The README's and sender.md's lists of senders and their per-sender connections name every sender."""
    from sf1630.registry import load_registry

    codes = [s.code for s in load_registry().senders]
    readme = README.read_text(encoding="utf-8")
    sender_md = (REPO / "docs" / "sender.md").read_text(encoding="utf-8")
    listed = re.search(r"sender DAGs\*\* for the fagsystemer \(([^)]*)\)", readme)
    assert listed is not None and [c.strip() for c in listed[1].split(",")] == codes
    code_row = re.search(r"^\| `code` \|.*$", sender_md, flags=re.M)
    assert code_row is not None and all(f"`{c}`" in code_row[0] for c in codes)
    for doc in (readme, sender_md):
        for conn in ("sftp", "source"):
            row = re.search(rf"^\| `sf1630_{conn}_{codes[0].lower()}` \(([^)]*)\)", doc, flags=re.M)
            assert row is not None, f"no sf1630_{conn}_ row"
            assert [s.strip(" `_") for s in row[1].split(",")] == [c.lower() for c in codes[1:]]
