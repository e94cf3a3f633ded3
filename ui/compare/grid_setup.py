"""The Compare page's inputs: mode, prompt or messages, axes, fixed settings, run options.

``render(conn, model)`` draws them and returns a ``Setup``: the grid (None while an axis
cannot be read), the estimate, and the pool size. Every widget keeps its value for the
session (``persist_state``), so nothing typed is lost on a rerun or a visit to another page.
The number of concurrent requests follows the grid's models until the user types one: enough
to fill the batch of each local model (``batching``), 4 for other endpoints.
Axes are typed as text and read by ``Axis.parse``: a list ``0, 0.5, 1`` or a range
``0:1:0.25`` (start:stop:step, stop included); a text that cannot be read is named under
its field and the grid waits for it. Start values go into session state before the widgets
are drawn, so ``restore`` (a saved run being opened) and ``take_conversation`` (the Chat
page) can fill the fields.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import streamlit as st

from playground import capabilities
from playground import messages as api_messages
from playground.catalog import current_prices
from playground.compare import (
    AXIS_NAMES,
    DEFAULT_MAX_CELLS,
    MAX_SAMPLES,
    MAX_WORKERS,
    Axis,
    Estimate,
    Form,
    Grid,
    ModelRef,
    WorkersDefault,
    axis_names,
    default_workers,
    estimate,
)
from playground.connection import Connection
from playground.errors import InvalidParameters, PlaygroundError
from playground.params import SPECS, specs_for
from playground.tokens import estimate_tokens
from ui.common import model_accepts, models, params, state
from ui.common.text import plain
from ui.compare import batching, fixed_settings

MODES = {"Chat": "chat", "Completion": "completions"}
AXIS_EXAMPLES = {"temperature": "0, 1.2", "top_p": "0.5, 0.9, 1", "frequency_penalty": "0:2:1",
                 "presence_penalty": "0:2:1", "max_tokens": "16, 64",
                 "max_completion_tokens": "256, 1024", "reasoning_effort": "low, high",
                 "verbosity": "low, medium, high", "seed": "1, 2"}
DEFAULT_AXES = ["temperature", "seed"]
AXIS_HELP = ("A list such as 0, 0.5, 1 or a range start:stop:step such as 0:1:0.25 "
             "(the stop value is included).")
CHOICE_AXIS_HELP = "A list of the words: {choices}. Models take some of them only."
MODEL_AXIS_HELP = ("Models of the sidebar's connection, and of other connections whose "
                   "models were listed in this session. Type model @ connection for any "
                   "other saved connection.")
SAMPLING = {"n": "n choices per request", "repeat": "one request per sample"}
FIELDS, CONVERSATION = "System and user message", "A conversation (JSON)"
MESSAGES_JSON = "Messages (JSON)"
WORKERS, WORKERS_TYPED = "compare.workers", "compare.workers_typed"
WORKERS_HELP = ("Cells sent at the same time. {how} Cells of one local model go out no more "
                "at a time than it decodes together; the rest wait here, where Cancel can "
                "still drop them.")
MESSAGES_JSON_HELP = ("The messages array as the API takes it: system, user and assistant "
                      "turns in order, e.g. few-shot examples before the question. The Chat "
                      "page's Compare button fills it with its conversation.")


@dataclass
class Setup:
    grid: Grid | None       # None while some input cannot be read (shown under its field)
    estimate: Estimate | None
    workers: int

    @property
    def runnable(self) -> bool:
        return self.grid is not None and self.estimate is not None \
            and self.estimate.over_limit is None


def axis_label(endpoint: str, name: str) -> str:
    """The axis' name on the page; a parameter the endpoint does not take says so."""
    if name == "model":
        return "Model"
    label = next(param.label for param in SPECS if param.name == name)
    return label if name in axis_names(endpoint) else f"{label} (chat only)"


