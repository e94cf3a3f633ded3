"""Token ids for text, and the logit_bias editor's lines turned into the API's map.

``logit_bias`` is keyed by token ids, and ids differ from model to model, so the editor
also takes token text. Text is converted with the endpoint's own tokenizer, reached as
``POST /tokenize`` through the SDK client (``{"model", "text"}`` in, ``{"tokens"}`` out).
The local models' server has it; OpenAI has none, and other servers' tokenizers, where
they exist, take other bodies: there, ids must be given.

The editor's syntax, one entry per line, the bias last::

    50256 -100          a token id (ASCII digits)
    hello 5             token text, trimmed
    " hello" -100       token text as a JSON string: keeps spaces, "\\n", or digits as text

A JSON object (``{"50256": -100}``, as in a request body) is read as well. Text that
tokenizes to several tokens biases each of them.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from playground import errors
from playground.connection import Connection, client_for
from playground.params import is_token_id, spec

_BIAS_SPEC = spec("completions", "logit_bias")


@dataclass(frozen=True)
class BiasEntry:
    """One line of the editor: a token id or a token's text, and its bias."""

    token: int | str
    bias: int | float
    line: int


@dataclass(frozen=True)
class ParsedBias:
    entries: tuple[BiasEntry, ...] = ()
    problems: tuple[str, ...] = ()

    @property
    def needs_tokenizer(self) -> bool:
        return any(isinstance(entry.token, str) for entry in self.entries)

    def by_id(self) -> dict[str, int | float]:
        """The API's map for entries given as ids (text entries are left out)."""
        return {str(e.token): e.bias for e in self.entries if isinstance(e.token, int)}


def parse_logit_bias(text: str | None) -> ParsedBias:
    """Read the editor's text; every problem names its line and what is allowed."""
    if not text or not text.strip():
        return ParsedBias()
    if text.strip().startswith("{"):
        return _parse_json(text)
    entries, problems = [], []
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line:
            continue
        parts = line.rsplit(None, 1)
        if len(parts) < 2:
            problems.append(f"Line {number}: write a token id or token text, then its bias "
                            f"(for example: hello -100).")
            continue
        token, problem = _token(parts[0])
        bias, bias_problem = _bias(parts[1])
        if problem or bias_problem:
            problems.append(f"Line {number}: {problem or bias_problem}")
        else:
            entries.append(BiasEntry(token, bias, number))
    return ParsedBias(tuple(entries), tuple(problems))


def example_logit_bias(vocab_size: int | None) -> str:
    """The editor's placeholder, with an id the model has: GPT-2's end of text (50256) where
    the vocabulary is unknown or large enough, else 198 (a line break in GPT-2-style BPE)."""
    token_id = 50256 if vocab_size is None or vocab_size > 50256 else min(198, vocab_size - 1)
    return f"hello -100\n{token_id} 5"


def format_logit_bias(bias: dict[str, Any] | None) -> str:
    """The editor's text for a logit_bias map (a preset's, say): one ``id bias`` per line."""
    return "\n".join(f"{token} {value}" for token, value in (bias or {}).items())


def _parse_json(text: str) -> ParsedBias:
    try:
        data = json.loads(text)
    except (json.JSONDecodeError, RecursionError):
        return ParsedBias(problems=("This is not a JSON object; write one entry per line "
                                    "instead (for example: hello -100).",))
    if not isinstance(data, dict):
        return ParsedBias(problems=("Write a JSON object of token to bias, or one entry per "
                                    "line.",))
    entries, problems = [], []
    for key, value in data.items():
        bias, problem = _bias(value)
        if problem:
            problems.append(f"{key!r}: {problem}")
        else:
            entries.append(BiasEntry(int(key) if is_token_id(key) else key, bias, 1))
    return ParsedBias(tuple(entries), tuple(problems))


def _token(text: str) -> tuple[int | str, str | None]:
    if text.startswith('"'):
        try:
            value = json.loads(text)
        except json.JSONDecodeError:
            return text, 'quoted token text must be a JSON string, like " hello".'
        if not isinstance(value, str) or not value:
            return text, "quoted token text must not be empty."
        return value, None
    return (int(text), None) if is_token_id(text) else (text, None)


def _bias(value: Any) -> tuple[int | float, str | None]:
    allowed = f"the bias must be a number from {_BIAS_SPEC.range_text()}"
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            return 0, f"{allowed}; got {value!r}."
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return 0, f"{allowed}; got {value!r}."
    if not _BIAS_SPEC.minimum <= value <= _BIAS_SPEC.maximum:
        return 0, f"{allowed}; got {value:g}."
    return (int(value) if float(value).is_integer() else value), None


# Converting text ------------------------------------------------------------------------------

Tokenize = Callable[[str], list[int]]


@dataclass(frozen=True)
class Resolved:
    """The API's logit_bias map, what each text became, and what could not be converted."""

    bias: dict[str, int | float]
    texts: dict[str, list[int]]
    problems: tuple[str, ...] = ()


def resolve_logit_bias(parsed: ParsedBias, tokenize: Tokenize) -> Resolved:
    """Ids as they are; each text through ``tokenize`` (called once per distinct text).
    The parse's own problems are the caller's to report.

    A later entry for the same id wins, as it would in a JSON object.
    """
    bias: dict[str, int | float] = {}
    texts: dict[str, list[int]] = {}
    problems: list[str] = []
    for entry in parsed.entries:
        if isinstance(entry.token, int):
            bias[str(entry.token)] = entry.bias
            continue
        if entry.token not in texts:
            try:
                texts[entry.token] = tokenize(entry.token)
            except errors.PlaygroundError as exc:
                problems.append(_tokenizer_problem(exc))
                break
        ids = texts[entry.token]
        if not ids:
            problems.append(f"Line {entry.line}: {entry.token!r} is no token at all.")
        for token_id in ids:
            bias[str(token_id)] = entry.bias
    return Resolved(bias, texts, tuple(problems))


def _tokenizer_problem(exc: errors.PlaygroundError) -> str:
    return (f"Token text could not be converted to ids ({exc.message}). Endpoints without "
            "POST /tokenize, OpenAI's among them, take token ids only: write the id instead.")


def tokenizer(conn: Connection, model: str) -> Tokenize:
    """``text -> ids`` through the endpoint's ``/tokenize``, without the tokens it adds to
    any text (a start-of-text token): the ids are those the model samples for the text."""
    added: list[int] | None = None

    def ask(text: str) -> list[int]:
        try:
            body = client_for(conn).post("/tokenize", cast_to=object,
                                         body={"model": model, "text": text})
        except Exception as exc:
            raise errors.from_openai(exc) from exc
        tokens = body.get("tokens") if isinstance(body, dict) else None
        if not isinstance(tokens, list) or not all(type(t) is int for t in tokens):
            raise errors.ServerFailed("POST /tokenize answered without a list of token ids")
        return tokens

    def tokenize(text: str) -> list[int]:
        nonlocal added
        if added is None:
            added = ask("")
        ids = ask(text)
        return ids[len(added):] if ids[:len(added)] == added else ids

    return tokenize


CHARS_PER_TOKEN = 4  # the usual rule of thumb for English text with OpenAI's tokenizers


def estimate_tokens(text: str) -> int:
    """Tokens counted without a tokenizer: about four characters each, rounded up; 0 for
    no text."""
    return math.ceil(len(text) / CHARS_PER_TOKEN) if text else 0
