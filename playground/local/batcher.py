"""Continuous batching: the running choices of every request to one model decode together.

One scheduler thread owns a llama.cpp context with one KV stream per sequence
(``kv_unified = False``: a sequence attends only to its own cells, laid out as they would
be if it ran alone). Each step it asks every running choice for its next token and
evaluates them all in one ``llama_decode``: the model's weights are read once per step
instead of once per choice, which is where a small model on a CPU spends its time.
Requests join between steps, taking one sequence per choice; a request's prompt is
evaluated once, in a decode of its own, and its cache copied to its other choices.

A seeded request must give the same text alone or batched, so the logits a sequence gets
in a batch must be the ones it gets alone, bit for bit. llama.cpp picks its kernels by the
number of rows in a batch and by the CPU, and some pick differently at some sizes (Gemma 3
on an AVX2 CPU: exact for up to 3 rows, not 4). ``_exact_batch_size`` measures it when the
batcher first starts on a machine (the model remembers it) and the batcher never decodes
more sequences together than was found exact.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field

import llama_cpp
import numpy as np
from llama_cpp._internals import LlamaContext

from playground.errors import LocalServerFailed
from playground.local.choice_run import ChoiceOutput, ChoiceRun, Event, Generation, Tokens

log = logging.getLogger(__name__)

SEQUENCE_CONTEXT = 1024  # positions each sequence holds; longer requests run on their own
_CHECK_STEPS = 8
_END = object()


def context_params(sequences: int, n_threads: int, n_threads_batch: int,
                   n_batch: int = 512) -> llama_cpp.llama_context_params:
    """A context with one KV stream of ``SEQUENCE_CONTEXT`` positions per sequence."""
    params = llama_cpp.llama_context_default_params()
    params.n_ctx = sequences * SEQUENCE_CONTEXT
    params.n_batch = params.n_ubatch = n_batch
    params.n_seq_max = sequences
    params.kv_unified = False
    params.flash_attn_type = llama_cpp.LLAMA_FLASH_ATTN_TYPE_AUTO
    params.n_threads, params.n_threads_batch = n_threads, n_threads_batch
    return params


@dataclass
class _Job:
    prompt: list[int]
    request: Generation
    events: queue.Queue = field(default_factory=queue.Queue)
    abandoned: threading.Event = field(default_factory=threading.Event)
    seq_ids: list[int] = field(default_factory=list)  # one per choice, once admitted
    prompt_logits: np.ndarray | None = None  # once its prompt is evaluated
    live: int = 0  # its sequences still running

    def fail(self, failure: Exception) -> None:
        self.events.put(failure)

    @property
    def gone(self) -> bool:
        return self.abandoned.is_set() or self.request.cancelled.is_set()


@dataclass
class _Sequence:
    seq_id: int
    job: _Job
    run: ChoiceRun
    logits: np.ndarray | None = None
    token: int | None = None
    position: int = 0


class Batcher:
    """Decodes up to ``capacity`` sequences of one model together (see the module doc)."""

    def __init__(self, model: llama_cpp._internals.LlamaModel, tokens: Tokens, *,
                 sequences: int, exact: int | None, check_prompt: list[int],
                 n_threads: int, n_threads_batch: int, n_batch: int = 512):
        """``exact``: how many sequences are known to decode together exactly (None:
        measure it now, with ``check_prompt``, before serving)."""
        self._tokens = tokens
        self._n_vocab = llama_cpp.llama_vocab_n_tokens(model.vocab)
        self._n_batch = n_batch
        params = context_params(sequences, n_threads, n_threads_batch, n_batch)
        try:
            self._context = LlamaContext(model=model, params=params, verbose=False)
        except Exception as exc:
            raise LocalServerFailed(f"The batched context could not be created: {exc}") from exc
        self._memory = llama_cpp.llama_get_memory(self._context.ctx)
        self._batch = llama_cpp.llama_batch_init(max(n_batch, sequences), 0, 1)
        self.capacity = min(exact or self._exact_batch_size(sequences, check_prompt), sequences)
        self._free = list(range(self.capacity))
        self._waiting: deque[_Job] = deque()
        self._running: list[_Sequence] = []
        self._wake = threading.Condition()
        threading.Thread(target=self._serve, daemon=True, name="batcher").start()

    # -- what requests see ----------------------------------------------------------
    def takes(self, prompt_tokens: int, request: Generation) -> bool:
        """Whether the request runs here: it fits a sequence, and its choices the batch.

        A grammar's per-token check would hold up every sequence, so constrained requests
        run on their own.
        """
        return (request.n <= self.capacity and request.grammar is None
                and prompt_tokens + request.max_tokens <= SEQUENCE_CONTEXT)

    def generate(self, prompt: list[int], request: Generation) -> Iterator[Event]:
        """The request's events, as ``LocalModel.generate`` yields them; for a request that
        does not stream, only each choice's output. Its reader would otherwise wake for
        every token, taking a core from the decode its wake-up falls in."""
        job = _Job(prompt, request)
        with self._wake:
            self._waiting.append(job)
            self._wake.notify()
        ended = False
        try:
            while (event := job.events.get()) is not _END:
                if isinstance(event, BaseException):
                    raise event
                yield event
            ended = True
        finally:
            if not ended:
                job.abandoned.set()

    # -- the scheduler thread -------------------------------------------------------
    def _serve(self) -> None:
        while True:
            with self._wake:
                while not self._running and not self._waiting:
                    self._wake.wait()
                admitted = self._admit()
            try:
                for job in admitted:
                    self._start(job)
                self._step()
            except Exception as exc:
                log.exception("the batcher failed")
                self._fail_running(LocalServerFailed(f"The model failed: {exc}"))

    def _admit(self) -> list[_Job]:
        """Waiting jobs that now get their sequences, first come first served; a job nobody
        waits for any more is dropped."""
        for job in [job for job in self._waiting if job.gone]:
            self._waiting.remove(job)
            job.events.put(_END)
        admitted = []
        while self._waiting and self._waiting[0].request.n <= len(self._free):
            job = self._waiting.popleft()
            self._free.sort()
            job.seq_ids, self._free = self._free[:job.request.n], self._free[job.request.n:]
            admitted.append(job)
        return admitted

    def _start(self, job: _Job) -> None:
        """Evaluate the prompt once, copy it to every choice's sequence, start them.

        A grid sends one prompt many times: when a running sequence has the same prompt,
        its cache is copied instead (the stream whole, then cut back to the prompt).
        """
        seq_ids = job.seq_ids
        twin = next((s for s in self._running if s.job.prompt == job.prompt), None)
        try:
            if twin is None:
                logits = self._prefill(job.prompt, seq_ids[0])
            else:
                llama_cpp.llama_memory_seq_cp(self._memory, twin.seq_id, seq_ids[0], -1, -1)
                llama_cpp.llama_memory_seq_rm(self._memory, seq_ids[0], len(job.prompt), -1)
                logits = twin.job.prompt_logits
        except Exception as exc:  # noqa: BLE001 - the job fails, the batcher goes on
            self._release(seq_ids)
            job.fail(LocalServerFailed(f"The prompt could not be evaluated: {exc}"))
            job.events.put(_END)
            return
        for seq_id in seq_ids[1:]:
            llama_cpp.llama_memory_seq_cp(self._memory, seq_ids[0], seq_id, -1, -1)
        for offset, seq_id in enumerate(seq_ids):
            run = ChoiceRun(self._tokens, job.request, offset, len(job.prompt), SEQUENCE_CONTEXT)
            self._running.append(_Sequence(seq_id, job, run, logits=logits))
        job.live, job.prompt_logits = len(seq_ids), logits

    def _step(self) -> None:
        """Every running sequence takes its next token; those that go on decode together."""
        running, self._running = self._running, []
        for sequence in running:
            if sequence.job.abandoned.is_set():
                self._end(sequence)
                continue
            try:
                events, following = sequence.run.step(sequence.logits)
            except Exception as exc:
                log.exception("sampling failed")
                sequence.job.fail(LocalServerFailed(f"Sampling failed: {exc}"))
                self._end(sequence)
                continue
            for event in events:
                if sequence.job.request.stream or isinstance(event, ChoiceOutput):
                    sequence.job.events.put(event)
            if following is None:
                self._end(sequence)
            else:
                sequence.token, sequence.position = following
                self._running.append(sequence)
        if not self._running:
            return
        self._compact()
        try:
            rows = self._decode([(s.token, s.position, s.seq_id) for s in self._running],
                                outputs=range(len(self._running)))
        except Exception as exc:
            log.exception("a batched decode failed")
            self._fail_running(LocalServerFailed(f"The model failed while generating: {exc}"))
            return
        for sequence, row in zip(self._running, rows):
            sequence.logits = row

    def _compact(self) -> None:
        """Keep the running sequences on ids 0..k-1, in that order in the batch.

        With one KV stream per sequence, llama.cpp evaluates a batch in one pass only when
        its rows' sequence ids ascend one by one; any other order or a gap splits it into
        several passes, each reading every weight again. So a sequence above a free id moves
        down into it (its stream copied whole, cells and positions unchanged).
        """
        self._free.sort()
        for sequence in sorted(self._running, key=lambda s: s.seq_id, reverse=True):
            if not self._free or self._free[0] > sequence.seq_id:
                break
            target = self._free.pop(0)
            llama_cpp.llama_memory_seq_cp(self._memory, sequence.seq_id, target, -1, -1)
            llama_cpp.llama_memory_seq_rm(self._memory, sequence.seq_id, -1, -1)
            self._free.append(sequence.seq_id)
            self._free.sort()
            sequence.seq_id = target
        self._running.sort(key=lambda s: s.seq_id)

    def _fail_running(self, failure: Exception) -> None:
        running, self._running = self._running, []
        for sequence in running:
            sequence.job.fail(failure)
            self._end(sequence)

    def _end(self, sequence: _Sequence) -> None:
        self._release([sequence.seq_id])
        sequence.job.live -= 1
        if sequence.job.live == 0:
            sequence.job.events.put(_END)

    def _release(self, seq_ids: list[int]) -> None:
        for seq_id in seq_ids:
            llama_cpp.llama_memory_seq_rm(self._memory, seq_id, -1, -1)
        self._free.extend(seq_ids)

    # -- llama.cpp ------------------------------------------------------------------
    def _prefill(self, tokens: list[int], seq_id: int) -> np.ndarray:
        """Evaluate a prompt in sequence ``seq_id``; the logits after its last token."""
        for first in range(0, len(tokens), self._n_batch):
            chunk = tokens[first:first + self._n_batch]
            last = first + len(chunk) == len(tokens)
            rows = self._decode([(t, first + i, seq_id) for i, t in enumerate(chunk)],
                                outputs=[len(chunk) - 1] if last else [])
        return rows[0]

    def _decode(self, entries: list[tuple[int, int, int]], outputs) -> list[np.ndarray]:
        """One ``llama_decode`` of (token, position, sequence) rows; copies of the logits
        of the rows named in ``outputs``."""
        batch, wanted = self._batch, set(outputs)
        batch.n_tokens = len(entries)
        for i, (token, position, seq_id) in enumerate(entries):
            batch.token[i], batch.pos[i] = token, position
            batch.n_seq_id[i], batch.seq_id[i][0] = 1, seq_id
            batch.logits[i] = i in wanted
        status = llama_cpp.llama_decode(self._context.ctx, batch)
        if status != 0:
            raise RuntimeError(f"llama_decode returned {status}")
        return [np.ctypeslib.as_array(llama_cpp.llama_get_logits_ith(self._context.ctx, i),
                                      shape=(self._n_vocab,)).copy() for i in outputs]

    def _exact_batch_size(self, most: int, tokens: list[int]) -> int:
        """The largest k <= most such that, for every size up to k, each of the rows of a
        batch gets the logits a sequence decoded alone gets, over a short greedy run."""
        alone, path = [], []
        logits = self._prefill(tokens, 0)
        for step in range(_CHECK_STEPS):
            token = int(np.argmax(logits))
            path.append(token)
            logits = self._decode([(token, len(tokens) + step, 0)], outputs=[0])[0]
            alone.append(logits)
        exact = 1
        for size in range(2, most + 1):
            llama_cpp.llama_memory_seq_rm(self._memory, 0, len(tokens), -1)
            for seq_id in range(1, size):
                llama_cpp.llama_memory_seq_cp(self._memory, 0, seq_id, -1, -1)
            same = all(
                all(np.array_equal(row, alone[step]) for row in self._decode(
                    [(token, len(tokens) + step, s) for s in range(size)], range(size)))
                for step, token in enumerate(path))
            for seq_id in range(1, size):
                llama_cpp.llama_memory_seq_rm(self._memory, seq_id, -1, -1)
            if not same:
                break
            exact = size
        llama_cpp.llama_memory_seq_rm(self._memory, 0, -1, -1)
        return exact
