"""The receiver's deferrable wait for ``*.metadata`` in the LIS system's ``IN/``.

It defers at once to :class:`sf1630.arrival.FileArrival` (the triggerer polls; no worker slot is held) and
turns the trigger's event into the sensor's outcome: found, skipped when nothing arrived within the wait (the
next hourly run looks again), or failed when the server could not be trusted or refused the login.
"""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

from airflow.sdk import BaseSensorOperator
from airflow.sdk.exceptions import AirflowException, AirflowSkipException

from sf1630.arrival import FOUND, TIMED_OUT, FileArrival


class MetadataSensor(BaseSensorOperator):  # type: ignore[misc]
    """Defer until ``pattern`` matches in ``path``; skip (not fail) when nothing arrives within ``wait``."""

    def __init__(
        self,
        *,
        sftp_conn_id: str,
        path: str,
        pattern: str = "*.metadata",
        wait: timedelta = timedelta(hours=1),
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.sftp_conn_id = sftp_conn_id
        self.path = path
        self.pattern = pattern
        self.wait = wait

    def execute(self, context: Any) -> None:
        deadline = time.time() + self.wait.total_seconds()
        trigger = FileArrival(self.sftp_conn_id, self.path, self.pattern, float(self.poke_interval), deadline)
        self.defer(trigger=trigger, method_name="execute_complete")

    def poke(self, context: Any) -> bool:
        raise NotImplementedError("MetadataSensor only runs deferred")

    def execute_complete(self, context: Any, event: dict[str, Any]) -> int:
        status = event.get("status")
        if status == FOUND:
            return len(event["names"])
        if status == TIMED_OUT:
            raise AirflowSkipException(f"no {self.pattern} in {self.path} within {self.wait}")
        raise AirflowException(f"waiting for {self.pattern} in {self.path} failed: {event.get('message')}")
