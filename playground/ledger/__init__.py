"""The usage ledger: every request any page makes, recorded in one SQLite file.

``UsageRecord`` is what one request leaves behind, scrubbed of keys; ``Ledger`` writes
records from a background thread and reads them back; ``queries`` computes the Usage page's
figures; ``schema`` keeps the file's tables up to date; ``damage`` sets a damaged file
aside. Sending a request and recording it is ``playground.recording.Recorder``'s job: the
request path reads this package's file (capability refusals), so it sits above it.
"""

from playground.ledger.damage import SetAside, set_aside_files
from playground.ledger.queries import Filters, RunningTotal, UsageOverview
from playground.ledger.records import UsageRecord, reasoning_tokens_of, scrub
from playground.ledger.schema import DB_FILENAME, DB_VARIABLE, default_path, migrate
from playground.ledger.writer import Ledger, shared_ledger

__all__ = [
    "DB_FILENAME", "DB_VARIABLE", "Filters", "Ledger", "RunningTotal", "SetAside",
    "UsageOverview", "UsageRecord", "default_path", "migrate", "reasoning_tokens_of", "scrub",
    "set_aside_files", "shared_ledger",
]
