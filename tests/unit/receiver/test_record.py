"""The receiver's XCom record keeps its JSON shape (the period as ``YYYY-MM`` text) while the code holds a
``protocol.Period``, and its ledger row comes from the one builder in ``warehouse.ledger``."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from sf1630.protocol import Period
from sf1630.receiver.record import ItemRecord, Status
from sf1630.warehouse import Outcome, delivery_entry
from sf1630.warehouse.ledger import DETAIL_LIMIT

NAME = "KY_LIS_65700000_M10_20261101060000.csv"
WHEN = datetime(2026, 11, 1, 6, 0, tzinfo=UTC)


def _record(period: Period | None) -> ItemRecord:
    return ItemRecord(
        NAME,
        NAME + ".metadata",
        10,
        "KY → Herning LIS01 2026-10",
        Status.VALID,
        file_transfer_uuid="u-1",
        sender="KY",
        cvr="65700000",
        period=period,
        received_at=WHEN.isoformat(),
    )


def test_the_record_crosses_xcom_as_plain_json_and_comes_back_equal() -> None:
    record = _record(Period(2026, 10))
    wire = json.loads(json.dumps(record.to_xcom()))
    assert (wire["period"], wire["cvr"], wire["status"]) == ("2026-10", "65700000", "valid")
    assert ItemRecord.from_xcom(wire) == record
    unclaimed = _record(None)
    assert unclaimed.to_xcom()["period"] == ""
    assert ItemRecord.from_xcom(unclaimed.to_xcom()) == unclaimed


def test_a_record_written_before_the_cvr_had_its_own_key_is_still_read() -> None:
    wire = _record(Period(2026, 10)).to_xcom()
    wire["kommune"] = wire.pop("cvr")
    assert ItemRecord.from_xcom(wire).cvr == "65700000"


def test_the_ledger_row_is_the_one_builders() -> None:
    record = _record(Period(2026, 10))
    entry = record.ledger_entry(3, "ab" * 32, Outcome.QUARANTINED, WHEN, detail="x" * (DETAIL_LIMIT + 5))
    assert entry == delivery_entry(
        "u-1",
        NAME,
        "KY",
        "65700000",
        Period(2026, 10),
        rows=3,
        checksum="ab" * 32,
        outcome=Outcome.QUARANTINED,
        received_at=WHEN,
        finished_at=WHEN,
        detail="x" * DETAIL_LIMIT,
    )
    assert entry.values()[4] == "2026-10"  # the ledger's period column is text
