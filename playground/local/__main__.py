"""``python -m playground.local [--host H] [--port P] [--api-key KEY] [--threads N]
[--safe-engine]``

Its own log lines (the engine settings chosen, a model file rebuilt) go to stderr.
"""

from __future__ import annotations

import argparse
import logging
import os

import uvicorn

from playground.local import engine_settings, launcher
from playground.local.app import create_app


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m playground.local",
        description="Serve the embedded GGUF models with an OpenAI-compatible API.",
    )
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to bind (default: loopback only)")
    parser.add_argument("--port", type=int, default=launcher.DEFAULT_PORT,
                        help=f"port to listen on (default: {launcher.DEFAULT_PORT}, the one the "
                             "app looks for)")
    parser.add_argument("--api-key", default=os.environ.get("PLAYGROUND_LOCAL_API_KEY"),
                        help="demand 'Authorization: Bearer KEY' on every API request")
    parser.add_argument("--threads", type=int, default=None,
                        help="CPU threads per model (default: one per physical core, as "
                             "llama.cpp's own tools choose)")
    parser.add_argument("--safe-engine", action="store_true",
                        help="run every model with the safe engine settings, untested (as "
                             f"{engine_settings.VARIABLE}=1 does); without it the fast "
                             "settings are tried in a separate process first")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    _log_to_stderr()
    if args.safe_engine:
        os.environ[engine_settings.VARIABLE] = "1"
    app = create_app(api_key=args.api_key, n_threads=args.threads)
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")


def _log_to_stderr() -> None:
    """Log to a duplicate of stderr taken now: while llama-cpp-python loads a model quietly it
    points file descriptors 1 and 2 at /dev/null for the whole process, which would swallow
    what other threads log meanwhile (another model's engine settings, a rebuilt file)."""
    handler = logging.StreamHandler(os.fdopen(os.dup(2), "w", buffering=1))
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s: %(message)s"))
    logger = logging.getLogger("playground")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)


if __name__ == "__main__":
    main()
