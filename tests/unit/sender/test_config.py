"""The senders' and kommuner's configuration: the shipped files load, mistakes are named precisely."""

from __future__ import annotations

import copy
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from sf1630.sender.config import (
    SenderConfigError,
    load_kommuner,
    load_sender,
    load_senders,
    parse_duration,
    parse_kommuner,
    parse_senders,
)
from sf1630.settings import config_dir


def _raw(name: str) -> Any:
    return yaml.safe_load((config_dir() / name).read_text(encoding="utf-8"))


def test_shipped_senders_load() -> None:
    senders = load_senders()
    assert [s.code for s in senders] == ["KY", "KSD", "DUBU", "AULA"]
    ky = load_sender("KY")
    assert ky.dag_id == "sf1630_sender_ky"
    assert ky.dataspec == "ky"
    assert ky.receipt_timeout == timedelta(hours=2)
    assert ky.housekeeping_grace == timedelta(days=1)
    assert ky.start_date.isoformat() == "2026-01-01"
    assert ky.smtp_conn_id == "sf1630_smtp"


def test_shipped_kommuner_load() -> None:
    kommuner = load_kommuner()
    assert len(kommuner) == 98
    assert sum(len(k.lis_systems) for k in kommuner) == 122
    assert all(len(k.cvr) == 8 and k.cvr.isdigit() for k in kommuner)


def test_unknown_sender_code_lists_known() -> None:
    with pytest.raises(SenderConfigError, match="known: KY, KSD, DUBU, AULA"):
        load_sender("KP")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("30s", timedelta(seconds=30)),
        ("5m", timedelta(minutes=5)),
        ("6h", timedelta(hours=6)),
        ("2d", timedelta(days=2)),
    ],
)
def test_durations(text: str, expected: timedelta) -> None:
    assert parse_duration(text, "x") == expected


@pytest.mark.parametrize("text", ["", "5", "5 minutes", "-5m", "1.5h", 30])
def test_bad_durations(text: object) -> None:
    with pytest.raises(SenderConfigError, match=r"x: .* is not a duration"):
        parse_duration(text, "x")


def _senders_with(change: Any) -> Any:
    raw = copy.deepcopy(_raw("senders.yaml"))
    change(raw)
    return raw


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda r: r["senders"][0].update(colour="blue"), r"senders\[0\]: unknown key\(s\) colour"),
        (
            lambda r: r["senders"][1].update(it_system="not-a-uuid"),
            r"senders\[1\] \(KSD\): it_system: 'not-a-uuid'",
        ),
        (lambda r: r["senders"][1].update(code="KY"), "duplicate sender code"),
        (lambda r: r["defaults"].update(retry_delay="soon"), "retry_delay: 'soon' is not a duration"),
        (lambda r: r["defaults"].pop("deadline"), r"missing setting\(s\) deadline"),
        (lambda r: r["senders"][0].pop("sftp_conn_id"), r"missing key\(s\) sftp_conn_id"),
        (lambda r: r["senders"][0].update(sftp_conn_id="a b"), "sftp_conn_id: 'a b' must match"),
        (lambda r: r["defaults"].update(retries=-1), "retries: -1 must be an integer >= 0"),
        (lambda r: r["defaults"].update(start_date="1 Jan"), "start_date '1 Jan' is not YYYY-MM-DD"),
    ],
)
def test_sender_mistakes_are_named(change: Any, message: str) -> None:
    with pytest.raises(SenderConfigError, match=message):
        parse_senders(_senders_with(change), "senders.yaml")


def test_sender_overrides_a_default() -> None:
    senders = parse_senders(_senders_with(lambda r: r["senders"][0].update(retries=7)), "s")
    assert senders[0].retries == 7
    assert senders[1].retries == 3


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda r: r["kommuner"][0].update(cvr="123"), "cvr '123' is not an 8-digit CVR number"),
        (lambda r: r["kommuner"][1].update(kode="101"), "duplicate kommune kode"),
        (lambda r: r["kommuner"][0].update(lis_systems=[]), "lis_systems must be a non-empty list"),
        (
            lambda r: r["kommuner"][1]["lis_systems"][0].update(
                sftp_user=r["kommuner"][0]["lis_systems"][0]["sftp_user"]
            ),
            "an SFTP user is shared",
        ),
    ],
)
def test_kommune_mistakes_are_named(change: Any, message: str) -> None:
    raw = copy.deepcopy(_raw("kommuner.yaml"))
    change(raw)
    with pytest.raises(SenderConfigError, match=message):
        parse_kommuner(raw, "kommuner.yaml")


def test_config_dir_override(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    raw = _senders_with(lambda r: r["senders"].__delitem__(slice(1, None)))
    (tmp_path / "senders.yaml").write_text(yaml.safe_dump(raw), encoding="utf-8")
    assert [s.code for s in load_senders(tmp_path)] == ["KY"]
