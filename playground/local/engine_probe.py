"""The throwaway child that tries the fast engine settings on one model file.

``python -m playground.local.engine_probe MODEL [--threads N] [--n-ctx N]`` loads the
model with the fast settings, evaluates a prompt of a few dozen tokens in one batch (the
crash seen on AMX CPUs needs more than a few tokens) and a few single tokens after it, as
generation does. It prints each stage it gets past (``engine_settings.STAGES``), so the
parent can tell where a crash happened, and exits 0 when every stage passed. A crash here
kills only this process; ``engine_settings`` reads its fate from the exit status.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from playground.local import llama_loader
from playground.local.engine_settings import STAGES

PROMPT = (
    "The printing press spread across Europe within a few decades of its invention. "
    "Cheap books changed how people learned, argued and worshipped, and the new trade "
    "of the printer brought scholars, merchants and craftsmen into the same workshops."
)
SINGLE_TOKENS = 4


def load(path: Path, n_threads: int | None, n_ctx: int):
    # flash attention as the server runs it, so the test tries the code the server will use
    return llama_loader.load(path, fast=True, n_ctx=n_ctx, n_batch=512, n_threads=n_threads,
                             n_threads_batch=n_threads, logits_all=False, flash_attn=True,
                             verbose=False)


def decode(llm) -> None:
    tokens = llm.tokenize(PROMPT.encode())
    llm.eval(tokens)
    for token in tokens[1:1 + SINGLE_TOKENS]:
        llm.eval([token])


def report(stage: str) -> None:
    print(stage, flush=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m playground.local.engine_probe")
    parser.add_argument("model", type=Path)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--n-ctx", type=int, default=2048)
    args = parser.parse_args(argv)
    llm = load(args.model, args.threads, args.n_ctx)
    report(STAGES[0])
    decode(llm)
    report(STAGES[1])


if __name__ == "__main__":
    main()
