"""A stand-in local server that crashes like llama.cpp can: SIGSEGV, at load or mid-request.

Run as the launcher runs the real one (``PLAYGROUND_LOCAL_SERVER_COMMAND``, or
``LocalServer(command=...)``); it gets ``--host`` and ``--port`` and speaks the OpenAI wire
format through ``tests/fault_server.py``'s handler, with ``GET /health`` as the real server
has it.

    python tests/crashing_server.py --port 8765 [--crash-at-load] [--crash-on PATH]
                                    [--armed-while-missing MARKER]

``--crash-at-load`` dies before ``/health`` answers; ``--crash-on /v1/completions`` dies on
the first request whose path starts so. Either kills the process with SIGSEGV, as a
segfault in native code would, after writing one line to stderr (the log). With
``--armed-while-missing MARKER`` it crashes only while the file MARKER does not exist, and
creates it as it dies: the server started after the crash answers. Without it, it crashes
every time.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path

from fault_server import FaultServer, _Handler, _HTTPServer

MODELS = ("crash-model",)


def crash(why: str, marker: Path | None) -> None:
    """Die as a segfault does, if armed; the marker, created first, disarms the next one."""
    if marker is not None:
        if marker.exists():
            return
        marker.touch()
    print(f"crashing_server: {why}: SIGSEGV", file=sys.stderr, flush=True)
    # To this thread: os.kill would let it run on (and answer) while the process dies.
    signal.pthread_kill(threading.get_ident(), signal.SIGSEGV)


class _CrashingHandler(_Handler):
    crash_on: str | None = None
    marker: Path | None = None

    def _handle(self, body):
        path = self.path.split("?")[0]
        if path == "/health":
            return self._json(200, {"status": "ok"})
        if self.crash_on and path.startswith(self.crash_on):
            crash(f"{self.command} {path}", self.marker)
        return super()._handle(body)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--crash-at-load", action="store_true")
    parser.add_argument("--crash-on", help="a path prefix: the first request to it crashes")
    parser.add_argument("--armed-while-missing", type=Path, metavar="MARKER")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    print(f"crashing_server: loading on port {args.port}", file=sys.stderr, flush=True)
    if args.crash_at_load:
        crash("at load", args.armed_while_missing)
    handler = type("Handler", (_CrashingHandler,), {"crash_on": args.crash_on,
                                                    "marker": args.armed_while_missing})
    httpd = _HTTPServer((args.host, args.port), handler)
    httpd.owner = FaultServer(models=MODELS, reply="stand-in reply")
    httpd.serve_forever()


if __name__ == "__main__":
    main()
