"""A short load test: 200 requests, 20 at a time, through the core to the fault server.

Successes and failures are mixed by model (``faults_by_model``): plain and streamed
successes, a stream cut midway, 401, 404 (a model the server does not serve), 400, 429
(retried once), 503 and a body that is not JSON. Every request must be accounted for in the
ledger, with the status and error kind its fault calls for, and the server must have seen
exactly the attempts the retry policy allows.
"""

from __future__ import annotations

import collections
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

from fault_server import FaultServer
from playground.connection import Connection
from playground.errors import PlaygroundError
from playground.recording import Recorder

TOTAL, AT_ONCE = 200, 20
STREAM = {"stream": True, "stream_options": {"include_usage": True}}
# model -> (fault at the server, streamed?, ledger status, ledger error kind)
MIX = {
    "ok": ("ok", False, "ok", None),
    "ok-streamed": ("ok", True, "ok", None),
    "cut": ("cut", True, "incomplete", "StreamInterrupted"),
    "unauthorised": ("401", False, "error", "AuthenticationFailed"),
    "unknown": (None, False, "error", "ModelNotFound"),  # not served: the server's own 404
    "bad-param": ("400", False, "error", "BadRequest"),
    "limited": ("429-retry-after", False, "error", "RateLimited"),
    "overloaded": ("503", False, "error", "ServerFailed"),
    "not-json": ("not-json", False, "error", "ServerFailed"),
}
RETRIES = 1  # a 429 or 503 is sent twice


def test_200_requests_20_at_a_time_are_all_in_the_ledger_with_their_status(tmp_path):
    served = [model for model in MIX if model != "unknown"]
    faults = {model: fault for model, (fault, *_rest) in MIX.items() if fault not in (None, "ok")}
    server = FaultServer(models=served, faults_by_model=faults, latency=0.02, retry_after=0.05)
    session = uuid.uuid4().hex
    recorder = Recorder(page="Load test", session=session,
                        ledger_path=tmp_path / "ledger.sqlite3")
    plan = [list(MIX)[index % len(MIX)] for index in range(TOTAL)]

    with server as url:
        conn = Connection("Load", base_url=url, api_key="sk-load", timeout=10,
                          max_retries=RETRIES)

        def send(model: str) -> str:
            streamed = MIX[model][1]
            request = {"model": model, "messages": [{"role": "user", "content": "Hi there"}],
                       "max_tokens": 5, **(STREAM if streamed else {})}
            try:
                result = recorder.run(conn, "chat", request)
            except PlaygroundError as error:
                return error.kind
            return "incomplete" if result.incomplete else "ok"

        started = time.perf_counter()
        with ThreadPoolExecutor(max_workers=AT_ONCE) as pool:
            outcomes = list(pool.map(send, plan))
        elapsed = time.perf_counter() - started
    assert elapsed < 60, f"200 requests took {elapsed:.0f} s"

    expected = collections.Counter((model, MIX[model][2], MIX[model][3]) for model in plan)
    assert recorder.usage_ledger.flush(30), "the ledger writes everything within 30 s"
    with recorder.usage_ledger.reading() as db:
        rows = db.execute("SELECT model, status, error_kind FROM requests WHERE session = ?",
                          (session,)).fetchall()
    assert len(rows) == TOTAL
    assert collections.Counter(tuple(row) for row in rows) == expected

    by_status = collections.Counter(status for _, status, _ in rows)
    assert by_status == collections.Counter(MIX[model][2] for model in plan)
    assert outcomes.count("ok") == by_status["ok"]

    per_model = collections.Counter(plan)
    retried = per_model["limited"] + per_model["overloaded"]
    sent = sum(1 for received in server.requests if received.method == "POST")
    assert sent == TOTAL + RETRIES * retried, "each 429 and 503 is retried once, nothing more"
