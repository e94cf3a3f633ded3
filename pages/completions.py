"""Completions: a prompt and the legacy /v1/completions endpoint's parameters."""

import streamlit as st

from playground import runner
from playground.errors import InvalidParameters, PlaygroundError
from ui import output, params, sidebar, state
from ui.errors import show_error
from ui.text import plain

ENDPOINT = "completions"

conn, model = sidebar.render()
st.title("Completions")
st.caption(plain(f"{model or 'No model chosen'} · {conn.name}"))
general = st.container()

with st.form("completions.form"):
    prompt = st.text_area("Prompt", key="completions.prompt", persist_state=state.PERSIST,
                          height=160, placeholder="Once upon a time",
                          help="The text the model continues. Ctrl+Enter runs it.")
    prompt_slot = st.container()
    inputs = params.render(ENDPOINT)
    inputs.slots["prompt"] = prompt_slot
    submitted = st.form_submit_button("Run", type="primary", icon=":material/play_arrow:")

if submitted:
    st.session_state[state.COMPLETIONS_RESULT] = None
    try:
        request = runner.build_request(ENDPOINT, model, inputs.values, prompt=prompt)
        live = output.LiveText()
        st.session_state[state.COMPLETIONS_RESULT] = runner.run(conn, ENDPOINT, request,
                                                                on_text=live)
        live.clear()
    except InvalidParameters as exc:
        inputs.show_errors(exc.errors, fallback=general)
        general.warning(plain(exc.hint))
    except PlaygroundError as exc:
        show_error(exc, general)

result = st.session_state.get(state.COMPLETIONS_RESULT)
if result is not None:
    output.show_result(result)