def render(conn: Connection, model: str | None) -> Setup:
    mode = st.radio("Mode", list(MODES), key="compare.mode", horizontal=True,
                    persist_state=state.PERSIST,
                    help="Chat sends messages to /v1/chat/completions; Completion sends a "
                         "prompt to the legacy /v1/completions.")
    endpoint = MODES[mode]
    prompt, messages, readable = _text_inputs(endpoint)
    st.session_state.setdefault("compare.vary", list(DEFAULT_AXES))
    chosen = st.multiselect("Vary", AXIS_NAMES, key="compare.vary",
                            persist_state=state.PERSIST,
                            format_func=lambda name: axis_label(endpoint, name),
                            help="Each setting chosen here becomes an axis of the grid; "
                                 "every combination of their values is one cell.")
    axes = _axes(endpoint, chosen, conn)
    fixed = fixed_settings.render(endpoint, set(chosen), conn, model)
    options = _run_options(seed_axis="seed" in chosen,
                           workers=_default_workers(chosen, conn, model))
    if axes is None or not readable or not fixed.readable:
        return Setup(None, None, options.workers)
    grid = Grid(endpoint, fixed.values, axes, samples_per_cell=options.samples,
                fixed_seed=options.fixed_seed, model=model or "", connection=conn.name,
                prompt=prompt, messages=messages, sampling=options.sampling,
                max_cells=options.max_cells)
    text = prompt or "".join(message["content"] for message in messages or [])
    figures = estimate(grid, estimate_tokens(text), current_prices())
    _show_estimate(figures)
    _foreseen_refusals(grid, conn)
    return Setup(grid, figures, options.workers)


def _foreseen_refusals(grid: Grid, conn: Connection) -> None:
    """What the grid's models (of the sidebar's connection) are known to refuse, before
    anything is sent: such cells are still sent, and fail in place if they are refused."""
    if grid.limit_message() is not None:
        return
    known: dict[str, capabilities.Capabilities] = {}

    def accepts_for(model: str) -> capabilities.Capabilities:
        if model not in known:
            known[model] = model_accepts.load(conn, model)
        return known[model]

    cells = [cell for cell in grid.cells() if cell.connection == conn.name and cell.model]
    found = capabilities.foreseen(
        grid.endpoint, ((cell.model, grid.first_request_values(cell)) for cell in cells),
        accepts_for)
    if found:
        st.warning(plain("Known refusals: these cells will probably fail (they are sent "
                         "anyway, and what the server says is remembered).\n\n" + "\n".join(
                             f"- {item.requests} of {len(cells)} cells: {item.refusal.reason} "
                             f"{item.refusal.way_forward}" for item in found)),
                   icon=":material/block:")


def _text_inputs(endpoint: str) -> tuple[str | None, list[dict] | None, bool]:
    """The prompt or the messages, and False when the messages' JSON cannot be read (the
    problem is shown under the field)."""
    if endpoint == "completions":
        prompt = st.text_area("Prompt", key="compare.prompt", persist_state=state.PERSIST,
                              height=120, placeholder="Once upon a time",
                              help="The same prompt goes to every cell.")
        return prompt, None, True
    source = st.radio("Messages", [FIELDS, CONVERSATION], key="compare.messages_from",
                      horizontal=True, persist_state=state.PERSIST,
                      help="The same messages go to every cell.")
    if source == CONVERSATION:
        return _conversation()
    system = st.text_area("System message (optional)", key="compare.system", height=68,
                          persist_state=state.PERSIST)
    user = st.text_area("User message", key="compare.user", height=100,
                        persist_state=state.PERSIST, placeholder="Write a haiku about the sea.",
                        help="The same messages go to every cell.")
    messages = [{"role": role, "content": text} for role, text in
                (("system", system), ("user", user)) if text and text.strip()]
    return None, messages, True


def _conversation() -> tuple[None, list[dict] | None, bool]:
    text = st.text_area(MESSAGES_JSON, key="compare.messages_json", height=200,
                        persist_state=state.PERSIST, placeholder=api_messages.EXAMPLE,
                        help=MESSAGES_JSON_HELP)
    if not (text or "").strip():
        return None, [], True  # the grid's own check asks for messages
    try:
        return None, api_messages.parse(text, field=MESSAGES_JSON), True
    except InvalidParameters as exc:
        for problem in exc.errors:
            st.error(plain(problem.message))
        return None, None, False


def start_in_completion_mode() -> None:
    """Open the page in Completion mode (for a base model, which makes no sense of chat)."""
    st.session_state["compare.mode"] = next(m for m, e in MODES.items() if e == "completions")


