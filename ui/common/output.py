"""Sending a request while the page stays live, and showing what the model returned.

Model output is untrusted text: ``st.code`` with no language shows it character for
character (wrapped), whatever markdown, HTML or script it contains, and the token view
escapes it (``ui.common.token_view``). The "Render as Markdown" switch shows it as Markdown
instead, where HTML still shows as text.

``run_live`` sends on a worker thread so that the script thread can keep drawing: streamed
text as it arrives, the time elapsed, and a Stop button. Clicking Stop (or any other widget)
makes Streamlit stop the script at its next drawing call by raising its own
``ScriptControlException``, and start the rerun at once on a new thread. ``run_live``
catches the exception just long enough to tell the worker to stop (the runner's
``should_stop`` hook closes the stream) and hand what arrived to the rerun, which waits
for it in ``kept``.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import wait as wait_for
from dataclasses import dataclass, field
from typing import Any

import streamlit as st
from streamlit.runtime.scriptrunner_utils.exceptions import ScriptControlException

from playground import logprobs as lp
from playground.connection import Connection
from playground.errors import PlaygroundError
from playground.ledger.records import reasoning_tokens_of
from playground.recording import Recorder
from playground.runner import Choice, RunResult
from ui.common import state, token_view, usage_total
from ui.common.errors import show_error
from ui.common.text import plain

SIDE_BY_SIDE = 4  # at most this many choices are shown in columns
POLL_SECONDS = 0.25
STOP_WAIT_SECONDS = 5  # how long a stopped stream may take to close


MARKDOWN = "output.markdown"  # the Completions and Chat pages' "Render as Markdown" switch


def markdown_switch() -> None:
    """The switch that makes ``show_text`` render Markdown (off: plain text)."""
    st.toggle("Render as Markdown", key=MARKDOWN, persist_state=state.PERSIST,
              help="Show the model's Markdown formatted (headings, lists, emphasis). HTML in "
                   "the output is shown as text, never run.")


def show_text(text: str, markdown: bool | None = None) -> None:
    """Model output as plain text, or as Markdown when ``markdown`` (by default the
    switch) says so; Streamlit's Markdown shows HTML as text."""
    if st.session_state.get(MARKDOWN) if markdown is None else markdown:
        st.markdown(text, unsafe_allow_html=False)
    else:
        st.code(text, language=None, wrap_lines=True)


def panels(count: int) -> list:
    """One container per choice: side by side for up to four, else one under another."""
    if 1 < count <= SIDE_BY_SIDE:
        return list(st.columns(count))
    return [st.container() for _ in range(count)]


class LiveText:
    """Each choice's text so far, redrawn in one place as deltas arrive."""

    def __init__(self):
        self.placeholder = st.empty()
        self.texts: dict[int, str] = {}

    def add(self, index: int, delta: str) -> None:
        self.texts[index] = self.texts.get(index, "") + delta

    def draw(self) -> None:
        with self.placeholder.container():
            for cell, choice in zip(panels(len(self.texts)), sorted(self.texts)):
                with cell:
                    show_text(self.texts[choice])


@dataclass
class Outcome:
    """A run as the page keeps it between reruns.

    ``result`` is None when Stop came before a non-streamed response. ``connection`` is
    where it was sent. ``timing`` holds, per streamed choice, the seconds from sending to
    its first and to its last text. ``settled`` is set once the run has filled it in;
    ``counted`` once the sidebar's running total includes it. ``superseded`` once a later
    run failed its checks: the form no longer shows the settings that produced it.
    """

    result: RunResult | None
    connection: Connection
    prompt: str | None = None
    timing: dict[int, tuple[float, float]] = field(default_factory=dict)
    stopped: bool = False
    settled: threading.Event = field(default_factory=threading.Event, repr=False)
    counted: bool = False
    superseded: bool = False


def kept(state_key: str) -> Outcome | None:
    """The outcome ``run_live`` keeps under ``state_key``; right after a Stop, the rerun
    waits here for the stopped run to hand over what arrived, and then redraws the running
    total, which the sidebar drew before the stopped request was recorded."""
    outcome = st.session_state.get(state_key)
    if outcome is not None:
        outcome.settled.wait(STOP_WAIT_SECONDS + 1)
        if not outcome.counted:
            usage_total.refresh()
            outcome.counted = True
    return outcome


