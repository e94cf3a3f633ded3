"""``python -m playground.local [--host 127.0.0.1] [--port 8000] [--api-key KEY]``"""

from __future__ import annotations

import argparse
import os

import uvicorn

from playground.local.app import create_app


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m playground.local",
        description="Serve the embedded GGUF models with an OpenAI-compatible API.",
    )
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to bind (default: loopback only)")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--api-key", default=os.environ.get("PLAYGROUND_LOCAL_API_KEY"),
                        help="demand 'Authorization: Bearer KEY' on every API request")
    parser.add_argument("--threads", type=int, default=None,
                        help="CPU threads per model (default: llama.cpp's choice)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    app = create_app(api_key=args.api_key, n_threads=args.threads)
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