def take_conversation(messages: list[dict]) -> None:
    """Set the page up to compare settings on these messages (the Chat page sends them):
    the conversation up to its last user message, and the Chat page's settings as the
    fixed settings (its seed as the fixed seed, its n as the samples per cell)."""
    last_user = max((i for i, m in enumerate(messages) if m.get("role") == "user"), default=-1)
    st.session_state["compare.mode"] = "Chat"
    st.session_state["compare.messages_from"] = CONVERSATION
    st.session_state["compare.messages_json"] = json.dumps(
        messages[:last_user + 1] if last_user >= 0 else messages, indent=2, ensure_ascii=False)
    fixed_settings.set_values("chat", {"max_tokens": fixed_settings.START_MAX_TOKENS})
    fixed_settings.take_response_format("chat")
    chat = {}
    for name, param in specs_for("chat").items():
        value = st.session_state.get(params.widget_key("chat", name))
        if value is not None and value != params.widget_default(param):
            chat[name] = value
    for name, value in chat.items():
        if name not in fixed_settings.NOT_FIXED:  # stop: Chat's list, one per line here
            st.session_state[fixed_settings.key("chat", name)] = (
                "\n".join(value) if specs_for("chat")[name].value_type == "stop" else value)
    st.session_state["compare.fixed_seed"] = chat.get("seed")
    st.session_state["compare.samples"] = min(int(chat.get("n") or 1), MAX_SAMPLES)


def restore(form: Form) -> None:
    """Put a saved grid's values back into every field (before they are drawn)."""
    st.session_state["compare.mode"] = next(m for m, e in MODES.items() if e == form.endpoint)
    if form.endpoint == "completions":
        st.session_state["compare.prompt"] = form.prompt or ""
    elif form.messages_json is not None:
        st.session_state["compare.messages_from"] = CONVERSATION
        st.session_state["compare.messages_json"] = form.messages_json
    else:
        st.session_state["compare.messages_from"] = FIELDS
        st.session_state["compare.system"] = form.system
        st.session_state["compare.user"] = form.user
    st.session_state["compare.vary"] = list(form.axes)
    for name, text in form.axes.items():
        st.session_state[f"compare.axis.{name}"] = text
    fixed_settings.set_values(form.endpoint, form.fixed)
    st.session_state.update({"compare.samples": form.samples_per_cell,
                             "compare.sampling": form.sampling,
                             "compare.fixed_seed": form.fixed_seed,
                             "compare.max_cells": form.max_cells})
    if form.model:
        state.send_model(form.model)


def _axes(endpoint: str, chosen: list[str], conn: Connection) -> list[Axis] | None:
    """The axes typed, or None when some text cannot be read (said under its field)."""
    axes, readable = [], True
    columns = st.columns(max(1, min(len(chosen), 3)))
    for position, name in enumerate(chosen):
        with columns[position % len(columns)]:
            try:
                axes.append(_axis(endpoint, name, conn))
            except InvalidParameters as exc:
                readable = False
                st.error(plain(exc.message))
    return axes if readable else None


def _axis(endpoint: str, name: str, conn: Connection) -> Axis:
    label = axis_label(endpoint, name)
    if name != "model":
        st.session_state.setdefault(f"compare.axis.{name}", AXIS_EXAMPLES[name])
        choices = next(param.choices for param in SPECS if param.name == name)
        text = st.text_input(label, key=f"compare.axis.{name}", persist_state=state.PERSIST,
                             help=CHOICE_AXIS_HELP.format(choices=", ".join(choices))
                             if choices else AXIS_HELP)
        return Axis.parse(name, text or "")
    chosen = st.multiselect(label, _known_models(conn), key="compare.axis.model",
                            accept_new_options=True, persist_state=state.PERSIST,
                            placeholder="Choose or type model @ connection",
                            help=MODEL_AXIS_HELP)
    return Axis.parse(name, ",".join(chosen))


