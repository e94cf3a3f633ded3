"""Usage page: not built yet; it loads with the sidebar and says what is coming."""

import streamlit as st

from ui import sidebar

sidebar.render()
st.title("Usage")
st.info(
    "The Usage page is coming: every request made here, charted: tokens, latency and cost, "
    "over time and by model. "
    "Meanwhile the Completions and Models pages work.",
    icon=":material/construction:",
)
