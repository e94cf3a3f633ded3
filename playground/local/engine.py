"""One loaded GGUF model: its metadata, its tokenizer, and generation through its scheduler.

llama.cpp evaluates tokens; everything OpenAI-specific (sampling, penalties, stops,
log-probabilities, n choices, seeds) happens in ``choice``/``sampling``/``text``, so the
server behaves like the API rather than like llama.cpp's defaults. The model's llama.cpp
context belongs to its ``Scheduler`` thread, which decodes every request in flight in one
batch per step: callers submit work and read events, and hold no lock.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from functools import lru_cache
from pathlib import Path

import llama_cpp
import numpy as np
from llama_cpp import Llama
from llama_cpp._internals import LlamaContext
from llama_cpp.llama_chat_format import Jinja2ChatFormatter

from playground.errors import LocalServerFailed
from playground.local import engine_settings, llama_loader, sampling
from playground.local.catalog import ModelEntry
from playground.local.choice import ChoiceOutput, Delta, Step, TokenTable
from playground.local.grammar import Vocabulary
from playground.local.scheduler import Generation, Scheduler

__all__ = ["ChoiceOutput", "Delta", "Generation", "LocalModel", "Step"]

MAX_CONTEXT = 8192  # served context per request: enough for the playground, bounded memory
SEQUENCES = 32  # sequences decoded side by side (choices, and prompts being evaluated)
CACHE_REQUESTS = 2  # the shared cache holds this many full contexts
BATCH_TOKENS = 512
_FILE_TYPES = {
    getattr(llama_cpp, name): name.removeprefix("LLAMA_FTYPE_MOSTLY_").removeprefix("LLAMA_FTYPE_")
    for name in dir(llama_cpp) if name.startswith("LLAMA_FTYPE_")
}
_CHATML = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n{{ message['content'] }}"
    "<|im_end|>\n{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
_TOKENIZER_CONTEXT = 256  # Llama's own context only tokenises; the scheduler's decodes


class LocalModel:
    """A model file, loaded on first use and kept loaded."""

    def __init__(self, entry: ModelEntry, n_threads: int | None = None):
        self.entry = entry
        self._load_lock = threading.Lock()
        self._n_threads = n_threads
        self._llm: Llama | None = None
        self._context: LlamaContext | None = None
        self._scheduler: Scheduler | None = None
        self._info: dict | None = None
        self._vocabulary: Vocabulary | None = None
        self.engine: engine_settings.EngineChoice | None = None  # set when loaded

    # -- loading and metadata -------------------------------------------------------
    def path(self) -> Path:
        try:
            return self.entry.locate()
        except Exception as exc:  # noqa: BLE001 - reported with the model's name
            raise LocalServerFailed(f"The model {self.entry.id!r} could not be found: {exc}") from exc

    @property
    def llm(self) -> Llama:
        return self._loaded()[0]

    @property
    def scheduler(self) -> Scheduler:
        return self._loaded()[1]

    def _loaded(self) -> tuple[Llama, Scheduler]:
        with self._load_lock:
            if self._llm is None:
                self._load()
            return self._llm, self._scheduler

    def _load(self) -> None:
        path = self.path()
        n_ctx = self.context_length
        self.engine = engine_settings.choose(path, n_threads=self._n_threads, n_ctx=n_ctx)
        try:
            llm = llama_loader.load(
                path, fast=self.engine.fast, n_ctx=_TOKENIZER_CONTEXT, n_batch=BATCH_TOKENS,
                n_threads=self._n_threads, n_threads_batch=self._n_threads,
                logits_all=False, verbose=False,
            )
            self._context = LlamaContext(model=llm._model, params=self._batched_params(llm),
                                         verbose=False)
        except Exception as exc:  # noqa: BLE001
            raise LocalServerFailed(f"The model file {path} failed to load: {exc}") from exc
        cells = CACHE_REQUESTS * n_ctx
        self._scheduler = Scheduler(self._context, TokenTable(self.piece, self.is_end),
                                    n_vocab=llm.n_vocab(), n_batch=BATCH_TOKENS,
                                    sequences=SEQUENCES, cells=cells, name=self.entry.id)
        self._llm = llm

    def _batched_params(self, llm: Llama):
        """Llama's context settings (threads and all), for many sequences in one cache."""
        params = type(llm.context_params).from_buffer_copy(llm.context_params)
        params.n_ctx = CACHE_REQUESTS * self.context_length
        params.n_batch = params.n_ubatch = BATCH_TOKENS
        params.n_seq_max = SEQUENCES
        params.kv_unified = True
        return params

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
            except Exception as exc:  # noqa: BLE001
                raise LocalServerFailed(f"The model file {path} cannot be read: {exc}") from exc
            metadata = dict(header.metadata)
            arch = metadata.get("general.architecture", "")
            trained = int(metadata.get(f"{arch}.context_length", 2048))
            self._info = {
                "file": str(path),
                "context_length": min(MAX_CONTEXT, trained),
                "context_length_trained": trained,
                "parameters": int(llama_cpp.llama_model_n_params(header._model.model)),
                "quantization": _FILE_TYPES.get(int(metadata.get("general.file_type", -1)), "unknown"),
                "architecture": arch,
                "vocab_size": header.n_vocab(),
                "gguf": {k: v for k, v in metadata.items() if k != "tokenizer.chat_template"},
                "chat_template": self.entry.chat_template or metadata.get("tokenizer.chat_template") or _CHATML,
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

    @lru_cache(maxsize=None)
    def piece(self, token: int) -> bytes:
        return self.llm.detokenize([token])

    def token_text(self, token: int) -> str:
        return self.piece(token).decode("utf-8", errors="replace")

    def vocabulary(self) -> Vocabulary:
        """The vocabulary as grammars see it (read once)."""
        if self._vocabulary is None:
            self._vocabulary = Vocabulary.of(self.llm._model.vocab, self.llm.n_vocab())
        return self._vocabulary

    @lru_cache(maxsize=None)
    def is_end(self, token: int) -> bool:
        return bool(llama_cpp.llama_vocab_is_eog(self.llm._model.vocab, token))

    # -- generation -----------------------------------------------------------------
    def generate(self, prompt: list[int], request: Generation) -> Iterator[Delta | ChoiceOutput]:
        """Submit now; the iterator yields text as it is released, then each choice's
        ``ChoiceOutput`` when it ends (choices interleave). Closing it early abandons the work."""
        if not prompt:
            raise LocalServerFailed("There is nothing to generate from: the prompt has no tokens.")
        return self.scheduler.submit(prompt, request).events()

    def echo_steps(self, prompt: list[int], top_logprobs: int | None,
                   cancelled: threading.Event | None = None) -> list[Step]:
        """The prompt's own tokens as steps, with logprobs when asked (first has none)."""
        steps, offset = [], 0
        for token in prompt:
            steps.append(Step(token, self.piece(token), offset))
            offset += len(self.token_text(token))
        if top_logprobs is None or len(prompt) < 2:
            return steps

        def score(position: int, logits: np.ndarray) -> None:
            if position + 1 < len(prompt):
                nxt = steps[position + 1]
                shift = sampling.log_normaliser(logits)
                nxt.logprob = float(logits[nxt.token]) - shift
                nxt.top = sampling.top_alternatives(logits, top_logprobs, shift)

        only_scored = Generation(sampling.SamplingSettings(), 1,
                                 cancelled=cancelled or threading.Event())
        for _ in self.scheduler.submit(prompt, only_scored, every_row=score).events():
            pass
        return steps