def _known_models(conn: Connection) -> list[str]:
    """The sidebar connection's models by id; other connections' listed ones as ``id @ name``."""
    try:
        known = [str(entry["id"]) for entry in models.models_of(conn) if entry.get("id")]
    except PlaygroundError:
        known = []
    for other, listed in st.session_state[state.MODEL_LISTS].items():
        if other.name != conn.name and not isinstance(listed, PlaygroundError):
            known += [f"{entry['id']} @ {other.name}" for entry in listed if entry.get("id")]
    return list(dict.fromkeys(known))


def _default_workers(chosen: list[str], conn: Connection, model: str | None) -> WorkersDefault:
    """Enough concurrent requests to fill the batch of each of the grid's local models."""
    if "model" in chosen:
        refs = [ModelRef.parse(str(text))
                for text in st.session_state.get("compare.axis.model") or []]
        pairs = [(ref.connection or conn.name, ref.model) for ref in refs if ref.model]
    else:
        pairs = [(conn.name, model)] if model else []
    local, others = batching.local_batches(pairs, conn)
    return default_workers({model_id if name == conn.name else f"{model_id} @ {name}": size
                            for (name, model_id), size in local.items()}, others)


@dataclass
class RunOptions:
    samples: int
    sampling: str
    fixed_seed: int | None
    workers: int
    max_cells: int


def _run_options(seed_axis: bool, workers: WorkersDefault) -> RunOptions:
    for name, start in (("samples", 1), ("fixed_seed", None), ("max_cells", DEFAULT_MAX_CELLS)):
        st.session_state.setdefault(f"compare.{name}", start)
    typed = bool(st.session_state.get(WORKERS_TYPED)) and WORKERS in st.session_state
    if not typed:  # the default follows the grid's models until the user types a number
        st.session_state[WORKERS] = workers.workers
    cells = st.columns(5)
    samples = cells[0].number_input(
        "Samples per cell", min_value=1, max_value=MAX_SAMPLES, step=1,
        key="compare.samples", persist_state=state.PERSIST,
        help="Outputs per cell, to see how much one setting varies; agreement measures it.")
    sampling = cells[1].selectbox(
        "Samples from", list(SAMPLING), format_func=SAMPLING.get, key="compare.sampling",
        persist_state=state.PERSIST,
        help="n asks for all samples in one request; some servers ignore n, and the page "
             "then tops up with more requests. Repeated requests always work.")
    fixed_seed = cells[2].number_input(
        "Fixed seed", min_value=0, step=1, key="compare.fixed_seed",
        persist_state=state.PERSIST, disabled=seed_axis, placeholder="none",
        help="The same seed in every cell, for a run you can reproduce; sample k gets "
             "seed + k. Not used when seed is an axis.")
    chosen_workers = cells[3].number_input(
        "Concurrent requests", min_value=1, max_value=MAX_WORKERS, step=1,
        key=WORKERS, persist_state=state.PERSIST,
        on_change=lambda: st.session_state.update({WORKERS_TYPED: True}),
        help=WORKERS_HELP.format(how=plain(
            f"You typed this number; by default it would be {workers.workers}. "
            f"{workers.reason}" if typed else
            f"Until you type a number it follows the grid's models. {workers.reason}")))
    max_cells = cells[4].number_input(
        "Cell limit", min_value=1, max_value=10_000, step=1,
        key="compare.max_cells", persist_state=state.PERSIST,
        help="A grid with more cells than this is refused before anything is sent.")
    return RunOptions(int(samples), sampling,
                      None if seed_axis or fixed_seed is None else int(fixed_seed),
                      int(chosen_workers), int(max_cells))


def _show_estimate(figures: Estimate) -> None:
    if figures.over_limit:
        st.error(plain(figures.over_limit), icon=":material/block:")
        return
    cells = st.columns(4)
    cells[0].metric("Cells", figures.cells)
    cells[1].metric("Requests", figures.requests)
    tokens = figures.max_total_tokens
    cells[2].metric("Tokens, at most", "unbounded" if tokens is None else f"{tokens:,}",
                    help="Prompt tokens estimated at four characters per token, plus "
                         "max_tokens for every sample.")
    cells[3].metric("Cost, at most", "unknown" if figures.cost is None else f"${figures.cost:,.4f}",
                    help="From the price list on the Models page.")
    st.caption(plain(figures.summary()))