def set_aside(state_key: str) -> None:
    """Mark the outcome kept under ``state_key`` as the previous settings' (a run that
    failed its checks sent nothing, and the form shows other settings now)."""
    outcome = st.session_state.get(state_key)
    if outcome is not None:
        outcome.superseded = True


def run_live(recorder: Recorder, conn: Connection, endpoint: str, request: dict[str, Any], *,
             state_key: str, prompt: str | None = None) -> Outcome:
    """Send through ``recorder`` (so the request lands in the ledger) with a Stop button,
    keeping the outcome under ``state_key``, also when stopped. A failure raises the
    ``PlaygroundError`` as ``runner.run`` would, and keeps nothing.
    """
    outcome = st.session_state[state_key] = Outcome(None, conn, prompt)
    started = time.perf_counter()
    deltas: queue.SimpleQueue[tuple[int, str]] = queue.SimpleQueue()
    stop = threading.Event()

    def on_text(index: int, delta: str) -> None:  # on the worker thread: no Streamlit here
        now = time.perf_counter() - started
        outcome.timing[index] = (outcome.timing.get(index, (now, now))[0], now)
        deltas.put((index, delta))

    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="playground-request")
    future = pool.submit(recorder.run, conn, endpoint, request, on_text=on_text,
                         should_stop=stop.is_set)
    pool.shutdown(wait=False)
    frame = st.empty()
    with frame.container():
        button, status = st.columns([1, 6], vertical_alignment="center")
        button.button("Stop", icon=":material/stop:",
                      help="Stop the request; a stream keeps what has arrived.")
        status = status.empty()
        live = LiveText()
    try:
        while not future.done():
            _drain(deltas, live)
            status.caption(f"Running… {time.perf_counter() - started:.1f} s")
            wait_for([future], timeout=POLL_SECONDS)
        outcome.result = future.result()
    except ScriptControlException:
        stop.set()
        outcome.stopped = True
        if request.get("stream"):
            outcome.result = _stopped_stream(future)
        raise
    except PlaygroundError:
        st.session_state[state_key] = None
        frame.empty()
        usage_total.refresh()
        raise
    finally:
        outcome.settled.set()
    frame.empty()
    usage_total.refresh()
    outcome.counted = True
    return outcome


def _drain(deltas: queue.SimpleQueue, live: LiveText) -> None:
    changed = False
    while not deltas.empty():
        live.add(*deltas.get())
        changed = True
    if changed:
        live.draw()


def _stopped_stream(future) -> RunResult | None:
    try:
        return future.result(timeout=STOP_WAIT_SECONDS)
    except (TimeoutError, PlaygroundError):
        return None


def show_result(result: RunResult | None, *, prompt: str | None = None,
                timing: Mapping[int, tuple[float, float]] | None = None,
                stopped: bool = False, superseded: bool = False) -> None:
    """Each choice in its own panel, then usage, timing and the raw response.

    ``prompt`` tells an echoed prompt from the completion; ``timing`` gives each streamed
    choice's first and last text (see ``Outcome``); ``superseded`` says the result is the
    previous run's.
    """
    if superseded:
        st.warning("This is the previous run's result, from the settings it was sent with: "
                   "the settings above were not sent. Correct them and run again.",
                   icon=":material/history:")
    if stopped:
        st.info("Stopped. What arrived before Stop is shown." if result is not None else
                "Stopped before the response arrived. The server may still finish the "
                "request; it is counted under Usage when it does.", icon=":material/stop:")
    elif result is not None and result.incomplete:
        st.warning("The output is incomplete: the stream ended early.")
    if result is None:
        return
    if result.error is not None:
        show_error(result.error)
    markdown_switch()
    fields = lp.by_choice(result)
    echo = prompt if result.request.get("echo") else None
    single_count = _single_choice_tokens(result)
    unsplit = _unsplit_tokens(result)
    for cell, choice in zip(panels(len(result.choices)), result.choices):
        with cell, st.container(border=True):
            if len(result.choices) > 1:
                choice_title(choice.index)
            _choice(choice, fields.get(choice.index), echo,
                    _when(result, (timing or {}).get(choice.index)),
                    single_count, stopped or result.incomplete, unsplit)
    _usage(result)
    label = (f"Raw JSON response ({len(result.raw)} stream chunks)"
             if isinstance(result.raw, list) else "Raw JSON response")
    with st.expander(label):
        st.json(result.raw, expanded=True)


