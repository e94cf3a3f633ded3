"""What the local server's endpoints do, independent of HTTP.

Each request is checked against the model (context, vocabulary, fill-in-the-middle)
before anything is generated, so a bad request gets a 400 even when it asks to stream.
Each request carries a cancel flag (a ``threading.Event`` the HTTP layer sets when the
client goes away): a request still waiting for the model then gives up without generating,
and a running generation stops after its current token; either way ``Abandoned`` is raised
instead of an answer.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

from playground.errors import LocalServerFailed
from playground.local.choice_run import ChoiceOutput, Delta, Generation, Step
from playground.local.engine import Abandoned, LocalModel
from playground.local.grammar import JSON_OBJECT_GRAMMAR, Grammar, GrammarError, schema_grammar
from playground.local.schema import (
    APIError,
    ChatRequest,
    CompletionRequest,
    JsonObjectFormat,
    JsonSchemaFormat,
    TokenizeRequest,
)
from playground.local.served_models import ModelEntry

COMPLETIONS_DEFAULT_MAX_TOKENS = 16
CHAT_DEFAULT_MAX_TOKENS = 1024  # when max_tokens is unset (or the room left, if smaller)
FINGERPRINT = "fp_local_llamacpp"

class Service:
    def __init__(self, entries: dict[str, ModelEntry], n_threads: int | None = None):
        self.models = {name: LocalModel(entry, n_threads) for name, entry in entries.items()}

    # -- models ---------------------------------------------------------------------
    def model(self, name: str) -> LocalModel:
        try:
            return self.models[name]
        except KeyError:
            raise APIError(404, f"The model '{name}' does not exist. Available: "
                                f"{', '.join(self.models)}.", param="model",
                           code="model_not_found") from None

    def describe_all(self) -> list[dict]:
        """Every model; one whose file cannot be read is listed with its error."""
        described = []
        for name, model in self.models.items():
            try:
                described.append(self.describe(name))
            except LocalServerFailed as failure:
                described.append({"id": name, "object": "model", "created": 0,
                                  "owned_by": model.entry.owned_by, "error": str(failure)})
        return described

    def describe(self, name: str, *, full: bool = False) -> dict:
        model = self.model(name)
        info = model.info()
        described = {
            "id": name, "object": "model", "created": _created(info["file"]),
            "owned_by": model.entry.owned_by, "description": model.entry.description,
            "license": model.entry.license,
            "endpoints": ["completions", "chat"],
            "fill_in_middle": info["fill_in_middle"],
            "parallel_sequences": model.parallel_sequences(),
            "threads": model.n_threads,
            "engine": model.engine_description(),
            **{k: info[k] for k in ("context_length", "context_length_trained", "parameters",
                                   "quantization", "architecture", "vocab_size", "file")},
        }
        if full:
            described["gguf"] = info["gguf"]
        return described

    # -- tokenize -------------------------------------------------------------------
    def tokenize(self, request: TokenizeRequest) -> dict:
        model = self.model(request.model)
        if (request.text is None) == (request.messages is None):
            raise APIError(400, "Give either text or messages.", param="text")
        if request.messages is not None:
            tokens = model.chat_tokens([m.as_template_input() for m in request.messages])
        else:
            tokens = model.tokenize(request.text)
        return {"model": request.model, "tokens": tokens, "count": len(tokens),
                "context_length": model.context_length}

    # -- completions ----------------------------------------------------------------
    def completion(self, request: CompletionRequest,
                   cancelled: threading.Event | None = None) -> dict | Iterator[str]:
        cancelled = cancelled or threading.Event()
        request.check()
        model = self.model(request.model)
        settings = request.sampling(model.info()["vocab_size"])
        max_tokens = request.max_tokens or COMPLETIONS_DEFAULT_MAX_TOKENS
        prompts = [self._completion_prompt(model, text, request.suffix, max_tokens)
                   for text in request.prompts]
        jobs = [
            (tokens, Generation(settings, max_tokens, request.stop or [], request.seed,
                                request.candidates, first_index=i * request.n,
                                top_logprobs=request.logprobs,
                                score=request.candidates > request.n,
                                debug_distribution=request.debug_distribution,
                                stream=bool(request.stream), cancelled=cancelled))
            for i, tokens in enumerate(prompts)
        ]
        head = _head("cmpl", "text_completion", request.model)
        if request.stream:
            return _sse(self._stream_completion(model, request, jobs, head, cancelled))
        choices, generated = [], 0
        for (tokens, job), text in zip(jobs, request.prompts):
            outputs = _choices(model.generate(tokens, job))
            generated += sum(o.generated for o in outputs)
            best = sorted(outputs, key=ChoiceOutput.mean_logprob, reverse=True)[:request.n] \
                if job.score else outputs
            echo = (model.echo_steps(tokens, request.logprobs, cancelled)
                    if request.echo else None)
            for offset, output in enumerate(sorted(best, key=lambda o: o.index)):
                choices.append(_completion_choice(model, request, job.first_index + offset,
                                                  output, text, echo))
        _give_up_if(cancelled)
        return {**head, "choices": choices,
                "usage": _usage(sum(len(t) for t, _ in jobs), generated)}

    def _completion_prompt(self, model: LocalModel, text: str, suffix: str | None,
                           max_tokens: int) -> list[int]:
        if suffix is not None:
            if not model.info()["fill_in_middle"]:
                raise APIError(400, f"The model '{model.entry.id}' was not trained to fill in "
                                    "the middle, so it cannot use suffix. Leave suffix empty.",
                               param="suffix")
            tokens = model.fill_in_middle_tokens(text, suffix)
        else:
            tokens = model.tokenize(text)
        _check_context(model, len(tokens), max_tokens, "prompt")
        return tokens

    def _stream_completion(self, model, request, jobs, head, cancelled) -> Iterator[dict]:
        prompt_tokens = sum(len(tokens) for tokens, _ in jobs)
        generated = 0
        for (tokens, job), text in zip(jobs, request.prompts):
            echo = model.echo_steps(tokens, request.logprobs, cancelled) if request.echo else None
            echoed: set[int] = set()
            for event in model.generate(tokens, job):
                if isinstance(event, ChoiceOutput):
                    generated += event.generated
                    yield {**head, "choices": [{"index": event.index, "text": "",
                                                "logprobs": None,
                                                "finish_reason": event.finish_reason}]}
                    continue
                steps, delta_text = event.steps, event.text
                if echo is not None:
                    steps = _shifted(steps, len(text))
                    if event.index not in echoed:
                        echoed.add(event.index)
                        steps, delta_text = echo + steps, text + delta_text
                logprobs = (_completion_logprobs(model, steps, request.debug_distribution)
                            if request.logprobs is not None else None)
                yield {**head, "choices": [{"index": event.index, "text": delta_text,
                                            "logprobs": logprobs, "finish_reason": None}]}
        if request.include_usage:
            yield {**head, "choices": [], "usage": _usage(prompt_tokens, generated)}

    # -- chat -----------------------------------------------------------------------
    def chat(self, request: ChatRequest,
             cancelled: threading.Event | None = None) -> dict | Iterator[str]:
        cancelled = cancelled or threading.Event()
        request.check()
        model = self.model(request.model)
        settings = request.sampling(model.info()["vocab_size"])
        tokens = model.chat_tokens([m.as_template_input() for m in request.messages])
        room = model.context_length - len(tokens)
        max_tokens = request.token_limit or min(CHAT_DEFAULT_MAX_TOKENS, room)
        _check_context(model, len(tokens), max_tokens, "messages")
        job = Generation(settings, max_tokens, request.stop or [], request.seed, request.n,
                         top_logprobs=(request.top_logprobs or 0) if request.logprobs else None,
                         grammar=_response_grammar(model, request),
                         debug_distribution=request.debug_distribution,
                         stream=bool(request.stream), cancelled=cancelled)
        head = _head("chatcmpl", "chat.completion", request.model)
        if request.stream:
            return _sse(self._stream_chat(model, request, tokens, job, head))
        outputs = _choices(model.generate(tokens, job))
        _give_up_if(cancelled)
        choices = [{
            "index": o.index,
            "message": {"role": "assistant", "content": o.text, "refusal": None},
            "logprobs": (_chat_logprobs(model, o.steps, request.debug_distribution)
                         if request.logprobs else None),
            "finish_reason": o.finish_reason,
        } for o in outputs]
        return {**head, "choices": choices,
                "usage": _usage(len(tokens), sum(o.generated for o in outputs))}

    def _stream_chat(self, model, request, tokens, job, head) -> Iterator[dict]:
        head = {**head, "object": "chat.completion.chunk"}
        generated = 0
        started: set[int] = set()
        for event in model.generate(tokens, job):
            if event.index not in started:
                started.add(event.index)
                yield _chat_chunk(head, event.index, {"role": "assistant", "content": ""})
            if isinstance(event, Delta):
                logprobs = (_chat_logprobs(model, event.steps, request.debug_distribution)
                            if request.logprobs else None)
                yield _chat_chunk(head, event.index, {"content": event.text}, logprobs=logprobs)
            else:
                generated += event.generated
                yield _chat_chunk(head, event.index, {}, finish_reason=event.finish_reason)
        if request.include_usage:
            yield {**head, "choices": [], "usage": _usage(len(tokens), generated)}


def _response_grammar(model: LocalModel, request: ChatRequest) -> Grammar | None:
    """The grammar every choice follows: JSON mode's or the schema's (None for text)."""
    response_format = request.response_format
    if isinstance(response_format, JsonObjectFormat):
        return Grammar(model.vocabulary(), JSON_OBJECT_GRAMMAR)
    if not isinstance(response_format, JsonSchemaFormat):
        return None
    spec = response_format.json_schema
    try:
        return Grammar(model.vocabulary(), schema_grammar(spec.json_schema))
    except GrammarError as error:
        raise APIError(400, f"Invalid schema for response_format '{spec.name}': {error}.",
                       param="response_format") from None


def _choices(events: Iterator[Delta | ChoiceOutput]) -> list[ChoiceOutput]:
    """Every choice's output, in the order of their indexes (they may end in any order)."""
    return sorted((e for e in events if isinstance(e, ChoiceOutput)), key=lambda o: o.index)


