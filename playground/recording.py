"""Run a request and write it to the usage ledger: the one path every page sends through.

``Recorder(page=...).run(...)`` behaves exactly like ``runner.run`` (same result, same
errors) and records the outcome, success or failure, without waiting on the disk: the
ledger writes from its own thread, and its readers wait for the rows queued before them.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
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
            self._record(lambda: UsageRecord.from_error(
                failure, endpoint=endpoint, request=request, page=self.page, connection=conn,
                latency=time.perf_counter() - started, session=self.session))
            raise
        self._record(lambda: UsageRecord.from_result(
            result, page=self.page, connection=conn, session=self.session))
        return result

    def _record(self, make_record) -> None:
        """Write to the ledger; a ledger that cannot be used is logged, not raised, so a
        request that succeeded never loses its answer to a bad database path."""
        try:
            self.usage_ledger.record(make_record())
        except PlaygroundError as failure:
            log.warning("Usage not recorded for %s: %s", self.page, failure)
