"""Compare: one prompt over a grid of settings, side by side, measured and charted."""

import streamlit as st

from ui.common import pages, sidebar
from ui.compare import charts, grid_setup, results, run, saved

pages.within_app()  # first: a page opened by a link on a fresh server
conn, model = sidebar.render()
st.title("Compare")
st.caption("One prompt, every combination of the settings you vary: outputs side by side, "
           "with metrics and charts.")
saved.saved_runs()

setup = grid_setup.render(conn, model)
problems = st.container()
if st.button("Run grid", type="primary", icon=":material/play_arrow:",
             disabled=not setup.runnable):
    run.start(setup.grid, conn, setup.workers, problems)

result = run.current()
if result is not None:
    st.divider()
    run.status(result, conn, setup.workers)
    results.show(result)
    st.subheader("Charts")
    charts.show(result)
    saved.save_and_export(result, conn)
