"""What the receiver's steps work with: the :class:`Intake` of one LIS system, built once per task.

The steps (:mod:`sf1630.receiver.delivery`), the refusal bookkeeping (:mod:`sf1630.receiver.quarantine`) and
the reload (:mod:`sf1630.receiver.reload`) all take it; the Airflow face builds it from configuration and
connections (``sf1630.airflow.connections.intake_for``), benchmarks and tests from their own parts.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Protocol

from sf1630.config import ConfigError
from sf1630.database import Database
from sf1630.protocol import Period
from sf1630.receiver.config import Receiver
from sf1630.receiver.fetch import OpenSFTP
from sf1630.receiver.storage import Storage

if TYPE_CHECKING:
    from sf1630.dataspec.spec import DataSpec
    from sf1630.dataspec.validation import Validated, Validator
    from sf1630.warehouse.staging import StagedFile

#: What loading a data spec raises when the spec is missing, unreadable or broken (ConfigError names the
#: file, line and entry; a file that is not UTF-8 YAML is a ValueError).
SPEC_ERRORS = (ConfigError, OSError, ValueError)


class ExtractSpec(Protocol):
    """What the receiver needs from a data spec (see ``sf1630.receiver.extract``)."""

    @property
    def spec(self) -> DataSpec: ...
    @property
    def name(self) -> str: ...
    @property
    def table(self) -> str: ...
    @property
    def snapshot(self) -> bool: ...
    def validate_staged(
        self, validator: Validator, db: Database, staged: StagedFile, *, name: str, cvr: str, period: Period
    ) -> Validated: ...
    def staged_columns(self) -> tuple[tuple[str, str], ...]: ...
    def create_sql(self, schema: str) -> list[str]: ...
    def table_sql(self, schema: str) -> tuple[list[str], list[str]]: ...
    def lineage(
        self, *, file_transfer_uuid: str, cvr: str, period: Period, loaded_at: datetime
    ) -> tuple[tuple[tuple[str, object], ...], tuple[tuple[str, object], ...]]: ...


@dataclass(frozen=True)
class Intake:
    """Everything the steps need, built once per task from configuration and connections."""

    receiver: Receiver
    database: Database
    open_sftp: OpenSFTP
    spec_for: Callable[[str], ExtractSpec]
    storage: Storage
    download_attempts: int = 3
    backoff_seconds: float = 1.0
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
