"""Environment switches are read strictly: a typo fails loudly instead of meaning the default."""

from __future__ import annotations

import pytest
from sf1630.settings import SETTLE_SECONDS, deadlines_enabled, env_seconds, settle_seconds


def test_settle_seconds_default_and_override(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SF1630_SETTLE_SECONDS", raising=False)
    assert settle_seconds() == SETTLE_SECONDS == 20.0
    monkeypatch.setenv("SF1630_SETTLE_SECONDS", " 0 ")
    assert settle_seconds() == 0.0
    monkeypatch.setenv("SF1630_SETTLE_SECONDS", "2.5")
    assert settle_seconds() == 2.5


@pytest.mark.parametrize("raw", ["-1", "twenty", "nan", "20s"])
def test_bad_seconds_are_refused_with_the_name(monkeypatch: pytest.MonkeyPatch, raw: str) -> None:
    monkeypatch.setenv("SF1630_SETTLE_SECONDS", raw)
    with pytest.raises(ValueError, match="SF1630_SETTLE_SECONDS"):
        env_seconds("SF1630_SETTLE_SECONDS", 20.0)


def test_a_misspelt_flag_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SF1630_DEADLINES", "flase")
    with pytest.raises(ValueError, match="SF1630_DEADLINES"):
        deadlines_enabled()
    monkeypatch.setenv("SF1630_DEADLINES", "off")
    assert deadlines_enabled() is False
