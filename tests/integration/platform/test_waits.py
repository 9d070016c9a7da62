"""Waiting on the platform: ``serve --processing-delay`` holds every answer back, and the deferred wait
(:class:`~sf1630.airflow.arrival.FileArrival`) looks at least once even when it starts after its deadline,
as a trigger picked up late by a busy triggerer does."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest
from sf1630.airflow.arrival import FOUND, TIMED_OUT, FileArrival, ssh_options
from sf1630.platform.process import RunningEmulator, start_emulator
from sf1630.settings import SETTLE_SECONDS

from tests.support.platform import HERNING, SENDER, make_trigger, write_config

DATA = "KY_LIS_65700000_M10_20261101000000.csv"


def _serve(tmp_path: Path, keys: dict[str, Path], *extra: str) -> RunningEmulator:
    return start_emulator(write_config(tmp_path, keys), tmp_path / "home", extra_args=extra)


def test_processing_delay_holds_the_receipt_back(tmp_path: Path, client_keys: dict[str, Path]) -> None:
    with _serve(tmp_path, client_keys, "--processing-delay", "3s") as emulator:
        assert any("processing delay: 3 s" in line for line in emulator.output)
        out = emulator.folder(SENDER, "OUT")
        (out / DATA).write_bytes(b"a;b\n")
        put = time.monotonic()
        (out / f"{DATA}.trigger").write_bytes(make_trigger(DATA, 4))  # found by the 1 s rescan
        receipt = emulator.folder(SENDER, "IN") / f"{DATA}.sftpreceipt"
        while not receipt.exists():
            assert time.monotonic() - put < 60, emulator.output
            time.sleep(0.05)
        assert time.monotonic() - put >= 3.0
        assert emulator.files(HERNING, "IN") == [DATA, f"{DATA}.metadata"]


def test_processing_delay_must_be_a_duration(tmp_path: Path, client_keys: dict[str, Path]) -> None:
    from sf1630.platform.process import EmulatorFailed

    with pytest.raises(EmulatorFailed, match="is not a duration"):
        _serve(tmp_path, client_keys, "--processing-delay", "20")


class _Direct(FileArrival):
    """FileArrival with its connection given directly (no Airflow connection lookup outside a task)."""

    options: dict[str, Any]

    async def _options(self) -> dict[str, Any]:
        return self.options


async def _collect(trigger: FileArrival) -> list[dict[str, Any]]:
    return [event.payload async for event in trigger.run()]


def _events(trigger: FileArrival) -> list[dict[str, Any]]:
    return asyncio.run(_collect(trigger))


def _trigger(
    emulator: RunningEmulator,
    keys: dict[str, Path],
    pattern: str,
    deadline: float,
    not_before: float = 0.0,
    port: int | None = None,
) -> _Direct:
    trigger = _Direct("unused", "IN", pattern, 0.1, deadline, not_before)
    trigger.options = ssh_options(
        "127.0.0.1",
        port or emulator.port,
        HERNING,
        None,
        {"host_key": emulator.host_key, "key_file": str(keys[HERNING])},
    )
    return trigger


def test_a_late_trigger_still_looks_once(tmp_path: Path, client_keys: dict[str, Path]) -> None:
    with _serve(tmp_path, client_keys) as emulator:
        inbox = emulator.folder(HERNING, "IN")
        (inbox / f"{DATA}.metadata").write_bytes(b"<x/>")
        past = time.time() - 60  # the deadline passed before the triggerer got to it
        [found] = _events(_trigger(emulator, client_keys, "*.metadata", past))
        assert found == {"status": FOUND, "names": [f"{DATA}.metadata"]}
        [nothing] = _events(_trigger(emulator, client_keys, "*.sftpreceipt", past))
        assert nothing["status"] == TIMED_OUT


def test_a_find_is_held_back_until_the_scheduler_has_settled(
    tmp_path: Path, client_keys: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The file is there at once, but the event comes no sooner than ``not_before`` (the defer race)."""
    with _serve(tmp_path, client_keys) as emulator:
        (emulator.folder(HERNING, "IN") / f"{DATA}.metadata").write_bytes(b"<x/>")
        began = time.time()
        [found] = _events(_trigger(emulator, client_keys, "*.metadata", began + 60, not_before=began + 2))
        assert found["status"] == FOUND
        assert time.time() - began >= 2.0
    monkeypatch.delenv("SF1630_SETTLE_SECONDS", raising=False)  # the tests' own 0 (dag.test runs)
    assert FileArrival("c", "IN", "*", 1.0, 0.0).not_before >= began + SETTLE_SECONDS
    monkeypatch.setenv("SF1630_SETTLE_SECONDS", "7.5")
    assert began + 7 < FileArrival("c", "IN", "*", 1.0, 0.0).not_before < time.time() + 8


def test_a_timeout_is_held_back_until_the_scheduler_has_settled(
    tmp_path: Path, client_keys: dict[str, Path]
) -> None:
    """Nothing arrives and the deadline passes at once: the timeout too waits for ``not_before``."""
    with _serve(tmp_path, client_keys) as emulator:
        began = time.time()
        [nothing] = _events(_trigger(emulator, client_keys, "*.metadata", began, not_before=began + 2))
        assert nothing["status"] == TIMED_OUT
        assert time.time() - began >= 2.0


def test_the_first_look_waits_for_not_before(tmp_path: Path, client_keys: dict[str, Path]) -> None:
    """What is found earlier could not be reported earlier: the trigger connects (and lists) no sooner than
    ``not_before``, once, and finds what is there."""
    from tests.support.proxy import CuttingProxy

    with _serve(tmp_path, client_keys) as emulator:
        (emulator.folder(HERNING, "IN") / f"{DATA}.metadata").write_bytes(b"<x/>")
        proxy = CuttingProxy(emulator.port, after=1 << 30, direction="down", cuts=0)
        try:
            began = time.time()
            trigger = _trigger(
                emulator, client_keys, "*.metadata", began + 60, not_before=began + 2, port=proxy.port
            )

            async def watched() -> tuple[int, list[dict[str, Any]]]:
                events = asyncio.ensure_future(_collect(trigger))
                await asyncio.sleep(1.5)
                return proxy.connections, await events

            early, [found] = asyncio.run(watched())
        finally:
            proxy.close()
    assert (early, proxy.connections, found["status"]) == (0, 1, FOUND)
    assert time.time() - began >= 2.0