def choice_title(index: int) -> None:
    """A choice's heading, the same on every page: counted from 1, the API's index (from 0)
    on hover."""
    st.markdown(f"**Choice {index + 1}**",
                help=f"index {index} in the response's choices (the API counts from 0)")


def _single_choice_tokens(result: RunResult) -> int | None:
    """Completion tokens of the one choice, when usage counts no other (no best_of)."""
    usage = result.usage or {}
    if len(result.choices) == 1 and (result.request.get("best_of") or 1) <= 1:
        return usage.get("completion_tokens")
    return None


def _unsplit_tokens(result: RunResult) -> str | None:
    """What a choice's caption says of its tokens when usage counts only all choices
    together and the response gives no per-token list to count."""
    total = (result.usage or {}).get("completion_tokens")
    if len(result.choices) < 2 or total is None:
        return None
    return (f"tokens not counted per choice: {total:,} for all {len(result.choices)} "
            "(set logprobs to count each)")


def _when(result: RunResult, timing: tuple[float, float] | None) -> str | None:
    """When a choice's text arrived: as it streamed, or all at once."""
    if not isinstance(result.raw, list):
        return f"whole response after {result.latency:.2f} s"
    return f"first token {timing[0]:.2f} s, last {timing[1]:.2f} s" if timing else None


def _choice(choice: Choice, field_: Any, echo: str | None, when: str | None,
            count: int | None, cut_short: bool, unsplit: str | None = None) -> None:
    """One choice: its text, a caption of facts, and its tokens' probabilities.

    ``count`` is the choice's completion tokens when usage tells them apart (one choice);
    the tokens listed with log-probabilities may be fewer: the end-of-text token that
    stopped the choice counts in usage but is not returned."""
    tokens = lp.tokens_of(field_)
    boundary = lp.echo_boundary(field_, echo) if echo and tokens else 0
    if echo and choice.text.startswith(echo):
        st.caption("Echoed prompt")
        show_text(echo)
        st.caption("Completion")
        _text(choice.text[len(echo):], choice.finish_reason, cut_short)
    else:
        _text(choice.text, choice.finish_reason, cut_short)
    listed = len(tokens) - boundary if tokens else None
    count = count if count is not None else listed
    finish = choice.finish_reason or ("none (cut short)" if cut_short else "none")
    facts = [f"finish_reason: {finish}"]
    if count is not None:
        facts.append(f"{count} token{'' if count == 1 else 's'}")
        if listed is not None and listed < count:
            facts.append(f"{listed} listed below" + (
                " (the end-of-text token that stopped it is counted, not returned)"
                if finish == "stop" else ""))
    elif unsplit:
        facts.append(unsplit)
    if when:
        facts.append(when)
    st.caption(plain(" · ".join(facts)))
    if tokens:
        token_view.render(tokens, echo_boundary=boundary, text=choice.text)


def _text(text: str, finish_reason: str | None, cut_short: bool) -> None:
    if text:
        show_text(text)
    else:
        st.caption(plain(empty_note(finish_reason, cut_short)))


def empty_note(finish_reason: str | None, cut_short: bool = False) -> str:
    """Why a choice holds no text, as far as the response tells."""
    if finish_reason == "stop":
        return ("(empty: the model stopped before writing anything, at a stop sequence "
                "or its end-of-text token)")
    if finish_reason == "length":
        return "(empty: max_tokens ran out before any text)"
    if cut_short:
        return "(empty: nothing arrived before the stream ended)"
    return "(empty)"


def _usage(result: RunResult) -> None:
    usage = result.usage or {}
    cells = st.columns(5)
    cells[0].metric("Prompt tokens", usage.get("prompt_tokens", "–"))
    reasoning = reasoning_tokens_of(usage)
    cells[1].metric("Completion tokens", usage.get("completion_tokens", "–"),
                    delta=f"{reasoning:,} reasoning" if reasoning else None, delta_color="off",
                    help="The reasoning tokens (a reasoning model's hidden thinking) are among "
                         "them, billed as output." if reasoning else None)
    cells[2].metric("Total tokens", usage.get("total_tokens", "–"))
    cells[3].metric("Latency", f"{result.latency:.2f} s")
    first = result.time_to_first_token
    cells[4].metric("First token", f"{first:.2f} s" if first is not None else "–",
                    help="Time to the first streamed text; only measured when streaming.")
