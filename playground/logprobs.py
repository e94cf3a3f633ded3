"""Per-token log-probabilities of a response, in one shape for both endpoints.

Completions return ``{"tokens", "token_logprobs", "top_logprobs", "text_offset"}`` per
choice; chat returns ``{"content": [{"token", "logprob", "top_logprobs": [...]}, ...]}``.
A stream spreads either over its chunks, a few tokens per chunk. ``tokens_of`` reads a
choice's field into ``TokenLogprob`` rows; ``by_choice`` first joins a stream's pieces.
With ``echo``, a completions choice starts with the prompt's tokens (the very first has no
log-probability): ``echo_boundary`` counts them.

A character of several UTF-8 bytes (Hebrew, an emoji) may be split over tokens, whose text
alone then reads "\ufffd". ``pieces`` joins such tokens into whole characters: by their
bytes where the response gives them (chat's ``bytes``; OpenAI's legacy completions wrote a
partial token as ``bytes:\\xf0\\x9f``), else by their ``text_offset`` in the choice's text.
"""

from __future__ import annotations

import codecs
import re
from typing import Any, NamedTuple

from playground.runner import RunResult

_COMPLETION_LISTS = ("tokens", "token_logprobs", "top_logprobs", "text_offset")
_LEGACY_BYTES = re.compile(r"bytes:((?:\\x[0-9a-fA-F]{2})+)")
REPLACEMENT = "\ufffd"


class TokenLogprob(NamedTuple):
    """A token's text, its natural-log probability (None when the server gives none) and
    the most likely alternatives at its position, most likely first."""

    text: str
    logprob: float | None
    top: tuple[tuple[str, float], ...] = ()
    raw: bytes | None = None  # its bytes, when the response gives them
    offset: int | None = None  # where it starts in the choice's text (completions)


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
    offsets = _list(logprobs.get("text_offset"), len(tokens))
    return [_completion_row(str(token), _number(value), _ranked(top), offset)
            for token, value, top, offset in zip(tokens, values, tops, offsets)]


def _completion_row(token: str, logprob: float | None, top: tuple, offset: Any) -> TokenLogprob:
    offset = offset if type(offset) is int else None
    legacy = _LEGACY_BYTES.fullmatch(token)
    if legacy is None:
        return TokenLogprob(token, logprob, top, None, offset)
    raw = bytes.fromhex(legacy.group(1).replace("\\x", ""))
    return TokenLogprob(raw.decode("utf-8", errors="replace"), logprob, top, raw, offset)


def _chat_row(item: dict) -> TokenLogprob:
    top = item.get("top_logprobs") or []
    pairs = {str(alt.get("token", "")): alt.get("logprob") for alt in top if isinstance(alt, dict)}
    raw = item.get("bytes")
    raw = bytes(raw) if isinstance(raw, list) and all(type(b) is int and 0 <= b < 256
                                                      for b in raw) else None
    return TokenLogprob(str(item.get("token", "")), _number(item.get("logprob")),
                        _ranked(pairs), raw)


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


class Piece(NamedTuple):
    """What reads as one piece of text: a token, or consecutive tokens that only together
    make whole characters. ``first`` is the position of its first token."""

    text: str
    tokens: tuple[TokenLogprob, ...]
    first: int

    @property
    def lowest_logprob(self) -> float | None:
        known = [token.logprob for token in self.tokens if token.logprob is not None]
        return min(known) if known else None

    @property
    def raw(self) -> bytes:
        """The piece's bytes: its tokens' where given, else its text's UTF-8."""
        if all(token.raw is not None for token in self.tokens):
            return b"".join(token.raw for token in self.tokens)
        return self.text.encode("utf-8")


def pieces(tokens: list[TokenLogprob], text: str | None = None) -> list[Piece]:
    """The tokens as pieces of whole characters. Tokens split inside a character are joined
    by their bytes when every one of them has bytes, else by their offsets in ``text`` (the
    choice's text, echoed prompt included); where neither tells, they stay as they are."""
    found, start = [], 0
    while start < len(tokens):
        end, joined = _by_bytes(tokens, start) or _by_offsets(tokens, start, text) or (
            start + 1, tokens[start].text)
        found.append(Piece(joined, tuple(tokens[start:end]), start))
        start = end
    return found


def _raw(token: TokenLogprob) -> bytes | None:
    if token.raw is not None:
        return token.raw
    return None if REPLACEMENT in token.text else token.text.encode("utf-8")


def _by_bytes(tokens: list[TokenLogprob], start: int) -> tuple[int, str] | None:
    """Tokens from ``start`` until their bytes end on a character boundary, and their text."""
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    parts = []
    for end in range(start, len(tokens)):
        raw = _raw(tokens[end])
        if raw is None:
            return None
        parts.append(decoder.decode(raw))
        if not decoder.getstate()[0]:
            return end + 1, "".join(parts)
    return len(tokens), "".join(parts) + decoder.decode(b"", final=True)


def _by_offsets(tokens: list[TokenLogprob], start: int,
                text: str | None) -> tuple[int, str] | None:
    """Tokens from ``start`` whose text is broken, up to the one that completes a character,
    spanning ``text`` from the first one's offset to the next token's; None unless the
    offsets agree with the text."""
    if text is None:
        return None
    end = start
    while end < len(tokens) and _raw(tokens[end]) is None:
        end += 1
        if not _holds_back(tokens, end - 1, text):
            break
    if end == start:
        return None
    begin, after = tokens[start].offset, _end_offset(tokens, end, text)
    if begin is None or after is None or not 0 <= begin < after <= len(text):
        return None
    span, following = text[begin:after], tokens[end] if end < len(tokens) else None
    if REPLACEMENT in span or (following is not None and _raw(following) is not None
                               and not text.startswith(following.text, after)):
        return None
    return end, span


def _end_offset(tokens: list[TokenLogprob], position: int, text: str) -> int | None:
    return tokens[position].offset if position < len(tokens) else len(text)


def _holds_back(tokens: list[TokenLogprob], position: int, text: str) -> bool:
    """Whether a broken token leaves a character unfinished: its text ends in the one
    U+FFFD its trailing partial bytes decode to, and the rest is what it added to ``text``
    (a server adds a token's text once its characters are whole)."""
    begin, after = tokens[position].offset, _end_offset(tokens, position + 1, text)
    if begin is None or after is None:
        return True
    token = tokens[position].text
    return token.endswith(REPLACEMENT) and len(token) - 1 == after - begin
