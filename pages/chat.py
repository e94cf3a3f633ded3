"""Chat page: not built yet; it loads with the sidebar and says what is coming."""

import streamlit as st

from ui import sidebar

sidebar.render()
st.title("Chat")
st.info(
    "The Chat page is coming: role-based messages (system, user, assistant), an editable "
    "transcript, streaming and a context budget. "
    "Meanwhile the Completions and Models pages work.",
    icon=":material/construction:",
)
