"""Completions: a prompt, every /v1/completions parameter, and what the model returned."""

import streamlit as st

from playground.errors import InvalidParameters, PlaygroundError
from ui.common import (
    code_view,
    distribution_view,
    model_accepts,
    models,
    output,
    pages,
    params,
    sidebar,
    state,
)
from ui.common.errors import show_error
from ui.common.recording import recorder
from ui.common.text import plain
from ui.completions import endpoint_gone, keys, presets_panel

ENDPOINT = "completions"

pages.within_app()  # first: a page opened by a link on a fresh server
conn, model = sidebar.render()
st.title("Completions")
st.caption(plain(f"{model or 'No model chosen'} · {conn.name}"))
panel = presets_panel.PresetsPanel(ENDPOINT, keys.COMPLETIONS_PROMPT)
panel.render()
accepts = model_accepts.load(conn, model)
served = endpoint_gone.notice(accepts)
general = st.container()

with st.form("completions.form"):
    prompt = st.text_area("Prompt", key=keys.COMPLETIONS_PROMPT, persist_state=state.PERSIST,
                          height=160, placeholder="Once upon a time",
                          help="The text the model continues. Ctrl+Enter runs it.")
    prompt_slot = st.container()
    inputs = params.render(ENDPOINT, accepts=accepts)
    inputs.slots["prompt"] = prompt_slot
    run_cell, save_cell = st.columns([1, 2], vertical_alignment="center")
    with run_cell:
        to_chat = not served and st.form_submit_button(
            endpoint_gone.OPEN_IN_CHAT, type="primary", icon=":material/forum:")
        submitted = st.form_submit_button(
            "Run" if served else "Run anyway", type="primary" if served else "secondary",
            icon=":material/play_arrow:")
    with save_cell:
        saving = panel.save_controls()

if to_chat:
    if prompt.strip():
        endpoint_gone.open_in_chat(model, prompt)
    prompt_slot.error("Write a prompt first: it becomes the conversation's first message.")
elif submitted or saving:
    try:
        models.require_model(conn, model)
        request = inputs.build_request(conn, model, prompt=prompt)
    except InvalidParameters as exc:
        inputs.show_errors(exc.errors, fallback=general)
        general.warning(plain(exc.hint))
        output.set_aside(keys.COMPLETIONS_RESULT)
    except PlaygroundError as exc:  # the connection failed: said once, not as field errors
        show_error(exc, general)
        output.set_aside(keys.COMPLETIONS_RESULT)
    else:
        panel.share(request)
        if saving:
            panel.save(request, general)
        else:
            try:
                output.run_live(recorder("Completions"), conn, ENDPOINT, request,
                                state_key=keys.COMPLETIONS_RESULT, prompt=prompt)
            except PlaygroundError as exc:  # a value the server refused shows on its field
                model_accepts.learn(conn, model, ENDPOINT, request, exc)
                show_error(exc, inputs.slots.get(getattr(exc, "param", None), general))

outcome = output.kept(keys.COMPLETIONS_RESULT)
if outcome is not None:
    output.show_result(outcome.result, prompt=outcome.prompt, timing=outcome.timing,
                       stopped=outcome.stopped, superseded=outcome.superseded)
    if outcome.result is not None:
        distribution_view.for_completions(outcome.result, outcome.prompt,
                                           outcome.connection)
        code_view.render(outcome.connection, ENDPOINT, outcome.result.request)
