"""``sf1630 protocol validate`` and ``sf1630 protocol trigger``: output, exit codes and refusals."""

from __future__ import annotations

import subprocess
import sys
import uuid
from datetime import datetime
from pathlib import Path

import pytest
import sf1630.cli
from sf1630.protocol import (
    FILE_CONTENT_NAMESPACE,
    INF_REF_SF1630,
    ROUTING_RECIPIENT,
    Document,
    read_trigger,
    to_xml,
)

DATA_FILE = "KY_LIS_11111111_M03_20180402134858.csv"
SENDER_IT = "5170E7CA-7EAC-4D6A-BCAA-8588B586D0C3"
RECIPIENT_IT = "a3c1e9f0-5b7d-4c2e-8f1a-6d9b0e2c4f88"
CORPUS = Path(__file__).resolve().parent / "corpus"


@pytest.fixture(autouse=True)
def protocol_group_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """Run ``sf1630.cli.main`` with just this group, so these tests do not depend on the other groups."""
    monkeypatch.setattr(sf1630.cli, "GROUPS", {"protocol": "sf1630.protocol.cli"})


@pytest.fixture
def data_file(tmp_path: Path) -> Path:
    path = tmp_path / DATA_FILE
    path.write_bytes(b"kommune;vaerdi\n0101;42\n" * 10)
    return path


def _trigger_args(data_file: Path, *extra: str) -> list[str]:
    return [
        "protocol",
        "trigger",
        str(data_file),
        "--sender",
        "KY",
        "--sender-it-system",
        SENDER_IT,
        "--sender-authority",
        "12345678",
        "--recipient-it-system",
        RECIPIENT_IT,
        "--recipient-authority",
        "urn:oio:cvr-nr:11111111",
        *extra,
    ]


def _write(tmp_path: Path, name: str, doc: Document) -> Path:
    path = tmp_path / name
    path.write_bytes(to_xml(doc))
    return path


# -------------------------------------------------------------------------------------------------- validate


def test_validate_names_the_kind_of_each_valid_file(
    tmp_path: Path, samples: dict[str, Document], capsys: pytest.CaptureFixture[str]
) -> None:
    files = [
        _write(tmp_path, "a.trigger", samples["trigger-full"]),
        _write(tmp_path, "a.metadata", samples["metadata-routing"]),
        _write(tmp_path, "a.sftpreceipt", samples["receipt-failure"]),
    ]
    assert sf1630.cli.main(["protocol", "validate", *map(str, files)]) == 0
    assert capsys.readouterr().out.splitlines() == [
        f"{files[0]}: trigger",
        f"{files[1]}: metadata",
        f"{files[2]}: receipt",
    ]


def test_validate_reports_every_file_and_fails_on_any_rejection(
    tmp_path: Path, samples: dict[str, Document], capsys: pytest.CaptureFixture[str]
) -> None:
    good = _write(tmp_path, "good.trigger", samples["trigger-full"])
    xxe = CORPUS / "unsafe-xml--external-entity-file.xml"
    negative = CORPUS / "schema--negative-size.xml"
    assert sf1630.cli.main(["protocol", "validate", str(xxe), str(good), str(negative)]) == 1
    assert capsys.readouterr().out.splitlines() == [
        f"{xxe}: unsafe-xml: document contains a <!DOCTYPE declaration; DTDs are refused (line 2)",
        f"{good}: trigger",
        f"{negative}: schema: Element 'SizeInBytes': '-1' is not a valid value of the atomic type "
        "'xs:unsignedLong'. (line 5, at /Trigger/FileDescriptor/SizeInBytes)",
    ]


def test_validate_unreadable_file_is_a_usage_error(
    tmp_path: Path, samples: dict[str, Document], capsys: pytest.CaptureFixture[str]
) -> None:
    good = _write(tmp_path, "good.trigger", samples["trigger-full"])
    missing = tmp_path / "missing.trigger"
    assert sf1630.cli.main(["protocol", "validate", str(missing), str(good)]) == 2
    captured = capsys.readouterr()
    assert captured.out.splitlines() == [f"{good}: trigger"]
    assert f"{missing}: unreadable: No such file or directory" in captured.err