def _give_up_if(cancelled: threading.Event) -> None:
    if cancelled.is_set():
        raise Abandoned


def _check_context(model: LocalModel, prompt_tokens: int, max_tokens: int, param: str) -> None:
    limit = model.context_length
    if prompt_tokens + max_tokens > limit or max_tokens < 1:
        raise APIError(
            400,
            f"This model's maximum context length is {limit} tokens. However, you requested "
            f"{prompt_tokens + max(max_tokens, 0)} tokens ({prompt_tokens} in the {param}, "
            f"{max(max_tokens, 0)} for the completion). Please reduce the length of the {param} "
            "or the completion.",
            param=param, code="context_length_exceeded",
        )


def _head(prefix: str, kind: str, model: str) -> dict:
    return {"id": f"{prefix}-{uuid.uuid4().hex[:24]}", "object": kind,
            "created": int(time.time()), "model": model, "system_fingerprint": FINGERPRINT}


def _usage(prompt: int, completion: int) -> dict:
    return {"prompt_tokens": prompt, "completion_tokens": completion,
            "total_tokens": prompt + completion}


def _created(path: str) -> int:
    return int(Path(path).stat().st_mtime)


def _completion_choice(model, request, index, output: ChoiceOutput, prompt: str,
                       echo: list[Step] | None) -> dict:
    text, steps = output.text, output.steps
    if echo is not None:
        text, steps = prompt + text, echo + _shifted(steps, len(prompt))
    logprobs = (_completion_logprobs(model, steps, request.debug_distribution)
                if request.logprobs is not None else None)
    return {"index": index, "text": text, "logprobs": logprobs,
            "finish_reason": output.finish_reason}


