"""The tutorial's example: "Where was it played?" alone, and after the turns before it.

Both requests go out at once with the same greedy settings, so the only difference between
the two answers is the context: the API remembers nothing, and without the earlier turns
"it" means nothing to the model.
"""

from __future__ import annotations

import streamlit as st

from playground import presets, runner
from playground.chat import Conversation, Message
from playground.connection import Connection
from playground.errors import PlaygroundError
from ui.chat import keys, saved
from ui.common import usage_total
from ui.common.errors import show_error
from ui.common.output import show_text
from ui.common.recording import recorder
from ui.common.text import plain

PRESET = "Tutorial: World Series follow-up"
SETTINGS = {"temperature": 0, "max_tokens": 60}


def _tutorial() -> tuple[list[dict], str]:
    preset = next(p for p in presets.builtin_presets("chat") if p.name == PRESET)
    return preset.messages, preset.description


def render(conn: Connection, model: str | None) -> None:
    messages, description = _tutorial()
    variants = (("alone", "The question alone", messages[-1:]),
                ("context", "After the system, user and assistant turns", messages))
    with st.expander("Example: why context matters", icon=":material/school:"):
        st.caption(plain(description))
        # Beside the button, not in its help: that tooltip is cut off at the page's edge.
        button, note = st.columns([1, 3], vertical_alignment="center")
        note.caption(plain("Sends both requests at once with "
                           + " and ".join(f"{name} {value}" for name, value in SETTINGS.items())
                           + "."))
        if button.button("Ask both ways", icon=":material/play_arrow:",
                         key=keys.chat_action("example", "run")):
            with st.spinner("Asking both ways…"):
                st.session_state[keys.CHAT_EXAMPLE] = {
                    name: _ask(conn, model, sent) for name, _, sent in variants}
        answers = st.session_state.get(keys.CHAT_EXAMPLE) or {}
        for cell, (name, label, sent) in zip(st.columns(2), variants):
            with cell, st.container(border=True):
                st.markdown(f"**{label}**")
                for message in sent:
                    st.caption(plain(f"{message['role']}: {message['content']}"))
                answer = answers.get(name)
                if isinstance(answer, PlaygroundError):
                    show_error(answer)
                elif answer is not None:
                    show_text(answer)
                st.button("Continue it here", key=keys.chat_action("example", name),
                          on_click=_open, args=(conn, label, sent),
                          help="Open these messages as a new conversation.")


def _ask(conn: Connection, model: str | None, messages: list[dict]) -> str | PlaygroundError:
    try:
        request = runner.build_request("chat", model, SETTINGS, messages=messages)
        answer: str | PlaygroundError = recorder("Chat").run(conn, "chat", request).text
    except PlaygroundError as exc:
        answer = exc
    usage_total.refresh()
    return answer


def _open(conn: Connection, label: str, messages: list[dict]) -> None:
    system = messages[0]["content"] if messages[0]["role"] == "system" else ""
    rest = messages[1:] if system else messages
    conversation = Conversation(title=f"World Series: {label.lower()}", system=system,
                                messages=[Message(m["role"], m["content"]) for m in rest])
    saved.save(conversation, conn)
    saved.show(conversation)
