"""Compare page: not built yet; it loads with the sidebar and says what is coming."""

import streamlit as st

from ui import sidebar

sidebar.render()
st.title("Compare")
st.info(
    "The Compare page is coming: one prompt over a grid of settings (temperature, top_p, "
    "penalties, model, seed), outputs side by side with metrics and charts. "
    "Meanwhile the Completions and Models pages work.",
    icon=":material/construction:",
)
