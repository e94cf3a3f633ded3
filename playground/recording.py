"""Run a request and write it to the usage ledger: the one path every page sends through.

``Recorder(page=...).run(...)`` behaves exactly like ``runner.run`` (same result, same
errors) and records the outcome, success or failure, without waiting on the disk or on
making the record: the ledger makes the record and writes it from its own thread (pages
only read a result, so it can be read there too), and its readers wait for the rows
queued before them.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from playground import runner
from playground.connection import Connection
from playground.errors import PlaygroundError
from playground.ledger.records import UsageRecord
from playground.ledger.writer import Ledger, shared_ledger

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Recorder:
    page: str
    session: str | None = None  # the browser session, for its running total
    ledger_path: Path | str | None = None  # None: PLAYGROUND_DB or the data folder

    @property
    def usage_ledger(self) -> Ledger:
        """The ledger of ``ledger_path``, shared with every other recorder of that file."""
        return shared_ledger(self.ledger_path)

    def run(self, conn: Connection, endpoint: str, request: dict[str, Any],
            **options) -> runner.RunResult:
        started = time.perf_counter()
        try:
            result = runner.run(conn, endpoint, request, **options)
        except PlaygroundError as error:
            failure = error  # ``error`` is unbound once the block ends; name it for the lambda
            latency, ended = time.perf_counter() - started, datetime.now(UTC)
            self._record(lambda: UsageRecord.from_error(
                failure, endpoint=endpoint, request=request, page=self.page, connection=conn,
                latency=latency, session=self.session, ended=ended))
            raise
        ended = datetime.now(UTC)
        self._record(lambda: UsageRecord.from_result(
            result, page=self.page, connection=conn, session=self.session, ended=ended))
        return result

    def _record(self, make_record: Callable[[], UsageRecord]) -> None:
        """Hand the record's making to the ledger's writer; a ledger that cannot be used is
        logged, not raised, so a request that succeeded never loses its answer to a bad
        database path."""
        try:
            self.usage_ledger.record(make_record)
        except PlaygroundError as failure:
            log.warning("Usage not recorded for %s: %s", self.page, failure)