def test_validate_honours_max_bytes(
    tmp_path: Path, samples: dict[str, Document], capsys: pytest.CaptureFixture[str]
) -> None:
    good = _write(tmp_path, "good.trigger", samples["trigger-full"])
    assert sf1630.cli.main(["protocol", "validate", "--max-bytes", "100", str(good)]) == 1
    size = good.stat().st_size
    assert (
        capsys.readouterr().out == f"{good}: too-large: document is {size} bytes, more than the 100 allowed\n"
    )


def test_validate_needs_a_file() -> None:
    with pytest.raises(SystemExit) as caught:
        sf1630.cli.main(["protocol", "validate"])
    assert caught.value.code == 2


# --------------------------------------------------------------------------------------------------- trigger


def test_trigger_describes_the_data_file(data_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    before = datetime.now().astimezone().replace(microsecond=0)
    assert sf1630.cli.main(_trigger_args(data_file, "--senders-file-id", "run-7")) == 0
    after = datetime.now().astimezone()
    out = capsys.readouterr().out
    trigger = read_trigger(out.encode())
    assert trigger.file.file_name == DATA_FILE
    assert trigger.file.size_in_bytes == data_file.stat().st_size
    assert trigger.file.sender == "KY"
    assert trigger.file.recipients == (ROUTING_RECIPIENT,)
    assert trigger.file.senders_file_id == "run-7"
    routing = trigger.content.routing
    assert routing is not None
    assert routing.inf_ref == INF_REF_SF1630
    assert routing.sender_it_system == uuid.UUID(SENDER_IT)
    assert SENDER_IT.lower() in out
    assert routing.sender_authority == "urn:oio:cvr-nr:12345678"
    assert routing.recipient_it_system == uuid.UUID(RECIPIENT_IT)
    assert routing.recipient_authority == "urn:oio:cvr-nr:11111111"
    assert routing.transaction_id.version == 4
    assert str(routing.transaction_id) in out
    assert routing.sender_timestamp.utcoffset() is not None
    assert before <= routing.sender_timestamp <= after
    assert routing.route_parameters == ()


def test_trigger_route_date_becomes_a_route_parameter(
    data_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert sf1630.cli.main(_trigger_args(data_file, "--route-date", "2026-10-31")) == 0
    routing = read_trigger(capsys.readouterr().out.encode()).content.routing
    assert routing is not None
    assert routing.route_parameters == (("RouteSelectionValueDate", "2026-10-31"),)


def test_each_trigger_gets_a_new_transaction_id(data_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ids = set()
    for _ in range(2):
        assert sf1630.cli.main(_trigger_args(data_file)) == 0
        routing = read_trigger(capsys.readouterr().out.encode()).content.routing
        assert routing is not None
        ids.add(routing.transaction_id)
    assert len(ids) == 2


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("--sender-it-system", "not-a-uuid", "is not a UUID"),
        ("--sender-it-system", "{5170e7ca-7eac-4d6a-bcaa-8588b586d0c3}", "is not a UUID"),
        ("--recipient-it-system", "5170e7ca7eac4d6abcaa8588b586d0c3", "is not a UUID"),
        ("--sender-authority", "1234567", "neither an 8-digit CVR number"),
        ("--recipient-authority", "urn:oio:cvr-nr:ABCDEFGH", "neither an 8-digit CVR number"),
        ("--sender", "../KY", "path separator"),
        ("--senders-file-id", "x" * 256, "at most 255 characters"),
        ("--route-date", "31-10-2026", "is not YYYY-MM-DD"),
        ("--route-date", "2026-02-30", "is not a real date"),
    ],
)
def test_trigger_bad_option_is_a_usage_error(
    data_file: Path, capsys: pytest.CaptureFixture[str], option: str, value: str, message: str
) -> None:
    args = [arg for arg in _trigger_args(data_file)]
    if option in args:
        args[args.index(option) + 1] = value
    else:
        args += [option, value]
    with pytest.raises(SystemExit) as caught:
        sf1630.cli.main(args)
    assert caught.value.code == 2
    assert message in capsys.readouterr().err


def test_trigger_missing_data_file_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert sf1630.cli.main(_trigger_args(tmp_path / DATA_FILE)) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "No such file or directory" in captured.err


def test_trigger_for_a_folder_is_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "folder.csv"
    folder.mkdir()
    assert sf1630.cli.main(_trigger_args(folder)) == 2
    assert "is not a regular file" in capsys.readouterr().err


def test_trigger_refuses_an_unsafe_data_file_name(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    odd = tmp_path / "data.trigger"
    odd.write_text("x")
    assert sf1630.cli.main(_trigger_args(odd)) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "unsafe-name: name 'data.trigger' ends in .trigger" in captured.err


def test_trigger_refuses_text_xml_cannot_carry(data_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert sf1630.cli.main(_trigger_args(data_file, "--senders-file-id", "bell\x07")) == 2
    assert "bad-value" in capsys.readouterr().err


def test_trigger_recipient_user_writes_the_simple_pattern(
    data_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["protocol", "trigger", str(data_file), "--sender", "KY_SFTPSIMPEL"]
    assert (
        sf1630.cli.main([*args, "--recipient-user", "IKAST-BRANDE_LIS01_SIMPEL", "--senders-file-id", "7"])
        == 0
    )
    out = capsys.readouterr().out
    trigger = read_trigger(out.encode())
    assert trigger.file.recipients == ("IKAST-BRANDE_LIS01_SIMPEL",)
    assert trigger.file.sender == "KY_SFTPSIMPEL" and trigger.file.senders_file_id == "7"
    assert trigger.content.routing is None
    assert trigger.content.other == (
        (f"{{{FILE_CONTENT_NAMESPACE}}}FilType", "LIS"),
        (f"{{{FILE_CONTENT_NAMESPACE}}}SF", "1630"),
    )
    assert "<fc:FilType>LIS</fc:FilType>" in out and "SFTPDynamicRoutingInfo" not in out
    assert sf1630.cli.main([*args, "--recipient-user", "LIS01", "--file-content", "unqualified"]) == 0
    unqualified = capsys.readouterr().out
    assert "<FilType>LIS</FilType>" in unqualified
    assert read_trigger(unqualified.encode()).content.other == (("FilType", "LIS"), ("SF", "1630"))
    assert sf1630.cli.main([*args, "--recipient-user", "LIS01", "--file-content", "empty"]) == 0
    assert "<FileContentDescriptor/>" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ([], "give --recipient-user USER (simple pattern) or all of"),
        (["--sender-it-system", SENDER_IT], "or all of --sender-it-system"),
        (["--recipient-user", "LIS01", "--sender-it-system", SENDER_IT], "cannot be combined"),
        (["--recipient-user", "LIS01", "--route-date", "2026-10-31"], "cannot be combined"),
        (
            [
                "--file-content",
                "empty",
                "--sender-it-system",
                SENDER_IT,
                "--sender-authority",
                "12345678",
                "--recipient-it-system",
                SENDER_IT,
                "--recipient-authority",
                "12345678",
            ],
            "--file-content is for the simple pattern",
        ),
    ],
)
def test_trigger_must_name_exactly_one_pattern(
    data_file: Path, capsys: pytest.CaptureFixture[str], extra: list[str], message: str
) -> None:
    args = ["protocol", "trigger", str(data_file), "--sender", "KY_SFTPSIMPEL", *extra]
    assert sf1630.cli.main(args) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and message in captured.err


@pytest.mark.parametrize(("user", "message"), [("ROUTING_V1_0_0", "dynamic-routing marker"), ("a/b", "path")])
def test_trigger_recipient_user_must_be_a_user_name(
    data_file: Path, capsys: pytest.CaptureFixture[str], user: str, message: str
) -> None:
    with pytest.raises(SystemExit) as caught:
        sf1630.cli.main(["protocol", "trigger", str(data_file), "--sender", "KY", "--recipient-user", user])
    assert caught.value.code == 2 and message in capsys.readouterr().err


# ----------------------------------------------------------------------------------------- console script


def test_console_script_writes_a_trigger_that_it_then_validates(data_file: Path, tmp_path: Path) -> None:
    script = Path(sys.executable).with_name("sf1630")
    made = subprocess.run([script, *_trigger_args(data_file)], capture_output=True, check=False, timeout=120)
    assert made.returncode == 0, made.stderr.decode()
    trigger_file = tmp_path / f"{DATA_FILE}.trigger"
    trigger_file.write_bytes(made.stdout)
    bad = CORPUS / "wrong-root--no-namespace.xml"
    checked = subprocess.run(
        [script, "protocol", "validate", trigger_file, bad],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert checked.returncode == 1, checked.stderr
    assert checked.stdout.splitlines() == [
        f"{trigger_file}: trigger",
        f"{bad}: wrong-root: root element 'Trigger' is in no namespace, not "
        "'http://serviceplatformen.dk/xml/wsdl/soap11/SFTP/1/types' (line 2)",
    ]
