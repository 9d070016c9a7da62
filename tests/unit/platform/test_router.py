"""Route matching, and the router's idempotent replay of journalled transfers (without the SFTP server)."""

from __future__ import annotations

import os
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sf1630.platform.audit import AuditLog
from sf1630.platform.config import PlatformConfig
from sf1630.platform.folders import IN, OUT, PlatformHome
from sf1630.platform.journal import Journal
from sf1630.platform.router import Router, is_trigger_name, matching_routes
from sf1630.protocol import (
    INF_REF_SF1630,
    NAMESPACE,
    RECEIPT_SUFFIX,
    RoutingInfo,
    Trigger,
    read_metadata,
    read_receipt,
    to_xml,
)

from tests.support.platform import (
    HERNING,
    HERNING_CVR,
    IKAST,
    IKAST2,
    IKAST_CVR,
    KY_SYSTEM,
    LIS_SYSTEMS,
    SENDER,
    load_test_config,
    make_trigger,
)

DATA = b"x;y\n1;2\n"
NAME = "KY_LIS_75600000_M03_20260402134858.csv"


def routing(authority: str, recipient: uuid.UUID | None = None, inf_ref: str = INF_REF_SF1630) -> RoutingInfo:
    return RoutingInfo(inf_ref, KY_SYSTEM, authority, uuid.uuid4(), datetime.now(UTC), authority, recipient)


def test_route_matching(config: PlatformConfig) -> None:
    def users(routing_info: RoutingInfo) -> list[str]:
        return sorted(route.sftp_username for route in matching_routes(config.routes, routing_info))

    assert users(routing(IKAST_CVR)) == [IKAST, IKAST2]
    assert users(routing(IKAST_CVR, LIS_SYSTEMS[IKAST2])) == [IKAST2]
    assert users(routing(IKAST_CVR, LIS_SYSTEMS[HERNING])) == []
    assert users(routing(HERNING_CVR)) == [HERNING]
    assert users(routing(HERNING_CVR, inf_ref="Andet_1")) == []
    assert users(routing("urn:oio:cvr-nr:74000000")) == []


def test_trigger_names() -> None:
    assert is_trigger_name("a.csv.trigger") and is_trigger_name("A.TRIGGER")
    assert not is_trigger_name(".trigger") and not is_trigger_name("a.csv")


def router(config: PlatformConfig, home: PlatformHome) -> Router:
    return Router(config, home, Journal(home.journal), AuditLog(home.audit_log))


def place(home: PlatformHome) -> None:
    (home.folder(SENDER, OUT) / NAME).write_bytes(DATA)
    (home.folder(SENDER, OUT) / f"{NAME}.trigger").write_bytes(
        make_trigger(NAME, len(DATA), authority=IKAST_CVR)
    )


def test_process_delivers_by_hard_link_and_cleans_out(config: PlatformConfig, home: PlatformHome) -> None:
    place(home)
    source_inode = os.stat(home.folder(SENDER, OUT) / NAME).st_ino
    r = router(config, home)
    assert r.pending_triggers() == [(SENDER, f"{NAME}.trigger")]
    record = r.process(SENDER, f"{NAME}.trigger")
    assert record is not None and record.outcome == "success"
    for user in (IKAST, IKAST2):
        assert os.stat(home.folder(user, IN) / NAME).st_ino == source_inode, "delivered without copying"
    assert os.listdir(home.folder(SENDER, OUT)) == []
    assert read_receipt((home.folder(SENDER, IN) / (NAME + RECEIPT_SUFFIX)).read_bytes()).ok
    assert not r.is_locked(SENDER, NAME) and not r.is_locked(SENDER, f"{NAME}.trigger")


def test_replay_counts_an_existing_link_as_done(config: PlatformConfig, home: PlatformHome) -> None:
    place(home)
    first = router(config, home)
    assert first.claim(SENDER, f"{NAME}.trigger")
    data = (home.folder(SENDER, OUT) / f"{NAME}.trigger").read_bytes()
    record = first._plan(SENDER, f"{NAME}.trigger", data)
    first.journal.accept(record)
    os.link(
        home.folder(SENDER, OUT) / NAME, home.folder(IKAST, IN) / NAME
    )  # as if killed right after linking
    first.journal.close()

    second = router(config, home)
    assert second.resume() == 1
    for user in (IKAST, IKAST2):
        assert sorted(os.listdir(home.folder(user, IN))) == [NAME, f"{NAME}.metadata"]
        metadata = read_metadata((home.folder(user, IN) / f"{NAME}.metadata").read_bytes())
        assert metadata.file_transfer_uuid == record.id
    receipt = read_receipt((home.folder(SENDER, IN) / (NAME + RECEIPT_SUFFIX)).read_bytes())
    assert receipt.ok and receipt.file_transfer_uuid == record.id
    assert second.resume() == 0


def test_delivery_conflict_rolls_back_every_recipient(
    config: PlatformConfig, home: PlatformHome, tmp_path: Path
) -> None:
    place(home)
    r = router(config, home)
    assert r.claim(SENDER, f"{NAME}.trigger")
    record = r._plan(SENDER, f"{NAME}.trigger", (home.folder(SENDER, OUT) / f"{NAME}.trigger").read_bytes())
    r.journal.accept(record)
    (home.folder(IKAST2, IN) / NAME).write_bytes(b"appeared meanwhile")
    r._execute(record)
    receipt = read_receipt((home.folder(SENDER, IN) / (NAME + RECEIPT_SUFFIX)).read_bytes())
    assert [e.code for e in receipt.errors] == [500]
    assert os.listdir(home.folder(IKAST, IN)) == []
    assert (home.folder(IKAST2, IN) / NAME).read_bytes() == b"appeared meanwhile"
    assert os.listdir(home.folder(SENDER, OUT)) == [NAME], "the data file is left for the sender"


