"""One loaded GGUF model, and where each request's tokens are evaluated.

llama.cpp evaluates tokens; everything OpenAI-specific (sampling, penalties, stops,
log-probabilities, n choices, seeds) happens in ``choice_run``, ``sampling`` and ``text``,
so the server behaves like the API rather than like llama.cpp's defaults.

A model that decodes several sequences together (``ModelEntry.parallel_sequences``) runs
the requests that fit a sequence in its ``Batcher``. Every other request runs on the
model's own context, one at a time: a llama.cpp context is not thread safe, so that path
holds ``LocalModel.lock`` for the whole generation, and a request still waiting for it gives
up (``Abandoned``) once its client has gone.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import llama_cpp
import numpy as np
from llama_cpp import Llama
from llama_cpp._internals import LlamaBatch
from llama_cpp.llama_chat_format import Jinja2ChatFormatter

from playground.errors import LocalServerFailed
from playground.local import cpu_threads, engine_settings, llama_loader, remembered, sampling
from playground.local.batcher import Batcher
from playground.local.choice_run import ChoiceRun, Event, Generation, Step
from playground.local.grammar import Vocabulary
from playground.local.served_models import ModelEntry

MAX_CONTEXT = 8192  # served context: enough for the playground, bounded memory
_LOGITS_ALL_BATCH = 32  # small batches when every row's logits are read (echo logprobs)
_FILE_TYPES = {
    getattr(llama_cpp, name): name.removeprefix("LLAMA_FTYPE_MOSTLY_").removeprefix("LLAMA_FTYPE_")
    for name in dir(llama_cpp) if name.startswith("LLAMA_FTYPE_")
}
_LOCK_POLL_SECONDS = 0.1
BATCH_SIZES_FILE = "batch-sizes.json"  # per machine and model: sequences exact together
_BATCH_CHECK_PROMPT = "The quick brown fox jumps over the lazy dog. Once upon a time"
_CHATML = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n{{ message['content'] }}"
    "<|im_end|>\n{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


class Abandoned(Exception):
    """The client went away; the request was dropped or stopped and nothing is answered."""


class LocalModel:
    """A model file, loaded on first use and kept loaded."""

    def __init__(self, entry: ModelEntry, n_threads: int | None = None):
        """``n_threads``: llama.cpp's threads for this model (default: one per physical core,
        see ``cpu_threads``)."""
        self.entry = entry
        self.lock = threading.Lock()
        self._load_lock = threading.Lock()
        self.n_threads = n_threads or cpu_threads.physical_cores()
        self._llm: Llama | None = None
        self._batch: LlamaBatch | None = None
        self._info: dict | None = None
        self._vocabulary: Vocabulary | None = None
        self._batcher: Batcher | None = None
        self.engine: engine_settings.EngineChoice | None = None  # set when loaded

    # -- loading and metadata -------------------------------------------------------
    def path(self) -> Path:
        try:
            return self.entry.locate()
        except Exception as exc:
            raise LocalServerFailed(
                f"The model {self.entry.id!r} could not be found: {exc}") from exc

    def load(self) -> Llama:
        """The model with its weights, read from the file on the first call."""
        with self._load_lock:
            if self._llm is None:
                self._llm = self._read_weights()
            return self._llm

    def batcher(self) -> Batcher | None:
        """The model's batcher, started on the first call; None for a model that decodes
        one sequence at a time."""
        if self._batcher is not None or self.entry.parallel_sequences < 2:
            return self._batcher
        llm = self.load()
        check_prompt = self.tokenize(_BATCH_CHECK_PROMPT)  # before the lock: it loads too
        with self._load_lock:
            if self._batcher is None:
                key = self._batch_size_key(self.engine)
                known = _remembered_batch_size(key)
                self._batcher = Batcher(
                    llm._model, self, sequences=self.entry.parallel_sequences,
                    exact=known,
                    check_prompt=check_prompt,
                    n_threads=llm.n_threads, n_threads_batch=llm.n_threads_batch)
                if known != self._batcher.capacity:
                    remembered.store(BATCH_SIZES_FILE, key, {
                        "exact": self._batcher.capacity, "model": str(self.path()),
                        "engine": self.engine.settings})
            return self._batcher

    def parallel_sequences(self) -> int:
        """How many sequences it decodes together: what its batcher measured on this machine
        (now or earlier), else as declared."""
        if self._batcher is not None:
            return self._batcher.capacity
        declared = self.entry.parallel_sequences
        choice = engine_settings.known(self.path()) if declared > 1 else None
        return (choice and _remembered_batch_size(self._batch_size_key(choice))) or declared

    def _batch_size_key(self, choice: engine_settings.EngineChoice) -> str:
        """What the measured batch size depends on: the machine, the model file, the engine
        settings, the threads and how many sequences were tried."""
        return (f"{engine_settings.verdict_key(self.path())}-{choice.settings}"
                f"-{self.entry.parallel_sequences}-t{self.n_threads}")

    @property
    def llm(self) -> Llama:
        return self.load()

    def _read_weights(self) -> Llama:
        path = self.path()
        n_ctx = min(MAX_CONTEXT, self.info()["context_length_trained"])
        self.engine = engine_settings.choose(path, n_threads=self.n_threads, n_ctx=n_ctx)
        try:
            llm = llama_loader.load(
                path, fast=self.engine.fast, n_ctx=n_ctx, n_batch=512,
                n_threads=self.n_threads, n_threads_batch=self.n_threads,
                logits_all=False, verbose=False,
                # as the batcher's context: a request gives the same text on either
                flash_attn=True,
            )
        except Exception as exc:
            raise LocalServerFailed(f"The model file {path} failed to load: {exc}") from exc
        self._batch = LlamaBatch(n_tokens=llm.n_batch, embd=0, n_seq_max=1)
        return llm

    def engine_description(self) -> dict:
        """The engine settings it runs with, or would run with, and why."""
        choice = self.engine or engine_settings.known(self.path())
        if choice is None:
            return {"settings": "not chosen yet",
                    "reason": "they are chosen when the model is first used"}
        return choice.as_dict()

    def info(self) -> dict:
        """Metadata read from the GGUF header (vocabulary only, no weights loaded)."""
        if self._info is None:
            path = self.path()
            try:
                header = Llama(str(path), vocab_only=True, verbose=False)
            except Exception as exc:
                raise LocalServerFailed(f"The model file {path} cannot be read: {exc}") from exc
            metadata = dict(header.metadata)
            arch = metadata.get("general.architecture", "")
            trained = int(metadata.get(f"{arch}.context_length", 2048))
            self._info = {
                "file": str(path),
                "context_length": min(MAX_CONTEXT, trained),
                "context_length_trained": trained,
                "parameters": int(llama_cpp.llama_model_n_params(header._model.model)),
                "quantization": _FILE_TYPES.get(int(metadata.get("general.file_type", -1)),
                                                "unknown"),
                "architecture": arch,
                "vocab_size": header.n_vocab(),
                "gguf": {k: v for k, v in metadata.items() if k != "tokenizer.chat_template"},
                "chat_template": (self.entry.chat_template
                                  or metadata.get("tokenizer.chat_template") or _CHATML),
                "fill_in_middle": llama_cpp.llama_vocab_fim_pre(header._model.vocab) >= 0,
            }
        return self._info

    @property
    def context_length(self) -> int:
        return self.info()["context_length"]

    # -- text <-> tokens ------------------------------------------------------------
    def tokenize(self, text: str, *, special: bool = False, add_bos: bool = True) -> list[int]:
        return self.llm.tokenize(text.encode("utf-8"), add_bos=add_bos, special=special)

    def render_chat(self, messages: list[dict]) -> str:
        formatter = Jinja2ChatFormatter(self.info()["chat_template"], eos_token="", bos_token="")
        return formatter(messages=messages).prompt

    def chat_tokens(self, messages: list[dict]) -> list[int]:
        return self.tokenize(self.render_chat(messages), special=True)

    def fill_in_middle_tokens(self, prefix: str, suffix: str) -> list[int]:
        vocab = self.llm._model.vocab
        return ([llama_cpp.llama_vocab_fim_pre(vocab)] + self.tokenize(prefix, add_bos=False)
                + [llama_cpp.llama_vocab_fim_suf(vocab)] + self.tokenize(suffix, add_bos=False)
                + [llama_cpp.llama_vocab_fim_mid(vocab)])

    def piece(self, token: int) -> bytes:
        return self.llm.detokenize([token])

    def token_text(self, token: int) -> str:
        return self.piece(token).decode("utf-8", errors="replace")

    def vocabulary(self) -> Vocabulary:
        """The vocabulary as grammars see it (read once)."""
        if self._vocabulary is None:
            self._vocabulary = Vocabulary.of(self.llm._model.vocab, self.llm.n_vocab())
        return self._vocabulary

    def is_end(self, token: int) -> bool:
        return bool(llama_cpp.llama_vocab_is_eog(self.llm._model.vocab, token))

    # -- evaluation -----------------------------------------------------------------
    def _logits_row(self, i: int) -> np.ndarray:
        pointer = self.llm._ctx.get_logits_ith(i)
        return np.ctypeslib.as_array(pointer, shape=(self.llm.n_vocab(),))

    def _decode(self, tokens: list[int], start: int, every_row=None,
                cancelled: threading.Event | None = None) -> np.ndarray:
        """Evaluate tokens at positions start..; return the last row's logits (a copy).

        With ``every_row(position, logits)`` each row's logits are handed over as well.
        Once ``cancelled`` is set, no further batch is evaluated (the logits are then moot).
        """
        llm, batch = self.llm, self._batch
        size = _LOGITS_ALL_BATCH if every_row else llm.n_batch
        position = start
        for first in range(0, len(tokens), size):
            if first and cancelled is not None and cancelled.is_set():
                break
            chunk = tokens[first:first + size]
            batch.set_batch(chunk, n_past=position, logits_all=every_row is not None)
            llm._ctx.decode(batch)
            if every_row:
                for i in range(len(chunk)):
                    every_row(position + i, self._logits_row(i))
            position += len(chunk)
        return self._logits_row(-1).copy()

    def echo_steps(self, prompt: list[int], top_logprobs: int | None,
                   cancelled: threading.Event) -> list[Step]:
        """The prompt's own tokens as steps, with logprobs when asked (first has none)."""
        steps, offset = [], 0
        for token in prompt:
            steps.append(Step(token, self.piece(token), offset))
            offset += len(self.token_text(token))
        if top_logprobs is None:
            return steps

        def score(position: int, logits: np.ndarray) -> None:
            if position + 1 < len(prompt):
                logprobs = sampling.log_softmax(logits)
                nxt = steps[position + 1]
                nxt.logprob = float(logprobs[nxt.token])
                nxt.top = sampling.top_alternatives(logprobs, top_logprobs)

        with self._alone(cancelled):
            self.llm._ctx.kv_cache_clear()
            self._decode(prompt, 0, every_row=score)
        return steps

    @contextmanager
    def _alone(self, cancelled: threading.Event) -> Iterator[None]:
        """Hold the model's own context, unless the client goes away while waiting."""
        while not self.lock.acquire(timeout=_LOCK_POLL_SECONDS):
            if cancelled.is_set():
                raise Abandoned
        try:
            if cancelled.is_set():
                raise Abandoned
            yield
        finally:
            self.lock.release()

    def generate(self, prompt: list[int], request: Generation) -> Iterator[Event]:
        """Yield text as it is released, then each choice's ``ChoiceOutput`` when it ends
        (choices may end in any order). A request that does not stream may get only the
        outputs.

        The prompt is evaluated once; each choice restarts from its logits with its own
        generator, so choice i of a seeded request is the same whatever n is, and whether
        it ran alone or in a batch.
        """
        batcher = self.batcher()
        if batcher is not None and batcher.takes(len(prompt), request):
            yield from batcher.generate(prompt, request)
            return
        with self._alone(request.cancelled):
            ctx = self.llm._ctx
            ctx.kv_cache_clear()
            prompt_logits = self._decode(prompt, 0, cancelled=request.cancelled)
            for offset in range(request.n):
                ctx.kv_cache_seq_rm(0, len(prompt), -1)
                run = ChoiceRun(self, request, offset, len(prompt), self.llm.n_ctx())
                logits = prompt_logits
                while True:
                    events, following = run.step(logits)
                    yield from events
                    if following is None:
                        break
                    logits = self._decode([following.token], following.position)


def _remembered_batch_size(key: str) -> int | None:
    known = remembered.read(BATCH_SIZES_FILE).get(key, {}).get("exact")
    return known if isinstance(known, int) and known > 0 else None
