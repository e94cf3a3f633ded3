"""One loaded GGUF model and the decoding loop over it.

llama.cpp evaluates tokens; everything OpenAI-specific (sampling, penalties, stops,
log-probabilities, n choices, seeds) happens here and in ``sampling``/``text``, so the
server behaves like the API rather than like llama.cpp's defaults.

A llama.cpp context is not thread safe: callers hold ``LocalModel.lock`` for a whole
generation (the server does), so concurrent requests for one model queue up while two
different models run side by side.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import llama_cpp
import numpy as np
from llama_cpp import Llama
from llama_cpp._internals import LlamaBatch
from llama_cpp.llama_chat_format import Jinja2ChatFormatter

from playground.errors import LocalServerFailed
from playground.local import engine_settings, llama_loader, sampling
from playground.local.grammar import Grammar, Vocabulary
from playground.local.served_models import ModelEntry
from playground.local.text import TextAssembler

MAX_CONTEXT = 8192  # served context: enough for the playground, bounded memory
_LOGITS_ALL_BATCH = 32  # small batches when every row's logits are read (echo logprobs)
_FILE_TYPES = {
    getattr(llama_cpp, name): name.removeprefix("LLAMA_FTYPE_MOSTLY_").removeprefix("LLAMA_FTYPE_")
    for name in dir(llama_cpp) if name.startswith("LLAMA_FTYPE_")
}
_CHATML = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n{{ message['content'] }}"
    "<|im_end|>\n{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


@dataclass
class Step:
    """One generated (or echoed) token with what the request may report about it."""

    token: int
    piece: bytes
    offset: int = 0  # where its text starts in the choice's text
    logprob: float | None = None
    top: list[tuple[int, float]] = field(default_factory=list)


@dataclass
class ChoiceOutput:
    index: int
    text: str = ""
    steps: list[Step] = field(default_factory=list)
    finish_reason: str = "length"
    generated: int = 0

    def mean_logprob(self) -> float:
        values = [s.logprob for s in self.steps if s.logprob is not None]
        return sum(values) / len(values) if values else float("-inf")


@dataclass
class Delta:
    """Text released for a choice while generating, with its tokens' steps."""

    index: int
    text: str
    steps: list[Step]


@dataclass(frozen=True)
class Generation:
    """What to generate after a prompt (already tokenised)."""

    settings: sampling.SamplingSettings
    max_tokens: int
    stops: list[str] = field(default_factory=list)
    seed: int | None = None
    n: int = 1
    first_index: int = 0
    top_logprobs: int | None = None  # None: no log-probabilities asked for
    score: bool = False  # compute chosen-token logprobs even when not reported (best_of)
    grammar: Grammar | None = None  # each choice follows it (response_format)
    # Set when nobody waits for the answer any more: generation stops before the next token.
    cancelled: threading.Event = field(default_factory=threading.Event, compare=False)


class LocalModel:
    """A model file, loaded on first use and kept loaded."""

    def __init__(self, entry: ModelEntry, n_threads: int | None = None):
        self.entry = entry
        self.lock = threading.Lock()
        self._load_lock = threading.Lock()
        self._n_threads = n_threads
        self._llm: Llama | None = None
        self._batch: LlamaBatch | None = None
        self._info: dict | None = None
        self._vocabulary: Vocabulary | None = None
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

    @property
    def llm(self) -> Llama:
        return self.load()

    def _read_weights(self) -> Llama:
        path = self.path()
        n_ctx = min(MAX_CONTEXT, self.info()["context_length_trained"])
        self.engine = engine_settings.choose(path, n_threads=self._n_threads, n_ctx=n_ctx)
        try:
            llm = llama_loader.load(
                path, fast=self.engine.fast, n_ctx=n_ctx, n_batch=512,
                n_threads=self._n_threads, n_threads_batch=self._n_threads,
                logits_all=False, verbose=False,
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

    def echo_steps(self, prompt: list[int], top_logprobs: int | None) -> list[Step]:
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

        self.llm._ctx.kv_cache_clear()
        self._decode(prompt, 0, every_row=score)
        return steps

    def generate(self, prompt: list[int], request: Generation) -> Iterator[Delta | ChoiceOutput]:
        """Yield text as it is released, then each choice's ``ChoiceOutput`` when it ends.

        The prompt is evaluated once; each choice restarts from its logits with its own
        generator, so choice i of a seeded request is the same whatever n is.
        """
        ctx = self.llm._ctx
        ctx.kv_cache_clear()
        prompt_logits = self._decode(prompt, 0, cancelled=request.cancelled)
        for offset in range(request.n):
            ctx.kv_cache_seq_rm(0, len(prompt), -1)
            yield from self._one_choice(prompt, prompt_logits, request, offset)

    def _one_choice(self, prompt: list[int], logits: np.ndarray, request: Generation,
                    offset: int) -> Iterator[Delta | ChoiceOutput]:
        output = ChoiceOutput(request.first_index + offset)
        rng = sampling.rng_for(request.seed, offset)
        penalties = sampling.Penalties()
        assembler = TextAssembler(request.stops)
        want_logprobs = request.top_logprobs is not None or request.score
        released_steps = 0
        position = len(prompt)
        constraint = request.grammar.constraint() if request.grammar else None
        for _ in range(request.max_tokens):
            if request.cancelled.is_set():
                break
            adjusted = sampling.adjust(logits, request.settings, penalties)
            if constraint is not None:
                adjusted = constraint.mask(adjusted)
            token = sampling.choose(adjusted, request.settings, rng)
            output.generated += 1
            if self.is_end(token):
                output.finish_reason = "stop"
                break
            step = Step(token, self.piece(token), offset=len(assembler.text))
            if want_logprobs:
                logprobs = sampling.log_softmax(adjusted)
                step.logprob = float(logprobs[token])
                step.top = [(t, lp) for t, lp in
                            sampling.top_alternatives(logprobs, request.top_logprobs or 0)
                            if lp > -np.inf]  # a token the grammar forbids is no alternative
            output.steps.append(step)
            if constraint is not None:
                constraint.accept(token)
            penalties.add(token)
            text = assembler.feed(step.piece)
            if text:
                ready = _released(output.steps, released_steps, assembler.released)
                yield Delta(output.index, text, output.steps[released_steps:ready])
                released_steps = ready
            if assembler.stopped:
                output.finish_reason = "stop"
                break
            if position + 1 >= self.llm.n_ctx():
                break
            logits = self._decode([token], position)
            position += 1
        if constraint is not None:
            constraint.close()
        tail = assembler.finish()
        output.text = assembler.text
        output.steps = [s for s in output.steps if s.offset < len(output.text)]
        if tail or released_steps < len(output.steps):
            yield Delta(output.index, tail, output.steps[released_steps:])
        yield output


def _released(steps: list[Step], start: int, released_chars: int) -> int:
    """Index past the last step whose text starts inside the released text."""
    end = start
    while end < len(steps) and steps[end].offset < released_chars:
        end += 1
    return end