def test_an_unexpected_reader_failure_still_answers_the_sender(
    config: PlatformConfig, home: PlatformHome, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sf1630.platform.router as router_module

    def broken(data: bytes) -> None:
        raise RuntimeError("reader bug")

    place(home)
    r = router(config, home)
    monkeypatch.setattr(router_module, "read_trigger", broken)
    assert r.claim(SENDER, f"{NAME}.trigger")
    record = r.process(SENDER, f"{NAME}.trigger")
    assert record is not None and record.error_codes == [502]
    receipt = read_receipt((home.folder(SENDER, IN) / (NAME + RECEIPT_SUFFIX)).read_bytes())
    assert [e.code for e in receipt.errors] == [502]
    assert os.listdir(home.folder(SENDER, OUT)) == [NAME]


DATE = "RouteSelectionValueDate"


def parameter_config(tmp_path: Path) -> PlatformConfig:
    """The cast with Herning's and Ikast-Brande LIS02's routes keyed on a RouteSelectionValueDate."""
    from tests.support.platform import platform_config

    routes = platform_config()["routes"]
    for route in routes:
        if route["sftp_username"] in (HERNING, IKAST2):
            route["route_parameters"] = {DATE: datetime(2026, 10, 31).date()}  # YAML: an unquoted date
    return load_test_config(tmp_path, routes=routes)


def send(r: Router, home: PlatformHome, authority: str, parameters: tuple[tuple[str, str], ...]) -> list[int]:
    """Route one trigger with ``parameters``; the receipt's error codes ([] on success)."""
    name = f"KY_LIS_{authority[-8:]}_M10_2026110100000{len(os.listdir(home.folder(SENDER, IN)))}.csv"
    (home.folder(SENDER, OUT) / name).write_bytes(DATA)
    trigger = Trigger.routed(
        name,
        len(DATA),
        sender=SENDER,
        sender_it_system=KY_SYSTEM,
        authority=authority,
        timestamp=datetime.now(UTC),
        route_parameters=parameters,
    )
    (home.folder(SENDER, OUT) / f"{name}.trigger").write_bytes(to_xml(trigger))
    assert r.claim(SENDER, f"{name}.trigger")
    r.process(SENDER, f"{name}.trigger")
    receipt = read_receipt((home.folder(SENDER, IN) / (name + RECEIPT_SUFFIX)).read_bytes())
    return [e.code for e in receipt.errors]


def test_routes_keyed_on_route_parameters(tmp_path: Path) -> None:
    config = parameter_config(tmp_path)
    home = PlatformHome(tmp_path / "home")
    home.prepare(config)
    r = router(config, home)
    contract_date = (f"{{{NAMESPACE}}}{DATE}", "2026-10-31")

    assert send(r, home, HERNING_CVR, ()) == [408]  # Herning's only route wants a date
    assert send(r, home, HERNING_CVR, ((DATE, "2026-09-30"),)) == [408]  # not this one
    assert os.listdir(home.folder(HERNING, IN)) == []
    assert send(r, home, HERNING_CVR, ((DATE, "2026-10-31"),)) == []
    assert send(r, home, HERNING_CVR, (contract_date,)) == []  # the contract-namespace spelling is the same
    assert len(os.listdir(home.folder(HERNING, IN))) == 4
    # Ikast-Brande: LIS01's route names no parameter (matches any), LIS02's wants the date.
    assert send(r, home, IKAST_CVR, ((DATE, "2026-09-30"),)) == []
    assert len(os.listdir(home.folder(IKAST, IN))) == 2 and os.listdir(home.folder(IKAST2, IN)) == []
    assert send(r, home, IKAST_CVR, ((DATE, "2026-10-31"),)) == []
    assert len(os.listdir(home.folder(IKAST, IN))) == 4 and len(os.listdir(home.folder(IKAST2, IN))) == 2
    assert send(r, home, "urn:oio:cvr-nr:74000000", ((DATE, "2026-10-31"),)) == [401]  # no route at all


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ([1], "must have a non-empty text value"),
        ({}, "non-empty mapping"),
        ({"a b": "x"}, "not an element name"),
    ],
)
def test_route_parameters_in_the_configuration_are_checked(
    tmp_path: Path, value: object, problem: str
) -> None:
    from sf1630.config import ConfigError

    from tests.support.platform import platform_config

    routes = platform_config()["routes"]
    routes[0]["route_parameters"] = value if isinstance(value, dict) else {DATE: value}
    with pytest.raises(ConfigError, match=problem):
        load_test_config(tmp_path, routes=routes)


def test_a_trigger_is_claimed_only_between_sftp_requests(config: PlatformConfig, home: PlatformHome) -> None:
    """A sender removing its trigger holds the gate from its lock check to the unlink; the router's claim
    waits for it, so it never claims (and then reads) a trigger whose removal was already allowed."""
    import threading

    r = router(config, home)
    claimed = threading.Event()
    worker = threading.Thread(target=lambda: r.claim(SENDER, f"{NAME}.trigger") and claimed.set())
    with r.gate:
        worker.start()
        assert not claimed.wait(0.3), "claimed while an SFTP request was between its check and its action"
    assert claimed.wait(5)
    worker.join(5)
