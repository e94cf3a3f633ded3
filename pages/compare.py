"""Compare: one prompt over a grid of settings, side by side, measured and charted."""

import streamlit as st

from ui import compare_charts, compare_run, compare_saved, compare_setup, compare_view
from ui.common import pages, sidebar

pages.within_app()  # first: a page opened by a link on a fresh server
conn, model = sidebar.render()
st.title("Compare")
st.caption("One prompt, every combination of the settings you vary: outputs side by side, "
           "with metrics and charts.")
compare_saved.saved_runs()

setup = compare_setup.render(conn, model)
problems = st.container()
if st.button("Run grid", type="primary", icon=":material/play_arrow:",
             disabled=not setup.runnable):
    compare_run.start(setup.grid, conn, setup.workers, problems)

result = compare_run.current()
if result is not None:
    st.divider()
    compare_run.status(result, conn, setup.workers)
    compare_view.show(result)
    st.subheader("Charts")
    compare_charts.show(result)
    compare_saved.save_and_export(result, conn)