def _shifted(steps: list[Step], by: int) -> list[Step]:
    return [replace(s, offset=s.offset + by) for s in steps]


def _completion_logprobs(model: LocalModel, steps: list[Step], debug: bool) -> dict:
    """The legacy completions shape: parallel lists, top alternatives as dicts; with
    ``debug``, ``sampled_from`` too (None for an echoed prompt token)."""
    logprobs = {
        "tokens": [model.token_text(s.token) for s in steps],
        "token_logprobs": [s.logprob for s in steps],
        "top_logprobs": [({model.token_text(t): lp for t, lp in s.top}
                          if s.logprob is not None else None)
                         for s in steps],
        "text_offset": [s.offset for s in steps],
    }
    if debug:
        logprobs["sampled_from"] = [_sampled_from(model, s) for s in steps]
    return logprobs


def _chat_logprobs(model: LocalModel, steps: list[Step], debug: bool) -> dict:
    def entry(token: int, logprob: float) -> dict:
        return {"token": model.token_text(token), "logprob": logprob,
                "bytes": list(model.piece(token))}

    def content(step: Step) -> dict:
        described = {**entry(step.token, step.logprob),
                     "top_logprobs": [entry(t, lp) for t, lp in step.top]}
        return {**described, "sampled_from": _sampled_from(model, step)} if debug else described

    return {"content": [content(s) for s in steps], "refusal": None}


def _sampled_from(model: LocalModel, step: Step) -> list[dict] | None:
    """The debug_distribution extension: the tokens the step was drawn from, most likely
    first, with the probabilities the sampler gave them."""
    if step.sampled_from is None:
        return None
    return [{"token": model.token_text(t), "id": t, "probability": p}
            for t, p in step.sampled_from]


def _chat_chunk(head: dict, index: int, delta: dict, *, finish_reason: str | None = None,
                logprobs: dict | None = None) -> dict:
    return {**head, "choices": [{"index": index, "delta": delta, "logprobs": logprobs,
                                 "finish_reason": finish_reason}]}


def _sse(chunks: Iterator[dict]) -> Iterator[str]:
    """Server-sent events, always closed by ``[DONE]``; a failure is sent as an error event."""
    try:
        for chunk in chunks:
            yield f"data: {json.dumps(chunk)}\n\n"
    except Abandoned:
        return
    except APIError as error:
        yield f"data: {json.dumps(error.body())}\n\n"
    except Exception as exc:  # noqa: BLE001 - the status line is gone; report in-band
        yield f"data: {json.dumps(APIError(500, str(exc), kind='server_error').body())}\n\n"
    yield "data: [DONE]\n\n"
