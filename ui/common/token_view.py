"""The token probability view: each token coloured by how likely the model found it.

``render(tokens, echo_boundary=...)`` draws tokens given as ``(text, logprob, top)`` (or
``playground.logprobs.TokenLogprob`` rows, the same three fields), where ``top`` holds the
most likely alternatives at that position as ``(text, logprob)`` pairs or a dict. Hovering
a token shows its probability and the alternatives. The first ``echo_boundary`` tokens are
the echoed prompt: drawn muted and italic, and left out of the mean log-probability and
perplexity shown under the view.

Tokens split inside a character (an emoji, a Hebrew letter) are drawn joined, as one piece
(``playground.logprobs.pieces``) coloured by its least likely token; its title lists each
token's bytes in hex and its probability. ``text``, the choice's text, lets completions
tokens, which carry no bytes, be joined by their offsets.

Tokens are model output, so untrusted: every piece of text goes through ``html.escape``
(quotes included, since it also fills ``title`` attributes) before ``st.html`` sees it.
"""

from __future__ import annotations

import html
import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import streamlit as st

from playground.compare import metrics
from playground.logprobs import Piece, TokenLogprob, pieces

# (lowest probability, background, label), from most to least likely
BANDS = (
    (0.9, "#b7e4c7", "90% or more"),
    (0.5, "#d8f3b0", "50–90%"),
    (0.2, "#fff3b0", "20–50%"),
    (0.05, "#ffd6a5", "5–20%"),
    (0.0, "#ffadad", "under 5%"),
)
UNKNOWN = "#e9ecef"
_BOX = ("font-family: ui-monospace, SFMono-Regular, Menlo, monospace; font-size: 0.9rem; "
        "line-height: 1.9; white-space: pre-wrap; word-break: break-word;")
_TOKEN = "color: #212529; border-radius: 3px; padding: 1px 0; margin-right: 1px;"
_ECHO = "font-style: italic; opacity: 0.55; outline: 1px dashed #868e96;"


def render(tokens: Iterable[Any], *, echo_boundary: int = 0, text: str | None = None) -> None:
    """The coloured tokens, a legend, and the generated tokens' mean log-prob and perplexity."""
    rows = [_row(token) for token in tokens]
    if not rows:
        st.caption("No token log-probabilities in this response.")
        return
    st.html(token_html(rows, echo_boundary=echo_boundary, text=text))
    generated = [row.logprob for row in rows[echo_boundary:]]
    mean, perplexity = metrics.mean_logprob(generated), metrics.perplexity(generated)
    st.caption(summary(mean, perplexity, len(generated)))


def summary(mean: float | None, perplexity: float | None, count: int) -> str:
    tokens = f"{count} generated token{'' if count == 1 else 's'}"
    if mean is None:
        return f"{tokens}; no log-probabilities to average."
    return (f"{tokens} · mean log-probability {mean:.3f} · "
            f"perplexity {perplexity:.2f} (1 = the model was sure of every token)")


def token_html(tokens: Sequence[Any], *, echo_boundary: int = 0, text: str | None = None) -> str:
    """The view as HTML: one ``span`` per piece (a token, or tokens joined into whole
    characters), escaped, with its details in ``title``."""
    rows = [_row(token) for token in tokens]
    spans = [_span(piece, echo=piece.first < echo_boundary) for piece in pieces(rows, text)]
    legend = "".join(f'<span style="{_TOKEN} background: {colour}; padding: 1px 6px;">'
                     f"{label}</span> " for _, colour, label in BANDS)
    echo_note = (f'<span style="{_TOKEN} {_ECHO} padding: 1px 6px;">echoed prompt</span>'
                 if echo_boundary else "")
    return (f'<div class="token-view" style="{_BOX}">{"".join(spans)}</div>'
            f'<div class="token-legend" style="font-size: 0.75rem; margin-top: 4px;">'
            f"Probability: {legend}{echo_note} · hover a token for its alternatives</div>")


def _row(token: Any) -> TokenLogprob:
    text, logprob, top, *rest = token
    pairs = top.items() if isinstance(top, Mapping) else (top or ())
    ranked = sorted(((str(t), float(v)) for t, v in pairs), key=lambda pair: -pair[1])
    return TokenLogprob(str(text), logprob, tuple(ranked), *rest)


def _span(piece: Piece, *, echo: bool) -> str:
    logprob = piece.lowest_logprob
    colour = band(math.exp(logprob) if logprob is not None else None)
    style = f"{_TOKEN} background: {colour};" + (f" {_ECHO}" if echo else "")
    kinds = ("echo" if echo else "generated") + (" joined" if len(piece.tokens) > 1 else "")
    if len(piece.tokens) == 1:
        title = tooltip(piece.text, logprob, piece.tokens[0].top, echo=echo)
    else:
        title = joined_tooltip(piece, echo=echo)
    return (f'<span class="token {kinds}" style="{style}" '
            f'title="{html.escape(title, quote=True)}">'
            f"{html.escape(shown_text(piece.text), quote=True)}</span>")


def band(probability: float | None) -> str:
    """The background colour for a probability; grey when there is none."""
    if probability is None:
        return UNKNOWN
    return next(colour for low, colour, _ in BANDS if probability >= low)


def shown_text(text: str) -> str:
    """Token text as drawn: line breaks and tabs get a visible mark, an empty token a sign."""
    if not text:
        return "∅"
    return text.replace("\t", "→\t").replace("\n", "↵\n")


def tooltip(text: str, logprob: float | None, top: Sequence[tuple[str, float]], *,
            echo: bool = False) -> str:
    """Plain text for the ``title`` attribute (escaped by the caller)."""
    lines = [f"{quoted(text)}{' (prompt)' if echo else ''}"]
    if logprob is None:
        lines.append("no log-probability (the first token has nothing before it)")
    else:
        lines.append(f"p = {percent(math.exp(logprob))}, log-probability {logprob:.3f}")
    if top:
        lines.append("Most likely here:")
        lines += [f"  {quoted(alt)}  {percent(math.exp(value))}" for alt, value in top]
    return "\n".join(lines)


def joined_tooltip(piece: Piece, *, echo: bool = False) -> str:
    """The title of tokens joined into whole characters: each token's bytes and probability."""
    lines = [f"{quoted(piece.text)}{' (prompt)' if echo else ''}: "
             f"{len(piece.tokens)} tokens, each part of a character"]
    for number, token in enumerate(piece.tokens, 1):
        raw = hex_bytes(token.raw) if token.raw is not None else "bytes not given"
        chance = ("no log-probability" if token.logprob is None
                  else f"p = {percent(math.exp(token.logprob))}")
        lines.append(f"  {number}: {raw}  {chance}")
    if any(token.raw is None for token in piece.tokens):
        lines.append(f"Together: {hex_bytes(piece.raw)}")
    return "\n".join(lines)


def hex_bytes(raw: bytes) -> str:
    return raw.hex(" ") if raw else "no bytes"


def quoted(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("\n", "\\n").replace("\t", "\\t") + "'"


def percent(probability: float) -> str:
    return f"{probability:.1%}" if probability >= 0.001 else f"{probability:.1e}"
