"""Per-token log-probabilities of a response, in one shape for both endpoints.

Completions return ``{"tokens", "token_logprobs", "top_logprobs", "text_offset"}`` per
choice; chat returns ``{"content": [{"token", "logprob", "top_logprobs": [...]}, ...]}``.
A stream spreads either over its chunks, a few tokens per chunk. ``tokens_of`` reads a
choice's field into ``TokenLogprob`` rows; ``by_choice`` first joins a stream's pieces.
With ``echo``, a completions choice starts with the prompt's tokens (the very first has no
log-probability): ``echo_boundary`` counts them.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from playground.runner import RunResult

_COMPLETION_LISTS = ("tokens", "token_logprobs", "top_logprobs", "text_offset")


class TokenLogprob(NamedTuple):
    """A token's text, its natural-log probability (None when the server gives none) and
    the most likely alternatives at its position, most likely first."""

    text: str
    logprob: float | None
    top: tuple[tuple[str, float], ...] = ()


def tokens_of(logprobs: Any) -> list[TokenLogprob]:
    """The rows of a choice's ``logprobs`` field; empty when it holds none."""
    if not isinstance(logprobs, dict):
        return []
    if isinstance(logprobs.get("content"), list):
        return [_chat_row(item) for item in logprobs["content"] if isinstance(item, dict)]
    tokens = logprobs.get("tokens")
    if not isinstance(tokens, list):
        return []
    values = _list(logprobs.get("token_logprobs"), len(tokens))
    tops = _list(logprobs.get("top_logprobs"), len(tokens))
    return [TokenLogprob(str(token), _number(value), _ranked(top))
            for token, value, top in zip(tokens, values, tops)]


def _chat_row(item: dict) -> TokenLogprob:
    top = item.get("top_logprobs") or []
    pairs = {str(alt.get("token", "")): alt.get("logprob") for alt in top if isinstance(alt, dict)}
    return TokenLogprob(str(item.get("token", "")), _number(item.get("logprob")), _ranked(pairs))


def _list(value: Any, length: int) -> list:
    return value if isinstance(value, list) and len(value) == length else [None] * length


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _ranked(top: Any) -> tuple[tuple[str, float], ...]:
    if not isinstance(top, dict):
        return ()
    pairs = [(str(text), float(value)) for text, value in top.items() if _number(value) is not None]
    return tuple(sorted(pairs, key=lambda pair: -pair[1]))


def by_choice(result: RunResult) -> dict[int, Any]:
    """Each choice's ``logprobs`` field; a stream's pieces joined into one field per choice."""
    if not isinstance(result.raw, list):
        return {choice.index: choice.logprobs for choice in result.choices}
    joined: dict[int, dict[str, list]] = {}
    for chunk in result.raw:
        for item in chunk.get("choices") or []:
            piece = item.get("logprobs")
            if not isinstance(piece, dict):
                continue
            field = joined.setdefault(item["index"], {})
            names = ("content",) if "content" in piece else _COMPLETION_LISTS
            for name in names:
                if isinstance(piece.get(name), list):
                    field.setdefault(name, []).extend(piece[name])
    return joined


def echo_boundary(logprobs: Any, prompt: str) -> int:
    """How many leading tokens of an echoed completions choice belong to the prompt: those
    whose ``text_offset`` lies inside it."""
    offsets = logprobs.get("text_offset") if isinstance(logprobs, dict) else None
    if not isinstance(offsets, list):
        return 0
    return sum(1 for offset in offsets if isinstance(offset, int) and offset < len(prompt))
