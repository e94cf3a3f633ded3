"""The distribution view: the model's next-token distribution at any position of a result,
reshaped by temperature, top_p, the penalties and logit bias without a new request.

Streamlit cannot click inline HTML, so a position is picked on a slider over the tokens,
with Previous / Next, "After the prompt" and "Next surprise" (the next step where the
chosen token was not the most likely one). The view is a fragment: moving a slider redraws
it alone, from the log-probabilities already in the response (``playground.distribution``).

Its widgets live under ``distribution.<scope>.`` in session state; a new result (other
tokens, other settings) puts them back to the run's settings.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import streamlit as st

from playground import distribution as dist
from playground import logprobs as lp
from playground.chat import Conversation
from playground.connection import Connection
from playground.logprobs import TokenLogprob
from playground.runner import RunResult
from ui.common import distribution_figures as figures
from ui.common import models, state
from ui.common.text import plain
from ui.common.token_view import percent, quoted

SAMPLES = 100
MAX_SEED = 2**32 - 1


@dataclass(frozen=True)
class Source:
    """One text to step through: its tokens, where the generated ones start (after an
    echoed prompt), the choice's text, which tells where tokens split a character, the
    temperature and top_p it was sampled with and its model's vocabulary size, where they
    are known."""

    tokens: tuple[TokenLogprob, ...]
    first_generated: int = 0
    text: str | None = None
    start: dist.Settings | None = None  # the settings it was made with, where recorded
    vocabulary: int | None = None

    @property
    def generated(self) -> list[str]:
        return [token.text for token in self.tokens[self.first_generated:]]

    def labels(self) -> list[str]:
        """Each token as it reads: a token that holds only part of a character is named by
        the whole character and which of its tokens it is."""
        labels = []
        for piece in lp.pieces(list(self.tokens), self.text):
            count = len(piece.tokens)
            labels += [quoted(piece.text) if count == 1 else
                       f"{quoted(piece.text)} (token {part} of {count})"
                       for part in range(1, count + 1)]
        return labels


def for_completions(result: RunResult, prompt: str | None, conn: Connection) -> None:
    """The view over a Completions result, one source per choice with log-probabilities."""
    fields = lp.by_choice(result)
    echo = prompt if result.request.get("echo") and prompt else None
    vocabulary = vocabulary_of(conn, result.request.get("model"))
    sources = {}
    for choice in result.choices:
        tokens = lp.tokens_of(fields.get(choice.index))
        if tokens:
            first = lp.echo_boundary(fields.get(choice.index), echo) if echo else 0
            sources[f"Choice {choice.index + 1}"] = Source(tuple(tokens), first, choice.text,
                                                           vocabulary=vocabulary)
    render("completions", sources, start_settings(result.request),
           "Temperature and top_p start from the run's")


def for_chat(conversation: Conversation, request: Any, conn: Connection) -> None:
    """The view over the Chat transcript's replies with log-probabilities, latest first;
    temperature and top_p start from the reply's own settings, or from the Parameters
    panel for a reply saved before replies recorded them."""
    sources = {}
    for position, message in reversed(list(enumerate(conversation.messages, start=1))):
        if message.role == "assistant" and message.logprobs:
            tokens = lp.tokens_of({"content": message.logprobs})
            recorded = (start_settings(vars(message)) if message.temperature is not None
                        else None)
            if tokens:
                sources[f"#{position} assistant"] = Source(
                    tuple(tokens), 0, message.content, recorded,
                    vocabulary_of(conn, message.model))
    render("chat", sources, start_settings(request if isinstance(request, Mapping) else {}),
           "Temperature and top_p start from the Parameters panel's")


def vocabulary_of(conn: Connection, model: Any) -> int | None:
    """The model's vocabulary size, which bounds how thinly the tokens not sent can spread:
    the local server lists it with its models; None elsewhere, or when the list failed."""
    if conn.kind != "local" or not isinstance(model, str) or not model:
        return None
    return models.vocab_size(conn, model)


def start_settings(request: Mapping[str, Any]) -> dist.Settings:
    """The temperature and top_p a request was sampled with (the API's defaults if unset)."""
    return dist.Settings(temperature=_number(request.get("temperature"), 1.0, 0.0, 2.0),
                         top_p=_number(request.get("top_p"), 1.0, 0.0, 1.0))


def _number(value: Any, default: float, low: float, high: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return default
    return min(max(float(value), low), high)


def key(scope: str, name: str) -> str:
    return f"distribution.{scope}.{name}"


def render(scope: str, sources: Mapping[str, Source], start: dist.Settings, origin: str) -> None:
    """A switch that opens the view over ``sources`` (label -> Source); nothing when no
    source has log-probabilities."""
    if not sources:
        return
    st.toggle("Next-token distribution", key=key(scope, "open"), persist_state=state.PERSIST,
              help="See the model's distribution at any token, and what temperature, top_p, "
                   "the penalties and logit bias do to it, without sending a new request.")
    if st.session_state.get(key(scope, "open")):
        _view(scope, dict(sources), start, origin)


@st.fragment
def _view(scope: str, sources: dict[str, Source], start: dist.Settings, origin: str) -> None:
    _reset_if_new(scope, sources, start)
    chosen_source = (st.selectbox("Text", list(sources), key=key(scope, "source"))
                     if len(sources) > 1 else next(iter(sources)))
    source = sources[chosen_source]
    if source.start is not None:
        start, origin = source.start, "Temperature and top_p start from the reply's own"
    _reset_if_shown(scope, chosen_source, start)
    steps = {i: dist.alternatives_at(t.text, t.logprob, t.top, source.vocabulary)
             for i, t in enumerate(source.tokens) if t.logprob is not None}
    if not steps or all(len(alternatives.texts) < 2 for alternatives in steps.values()):
        st.info("The response has no alternatives to show: ask for some (logprobs 1 or more "
                "on Completions, top_logprobs on Chat) and run again.")
        return
    position = _position_picker(scope, source, steps)
    settings = _controls(scope, start, origin)
    counts = (dist.counts_before(source.generated, position - source.first_generated)
              if position >= source.first_generated else {})
    shaped = dist.reshape(steps[position], settings, counts)
    _facts(shaped)
    st.plotly_chart(figures.distribution_figure(shaped), key=key(scope, "chart"))
    _notes(shaped, position < source.first_generated)
    if lp.REPLACEMENT in source.tokens[position].text:
        st.caption(plain("This token is part of a character split over tokens: "
                         f"{source.labels()[position]}. The bars show the tokens' own text, "
                         f"where a part of a character reads as {lp.REPLACEMENT}."))
    _samples(scope, shaped)


def _reset_if_new(scope: str, sources: dict[str, Source], start: dist.Settings) -> None:
    signature = hashlib.sha256(repr((start, sorted(
        (label, [t.text for t in source.tokens]) for label, source in sources.items()))
    ).encode()).hexdigest()
    if st.session_state.get(key(scope, "signature")) != signature:
        st.session_state[key(scope, "signature")] = signature
        _reset(scope, start)
        st.session_state.pop(key(scope, "position"), None)
        st.session_state.pop(key(scope, "source"), None)
        st.session_state.pop(key(scope, "shown"), None)


def _reset_if_shown(scope: str, label: str, start: dist.Settings) -> None:
    """The sliders back to the start when another text is chosen, or first shown."""
    shown = (label, start)
    if st.session_state.get(key(scope, "shown")) != shown:
        _reset(scope, start)
        st.session_state[key(scope, "shown")] = shown


def _reset(scope: str, start: dist.Settings) -> None:
    st.session_state[key(scope, "temperature")] = start.temperature
    st.session_state[key(scope, "top_p")] = start.top_p
    st.session_state[key(scope, "presence")] = 0.0
    st.session_state[key(scope, "frequency")] = 0.0
    st.session_state[key(scope, "bias_text")] = ""
    st.session_state[key(scope, "bias")] = 0


def _position_picker(scope: str, source: Source, steps: dict[int, dist.Alternatives]) -> int:
    positions = list(steps)
    surprises = [i for i in positions if steps[i].surprising]
    first = next((i for i in positions if i >= source.first_generated), positions[0])
    labels = source.labels()
    picked = key(scope, "position")
    if st.session_state.get(picked) not in positions:
        st.session_state[picked] = first

    def name(i: int) -> str:
        mark = "⚑ " if i in surprises else ""
        if i < source.first_generated:
            return f"{mark}prompt {i + 1}: {labels[i]}"
        return f"{mark}{i - source.first_generated + 1}: {labels[i]}"

    st.select_slider("Position", positions, key=picked, format_func=name,
                     help="The token whose distribution is shown. ⚑ marks the steps where the "
                          "chosen token was not the most likely one.")
    bar = st.container(horizontal=True, gap="small")
    bar.button("Previous", icon=":material/chevron_left:", key=key(scope, "previous"),
               on_click=_step, args=(picked, positions, -1))
    bar.button("Next", icon=":material/chevron_right:", key=key(scope, "next"),
               on_click=_step, args=(picked, positions, 1))
    bar.button("After the prompt", key=key(scope, "after_prompt"),
               on_click=_go, args=(picked, first),
               help="The next token after the prompt: the first one generated.")
    bar.button("Next surprise", icon=":material/flag:", key=key(scope, "surprise"),
               disabled=not surprises, on_click=_next_surprise, args=(picked, surprises))
    position = st.session_state[picked]
    where = ("the next token after the prompt" if position == first
             else "a token of the echoed prompt" if position < source.first_generated else None)
    shown = [name(i).removeprefix("⚑ ").split(":")[0] for i in surprises]
    st.caption(plain(" · ".join(filter(None, [
        f"Showing {where}." if where else None,
        (f"The chosen token was not the most likely at {len(surprises)} step"
         f"{'' if len(surprises) == 1 else 's'}: {', '.join(shown[:20])}"
         f"{' …' if len(shown) > 20 else ''}.") if surprises else
        "The chosen token was the most likely at every step."]))))
    return position


def _step(picked: str, positions: list[int], delta: int) -> None:
    index = positions.index(st.session_state[picked]) + delta
    st.session_state[picked] = positions[min(max(index, 0), len(positions) - 1)]


def _go(picked: str, position: int) -> None:
    st.session_state[picked] = position


def _next_surprise(picked: str, surprises: list[int]) -> None:
    current = st.session_state[picked]
    st.session_state[picked] = next((i for i in surprises if i > current), surprises[0])


def _controls(scope: str, start: dist.Settings, origin: str) -> dist.Settings:
    if key(scope, "temperature") not in st.session_state:
        _reset(scope, start)
    left, right = st.columns(2)
    temperature = left.slider("Temperature", 0.0, 2.0, step=0.05, key=key(scope, "temperature"),
                              help="Divides the logits before the softmax: below 1 sharpens the "
                                   "distribution, above 1 flattens it, 0 is greedy.")
    top_p = right.slider("Top p", 0.0, 1.0, step=0.01, key=key(scope, "top_p"),
                         help="Keeps the smallest set of most likely tokens whose probability "
                              "reaches top_p; the others are greyed out.")
    presence = left.slider("Presence penalty", -2.0, 2.0, step=0.1, key=key(scope, "presence"),
                           help="Subtracted once from each token generated before this "
                                "position.")
    frequency = right.slider("Frequency penalty", -2.0, 2.0, step=0.1,
                             key=key(scope, "frequency"),
                             help="Subtracted once per time a token was generated before "
                                  "this position.")
    bias_text = left.text_input("Logit bias for the token", key=key(scope, "bias_text"),
                                placeholder="' Paris': its text, leading space included",
                                help="The token's text exactly as the model writes it, leading "
                                     "space included (quotes not needed).")
    bias = right.slider("Bias", -100, 100, step=1, key=key(scope, "bias"),
                        help="Added to that token's logit: -100 bans it, 100 forces it.")
    bar = st.container(horizontal=True, gap="small", vertical_alignment="center")
    bar.button("Back to the start", key=key(scope, "reset"), on_click=_reset, args=(scope, start),
               help="Temperature and top_p as at the start, no extra penalty or bias.")
    bar.caption(plain(f"{origin} ({start.temperature:g} and {start.top_p:g}). The run's own "
                      "penalties and bias are already in the reported probabilities: the "
                      "ones here are added to them."))
    return dist.Settings(temperature, top_p, presence, frequency,
                         {bias_text: float(bias)} if bias_text and bias else {})


def _facts(shaped: dist.Reshaped) -> None:
    cells = st.columns(4)
    cells[0].metric("Entropy", f"{shaped.entropy:.2f} bits",
                    help="Of what the sampler draws from: 0 when one token is certain.")
    cells[1].metric("Inside top_p", f"{shaped.inside_top_p} of {len(shaped.after)}",
                    help="How many of the known tokens the sampler can still draw.")
    chosen = shaped.chosen_probability
    cells[2].metric("Chosen token", "–" if chosen is None else percent(chosen),
                    help="The probability that the token the model chose gets under these "
                         "settings.")
    cells[3].metric("Known mass", percent(shaped.alternatives.known_mass),
                    help="How much of the probability the tokens the server sent hold.")


def _notes(shaped: dist.Reshaped, in_prompt: bool) -> None:
    alternatives = shaped.alternatives
    count = len(alternatives.texts)
    rest = percent(1 - alternatives.known_mass)
    if alternatives.exact:
        st.caption(f"Exact: the {count} tokens the server sent here hold all of the probability.")
    elif shaped.exact:
        st.caption(plain(
            f"Exact: the sampler draws only among the {count} tokens the server sent here, "
            f"however the other {rest} of the probability is spread over the tokens it did "
            "not send."))
    else:
        st.caption(plain(
            f"Approximate: the server sent {count} tokens here, holding "
            f"{percent(alternatives.known_mass)} of the probability; "
            f"{_uncertainty(shaped, rest)}. More alternatives (a larger logprobs or "
            "top_logprobs) make it closer."))
    if in_prompt:
        st.caption("A token of the echoed prompt: no token was generated before it, so the "
                   "penalties do not apply.")
    for text in shaped.unmatched_bias:
        close = [known for known in alternatives.texts if known.strip() == text.strip()]
        hint = f" Did you mean {quoted(close[0])}?" if close else ""
        st.warning(plain(f"{quoted(text)} is not among the {count} tokens known here: its "
                         f"probability is unknown, so its bias cannot be drawn.{hint}"))


def _uncertainty(shaped: dist.Reshaped, rest: str) -> str:
    """Why the tokens not sent can change what the sampler draws from, at these settings."""
    settings = shaped.settings
    if shaped.unknown_moved:
        return "a bias or penalty here also moves tokens it did not send, of unknown probability"
    if settings.temperature == 0:
        return "a token it did not send may be as likely as the most likely one it sent"
    if shaped.inside_top_p == len(shaped.after):
        return (f"the top_p nucleus reaches past them into the other {rest}, so the sampler "
                "may also draw tokens not sent, which the bars leave out (they are "
                "renormalised over the tokens sent)")
    return (f"where top_p cuts depends on how the other {rest} is spread over the tokens not "
            f"sent, which matters at temperature {settings.temperature:g}")


def _samples(scope: str, shaped: dist.Reshaped) -> None:
    left, right = st.columns([1, 1], vertical_alignment="bottom")
    draw = left.toggle(f"Draw {SAMPLES} samples", key=key(scope, "draw"),
                       help="Draw from the distribution above, as the server's sampler would.")
    seed = right.number_input("Seed", 0, MAX_SEED, 0, step=1, key=key(scope, "seed"),
                              help="numpy's default_rng is seeded with it: the same seed and "
                                   "settings give the same samples.")
    if not draw:
        return
    # The distribution is already cut at top_p, counting the tokens not sent: drawn whole.
    drawn = dist.sample(shaped.distribution, 1.0, SAMPLES, np.random.default_rng(int(seed)))
    st.plotly_chart(figures.samples_figure(shaped, drawn), key=key(scope, "samples"))
    chosen = shaped.alternatives.chosen
    hits = int(np.sum(drawn == chosen)) if chosen is not None else 0
    st.caption(plain(f"{SAMPLES} draws with numpy.random.default_rng({int(seed)})"
                     + (f"; {hits} gave the chosen token." if chosen is not None else ".")))
