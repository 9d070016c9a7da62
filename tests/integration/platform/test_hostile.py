"""Hostile and wrong triggers each get an error receipt with the right code, and the server keeps serving."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import asyncssh
import pytest
from sf1630.platform.errorcodes import ErrorCode
from sf1630.protocol import RECEIPT_SUFFIX, TechnicalReceipt, read_receipt, to_xml

from tests.support.platform import (
    HERNING,
    KSD_SYSTEM,
    OTHER_SENDER,
    SENDER,
    RunningPlatform,
    connect_asyncssh,
    make_trigger,
    wait_for,
)

DATA = b"a;b\n1;2\n"
NAME = "KY_LIS_65700000_M03_20260402134858.csv"
XXE = (
    b'<?xml version="1.0"?>\n<!DOCTYPE t [<!ENTITY x SYSTEM "file:///etc/passwd">]>\n'
    b'<ns:Trigger xmlns:ns="http://serviceplatformen.dk/xml/wsdl/soap11/SFTP/1/types">&x;</ns:Trigger>'
)
RECEIPT_AS_TRIGGER = to_xml(TechnicalReceipt.success(str(uuid.uuid4())))

CASES: dict[str, tuple[bytes | None, bytes, ErrorCode]] = {
    "xxe": (DATA, XXE, ErrorCode.XML_UNSAFE),
    "malformed": (DATA, b"<ns:Trigger", ErrorCode.XML_MALFORMED),
    "wrong-document": (DATA, RECEIPT_AS_TRIGGER, ErrorCode.XML_WRONG_DOCUMENT),
    "too-large": (DATA, b"<a>" + b" " * 70_000 + b"</a>", ErrorCode.XML_TOO_LARGE),
    "other-users-sender": (
        DATA,
        make_trigger(NAME, len(DATA), sender=OTHER_SENDER),
        ErrorCode.SENDER_NOT_UPLOADER,
    ),
    "other-users-it-system": (
        DATA,
        make_trigger(NAME, len(DATA), it_system=KSD_SYSTEM),
        ErrorCode.SENDER_IT_SYSTEM_NOT_OWNED,
    ),
    "unknown-it-system": (
        DATA,
        make_trigger(NAME, len(DATA), it_system=uuid.uuid4()),
        ErrorCode.SENDER_IT_SYSTEM_UNKNOWN,
    ),
    "size-mismatch": (DATA, make_trigger(NAME, len(DATA) + 1), ErrorCode.FILE_SIZE_MISMATCH),
    "no-route": (
        DATA,
        make_trigger(NAME, len(DATA), authority="urn:oio:cvr-nr:74000000"),
        ErrorCode.NO_ROUTE,
    ),
    "unknown-inf-ref": (DATA, make_trigger(NAME, len(DATA), inf_ref="Ukendt_1"), ErrorCode.INF_REF_UNKNOWN),
    "missing-data-file": (None, make_trigger(NAME, len(DATA)), ErrorCode.FILE_MISSING),
}


async def _upload(server: RunningPlatform, keys: dict[str, Path], data: bytes | None, trigger: bytes) -> None:
    async with connect_asyncssh(server, SENDER, keys) as conn, conn.start_sftp_client() as sftp:
        if data is not None:
            async with sftp.open(f"OUT/{NAME}", "wb") as file:
                await file.write(data)
        async with sftp.open(f"OUT/{NAME}.trigger", "wb") as file:
            await file.write(trigger)


def _receipt(server: RunningPlatform) -> TechnicalReceipt:
    path = wait_for(server.folder(SENDER, "IN") / (NAME + RECEIPT_SUFFIX))
    receipt = read_receipt(path.read_bytes())
    path.unlink()
    return receipt


def _still_serving(server: RunningPlatform, keys: dict[str, Path]) -> None:
    name = "KY_LIS_65700000_M12_20261202000000.csv"

    async def upload() -> None:
        async with connect_asyncssh(server, SENDER, keys) as conn, conn.start_sftp_client() as sftp:
            async with sftp.open(f"OUT/{name}", "wb") as file:
                await file.write(DATA)
            async with sftp.open(f"OUT/{name}.trigger", "wb") as file:
                await file.write(make_trigger(name, len(DATA)))

    asyncio.run(upload())
    assert read_receipt(wait_for(server.folder(SENDER, "IN") / (name + RECEIPT_SUFFIX)).read_bytes()).ok


@pytest.mark.parametrize("case", sorted(CASES))
def test_hostile_trigger_gets_an_error_receipt(
    case: str, running: RunningPlatform, client_keys: dict[str, Path]
) -> None:
    data, trigger, code = CASES[case]
    asyncio.run(_upload(running, client_keys, data, trigger))
    receipt = _receipt(running)
    assert not receipt.ok
    assert int(code) in [error.code for error in receipt.errors], receipt.errors
    out = running.folder(SENDER, "OUT")
    assert not (out / f"{NAME}.trigger").exists()
    assert (out / NAME).exists() == (data is not None), "the data file is left for the sender to delete"
    assert not (running.folder(HERNING, "IN") / NAME).exists()
    _still_serving(running, client_keys)


def test_unsafe_file_name_is_refused(running: RunningPlatform, client_keys: dict[str, Path]) -> None:
    trigger = make_trigger(NAME, len(DATA)).replace(NAME.encode(), b"../../x")
    asyncio.run(_upload(running, client_keys, DATA, trigger))
    receipt = _receipt(running)
    assert [error.code for error in receipt.errors] == [ErrorCode.FILE_NAME_UNSAFE]
    _still_serving(running, client_keys)


def test_several_problems_give_one_error_each(running: RunningPlatform, client_keys: dict[str, Path]) -> None:
    trigger = make_trigger(NAME, len(DATA) + 5, sender=OTHER_SENDER, it_system=KSD_SYSTEM)
    asyncio.run(_upload(running, client_keys, DATA, trigger))
    codes = sorted(error.code for error in _receipt(running).errors)
    assert codes == [
        ErrorCode.SENDER_NOT_UPLOADER,
        ErrorCode.SENDER_IT_SYSTEM_NOT_OWNED,
        ErrorCode.FILE_SIZE_MISMATCH,
        ErrorCode.NO_ROUTE,
    ]


def test_recipient_already_holding_the_file_is_an_error_not_an_overwrite(
    running: RunningPlatform, client_keys: dict[str, Path]
) -> None:
    earlier = running.folder(HERNING, "IN") / NAME
    earlier.write_bytes(b"earlier delivery")
    asyncio.run(_upload(running, client_keys, DATA, make_trigger(NAME, len(DATA))))
    assert [error.code for error in _receipt(running).errors] == [ErrorCode.RECIPIENT_HOLDS_FILE]
    assert earlier.read_bytes() == b"earlier delivery"
    _still_serving(running, client_keys)


def test_files_of_a_transfer_in_progress_are_locked(
    running: RunningPlatform, client_keys: dict[str, Path]
) -> None:
    router = running.platform.router
    (running.folder(SENDER, "OUT") / NAME).write_bytes(DATA)
    assert router.claim(SENDER, f"{NAME}.trigger")
    assert router.claim(SENDER, NAME)

    async def attempts() -> list[str]:
        refused = []
        async with connect_asyncssh(running, SENDER, client_keys) as conn, conn.start_sftp_client() as sftp:
            for label, action in (
                ("second trigger", lambda: sftp.open(f"OUT/{NAME}.trigger", "wb")),
                ("overwrite data", lambda: sftp.open(f"OUT/{NAME}", "wb")),
                ("delete data", lambda: sftp.remove(f"OUT/{NAME}")),
                ("rename data", lambda: sftp.posix_rename(f"OUT/{NAME}", "OUT/other.csv")),
                ("rename onto data", lambda: sftp.posix_rename("OUT/x.csv", f"OUT/{NAME}")),
            ):
                if label == "rename onto data":
                    async with sftp.open("OUT/x.csv", "wb") as file:
                        await file.write(b"x")
                try:
                    await action()
                except asyncssh.SFTPPermissionDenied:
                    refused.append(label)
        return refused

    assert len(asyncio.run(attempts())) == 5
    assert (running.folder(SENDER, "OUT") / NAME).read_bytes() == DATA


def test_a_handle_kept_open_cannot_change_the_delivered_file(
    running: RunningPlatform, client_keys: dict[str, Path]
) -> None:
    async def attack() -> bool:
        async with connect_asyncssh(running, SENDER, client_keys) as conn, conn.start_sftp_client() as sftp:
            data = await sftp.open(f"OUT/{NAME}", "wb")
            await data.write(DATA)
            async with sftp.open(f"OUT/{NAME}.trigger", "wb") as file:
                await file.write(make_trigger(NAME, len(DATA)))
            wait_for(running.folder(SENDER, "IN") / (NAME + RECEIPT_SUFFIX))
            try:
                await data.write(b"tampered", 0)
            except asyncssh.SFTPPermissionDenied:
                return True
            finally:
                await data.close()
            return False

    assert asyncio.run(attack())
    assert (running.folder(HERNING, "IN") / NAME).read_bytes() == DATA
